package sidekiq

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Queues porta's sidekiq:worker consumes, in the strict order it serves them
// (research/porta-zync.md §4.1). Run serves exactly these queues.
var Queues = []string{"backend_sync", "billing", "critical", "default", "deletion", "events", "low", "mailers", "priority", "web_hooks", "zync"}

// ActiveJobWrapper is the class ActiveJob jobs carry on the wire; the real class is in Wrapped.
const ActiveJobWrapper = "ActiveJob::QueueAdapters::SidekiqAdapter::JobWrapper"

// Redis keys of Sidekiq's layout (system-redis DB 1, no namespace).
const (
	KeyQueues    = "queues"    // SET of known queue names
	KeyRetry     = "retry"     // ZSET of failed jobs, scored by the time they are due again
	KeySchedule  = "schedule"  // ZSET of scheduled jobs, scored by the time they are due
	KeyDead      = "dead"      // ZSET of jobs that exhausted their retries, scored by the time they died
	KeyProcesses = "processes" // SET of live process identities
	KeyProcessed = "stat:processed"
	KeyFailed    = "stat:failed"
)

// QueueKey is the LIST holding the jobs of queue q: "queue:<q>".
func QueueKey(q string) string { return "queue:" + q }

// Job is one job as stored in Redis (JSON): class, args, queue, jid, created_at, enqueued_at,
// retry, and after a failure retry_count, error_class, error_message, failed_at, retried_at;
// wrapped for ActiveJob jobs.
type Job struct {
	Class, Wrapped, Queue, JID string
	// Args are the job's arguments. For ActiveJob jobs they are the job's own arguments
	// ("arguments" of the ActiveJob envelope in args[0]), not the wrapper's args.
	Args []json.RawMessage
	// RetryCount is -1 before the first failure (the field is absent), then 0, 1, ...
	RetryCount            int
	CreatedAt, EnqueuedAt float64
	ErrorClass            string
	ErrorMessage          string
	// Raw is the whole payload as stored (numbers decoded as float64).
	Raw map[string]any
}

// Name is Wrapped if set, else Class: the name handlers are registered under.
func (j Job) Name() string {
	if j.Wrapped != "" {
		return j.Wrapped
	}
	return j.Class
}

// ParseJob decodes one stored job payload (a member of queue:*, retry, schedule or dead).
func ParseJob(data []byte) (Job, error) {
	var p payload
	if err := p.decode(data); err != nil {
		return Job{}, err
	}
	return p.job()
}

// payload is a job's JSON as a map of raw fields, so that re-encoding it (retry, requeue)
// changes only the fields Sidekiq changes.
type payload struct {
	raw    []byte
	fields map[string]json.RawMessage
}

func (p *payload) decode(data []byte) error {
	p.raw = data
	p.fields = nil
	if err := json.Unmarshal(data, &p.fields); err != nil {
		return fmt.Errorf("sidekiq: decode job: %w", err)
	}
	if p.fields == nil {
		return errors.New("sidekiq: decode job: payload is not a JSON object")
	}
	return nil
}

func (p *payload) str(key string) string {
	var s string
	if v, ok := p.fields[key]; ok {
		_ = json.Unmarshal(v, &s)
	}
	return s
}

func (p *payload) num(key string) (float64, bool) {
	v, ok := p.fields[key]
	if !ok {
		return 0, false
	}
	var f float64
	if err := json.Unmarshal(v, &f); err != nil {
		return 0, false
	}
	return f, true
}

func (p *payload) set(key string, v any) {
	b, err := json.Marshal(v)
	if err != nil { // only plain values are set here
		panic(err)
	}
	p.fields[key] = b
}

func (p *payload) encode() []byte {
	b, err := json.Marshal(p.fields)
	if err != nil {
		panic(err) // raw JSON values that decoded once always re-encode
	}
	p.raw = b
	return b
}

// maxRetries is the job's own retry option: -1 when it must not be retried ("retry": false),
// n for "retry": n, def for "retry": true or an absent field.
func (p *payload) maxRetries(def int) int {
	v, ok := p.fields["retry"]
	if !ok {
		return def
	}
	var b bool
	if json.Unmarshal(v, &b) == nil {
		if b {
			return def
		}
		return -1
	}
	var n int
	if json.Unmarshal(v, &n) == nil {
		return n
	}
	return def
}

func (p *payload) job() (Job, error) {
	j := Job{
		Class:        p.str("class"),
		Wrapped:      p.str("wrapped"),
		Queue:        p.str("queue"),
		JID:          p.str("jid"),
		RetryCount:   -1,
		ErrorClass:   p.str("error_class"),
		ErrorMessage: p.str("error_message"),
	}
	j.CreatedAt, _ = p.num("created_at")
	j.EnqueuedAt, _ = p.num("enqueued_at")
	if n, ok := p.num("retry_count"); ok {
		j.RetryCount = int(n)
	}
	if err := json.Unmarshal(p.raw, &j.Raw); err != nil {
		return Job{}, fmt.Errorf("sidekiq: decode job: %w", err)
	}
	if v, ok := p.fields["args"]; ok {
		if err := json.Unmarshal(v, &j.Args); err != nil {
			return Job{}, fmt.Errorf("sidekiq: decode job %s args: %w", j.JID, err)
		}
	}
	if j.Class == ActiveJobWrapper && len(j.Args) > 0 {
		var env struct {
			JobClass  string            `json:"job_class"`
			Arguments []json.RawMessage `json:"arguments"`
		}
		if err := json.Unmarshal(j.Args[0], &env); err != nil {
			return Job{}, fmt.Errorf("sidekiq: decode ActiveJob envelope of %s: %w", j.JID, err)
		}
		if j.Wrapped == "" {
			j.Wrapped = env.JobClass
		}
		j.Args = env.Arguments
		if j.Args == nil {
			j.Args = []json.RawMessage{}
		}
	}
	return j, nil
}

// nowEpoch is the current time as float epoch seconds, Sidekiq 7's timestamp format.
func nowEpoch() float64 { return epoch(time.Now()) }

func epoch(t time.Time) float64 { return float64(t.UnixMicro()) / 1e6 }

func formatEpoch(f float64) string { return strconv.FormatFloat(f, 'f', 6, 64) }

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// newJID is a Sidekiq job id: 24 hex characters.
func newJID() string { return randomHex(12) }

func newUUID() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// nativeJob is the payload Sidekiq::Client writes for a job class of its own.
type nativeJob struct {
	Retry      bool     `json:"retry"`
	Queue      string   `json:"queue"`
	Wrapped    string   `json:"wrapped,omitempty"`
	Args       []any    `json:"args"`
	Class      string   `json:"class"`
	JID        string   `json:"jid"`
	CreatedAt  rawFloat `json:"created_at"`
	EnqueuedAt rawFloat `json:"enqueued_at"`
}

// rawFloat keeps epoch floats at microsecond precision in the JSON.
type rawFloat float64

func (f rawFloat) MarshalJSON() ([]byte, error) { return []byte(formatEpoch(float64(f))), nil }

// Enqueue LPUSHes a native Sidekiq job on queue:<queue> and SADDs the queue to `queues`.
// It returns the Redis error when system-redis is down: porta does not buffer (§4.3).
// Each arg is JSON-encoded as given.
func Enqueue(ctx context.Context, rdb redis.UniversalClient, queue, class string, args ...any) (jid string, err error) {
	if args == nil {
		args = []any{}
	}
	return push(ctx, rdb, queue, class, "", args)
}

// EnqueueActiveJob enqueues an ActiveJob job the way Rails 7.0's adapter does (class =
// ActiveJobWrapper, wrapped = jobClass, args = [{job_class, job_id, queue_name, arguments: args,
// ...}]): the envelope of ActiveJob::Core#serialize at rails@v7.0.8.7, the version porta
// bundles at 3scale-2.16.4-GA (Gemfile.lock:627; 6.0.6.1 at 3scale-2.15.1-GA, the same keys).
// Arguments are JSON-encoded as given (ActiveJob's own serializers, e.g. "_aj_symbol_keys",
// are not reproduced).
func EnqueueActiveJob(ctx context.Context, rdb redis.UniversalClient, queue, jobClass string, args ...any) (jid string, err error) {
	if args == nil {
		args = []any{}
	}
	env := map[string]any{
		"job_class":            jobClass,
		"job_id":               newUUID(),
		"provider_job_id":      nil, // Rails sets it on the job object after the push
		"queue_name":           queue,
		"priority":             nil,
		"arguments":            args,
		"executions":           0,
		"exception_executions": map[string]any{},
		"locale":               "en",
		"timezone":             "UTC",
		"enqueued_at":          time.Now().UTC().Format(time.RFC3339), // Time.now.utc.iso8601: whole seconds
	}
	return push(ctx, rdb, queue, ActiveJobWrapper, jobClass, []any{env})
}

func push(ctx context.Context, rdb redis.UniversalClient, queue, class, wrapped string, args []any) (string, error) {
	now := rawFloat(nowEpoch())
	j := nativeJob{Retry: true, Queue: queue, Wrapped: wrapped, Args: args, Class: class,
		JID: newJID(), CreatedAt: now, EnqueuedAt: now}
	b, err := json.Marshal(j)
	if err != nil {
		return "", fmt.Errorf("sidekiq: encode %s job: %w", class, err)
	}
	_, err = rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.SAdd(ctx, KeyQueues, queue)
		p.LPush(ctx, QueueKey(queue), b)
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("sidekiq: enqueue %s on %s: %w", j.Class, queue, err)
	}
	return j.JID, nil
}

// ClassedError is an error that names the (Ruby) exception class Sidekiq records as
// error_class, e.g. "ZyncWorker::InvalidResponseError".
type ClassedError interface {
	error
	ErrorClass() string
}

type classedError struct {
	class string
	err   error
}

func (e *classedError) Error() string      { return e.err.Error() }
func (e *classedError) Unwrap() error      { return e.err }
func (e *classedError) ErrorClass() string { return e.class }

// WithErrorClass wraps err so that a failed job records class as its error_class.
// Errors without a class are recorded as "RuntimeError" (what a bare Ruby raise gives).
func WithErrorClass(class string, err error) error {
	if err == nil {
		return nil
	}
	return &classedError{class: class, err: err}
}

func errorClass(err error) string {
	var ce ClassedError
	if errors.As(err, &ce) {
		return ce.ErrorClass()
	}
	return "RuntimeError"
}
