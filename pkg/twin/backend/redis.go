package backend

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// DefaultRedisTimeout bounds every dial, read and write to Redis. apisonator's defaults are 5 s
// to connect and 3 s to read (research/apicast-apisonator.md §4.2); the twin uses less so that
// a black-holed Redis is noticed within one gateway request, while a refused connection fails
// at once either way.
const DefaultRedisTimeout = 500 * time.Millisecond

// newRedis opens a lazily connected client. go-redis dials on first use and redials after a
// failure, which is what lets every process recover without a restart once Redis is back.
func newRedis(rawURL string, timeout time.Duration) (*redis.Client, error) {
	if rawURL == "" {
		return nil, errors.New("redis URL is empty")
	}
	opt, err := redis.ParseURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("parse redis URL: %w", err)
	}
	if timeout <= 0 {
		timeout = DefaultRedisTimeout
	}
	opt.DialTimeout = timeout
	opt.ReadTimeout = timeout
	opt.WriteTimeout = timeout
	opt.PoolTimeout = timeout
	// One dial attempt per command: go-redis otherwise redials up to five times with back-off,
	// which turns a refused connection into half a second of latency.
	opt.DialerRetries = 1
	// No retries: a retried INCRBY whose first reply was lost would count a hit twice, and a
	// retry only delays the error the caller must see anyway.
	opt.MaxRetries = -1
	opt.ContextTimeoutEnabled = true
	opt.DisableIdentity = true
	opt.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	return redis.NewClient(opt), nil
}

// stores are the two Redis roles of apisonator: the storage DB (services, apps, counters,
// events) and the queues DB (Resque). They may be the same client.
type stores struct {
	storage *redis.Client
	queues  *redis.Client
}

func openStores(storageURL, queuesURL string, timeout time.Duration) (*stores, error) {
	st, err := newRedis(storageURL, timeout)
	if err != nil {
		return nil, fmt.Errorf("storage redis: %w", err)
	}
	if queuesURL == "" || queuesURL == storageURL {
		return &stores{storage: st, queues: st}, nil
	}
	q, err := newRedis(queuesURL, timeout)
	if err != nil {
		_ = st.Close()
		return nil, fmt.Errorf("queues redis: %w", err)
	}
	return &stores{storage: st, queues: q}, nil
}

func (s *stores) close() {
	_ = s.storage.Close()
	if s.queues != s.storage {
		_ = s.queues.Close()
	}
}

// rubyExceptionName names a Redis failure the way the Ruby redis client would, so that a failed
// job in resque:failed reads like one apisonator wrote (research/apicast-apisonator.md §5:
// "Redis timeouts and connection errors against the storage DB" fail the job).
func rubyExceptionName(err error) string {
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout(), errors.Is(err, context.DeadlineExceeded):
		return "Redis::TimeoutError"
	case errors.As(err, new(*net.OpError)):
		return "Redis::CannotConnectError"
	default:
		return "Redis::BaseError"
	}
}

func loggerOr(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.Default()
	}
	return l
}

// sleepCtx waits d or until ctx ends; it reports whether the full wait happened.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// invalidInput is a request the internal API refuses with 400.
type invalidInput string

func (e invalidInput) Error() string { return string(e) }

// isRedisErr tells a storage failure (answered 500) from a refusal (answered 4xx): the store
// functions return invalidInput, apiError or a sentinel for refusals, and anything else came
// from the Redis client.
func isRedisErr(err error) bool {
	if err == nil {
		return false
	}
	var ae *apiError
	var ii invalidInput
	return !errors.As(err, &ae) && !errors.As(err, &ii) && !errors.Is(err, errNotFound) && !errors.Is(err, errDefaultService)
}
