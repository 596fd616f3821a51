package chaos_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/threescale-chaos/harness/pkg/chaos"
	"github.com/threescale-chaos/harness/pkg/kube"
	"github.com/threescale-chaos/harness/pkg/probe"
	"github.com/threescale-chaos/harness/pkg/report"
	"github.com/threescale-chaos/harness/pkg/scenario"
)

// countingWork stands for work a component applies after it is back: Submit counts units,
// Check reports how many were applied (all, or none when the work was lost).
type countingWork struct {
	c         scenario.Capability
	submitted atomic.Int64
	lose      bool
	budget    atomic.Int64 // the budget Check was given
	// ended counts the units submitted when WindowEnd ran; -1 when it did not run, or ran
	// after Check.
	ended   atomic.Int64
	checked atomic.Bool
}

func (w *countingWork) WindowEnd(context.Context) error {
	if w.checked.Load() {
		w.ended.Store(-1)
		return nil
	}
	w.ended.Store(w.submitted.Load())
	return nil
}

func (w *countingWork) Capability() scenario.Capability { return w.c }
func (w *countingWork) Baseline(context.Context) error  { return nil }
func (w *countingWork) Submit(context.Context) error    { w.submitted.Add(5); return nil }
func (w *countingWork) Check(_ context.Context, budget time.Duration) (scenario.WorkCheck, error) {
	w.budget.Store(int64(budget))
	w.checked.Store(true)
	applied := int(w.submitted.Load())
	if w.lose {
		applied = 0
	}
	return scenario.WorkCheck{Capability: w.c, What: "units", Submitted: int(w.submitted.Load()), Applied: applied, CheckedAt: time.Now()}, nil
}

func runWithWork(t *testing.T, lose bool) (scenario.Verdict, string) {
	t.Helper()
	ns, url := component(t, "backend-worker")
	w := &countingWork{c: scenario.ProductionTraffic, lose: lose}
	w.ended.Store(-1)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	res, err := chaos.Run(ctx, chaos.Input{
		Scenario: scenarioFile(t, "{expect: deferred}"), Kube: kc, Namespace: ns, RunID: kube.NewRunID(time.Now()),
		Samplers: samplers(url, steadyServer(t)),
		Work:     map[scenario.Capability]probe.WorkProbe{scenario.ProductionTraffic: w},
		Options:  chaos.Options{SampleInterval: 250 * time.Millisecond, SteadyTimeout: 30 * time.Second},
	})
	if err != nil {
		t.Fatal(err)
	}
	if w.submitted.Load() == 0 {
		t.Fatalf("the work probe was never asked to submit")
	}
	// A probe that watches the end of the window is shown it once its work is submitted,
	// before the check.
	if got := w.ended.Load(); got != w.submitted.Load() {
		t.Errorf("WindowEnd saw %d units submitted, want %d (-1: not called, or after Check)", got, w.submitted.Load())
	}
	// The check may wait as long as the cell's recovery budget (M6): scenarioFile's 30s.
	if got := time.Duration(w.budget.Load()); got != 30*time.Second {
		t.Errorf("Check was given a budget of %s, want the cell's recovery budget 30s", got)
	}
	return res.Verdict, res.Reason
}

// Deferred work submitted during the outage and applied after recovery passes.
func TestRunDeferredWorkApplied(t *testing.T) {
	if v, reason := runWithWork(t, false); v != scenario.Pass {
		t.Fatalf("verdict %s: %s", v, reason)
	}
}

// Deferred work that is never applied fails the cell: nothing may be lost.
func TestRunDeferredWorkLostFails(t *testing.T) {
	v, reason := runWithWork(t, true)
	if v != scenario.Fail || !strings.Contains(reason, string(scenario.ProductionTraffic)) {
		t.Fatalf("want FAIL naming production-traffic, got %s: %s", v, reason)
	}
}

// disturbingWork is deferred work that, like gateway-rollout's rollout, cuts a capability off
// for a moment when it is submitted: Submit sets down, the capability's sampler fails while
// it is, and its third failure ends it (failedWhileDown). Disturbances reports that interval
// (or, with hide, nothing).
type disturbingWork struct {
	countingWork
	down       atomic.Bool
	failures   atomic.Int64
	start, end atomic.Int64
	hide       bool
}

func (w *disturbingWork) Submit(ctx context.Context) error {
	if w.start.Load() == 0 {
		w.start.Store(time.Now().UnixNano())
		w.down.Store(true)
	}
	return w.countingWork.Submit(ctx)
}

func (w *disturbingWork) failedWhileDown() {
	if w.failures.Add(1) == 3 {
		w.end.Store(time.Now().UnixNano())
		w.down.Store(false)
	}
}

func (w *disturbingWork) Disturbances() []scenario.Disturbance {
	if w.hide || w.end.Load() == 0 {
		return nil
	}
	return []scenario.Disturbance{{Start: time.Unix(0, w.start.Load()), End: time.Unix(0, w.end.Load()),
		Capabilities: []scenario.Capability{scenario.RateLimiting}, What: "the test's own rollout"}}
}

// A kept capability's failures that the harness's own work caused (a Disturber's interval)
// are not judged, the cell's reason counts them, and the journal records the interval.
func TestRunDoesNotJudgeTheHarnesssOwnDisturbance(t *testing.T) {
	res := runDisturbed(t, false)
	if res.Verdict != scenario.Pass || len(res.Disturbances) != 1 || res.Disturbances[0].What != "the test's own rollout" {
		t.Fatalf("verdict %s (%s), disturbances %+v", res.Verdict, res.Reason, res.Disturbances)
	}
	for _, c := range res.Cells {
		if c.Capability == scenario.RateLimiting && (c.Outage.Counts.Excluded == 0 || !strings.Contains(c.Reason, "not judged")) {
			t.Errorf("rate-limiting: %d excluded, reason %q", c.Outage.Counts.Excluded, c.Reason)
		}
	}
}

// The same failures, with no disturbance reported, fail the kept cell.
func TestRunJudgesTheSameFailuresWithoutTheDisturbance(t *testing.T) {
	res := runDisturbed(t, true)
	if got := cellVerdicts(res.Cells)[scenario.RateLimiting]; got != scenario.Fail || len(res.Disturbances) != 0 {
		t.Errorf("rate-limiting %s, disturbances %+v; want FAIL and none (%s)", got, res.Disturbances, res.Reason)
	}
}

// runDisturbed runs a backend-worker scenario whose deferred work disturbs rate-limiting,
// a kept capability, for three samples, and reports it unless hide.
func runDisturbed(t *testing.T, hide bool) report.ScenarioResult {
	t.Helper()
	ns, url := component(t, "backend-worker")
	w := &disturbingWork{countingWork: countingWork{c: scenario.ProductionTraffic}, hide: hide}
	smp := samplers(url, steadyServer(t))
	smp[scenario.RateLimiting] = probe.Func(scenario.RateLimiting, func(ctx context.Context) scenario.Sample {
		if w.down.Load() {
			s := scenario.Sample{Capability: scenario.RateLimiting, Time: time.Now(), ErrorClass: scenario.ErrRefused, Detail: "connection refused (test)"}
			w.failedWhileDown()
			return s
		}
		return scenario.Sample{Capability: scenario.RateLimiting, Time: time.Now(), OK: true}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	res, err := chaos.Run(ctx, chaos.Input{
		Scenario: scenarioFile(t, "{expect: deferred}"), Kube: kc, Namespace: ns, RunID: kube.NewRunID(time.Now()),
		Samplers: smp, Work: map[scenario.Capability]probe.WorkProbe{scenario.ProductionTraffic: w},
		Options: chaos.Options{SampleInterval: 250 * time.Millisecond, SteadyTimeout: 30 * time.Second},
	})
	if err != nil {
		t.Fatal(err)
	}
	if w.failures.Load() < 3 {
		t.Fatalf("rate-limiting failed %d times while disturbed, want 3", w.failures.Load())
	}
	return res
}
