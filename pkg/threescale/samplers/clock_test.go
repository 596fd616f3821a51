package samplers

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/threescale-chaos/harness/internal/testsupport"
	"github.com/threescale-chaos/harness/pkg/threescale"
	"github.com/threescale-chaos/harness/pkg/threescale/fixture"
)

// clusterClockHook makes system-redis's TIME read skew from the machine's clock, as a
// cluster's Redis does for a harness whose clock is off from the cluster's.
type clusterClockHook struct{ skew time.Duration }

func (clusterClockHook) DialHook(next redis.DialHook) redis.DialHook { return next }
func (clusterClockHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}
func (h clusterClockHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		if tc, ok := cmd.(*redis.TimeCmd); ok && err == nil {
			tc.SetVal(tc.Val().Add(h.skew))
		}
		return err
	}
}

func failedJob(at time.Time, errText string) string {
	return fmt.Sprintf(`{"failed_at":%q,"payload":{"class":%q,"args":["1",{},0,{}]},"exception":"Timeout","error":%q,"backtrace":[],"worker":"w","queue":"priority"}`,
		at.UTC().Format("2006/01/02 15:04:05 UTC"), reportJobClass, errText)
}

func reportJob(enqueued time.Time) string {
	return fmt.Sprintf(`{"class":%q,"args":["1",{"0":{"app_id":"a","usage":{"hits":1}}},%s,{}]}`, reportJobClass, epochString(enqueued))
}

// backend's queue checks measure the oldest report job's and the oldest failed job's ages by
// backend-redis's clock, here an hour behind the harness's: backend-listener and
// backend-worker stamp them with the cluster's clock. The canary failedJobs plants is stamped
// with backend-redis's clock too, so it is not an hour old, or an hour in the future, either.
func TestBackendQueuesAgeByTheClusterClock(t *testing.T) {
	testsupport.QuietRedisLogs()
	rdb := testsupport.RedisClient(t)
	rdb.AddHook(clusterClockHook{skew: -time.Hour})
	f := &fixture.Fixture{Token: "tok", ServiceID: 7, App: fixture.Application{BackendID: "app1", Name: "main"}}
	s := &samplers{env: &threescale.Env{BackendQueues: rdb}, f: f, o: Options{}.withDefaults()}
	ctx := context.Background()
	clusterNow := time.Now().Add(-time.Hour)

	rdb.RPush(ctx, resqueReportQueue, reportJob(clusterNow.Add(-5*time.Second)))
	if err := s.reportQueue(ctx); err != nil {
		t.Errorf("a report job queued 5s ago by the cluster's clock: %v", err)
	}
	rdb.LPush(ctx, resqueReportQueue, reportJob(clusterNow.Add(-s.o.QueueMaxAge-10*time.Second)))
	// The ages are rounded to the second: 1m10s, or a second more on a slow machine.
	if err := s.reportQueue(ctx); err == nil || !strings.Contains(err.Error(), "2 report jobs queued, the oldest for 1m1") {
		t.Errorf("a report job queued 70s ago by the cluster's clock: %v", err)
	}

	rdb.RPush(ctx, resqueFailed, failedJob(clusterNow.Add(-10*time.Second), "Timeout"))
	if err := s.failedJobs(ctx); err != nil {
		t.Errorf("a job failed 10s ago by the cluster's clock: %v", err)
	}
	raw, err := rdb.LRange(ctx, resqueFailed, 0, -1).Result()
	if err != nil || len(raw) != 2 {
		t.Fatalf("resque:failed = %d jobs, %v; want the job and the canary", len(raw), err)
	}
	var canary struct {
		FailedAt string `json:"failed_at"`
	}
	if err := json.Unmarshal([]byte(raw[1]), &canary); err != nil {
		t.Fatal(err)
	}
	if at, ok := resqueTime(canary.FailedAt); !ok || at.Sub(clusterNow).Abs() > time.Minute {
		t.Errorf("canary failed_at %q, want the cluster's now, %s", canary.FailedAt, clusterNow.UTC().Format(time.TimeOnly))
	}
	if err := s.failedJobs(ctx); err != nil {
		t.Errorf("with the canary planted: %v", err)
	}
	rdb.RPush(ctx, resqueFailed, failedJob(clusterNow.Add(-s.o.FailedJobMaxAge-time.Minute), "Timeout"))
	// failed_at has whole seconds: 7m0s or 7m1s.
	if err := s.failedJobs(ctx); err == nil || !strings.Contains(err.Error(), "3 failed jobs, the oldest failed 7m") {
		t.Errorf("a job failed 7m ago by the cluster's clock: %v", err)
	}
}
