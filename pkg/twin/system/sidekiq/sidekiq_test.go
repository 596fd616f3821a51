package sidekiq

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/threescale-chaos/harness/internal/testsupport"
)

var jidRE = regexp.MustCompile(`^[0-9a-f]{24}$`)

// rawQueue returns the stored payloads of queue:<q>, oldest first, decoded as generic JSON.
func rawQueue(t *testing.T, rdb redis.UniversalClient, q string) []map[string]any {
	t.Helper()
	ms, err := rdb.LRange(bg(), QueueKey(q), 0, -1).Result()
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	for i := len(ms) - 1; i >= 0; i-- {
		var m map[string]any
		if err := json.Unmarshal([]byte(ms[i]), &m); err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

func TestEnqueuePayloadAndProcess(t *testing.T) {
	r := startRedis(t)
	rdb := r.client()

	jid1, err := Enqueue(bg(), rdb, "zync", "ZyncWorker", "event-1", map[string]any{"type": "Application", "id": 7})
	if err != nil {
		t.Fatal(err)
	}
	jid2, err := EnqueueActiveJob(bg(), rdb, "default", "SphinxIndexationWorker", "Account", 42)
	if err != nil {
		t.Fatal(err)
	}
	if !jidRE.MatchString(jid1) || !jidRE.MatchString(jid2) || jid1 == jid2 {
		t.Fatalf("jids %q %q", jid1, jid2)
	}

	// The wire format, as the harness reads it.
	if qs, _ := rdb.SMembers(bg(), KeyQueues).Result(); !slices.Contains(qs, "zync") || !slices.Contains(qs, "default") {
		t.Fatalf("queues set = %v", qs)
	}
	z := rawQueue(t, rdb, "zync")
	if len(z) != 1 {
		t.Fatalf("queue:zync = %v", z)
	}
	now := float64(time.Now().Unix())
	if z[0]["class"] != "ZyncWorker" || z[0]["queue"] != "zync" || z[0]["jid"] != jid1 || z[0]["retry"] != true {
		t.Fatalf("native payload %v", z[0])
	}
	for _, k := range []string{"created_at", "enqueued_at"} {
		if f, ok := z[0][k].(float64); !ok || f < now-60 || f > now+60 {
			t.Fatalf("%s = %v", k, z[0][k])
		}
	}
	if _, ok := z[0]["retry_count"]; ok {
		t.Fatalf("retry_count present before a failure: %v", z[0])
	}
	if args := z[0]["args"].([]any); len(args) != 2 || args[0] != "event-1" {
		t.Fatalf("args %v", z[0]["args"])
	}
	d := rawQueue(t, rdb, "default")
	if len(d) != 1 || d[0]["class"] != ActiveJobWrapper || d[0]["wrapped"] != "SphinxIndexationWorker" || d[0]["jid"] != jid2 {
		t.Fatalf("ActiveJob payload %v", d)
	}
	env := d[0]["args"].([]any)[0].(map[string]any)
	// Exactly ActiveJob::Core#serialize's keys at rails@v7.0.8.7 (porta 2.16's), enqueued_at
	// in whole seconds (Time.now.utc.iso8601); Rails 7.1 added scheduled_at.
	keys := []string{"job_class", "job_id", "provider_job_id", "queue_name", "priority", "arguments", "executions", "exception_executions", "locale", "timezone", "enqueued_at"}
	for _, k := range keys {
		if _, ok := env[k]; !ok {
			t.Errorf("ActiveJob envelope lacks %q: %v", k, env)
		}
	}
	if len(env) != len(keys) {
		t.Errorf("ActiveJob envelope has %d keys, Rails 7.0's has %d: %v", len(env), len(keys), env)
	}
	if at, _ := env["enqueued_at"].(string); !regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$`).MatchString(at) {
		t.Errorf("enqueued_at %q: want iso8601 in whole seconds", at)
	}
	if env["job_class"] != "SphinxIndexationWorker" || env["queue_name"] != "default" || fmt.Sprint(env["arguments"]) != "[Account 42]" {
		t.Fatalf("envelope %v", env)
	}

	type seen struct {
		job  Job
		args []string
	}
	got := make(chan seen, 4)
	record := func(_ context.Context, j Job) error {
		var a []string
		for _, raw := range j.Args {
			a = append(a, string(raw))
		}
		got <- seen{j, a}
		return nil
	}
	startServer(t, ServerConfig{Redis: rdb, Handlers: map[string]Handler{"ZyncWorker": record, "SphinxIndexationWorker": record}})

	byName := map[string]seen{}
	for range 2 {
		select {
		case s := <-got:
			byName[s.job.Name()] = s
		case <-time.After(10 * time.Second):
			t.Fatalf("jobs not processed; got %v", byName)
		}
	}
	zw := byName["ZyncWorker"]
	if zw.job.JID != jid1 || zw.job.Queue != "zync" || zw.job.Class != "ZyncWorker" || zw.job.RetryCount != -1 ||
		!slices.Equal(zw.args, []string{`"event-1"`, `{"id":7,"type":"Application"}`}) || zw.job.Raw["jid"] != jid1 {
		t.Fatalf("ZyncWorker job %+v args %v", zw.job, zw.args)
	}
	sw := byName["SphinxIndexationWorker"]
	if sw.job.JID != jid2 || sw.job.Class != ActiveJobWrapper || sw.job.Wrapped != "SphinxIndexationWorker" ||
		!slices.Equal(sw.args, []string{`"Account"`, `42`}) {
		t.Fatalf("ActiveJob job %+v args %v", sw.job, sw.args)
	}
	testsupport.Eventually(t, 5*time.Second, "stat:processed = 2 and dated key", func(context.Context) (bool, string) {
		p, f, err := Stats(bg(), rdb)
		day, _ := rdb.Get(bg(), "stat:processed:"+time.Now().UTC().Format("2006-01-02")).Result()
		return err == nil && p == 2 && f == 0 && day == "2", fmt.Sprintf("processed=%d failed=%d day=%q err=%v", p, f, day, err)
	})
	if l, _ := QueueLengths(bg(), rdb); l["zync"] != 0 || l["default"] != 0 {
		t.Fatalf("queue lengths after processing: %v", l)
	}
	// Sidekiq 7's execution metrics: the minute's hash counts each class, the wrapped one for
	// ActiveJob, and expires after 8 hours.
	testsupport.Eventually(t, 5*time.Second, "per-class metrics in j|<minute>", func(context.Context) (bool, string) {
		got := map[string]string{}
		for _, m := range []time.Time{time.Now(), time.Now().Add(-time.Minute)} {
			h, _ := rdb.HGetAll(bg(), MetricsKey(m)).Result()
			for k, v := range h {
				got[k] = v
			}
		}
		return got["ZyncWorker|p"] == "1" && got["SphinxIndexationWorker|p"] == "1" && got[ActiveJobWrapper+"|p"] == "", fmt.Sprint(got)
	})
	if ttl, _ := rdb.TTL(bg(), MetricsKey(time.Now())).Result(); ttl <= 7*time.Hour || ttl > 8*time.Hour {
		if ttl2, _ := rdb.TTL(bg(), MetricsKey(time.Now().Add(-time.Minute))).Result(); ttl2 <= 7*time.Hour || ttl2 > 8*time.Hour {
			t.Fatalf("metrics TTL %s / %s, want 8h", ttl, ttl2)
		}
	}
}

func TestMetricsKey(t *testing.T) {
	if got := MetricsKey(time.Date(2026, 3, 4, 5, 6, 7, 0, time.FixedZone("x", 3600))); got != "j|20260304|4:6" {
		t.Fatalf("MetricsKey = %q, want j|20260304|4:6 (UTC, no leading zeros)", got)
	}
}

func TestStrictQueueOrder(t *testing.T) {
	r := startRedis(t)
	rdb := r.client()
	// Interleaved across queues, in reverse of the serving order.
	for i := range 3 {
		for _, q := range []string{"zync", "low", "default", "backend_sync"} {
			if _, err := Enqueue(bg(), rdb, q, "W", q, i); err != nil {
				t.Fatal(err)
			}
		}
	}
	var mu sync.Mutex
	var order []string
	h := func(_ context.Context, j Job) error {
		var q string
		var i int
		_ = json.Unmarshal(j.Args[0], &q)
		_ = json.Unmarshal(j.Args[1], &i)
		mu.Lock()
		order = append(order, fmt.Sprintf("%s/%d", q, i))
		mu.Unlock()
		return nil
	}
	startServer(t, ServerConfig{Redis: rdb, Concurrency: 1, Handlers: map[string]Handler{"W": h}})
	testsupport.Eventually(t, 10*time.Second, "12 jobs processed", func(context.Context) (bool, string) {
		mu.Lock()
		defer mu.Unlock()
		return len(order) == 12, fmt.Sprint(order)
	})
	want := []string{
		"backend_sync/0", "backend_sync/1", "backend_sync/2",
		"default/0", "default/1", "default/2",
		"low/0", "low/1", "low/2",
		"zync/0", "zync/1", "zync/2",
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(order, want) {
		t.Fatalf("order = %v, want %v", order, want)
	}
}

// Jobs pile up in queue:*, retry and schedule while no server runs; two servers then drain
// them, each exactly once.
func TestAccumulateThenDrainExactlyOnce(t *testing.T) {
	r := startRedis(t)
	rdb := r.client()
	want := map[string]bool{}
	for i := range 40 {
		q := Queues[i%len(Queues)]
		jid, err := Enqueue(bg(), rdb, q, "W", i)
		if err != nil {
			t.Fatal(err)
		}
		want[jid] = true
	}
	// Due members of retry and schedule, as a previous server or the client left them.
	past := float64(time.Now().Add(-time.Minute).UnixMicro()) / 1e6
	for i := range 20 {
		jid := newJID()
		key := KeyRetry
		if i%2 == 0 {
			key = KeySchedule
		}
		body := fmt.Sprintf(`{"class":"W","args":[%d],"queue":"default","jid":%q,"retry":true,"created_at":%f,"enqueued_at":%f,"retry_count":0,"error_class":"RuntimeError","error_message":"x","failed_at":%f}`, 100+i, jid, past, past, past)
		if key == KeySchedule {
			body = fmt.Sprintf(`{"class":"W","args":[%d],"queue":"default","jid":%q,"retry":true,"created_at":%f}`, 100+i, jid, past)
		}
		if err := rdb.ZAdd(bg(), key, redis.Z{Score: past, Member: body}).Err(); err != nil {
			t.Fatal(err)
		}
		want[jid] = true
	}
	lengths, err := QueueLengths(bg(), rdb)
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, n := range lengths {
		total += n
	}
	if total != 40 {
		t.Fatalf("queued = %d (%v), want 40", total, lengths)
	}

	var mu sync.Mutex
	counts := map[string]int{}
	h := func(_ context.Context, j Job) error {
		mu.Lock()
		counts[j.JID]++
		mu.Unlock()
		return nil
	}
	cfg := ServerConfig{Redis: rdb, Concurrency: 3, PollInterval: 10 * time.Millisecond, Handlers: map[string]Handler{"W": h}}
	a := startServer(t, cfg)
	b := startServer(t, cfg)
	testsupport.Eventually(t, 15*time.Second, "60 distinct jobs processed", func(context.Context) (bool, string) {
		mu.Lock()
		defer mu.Unlock()
		return len(counts) == len(want), fmt.Sprintf("%d distinct", len(counts))
	})
	_ = a.stop()
	_ = b.stop()
	mu.Lock()
	defer mu.Unlock()
	for jid, n := range counts {
		if !want[jid] || n != 1 {
			t.Errorf("job %s processed %d times (expected: %v)", jid, n, want[jid])
		}
	}
	lengths, _ = QueueLengths(bg(), rdb)
	for q, n := range lengths {
		if n != 0 {
			t.Errorf("queue:%s still holds %d", q, n)
		}
	}
	for _, key := range []string{KeyRetry, KeySchedule} {
		if n, _ := rdb.ZCard(bg(), key).Result(); n != 0 {
			t.Errorf("%s still holds %d", key, n)
		}
	}
	if p, _, _ := Stats(bg(), rdb); p != 60 {
		t.Errorf("stat:processed = %d, want 60", p)
	}
}

func TestFailureGoesToRetryThenBackToQueue(t *testing.T) {
	r := startRedis(t)
	rdb := r.client()
	var mu sync.Mutex
	var counts []int // RetryCount the handler saw, per attempt
	h := func(_ context.Context, j Job) error {
		mu.Lock()
		counts = append(counts, j.RetryCount)
		n := len(counts)
		mu.Unlock()
		if n <= 2 {
			return WithErrorClass("ZyncWorker::InvalidResponseError", fmt.Errorf("zync answered 503 (attempt %d)", n))
		}
		return nil
	}
	const delay = 500 * time.Millisecond
	startServer(t, ServerConfig{
		Redis: rdb, Handlers: map[string]Handler{"ZyncWorker": h},
		RetryIn: map[string]RetryIn{"ZyncWorker": func(int) time.Duration { return delay }},
	})
	before := nowEpoch()
	jid, err := Enqueue(bg(), rdb, "zync", "ZyncWorker", 1, map[string]any{"type": "Proxy"})
	if err != nil {
		t.Fatal(err)
	}

	// First failure: in `retry` with retry_count 0, not in queue:zync.
	var first Entry
	testsupport.Eventually(t, 5*time.Second, "job in retry with retry_count 0", func(context.Context) (bool, string) {
		es, err := RetrySet(bg(), rdb)
		if err != nil || len(es) != 1 || es[0].Job.RetryCount != 0 {
			return false, fmt.Sprintf("%+v %v", es, err)
		}
		first = es[0]
		return true, ""
	})
	j := first.Job
	if j.JID != jid || j.Class != "ZyncWorker" || j.Queue != "zync" || j.ErrorClass != "ZyncWorker::InvalidResponseError" ||
		j.ErrorMessage != "zync answered 503 (attempt 1)" {
		t.Fatalf("retry entry %+v", j)
	}
	failedAt, ok := j.Raw["failed_at"].(float64)
	if !ok || failedAt < before-1 {
		t.Fatalf("failed_at = %v", j.Raw["failed_at"])
	}
	if _, ok := j.Raw["retried_at"]; ok {
		t.Fatalf("retried_at set on the first failure: %v", j.Raw)
	}
	if got := epoch(first.At) - failedAt; got < delay.Seconds()-0.01 || got > delay.Seconds()+0.5 {
		t.Fatalf("retry due %.3fs after failed_at, want ~%s", got, delay)
	}
	if n, _ := rdb.LLen(bg(), QueueKey("zync")).Result(); n != 0 {
		t.Fatalf("queue:zync holds %d while the job waits in retry", n)
	}

	// Second failure: retry_count 1, retried_at set, failed_at kept.
	testsupport.Eventually(t, 5*time.Second, "job in retry with retry_count 1", func(context.Context) (bool, string) {
		es, err := RetrySet(bg(), rdb)
		if err != nil || len(es) != 1 || es[0].Job.RetryCount != 1 {
			return false, fmt.Sprintf("%+v %v", es, err)
		}
		j = es[0].Job
		return true, ""
	})
	if j.Raw["failed_at"] != failedAt || j.Raw["retried_at"] == nil || j.ErrorMessage != "zync answered 503 (attempt 2)" {
		t.Fatalf("second retry entry %v", j.Raw)
	}
	// Third attempt succeeds.
	testsupport.Eventually(t, 5*time.Second, "third attempt succeeded", func(context.Context) (bool, string) {
		n, _ := rdb.ZCard(bg(), KeyRetry).Result()
		p, f, _ := Stats(bg(), rdb)
		mu.Lock()
		defer mu.Unlock()
		return len(counts) == 3 && n == 0 && p == 3 && f == 2, fmt.Sprintf("attempts=%v retry=%d processed=%d failed=%d", counts, n, p, f)
	})
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(counts, []int{-1, 0, 1}) {
		t.Fatalf("handler saw retry counts %v, want [-1 0 1]", counts)
	}
}

func TestRetriesExhaustedGoToDead(t *testing.T) {
	r := startRedis(t)
	rdb := r.client()
	var attempts atomic.Int32
	h := func(context.Context, Job) error {
		attempts.Add(1)
		return errors.New("boom")
	}
	startServer(t, ServerConfig{
		Redis: rdb, MaxRetries: 2, Handlers: map[string]Handler{"Failing": h},
		RetryIn: map[string]RetryIn{"Failing": func(int) time.Duration { return 0 }},
	})
	jid, err := EnqueueActiveJob(bg(), rdb, "low", "Failing", 1)
	if err != nil {
		t.Fatal(err)
	}
	unknown, err := Enqueue(bg(), rdb, "default", "NoSuchWorker")
	if err != nil {
		t.Fatal(err)
	}
	testsupport.Eventually(t, 10*time.Second, "job in dead with retry_count 2", func(context.Context) (bool, string) {
		es, err := DeadSet(bg(), rdb)
		return err == nil && len(es) == 1 && es[0].Job.JID == jid && es[0].Job.RetryCount == 2, fmt.Sprintf("%+v %v", es, err)
	})
	if n := attempts.Load(); n != 3 {
		t.Fatalf("attempts = %d, want 3 (first run + MaxRetries)", n)
	}
	d, _ := DeadSet(bg(), rdb)
	if j := d[0].Job; j.Wrapped != "Failing" || j.ErrorClass != "RuntimeError" || j.ErrorMessage != "boom" {
		t.Fatalf("dead entry %+v", j)
	}
	// A job without a handler fails like Ruby's NameError and waits in retry (default delay ≥ 15s).
	var nameErr Job
	testsupport.Eventually(t, 5*time.Second, "unknown class in retry", func(context.Context) (bool, string) {
		es, err := RetrySet(bg(), rdb)
		for _, e := range es {
			if e.Job.JID == unknown {
				nameErr = e.Job
				return true, ""
			}
		}
		return false, fmt.Sprintf("%+v %v", es, err)
	})
	if nameErr.ErrorClass != "NameError" || !strings.Contains(nameErr.ErrorMessage, "NoSuchWorker") || nameErr.RetryCount != 0 {
		t.Fatalf("unknown-class retry entry %+v", nameErr)
	}
	testsupport.Eventually(t, 5*time.Second, "stat:failed = 4", func(context.Context) (bool, string) {
		p, f, err := Stats(bg(), rdb)
		return p == 4 && f == 4, fmt.Sprintf("processed=%d failed=%d err=%v", p, f, err)
	})
}

func TestHeartbeatAndCleanShutdown(t *testing.T) {
	r := startRedis(t)
	rdb := r.client()
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	h := func(context.Context, Job) error {
		started <- struct{}{}
		<-release
		return nil
	}
	s := startServer(t, ServerConfig{Redis: rdb, Concurrency: 2, Identity: "sidekiq-test:1:abc", Handlers: map[string]Handler{"Slow": h}})

	var p Process
	testsupport.Eventually(t, 5*time.Second, "identity in processes", func(context.Context) (bool, string) {
		ps, err := Processes(bg(), rdb)
		if err != nil || len(ps) != 1 {
			return false, fmt.Sprintf("%+v %v", ps, err)
		}
		p = ps[0]
		return true, ""
	})
	if p.Identity != "sidekiq-test:1:abc" || p.Info.Identity != p.Identity || p.Info.Concurrency != 2 ||
		!slices.Equal(p.Info.Queues, Queues) || p.Info.PID == 0 || p.Info.StartedAt == 0 || p.Quiet || p.Busy != 0 {
		t.Fatalf("process %+v", p)
	}
	if age := time.Since(p.Beat); age < -time.Second || age > 2*time.Second {
		t.Fatalf("beat is %s old", age)
	}
	ttl, _ := rdb.TTL(bg(), p.Identity).Result()
	if ttl <= 50*time.Second || ttl > 60*time.Second {
		t.Fatalf("identity TTL = %s", ttl)
	}
	firstBeat := p.Beat
	testsupport.Eventually(t, 5*time.Second, "beat advances", func(context.Context) (bool, string) {
		ps, _ := Processes(bg(), rdb)
		return len(ps) == 1 && ps[0].Beat.After(firstBeat), fmt.Sprintf("%+v", ps)
	})

	// A running job shows as busy and in <identity>:work.
	jid, err := Enqueue(bg(), rdb, "default", "Slow")
	if err != nil {
		t.Fatal(err)
	}
	<-started
	testsupport.Eventually(t, 5*time.Second, "busy 1 and work entry", func(context.Context) (bool, string) {
		ps, _ := Processes(bg(), rdb)
		work, _ := rdb.HGetAll(bg(), p.Identity+":work").Result()
		ok := len(ps) == 1 && ps[0].Busy == 1 && len(work) == 1
		for _, v := range work {
			ok = ok && strings.Contains(v, jid) && strings.Contains(v, `"queue":"default"`)
		}
		return ok, fmt.Sprintf("%+v work=%v", ps, work)
	})
	close(release)
	testsupport.Eventually(t, 5*time.Second, "busy 0", func(context.Context) (bool, string) {
		ps, _ := Processes(bg(), rdb)
		return len(ps) == 1 && ps[0].Busy == 0, fmt.Sprintf("%+v", ps)
	})

	if err := s.stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if ids, _ := rdb.SMembers(bg(), KeyProcesses).Result(); len(ids) != 0 {
		t.Fatalf("processes after shutdown = %v", ids)
	}
	if n, _ := rdb.Exists(bg(), p.Identity, p.Identity+":work").Result(); n != 0 {
		t.Fatalf("identity keys left after shutdown: %d", n)
	}
	if p, _, _ := Stats(bg(), rdb); p != 1 {
		t.Fatalf("stat:processed = %d after shutdown flush", p)
	}
}

func TestRedisOutage(t *testing.T) {
	r := startRedis(t)
	rdb := r.client()
	var mu sync.Mutex
	done := map[string]bool{}
	h := func(_ context.Context, j Job) error {
		mu.Lock()
		done[j.JID] = true
		mu.Unlock()
		return nil
	}
	isDone := func(jid string) func(context.Context) (bool, string) {
		return func(context.Context) (bool, string) {
			mu.Lock()
			defer mu.Unlock()
			return done[jid], fmt.Sprintf("%d jobs done", len(done))
		}
	}
	s := startServer(t, ServerConfig{Redis: rdb, Identity: "outage:1:x", Handlers: map[string]Handler{"W": h}})
	jid, err := Enqueue(bg(), rdb, "default", "W")
	if err != nil {
		t.Fatal(err)
	}
	testsupport.Eventually(t, 5*time.Second, "job before the outage", isDone(jid))

	r.Kill()
	start := time.Now()
	if _, err := Enqueue(bg(), rdb, "default", "W"); err == nil {
		t.Fatal("Enqueue succeeded with Redis down")
	} else if took := time.Since(start); took > 3*time.Second {
		t.Fatalf("Enqueue took %s to fail", took)
	}
	// Let the server's workers, poller and heartbeat hit the outage for a while.
	outage := time.Now().Add(1500 * time.Millisecond)
	for time.Now().Before(outage) {
		s.running()
		time.Sleep(50 * time.Millisecond)
	}

	r.Restart()
	var jid2 string
	testsupport.Eventually(t, 10*time.Second, "Enqueue works again", func(context.Context) (bool, string) {
		var err error
		jid2, err = Enqueue(bg(), rdb, "zync", "W")
		return err == nil, fmt.Sprint(err)
	})
	testsupport.Eventually(t, 10*time.Second, "job after the outage processed", isDone(jid2))
	testsupport.Eventually(t, 5*time.Second, "heartbeat back in processes", func(context.Context) (bool, string) {
		ps, err := Processes(bg(), rdb)
		return err == nil && len(ps) == 1 && ps[0].Identity == "outage:1:x", fmt.Sprintf("%+v %v", ps, err)
	})
	s.running()
}

func TestShutdownRequeuesUnfinishedJob(t *testing.T) {
	r := startRedis(t)
	rdb := r.client()
	started := make(chan string, 1)
	stuck := func(ctx context.Context, j Job) error {
		started <- j.JID
		<-ctx.Done() // never finishes on its own
		return ctx.Err()
	}
	s := startServer(t, ServerConfig{Redis: rdb, ShutdownTimeout: 200 * time.Millisecond, Handlers: map[string]Handler{"W": stuck}})
	jid, err := Enqueue(bg(), rdb, "default", "W", "payload")
	if err != nil {
		t.Fatal(err)
	}
	jid2, err := Enqueue(bg(), rdb, "default", "W", "second")
	if err != nil {
		t.Fatal(err)
	}
	var running []string
	for range 2 { // both run, on two workers
		select {
		case got := <-started:
			running = append(running, got)
		case <-time.After(10 * time.Second):
			t.Fatalf("jobs did not start; running %v", running)
		}
	}
	if !slices.Contains(running, jid) || !slices.Contains(running, jid2) {
		t.Fatalf("running %v, want %s and %s", running, jid, jid2)
	}
	if err := s.stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	jobs, err := QueuedJobs(bg(), rdb, "default")
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 2 {
		t.Fatalf("queue:default after shutdown = %+v, want both jobs back", jobs)
	}
	if n, _ := rdb.ZCard(bg(), KeyRetry).Result(); n != 0 {
		t.Fatalf("retry holds %d: an abandoned job must not count as failed", n)
	}

	// A new server runs each exactly once (the order of jobs pushed back together is unspecified).
	var mu sync.Mutex
	var ran []string
	ok := func(_ context.Context, j Job) error {
		mu.Lock()
		ran = append(ran, j.JID)
		mu.Unlock()
		return nil
	}
	startServer(t, ServerConfig{Redis: rdb, Concurrency: 1, Handlers: map[string]Handler{"W": ok}})
	testsupport.Eventually(t, 10*time.Second, "requeued jobs processed", func(context.Context) (bool, string) {
		mu.Lock()
		defer mu.Unlock()
		return len(ran) == 2, fmt.Sprint(ran)
	})
	mu.Lock()
	defer mu.Unlock()
	if !slices.Contains(ran, jid) || ran[0] == ran[1] {
		t.Fatalf("ran %v, want each requeued job once, including %s", ran, jid)
	}
}

func TestShutdownLetsRunningJobFinish(t *testing.T) {
	r := startRedis(t)
	rdb := r.client()
	started := make(chan struct{}, 1)
	var finished atomic.Bool
	slow := func(ctx context.Context, j Job) error {
		started <- struct{}{}
		select {
		case <-time.After(300 * time.Millisecond):
			finished.Store(true)
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	s := startServer(t, ServerConfig{Redis: rdb, ShutdownTimeout: 10 * time.Second, Handlers: map[string]Handler{"W": slow}})
	if _, err := Enqueue(bg(), rdb, "default", "W"); err != nil {
		t.Fatal(err)
	}
	<-started
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	if !finished.Load() {
		t.Fatal("Run returned before the running job finished")
	}
	if n, _ := rdb.LLen(bg(), QueueKey("default")).Result(); n != 0 {
		t.Fatalf("finished job was requeued (%d)", n)
	}
	if p, _, _ := Stats(bg(), rdb); p != 1 {
		t.Fatalf("stat:processed = %d, want 1", p)
	}
}

func TestParseJobAndRetryDelays(t *testing.T) {
	// A payload as Sidekiq 7.3 stores a failed ActiveJob job.
	raw := `{"retry":true,"queue":"default","class":"ActiveJob::QueueAdapters::SidekiqAdapter::JobWrapper","wrapped":"SphinxIndexationWorker",` +
		`"args":[{"job_class":"SphinxIndexationWorker","job_id":"5b0c","provider_job_id":null,"queue_name":"default","priority":null,` +
		`"arguments":[{"_aj_globalid":"gid://system/Account/2"}],"executions":0,"exception_executions":{},"locale":"en","timezone":"UTC","enqueued_at":"2024-05-01T10:00:00Z"}],` +
		`"jid":"0123456789abcdef01234567","created_at":1714557600.123456,"enqueued_at":1714557601.5,"error_message":"x","error_class":"ThinkingSphinx::ConnectionError","failed_at":1714557602.0,"retry_count":3}`
	j, err := ParseJob([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	if j.Name() != "SphinxIndexationWorker" || j.RetryCount != 3 || j.CreatedAt != 1714557600.123456 || j.EnqueuedAt != 1714557601.5 ||
		len(j.Args) != 1 || string(j.Args[0]) != `{"_aj_globalid":"gid://system/Account/2"}` || j.ErrorClass != "ThinkingSphinx::ConnectionError" {
		t.Fatalf("parsed %+v", j)
	}
	if _, err := ParseJob([]byte(`[1]`)); err == nil {
		t.Fatal("non-object payload parsed")
	}
	for c := range 25 {
		lo := time.Duration(c*c*c*c+15) * time.Second
		if d := DefaultRetryIn(c); d < lo || d > lo+time.Duration(9*(c+1))*time.Second {
			t.Fatalf("DefaultRetryIn(%d) = %s", c, d)
		}
	}
	var total time.Duration
	for c := range 25 {
		total += ZyncWorkerRetryIn(c)
	}
	if days := total.Hours() / 24; days < 5.5 || days > 8 {
		t.Fatalf("ZyncWorker's 25 retries span %.1f days, want ~6.8", days)
	}
}
