package conformance

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/threescale-chaos/harness/internal/testsupport"
)

// The apisonator side of the twin, checked against research/apicast-apisonator.md §4-§5.

var serviceSeq atomic.Int64

// backendFixture is one service synced into backend the way system syncs it, with an
// application whose user key authorizes.
type backendFixture struct {
	sid, token, userKey, appID string
	storage, queues            *redis.Client
}

func listenerURL() string { return "http://127.0.0.1:" + strconv.Itoa(values.Ports.BackendListener) }

func internal(t *testing.T, method, path string, body any, want int) {
	t.Helper()
	var b []byte
	if body != nil {
		b, _ = json.Marshal(body)
	}
	req, err := http.NewRequest(method, listenerURL()+path, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.SetBasicAuth(secret(t, "backend-internal-api", "username"), secret(t, "backend-internal-api", "password"))
	resp, err := httpc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	resp.Body.Close()
	if resp.StatusCode != want {
		t.Fatalf("%s %s: status %d, want %d", method, path, resp.StatusCode, want)
	}
}

func newBackendFixture(t *testing.T) *backendFixture {
	t.Helper()
	n := 1000 + serviceSeq.Add(1)
	f := &backendFixture{
		sid:     strconv.FormatInt(n, 10),
		token:   fmt.Sprintf("svc-token-%d", n),
		userKey: fmt.Sprintf("user-key-%d", n),
		appID:   fmt.Sprintf("app-%d", n),
	}
	internal(t, "POST", "/internal/services/", map[string]any{"service": map[string]any{"id": n, "provider_key": "pk-" + f.sid, "backend_version": "1", "state": "active"}}, 201)
	internal(t, "POST", "/internal/service_tokens/", map[string]any{"service_tokens": map[string]any{f.token: map[string]any{"service_id": n}}}, 201)
	internal(t, "POST", "/internal/services/"+f.sid+"/metrics/1", map[string]any{"metric": map[string]any{"name": "hits"}}, 201)
	internal(t, "POST", "/internal/services/"+f.sid+"/applications/"+f.appID, map[string]any{"application": map[string]any{"state": "active", "plan_id": "basic", "plan_name": "Basic"}}, 201)
	internal(t, "PUT", "/internal/services/"+f.sid+"/applications/"+f.appID+"/key/"+f.userKey, nil, 200)
	f.storage = redisClient(t, secret(t, "backend-redis", "REDIS_STORAGE_URL"))
	f.queues = redisClient(t, secret(t, "backend-redis", "REDIS_QUEUES_URL"))
	return f
}

func redisClient(t *testing.T, rawURL string) *redis.Client {
	t.Helper()
	opt, err := redis.ParseURL(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	opt.DialTimeout, opt.ReadTimeout, opt.WriteTimeout, opt.MaxRetries = time.Second, time.Second, time.Second, -1
	c := redis.NewClient(opt)
	t.Cleanup(func() { c.Close() })
	return c
}

func (f *backendFixture) authrepURL() string {
	return listenerURL() + "/transactions/authrep.xml?service_token=" + f.token + "&service_id=" + f.sid + "&user_key=" + f.userKey + "&usage%5Bhits%5D=1"
}

// hits is the application's eternity counter for hits, as the worker writes it (§7).
func (f *backendFixture) hits(ctx context.Context) (int64, error) {
	v, err := f.storage.Get(ctx, "stats/{service:"+f.sid+"}/cinstance:"+f.appID+"/metric:1/eternity").Int64()
	if err == redis.Nil {
		return 0, nil
	}
	return v, err
}

// backend-redis at zero: authrep answers 500 while the listener's /status stays 200 (so the
// listener stays Ready); back, the same data authorizes again (persistent volume).
func TestBackendRedisDown(t *testing.T) {
	f := newBackendFixture(t)
	mustCall(t, "GET", f.authrepURL(), nil, "", "", 200)

	scaleDown(t, "backend-redis")
	r := mustCall(t, "GET", f.authrepURL(), nil, "", "", 500)
	if !strings.Contains(r.body, "Internal Server Error") {
		t.Errorf("authrep body with backend-redis down: %q", r.body)
	}
	mustCall(t, "GET", listenerURL()+"/status", nil, "", "", 200)
	if ready := podNames(context.Background(), "backend-listener"); len(ready) != 1 {
		t.Errorf("backend-listener pods running with backend-redis down: %v", ready)
	}

	scaleUp(t, "backend-redis")
	testsupport.Eventually(t, 30*time.Second, "authrep authorized again", func(context.Context) (bool, string) {
		r, err := call("GET", f.authrepURL(), nil, "", "")
		if err != nil {
			return false, err.Error()
		}
		return r.status == 200, fmt.Sprintf("%d %s", r.status, r.body)
	})
}

// backend-listener at zero: the Service Management API is not there at all.
func TestBackendListenerDown(t *testing.T) {
	f := newBackendFixture(t)
	scaleDown(t, "backend-listener")
	if _, err := call("GET", f.authrepURL(), nil, "", ""); err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("authrep with backend-listener down: want connection refused, got %v", err)
	}
	scaleUp(t, "backend-listener")
	mustCall(t, "GET", f.authrepURL(), nil, "", "", 200)
}

// backend-worker at zero: authreps still answer (the listener only enqueues), the report
// queue grows, counters do not move; back, every hit is counted exactly once (§5).
func TestBackendWorkerDown(t *testing.T) {
	ctx := context.Background()
	f := newBackendFixture(t)
	mustCall(t, "GET", f.authrepURL(), nil, "", "", 200)
	testsupport.Eventually(t, 30*time.Second, "the first hit counted", func(ctx context.Context) (bool, string) {
		n, err := f.hits(ctx)
		return n == 1, fmt.Sprintf("hits=%d err=%v", n, err)
	})

	scaleDown(t, "backend-worker")
	before, err := f.queues.LLen(ctx, "resque:queue:priority").Result()
	if err != nil {
		t.Fatal(err)
	}
	const sent = 20
	for i := 0; i < sent; i++ {
		mustCall(t, "GET", f.authrepURL(), nil, "", "", 200)
	}
	if after, err := f.queues.LLen(ctx, "resque:queue:priority").Result(); err != nil || after-before != sent {
		t.Fatalf("resque:queue:priority grew by %d (err %v), want %d", after-before, err, sent)
	}
	if n, err := f.hits(ctx); err != nil || n != 1 {
		t.Fatalf("hits counted with backend-worker down: %d (err %v), want 1", n, err)
	}

	scaleUp(t, "backend-worker")
	testsupport.Eventually(t, 60*time.Second, "every hit counted after backend-worker returns", func(ctx context.Context) (bool, string) {
		n, err := f.hits(ctx)
		q, _ := f.queues.LLen(ctx, "resque:queue:priority").Result()
		return n == sent+1 && q == 0, fmt.Sprintf("hits=%d queue=%d err=%v", n, q, err)
	})
}

// backend-cron at zero: a failed report job stays in resque:failed, and a service whose stats
// were deleted stays marked with its stats in place; cron reschedules failed jobs and purges
// the marked services' stats when it starts (research/apicast-apisonator.md §5;
// apisonator@3scale-2.16.4-GA:openshift/backend-cron runs both tasks before its first sleep,
// app/api/internal/stats.rb:16-17 marks, lib/3scale/backend/stats/cleaner.rb:81-96 purges,
// keeping the services' first-traffic sets, cleaner.rb:216-221), and the worker then counts
// the rescheduled job.
func TestBackendCronDown(t *testing.T) {
	ctx := context.Background()
	f := newBackendFixture(t)
	gone := newBackendFixture(t) // the product deleted while cron is down
	resp, err := httpc.Get(gone.authrepURL())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	goneStats := "stats/{service:" + gone.sid + "}/*"
	testsupport.Eventually(t, 30*time.Second, "the deleted product's hit counted", func(ctx context.Context) (bool, string) {
		n, err := gone.hits(ctx)
		return n == 1, fmt.Sprintf("hits=%d err=%v", n, err)
	})
	scaleDown(t, "backend-cron")
	internal(t, "DELETE", "/internal/services/"+gone.sid+"/stats", nil, 200)
	statsLeft := func(ctx context.Context) []string {
		var out []string
		for _, k := range gone.storage.Keys(ctx, goneStats).Val() {
			if !strings.Contains(k, "cinstances") {
				out = append(out, k)
			}
		}
		return out
	}
	if marked, _ := gone.storage.SIsMember(ctx, "set_with_services_marked_for_deletion", gone.sid).Result(); !marked || len(statsLeft(ctx)) == 0 {
		t.Fatalf("after DELETE .../stats with cron down: marked %v, stats keys %v; want marked with its stats in place", marked, statsLeft(ctx))
	}
	job := map[string]any{
		"class": "ThreeScale::Backend::Transactor::ReportJob",
		"args": []any{f.sid, map[string]any{"0": map[string]any{"app_id": f.appID, "usage": map[string]any{"hits": 3}}},
			float64(time.Now().Unix()), map[string]any{}},
	}
	failure := map[string]any{
		"failed_at": time.Now().UTC().Format("2006/01/02 15:04:05 UTC"),
		"payload":   job, "exception": "Redis::CannotConnectError", "error": "planted by the conformance test",
		"backtrace": []string{}, "worker": "conformance", "queue": "priority",
	}
	b, _ := json.Marshal(failure)
	if err := f.queues.RPush(ctx, "resque:failed", b).Err(); err != nil {
		t.Fatal(err)
	}
	// The worker is up and nothing reschedules the job while cron is away.
	if n, _ := f.queues.LLen(ctx, "resque:failed").Result(); n < 1 {
		t.Fatalf("planted failed job missing")
	}
	if hits, _ := f.hits(ctx); hits != 0 {
		t.Fatalf("failed job applied with backend-cron down: hits=%d", hits)
	}
	scaleUp(t, "backend-cron")
	testsupport.Eventually(t, 60*time.Second, "the failed job rescheduled by cron and counted", func(ctx context.Context) (bool, string) {
		n, err := f.hits(ctx)
		failed, _ := f.queues.LLen(ctx, "resque:failed").Result()
		return n == 3, fmt.Sprintf("hits=%d failed=%d err=%v", n, failed, err)
	})
	testsupport.Eventually(t, 60*time.Second, "the deleted product's stats purged by cron at start", func(ctx context.Context) (bool, string) {
		marked, _ := gone.storage.SIsMember(ctx, "set_with_services_marked_for_deletion", gone.sid).Result()
		left := statsLeft(ctx)
		return !marked && len(left) == 0, fmt.Sprintf("marked %v, stats keys %v", marked, left)
	})
	if n, _ := f.hits(ctx); n != 3 {
		t.Errorf("the purge touched a product that was not deleted: hits=%d", n)
	}
}

// system-redis and system-memcache at zero: the servers are gone (connection refused), and
// system-redis keeps its data on its persistent volume.
func TestSystemRedisAndMemcacheDown(t *testing.T) {
	ctx := context.Background()
	rc := redisClient(t, secret(t, "system-redis", "URL"))
	if err := rc.Set(ctx, "conformance:durable", "yes", 0).Err(); err != nil {
		t.Fatal(err)
	}
	scaleDown(t, "system-redis")
	if err := rc.Ping(ctx).Err(); err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("system-redis down: want connection refused, got %v", err)
	}
	scaleUp(t, "system-redis")
	if v, err := rc.Get(ctx, "conformance:durable").Result(); err != nil || v != "yes" {
		t.Fatalf("system-redis lost its data across a scale to zero: %q %v", v, err)
	}

	scaleDown(t, "system-memcache")
	if _, err := call("GET", "http://"+secret(t, "system-memcache", "SERVERS"), nil, "", ""); err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("system-memcache down: want connection refused, got %v", err)
	}
	scaleUp(t, "system-memcache")
}
