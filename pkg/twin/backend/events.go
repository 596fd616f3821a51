package backend

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Events are how backend tells system about first traffic and utilization alerts: a counter
// events/id and a sorted set events/queue scored by id, read and trimmed by system through
// GET and DELETE /internal/events/ (research/apicast-apisonator.md §6).

// event types apisonator stores (EventStorage::EVENT_TYPES).
const (
	eventFirstTraffic      = "first_traffic"
	eventFirstDailyTraffic = "first_daily_traffic"
	eventAlert             = "alert"
)

type event struct {
	ID        int64  `json:"id"`
	Type      string `json:"type"`
	Timestamp string `json:"timestamp"`
	Object    any    `json:"object"`
}

func storeEvent(ctx context.Context, rdb *redis.Client, typ string, object any, now time.Time) error {
	id, err := rdb.Incr(ctx, eventsIDKey).Result()
	if err != nil {
		return err
	}
	b, err := json.Marshal(event{ID: id, Type: typ, Timestamp: rubyTime(now), Object: object})
	if err != nil {
		return err
	}
	return rdb.ZAdd(ctx, eventsQueueKey, redis.Z{Score: float64(id), Member: string(b)}).Err()
}

// listEvents returns the stored events, oldest first, as raw JSON.
func listEvents(ctx context.Context, rdb *redis.Client) ([]json.RawMessage, error) {
	raw, err := rdb.ZRange(ctx, eventsQueueKey, 0, -1).Result()
	if err != nil {
		return nil, err
	}
	out := make([]json.RawMessage, 0, len(raw))
	for _, r := range raw {
		if json.Valid([]byte(r)) {
			out = append(out, json.RawMessage(r))
		}
	}
	return out, nil
}

// deleteEvents removes events with ids in [from, to].
func deleteEvents(ctx context.Context, rdb *redis.Client, from, to int64) (int64, error) {
	if to <= 0 || from > to {
		return 0, nil
	}
	return rdb.ZRemRangeByScore(ctx, eventsQueueKey, strconv.FormatInt(from, 10), strconv.FormatInt(to, 10)).Result()
}

// integrationError is an ErrorStorage entry: a ThreeScale::Backend::Error the worker raised
// for a report job, or the listener for an authorize or authrep. apisonator keeps these apart
// from failed jobs, so they are never rescheduled (§5). The fields are in ErrorStorage's order
// (apisonator@3scale-2.16.4-GA:lib/3scale/backend/error_storage.rb:10-18).
type integrationError struct {
	Code        string `json:"code"`
	Message     string `json:"message"`
	Timestamp   string `json:"timestamp"`
	ContextInfo any    `json:"context_info"`
}

// maxStoredErrors caps the per-service error list, as ErrorStorage does (MAX_NUM_ERRORS).
const maxStoredErrors = 1000

// storeIntegrationError is ErrorStorage.store: LPUSH, so the list is newest first, then LTRIM
// to the newest 1000. The timestamp is Ruby's Time#to_s of the UTC time.
func storeIntegrationError(ctx context.Context, rdb *redis.Client, sid string, e *apiError, contextInfo any, now time.Time) error {
	// Yajl writes < > & as they are; Go's default would escape them.
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(integrationError{Code: e.code, Message: e.msg, Timestamp: rubyTime(now), ContextInfo: contextInfo}); err != nil {
		return err
	}
	_, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.LPush(ctx, errorsKey(sid), strings.TrimSuffix(b.String(), "\n"))
		p.LTrim(ctx, errorsKey(sid), 0, maxStoredErrors-1)
		return nil
	})
	return err
}
