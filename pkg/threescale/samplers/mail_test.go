package samplers

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/threescale-chaos/harness/internal/testsupport"
)

// sidekiqPayload is a job as Sidekiq 7.3.2's client stores it in queue:<name>
// (sidekiq@v7.3.2:lib/sidekiq/client.rb normalize_item, raw_push).
func sidekiqPayload(class, jid string, created time.Time) string {
	ts := epochString(created)
	return fmt.Sprintf(`{"retry":true,"queue":"default","args":["e0b1"],"class":%q,"jid":%q,"created_at":%s,"enqueued_at":%s}`, class, jid, ts, ts)
}

func epochString(t time.Time) string {
	return strconv.FormatFloat(float64(t.UnixNano())/1e9, 'f', 6, 64)
}

func sidekiqRedis(t *testing.T) *redis.Client {
	t.Helper()
	srv := testsupport.StartRedis(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr(), DB: 1})
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// findMailJob finds the sample's notification mail job waiting, retrying or processed, and
// nothing the baseline had or of another class. Its created_at does not matter: a cluster
// whose clock is an hour behind the harness's stamps it an hour in the past.
func TestFindMailJob(t *testing.T) {
	rdb := sidekiqRedis(t)
	ctx := context.Background()
	clusterClock := time.Now().Add(-time.Hour)
	// An earlier sample's job, waiting and retrying.
	rdb.LPush(ctx, "queue:default", sidekiqPayload(notificationMailJob, "earlier", clusterClock))
	rdb.ZAdd(ctx, "retry", redis.Z{Score: float64(time.Now().Add(time.Minute).Unix()), Member: sidekiqPayload(notificationMailJob, "earlier-retry", clusterClock)})
	base, err := mailBaselineOf(ctx, rdb)
	if err != nil {
		t.Fatal(err)
	}
	find := func(want string) {
		t.Helper()
		got, err := findMailJob(ctx, rdb, base)
		if err != nil || got != want {
			t.Fatalf("findMailJob = %q, %v; want %q", got, err, want)
		}
	}
	find("")
	// One of another class does not count.
	rdb.LPush(ctx, "queue:default", sidekiqPayload("AuditedWorker", "other", clusterClock))
	find("")
	rdb.LPush(ctx, "queue:default", sidekiqPayload(notificationMailJob, "ours", clusterClock))
	find("queue:default")
	rdb.LRem(ctx, "queue:default", 1, sidekiqPayload(notificationMailJob, "ours", clusterClock))
	find("")
	rdb.ZAdd(ctx, "retry", redis.Z{Score: float64(time.Now().Add(30 * time.Second).Unix()), Member: sidekiqPayload(notificationMailJob, "ours", clusterClock)})
	find("retry")
	rdb.ZRem(ctx, "retry", sidekiqPayload(notificationMailJob, "ours", clusterClock))
	// Processed: only a count above the baseline of its minute.
	rdb.HIncrBy(ctx, sidekiqMetricsKey(time.Now()), "AuditedWorker|p", 3)
	find("")
	rdb.HIncrBy(ctx, sidekiqMetricsKey(time.Now()), notificationMailJob+"|p", 1)
	find("processed")
}

func TestSidekiqMetricsKey(t *testing.T) {
	if got := sidekiqMetricsKey(time.Date(2026, 12, 5, 9, 4, 59, 0, time.FixedZone("CET", 3600))); got != "j|20261205|8:4" {
		t.Fatalf("sidekiqMetricsKey = %q, want j|20261205|8:4", got)
	}
}

// The queues' depth, and which of a set of jobs are still queued, retrying or dead.
func TestJobsPresent(t *testing.T) {
	rdb := sidekiqRedis(t)
	ctx := context.Background()
	now := time.Now()
	rdb.SAdd(ctx, "queues", "default", "zync", "mailers")
	rdb.LPush(ctx, "queue:default", sidekiqPayload("A", "a", now), sidekiqPayload("B", "b", now))
	rdb.LPush(ctx, "queue:zync", sidekiqPayload("ZyncWorker", "z", now))
	jobs, depth, err := queuedJobs(ctx, rdb)
	if err != nil || len(jobs) != 3 || depth != "the queues held queue:default 2, queue:zync 1" {
		t.Fatalf("queuedJobs: %d jobs, %q, %v", len(jobs), depth, err)
	}
	rdb.ZAdd(ctx, "retry", redis.Z{Score: float64(now.Unix()), Member: sidekiqPayload("C", "c", now)})
	rdb.ZAdd(ctx, "dead", redis.Z{Score: float64(now.Unix()), Member: sidekiqPayload("D", "d", now)})
	present, dead, err := jobsPresent(ctx, rdb, map[string]bool{"a": true, "c": true, "d": true, "gone": true})
	if err != nil || !present["a"] || !present["c"] || present["gone"] || present["b"] || len(dead) != 1 || !dead["d"] {
		t.Fatalf("present %v dead %v err %v", present, dead, err)
	}
	rdb.Del(ctx, "queue:default", "queue:zync")
	if _, depth, _ := queuedJobs(ctx, rdb); !strings.Contains(depth, "empty") {
		t.Fatalf("depth of empty queues: %q", depth)
	}
}
