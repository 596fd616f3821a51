package sidekiq

import (
	"context"
	"flag"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/threescale-chaos/harness/internal/testsupport"
)

// TestMain silences go-redis's connection-failure logging unless -v: the outage test stops
// Redis on purpose.
func TestMain(m *testing.M) {
	flag.Parse()
	testsupport.QuietRedisLogs()
	os.Exit(m.Run())
}

// testRedis is a redis-server child process on a loopback port that can be killed and started
// again on the same port (with an empty dataset: nothing is SAVEd).
type testRedis struct {
	*testsupport.Server
	t *testing.T
}

func startRedis(t *testing.T) *testRedis {
	t.Helper()
	return &testRedis{testsupport.StartRedis(t), t}
}

// client is a client on DB 1 (system-redis's sidekiq DB) with short timeouts.
func (r *testRedis) client() *redis.Client {
	c := redis.NewClient(&redis.Options{
		Addr: r.Addr(), DB: 1,
		DialTimeout: 200 * time.Millisecond, ReadTimeout: 500 * time.Millisecond, WriteTimeout: 500 * time.Millisecond,
		MaxRetries: 1,
	})
	r.t.Cleanup(func() { _ = c.Close() })
	return c
}

func testLogger() *slog.Logger {
	var w io.Writer = io.Discard
	if testing.Verbose() {
		w = os.Stderr
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// runningServer is a Run in a goroutine.
type runningServer struct {
	t      *testing.T
	cancel context.CancelFunc
	done   chan error
}

// startServer runs Run with test defaults (short heartbeat and poll interval) filled in for
// zero fields, and stops it at cleanup.
func startServer(t *testing.T, cfg ServerConfig) *runningServer {
	t.Helper()
	if cfg.Heartbeat == 0 {
		cfg.Heartbeat = 100 * time.Millisecond
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 50 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = testLogger()
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &runningServer{t: t, cancel: cancel, done: make(chan error, 1)}
	go func() { s.done <- Run(ctx, cfg) }()
	t.Cleanup(func() { s.stop() })
	return s
}

// stop cancels Run and waits for it to return.
func (s *runningServer) stop() error {
	s.t.Helper()
	s.cancel()
	select {
	case err, ok := <-s.done:
		if ok {
			close(s.done)
		}
		return err
	case <-time.After(15 * time.Second):
		s.t.Fatalf("Run did not return within 15s of ctx end")
		return nil
	}
}

// running fails the test if Run has returned.
func (s *runningServer) running() {
	s.t.Helper()
	select {
	case err := <-s.done:
		s.t.Fatalf("Run returned early: %v", err)
	default:
	}
}

func bg() context.Context { return context.Background() }
