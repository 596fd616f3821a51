package samplers

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/threescale-chaos/harness/internal/testsupport"
	"github.com/threescale-chaos/harness/pkg/probe"
	"github.com/threescale-chaos/harness/pkg/threescale"
	"github.com/threescale-chaos/harness/pkg/threescale/fixture"
	"github.com/threescale-chaos/harness/pkg/threescale/target"
)

// background-jobs judges Sidekiq alive by the freshest beat among the registered processes, and
// says, when none is fresh, how many hashes had expired and how old the freshest beat was, so a
// failed sample tells a dead process from a late heartbeat.
func TestBackgroundJobsHeartbeat(t *testing.T) {
	testsupport.QuietRedisLogs()
	rdb := testsupport.RedisClient(t)
	s := &samplers{env: &threescale.Env{SystemRedis: rdb}, o: Options{}.withDefaults()}
	ctx := context.Background()
	beat := func(id string, age time.Duration) {
		t.Helper()
		at := float64(time.Now().Add(-age).UnixMicro()) / 1e6
		if err := rdb.SAdd(ctx, "processes", id).Err(); err != nil {
			t.Fatal(err)
		}
		if err := rdb.HSet(ctx, id, "beat", strconv.FormatFloat(at, 'f', 6, 64)).Err(); err != nil {
			t.Fatal(err)
		}
	}

	if err := s.backgroundJobs(ctx); err == nil || !strings.Contains(err.Error(), "(0 registered, 0 without a hash, none with a beat)") {
		t.Errorf("no process: %v", err)
	}
	rdb.SAdd(ctx, "processes", "gone:1:a") // registered, hash expired
	beat("old:1:b", 75*time.Second)
	err := s.backgroundJobs(ctx)
	if err == nil || !strings.Contains(err.Error(), "(2 registered, 1 without a hash, freshest beat 1m15s old)") {
		t.Errorf("stale beat: %v", err)
	}
	beat("new:1:c", 3*time.Second)
	if err := s.backgroundJobs(ctx); err != nil {
		t.Errorf("one fresh process among stale ones: %v", err)
	}
	// The beat the process writes between the sampler's clock reading and its HGET (or one
	// from a node whose clock is ahead) is newer than the sampler's now: fresh, not missing.
	rdb.Del(ctx, "processes", "old:1:b", "new:1:c")
	beat("ahead:1:d", -2*time.Second)
	if err := s.backgroundJobs(ctx); err != nil {
		t.Errorf("a beat newer than the sampler's clock: %v", err)
	}
}

// background-jobs measures the beat's and the oldest job's ages by the cluster's clock: here
// an hour behind the harness's, which stamps the beats and enqueued_at. By the harness's clock
// every beat would be an hour old and every queued job an hour late.
func TestBackgroundJobsAgesByTheClusterClock(t *testing.T) {
	testsupport.QuietRedisLogs()
	rdb := testsupport.RedisClient(t)
	rdb.AddHook(clusterClockHook{skew: -time.Hour})
	s := &samplers{env: &threescale.Env{SystemRedis: rdb}, o: Options{}.withDefaults()}
	ctx := context.Background()
	clusterNow := time.Now().Add(-time.Hour)
	rdb.SAdd(ctx, "processes", "app:1:a")
	rdb.HSet(ctx, "app:1:a", "beat", epochString(clusterNow.Add(-3*time.Second)))
	rdb.SAdd(ctx, "queues", "default")
	rdb.LPush(ctx, "queue:default", sidekiqPayload("AuditedWorker", "waiting", clusterNow.Add(-5*time.Second)))
	if err := s.backgroundJobs(ctx); err != nil {
		t.Fatalf("a fresh beat and a short queue by the cluster's clock: %v", err)
	}
	// Still judged: a stale beat and a late job are stale and late by the cluster's clock.
	rdb.HSet(ctx, "app:1:a", "beat", epochString(clusterNow.Add(-75*time.Second)))
	if err := s.backgroundJobs(ctx); err == nil || !strings.Contains(err.Error(), "freshest beat 1m15") {
		t.Errorf("stale beat: %v", err)
	}
	rdb.HSet(ctx, "app:1:a", "beat", epochString(clusterNow))
	rdb.RPush(ctx, "queue:default", sidekiqPayload("AuditedWorker", "late", clusterNow.Add(-s.o.QueueMaxAge-10*time.Second)))
	if err := s.backgroundJobs(ctx); err == nil || !strings.Contains(err.Error(), "queue:default has a job waiting") {
		t.Errorf("late job: %v", err)
	}
}

// background-jobs' Submit takes as the signups' jobs those queued after it that were not
// queued before, whatever their created_at says: system-app stamps it with its own clock,
// here an hour behind the harness's. A job already waiting is not the signups'.
func TestBackgroundJobsSubmitIgnoresTheClusterClock(t *testing.T) {
	testsupport.QuietRedisLogs()
	rdb := testsupport.RedisClient(t)
	ctx := context.Background()
	clusterClock := func() time.Time { return time.Now().Add(-time.Hour) }
	rdb.SAdd(ctx, "queues", "default")
	rdb.LPush(ctx, "queue:default", sidekiqPayload("AuditedWorker", "waiting", clusterClock()))
	var seq atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/admin/api/signup.json" {
			http.NotFound(w, r)
			return
		}
		n := seq.Add(1)
		rdb.LPush(r.Context(), "queue:default", sidekiqPayload(notificationMailJob, "signup"+strconv.FormatInt(n, 10), clusterClock()))
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, `{"account":{"id":%d}}`, 100+n)
	}))
	t.Cleanup(srv.Close)
	hc := probe.NewHTTPClient(probe.HTTPClientOptions{})
	env := &threescale.Env{HTTP: hc, SystemRedis: rdb, Admin: threescale.NewAdmin(target.Endpoint{URL: srv.URL}, "tok", hc)}
	s := &samplers{env: env, f: &fixture.Fixture{Token: "t", PlanID: 3}, o: Options{}.withDefaults()}
	p := &jobsProbe{s: s, o: WorkOptions{Units: 2, Timeout: time.Second}.withDefaults()}
	if err := p.Submit(ctx); err != nil {
		t.Fatalf("Submit: %v", err)
	}
	if len(p.jobs) != 2 || p.jobs["waiting"].JID != "" {
		t.Fatalf("Submit took the jobs %v, want the two signups' jobs", slices.Sorted(maps.Keys(p.jobs)))
	}
}
