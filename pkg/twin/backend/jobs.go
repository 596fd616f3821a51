package backend

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Resque job classes apisonator enqueues (research/apicast-apisonator.md §5).
const (
	reportJobClass = "ThreeScale::Backend::Transactor::ReportJob"
	notifyJobClass = "ThreeScale::Backend::Transactor::NotifyJob"
)

// resqueJob is Resque's payload: {"class": ..., "args": [...]}.
type resqueJob struct {
	Class string            `json:"class"`
	Args  []json.RawMessage `json:"args"`
}

// jobTransaction is one entry of a ReportJob's transactions hash, keyed "0", "1", ... The
// listener resolves app_id for authrep; a report keeps what the client sent (user_key or
// app_id) and the worker resolves it (§5 "Unknown apps are detected later in the worker").
type jobTransaction struct {
	AppID     string            `json:"app_id,omitempty"`
	UserKey   string            `json:"user_key,omitempty"`
	Usage     map[string]string `json:"usage,omitempty"`
	Log       map[string]string `json:"log,omitempty"`
	Timestamp string            `json:"timestamp,omitempty"`
}

// encodeReportJob builds ReportJob's payload: args are [service_id, transactions, enqueue time
// as float seconds, {"request":{"extensions":...}}] (§5).
func encodeReportJob(sid string, txs map[string]jobTransaction, at time.Time, ext map[string]string) ([]byte, error) {
	if ext == nil {
		ext = map[string]string{}
	}
	args := []any{sid, txs, float64(at.UnixNano()) / 1e9, map[string]any{"request": map[string]any{"extensions": ext}}}
	return json.Marshal(map[string]any{"class": reportJobClass, "args": args})
}

// enqueue pushes a payload the way Resque.push does: register the queue name in resque:queues,
// then RPUSH onto resque:queue:<name>.
func enqueue(ctx context.Context, q *redis.Client, queueKey string, payload []byte) error {
	_, err := q.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.SAdd(ctx, queuesSetKey, strings.TrimPrefix(queueKey, queueKeyBase))
		p.RPush(ctx, queueKey, payload)
		return nil
	})
	return err
}

// failure is an entry of resque:failed, in Resque::Failure::Redis's format (§5).
type failure struct {
	FailedAt  string          `json:"failed_at"`
	Payload   json.RawMessage `json:"payload"`
	Exception string          `json:"exception"`
	Error     string          `json:"error"`
	Backtrace []string        `json:"backtrace"`
	Worker    string          `json:"worker"`
	Queue     string          `json:"queue"`
}

// resqueFailedAt is Resque's failed_at format ("%Y/%m/%d %H:%M:%S %Z").
func resqueFailedAt(t time.Time) string { return t.UTC().Format("2006/01/02 15:04:05 UTC") }

// newFailure wraps the raw job as payload. A payload that is not JSON is kept as a JSON string
// so the record stays valid; cron discards such entries instead of requeueing them.
func newFailure(raw []byte, queueKey, worker, exception string, err error, now time.Time) ([]byte, error) {
	payload := json.RawMessage(raw)
	if !json.Valid(raw) {
		b, _ := json.Marshal(string(raw))
		payload = b
	}
	return json.Marshal(failure{
		FailedAt:  resqueFailedAt(now),
		Payload:   payload,
		Exception: exception,
		Error:     err.Error(),
		Backtrace: []string{},
		Worker:    worker,
		Queue:     strings.TrimPrefix(queueKey, queueKeyBase),
	})
}

// jobError is a job that cannot be processed, with the Ruby exception class it stands for.
type jobError struct {
	exception string
	err       error
}

func (e *jobError) Error() string { return e.err.Error() }
func (e *jobError) Unwrap() error { return e.err }

func badJob(format string, a ...any) error {
	return &jobError{exception: "ArgumentError", err: fmt.Errorf(format, a...)}
}
