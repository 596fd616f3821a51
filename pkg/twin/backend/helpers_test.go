package backend

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/threescale-chaos/harness/internal/testsupport"
)

// redisServer is a real redis-server child process on a loopback port, restartable on the same
// port and data directory (an explicit SAVE before a kill stands in for the persistent volume
// backend-redis has in a cluster).
type redisServer struct {
	*testsupport.Server
	t *testing.T
}

func startRedis(t *testing.T) *redisServer {
	t.Helper()
	return &redisServer{testsupport.StartRedis(t), t}
}

func (r *redisServer) url(db int) string { return fmt.Sprintf("redis://%s/%d", r.Addr(), db) }
func (r *redisServer) client(db int) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: r.Addr(), DB: db, DialTimeout: 500 * time.Millisecond, MaxRetries: -1})
	r.t.Cleanup(func() { _ = c.Close() })
	return c
}

// save writes the dataset to disk so a restart finds it, as the persistent volume would.
func (r *redisServer) save() {
	r.t.Helper()
	c := redis.NewClient(&redis.Options{Addr: r.Addr()})
	defer c.Close()
	if err := c.Save(context.Background()).Err(); err != nil {
		r.t.Fatalf("SAVE: %v", err)
	}
}

// run starts fn in a goroutine and, at cleanup or when the returned stop is called, cancels it
// and waits for it to return (each process shuts down gracefully on ctx end).
func run(t *testing.T, name string, fn func(ctx context.Context) error) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- fn(ctx) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("%s returned: %v", name, err)
			}
		case <-time.After(15 * time.Second):
			t.Errorf("%s did not stop within 15s", name)
		}
	}
	t.Cleanup(stop)
	return stop
}

func testLogger(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

const (
	internalUser     = "3scale_api_user"
	internalPassword = "s3cret"
)

// startListener runs RunListener on a loopback port and returns its base URL.
func startListener(t *testing.T, storageURL, queuesURL string) string {
	t.Helper()
	addrc := make(chan string, 1)
	run(t, "listener", func(ctx context.Context) error {
		return RunListener(ctx, ListenerConfig{
			Addr: "127.0.0.1:0", RedisURL: storageURL, QueuesRedisURL: queuesURL,
			InternalUser: internalUser, InternalPassword: internalPassword,
			OnListen: func(a string) { addrc <- a }, Logger: testLogger(t),
		})
	})
	select {
	case a := <-addrc:
		return "http://" + a
	case <-time.After(10 * time.Second):
		t.Fatal("listener did not start")
	}
	return ""
}

func startWorker(t *testing.T, storageURL, queuesURL string) func() {
	t.Helper()
	return run(t, "worker", func(ctx context.Context) error {
		return RunWorker(ctx, WorkerConfig{RedisURL: storageURL, QueuesRedisURL: queuesURL,
			Logger: testLogger(t)})
	})
}

func startCron(t *testing.T, storageURL, queuesURL string, every time.Duration) func() {
	t.Helper()
	return run(t, "cron", func(ctx context.Context) error {
		return RunCron(ctx, CronConfig{RedisURL: storageURL, QueuesRedisURL: queuesURL,
			RescheduleEvery: every, DeleteStatsEvery: every, Logger: testLogger(t)})
	})
}

var httpClient = &http.Client{Timeout: 5 * time.Second}

type response struct {
	code   int
	header http.Header
	body   string
}

func (r response) String() string { return fmt.Sprintf("%d %q", r.code, r.body) }

func do(t *testing.T, req *http.Request) response {
	t.Helper()
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{resp.StatusCode, resp.Header, string(b)}
}

// internal calls the internal API with basic auth and a JSON body.
func internal(t *testing.T, base, method, path string, body any) response {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, base+path, rd)
	req.SetBasicAuth(internalUser, internalPassword)
	req.Header.Set("Content-Type", "application/json")
	return do(t, req)
}

func mustInternal(t *testing.T, base, method, path string, body any, want int) response {
	t.Helper()
	r := internal(t, base, method, path, body)
	if r.code != want {
		t.Fatalf("%s %s: got %s, want %d", method, path, r, want)
	}
	return r
}

// authCall calls a Service Management API GET endpoint with query params and optional
// 3scale-options.
func authCall(t *testing.T, base, endpoint string, params url.Values, options string) response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+endpoint+"?"+params.Encode(), nil)
	if options != "" {
		req.Header.Set("3scale-options", options)
	}
	return do(t, req)
}

func params(kv ...string) url.Values {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return v
}

// provision syncs a service the way system does: service 42 (user_key, provider key pk42,
// service token tok42), metrics hits (1) and its child search (2), plan basic with hits limits,
// app app1 with user key uk1.
func provision(t *testing.T, base string, dayLimit, eternityLimit int) {
	t.Helper()
	mustInternal(t, base, "POST", "/internal/services/", map[string]any{"service": map[string]any{
		"id": 42, "provider_key": "pk42", "backend_version": "1", "state": "active"}}, 201)
	mustInternal(t, base, "POST", "/internal/service_tokens/", map[string]any{
		"service_tokens": map[string]any{"tok42": map[string]any{"service_id": 42}}}, 201)
	mustInternal(t, base, "POST", "/internal/services/42/metrics/1", map[string]any{"metric": map[string]any{"name": "hits"}}, 201)
	mustInternal(t, base, "POST", "/internal/services/42/metrics/2", map[string]any{"metric": map[string]any{"name": "search", "parent_id": 1}}, 201)
	mustInternal(t, base, "POST", "/internal/services/42/applications/app1", map[string]any{"application": map[string]any{
		"state": "active", "plan_id": "basic", "plan_name": "Basic"}}, 201)
	mustInternal(t, base, "PUT", "/internal/services/42/applications/app1/key/uk1", nil, 200)
	if dayLimit > 0 {
		mustInternal(t, base, "PUT", "/internal/services/42/plans/basic/usagelimits/1/day", map[string]any{"usagelimit": map[string]any{"day": dayLimit}}, 200)
	}
	if eternityLimit > 0 {
		mustInternal(t, base, "PUT", "/internal/services/42/plans/basic/usagelimits/1/eternity", map[string]any{"usagelimit": map[string]any{"eternity": eternityLimit}}, 200)
	}
}

func counter(t *testing.T, c *redis.Client, key string) (int64, string) {
	t.Helper()
	v, err := c.Get(context.Background(), key).Int64()
	if err == redis.Nil {
		return 0, key + "=<nil>"
	}
	if err != nil {
		return -1, key + ": " + err.Error()
	}
	return v, fmt.Sprintf("%s=%d", key, v)
}

func llen(c *redis.Client, key string) int64 {
	n, err := c.LLen(context.Background(), key).Result()
	if err != nil {
		return -1
	}
	return n
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
