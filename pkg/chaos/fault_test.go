package chaos_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/threescale-chaos/harness/pkg/catalog"
	"github.com/threescale-chaos/harness/pkg/chaos"
	"github.com/threescale-chaos/harness/pkg/kube"
	"github.com/threescale-chaos/harness/pkg/probe"
	"github.com/threescale-chaos/harness/pkg/report"
	"github.com/threescale-chaos/harness/pkg/scenario"
)

// The runner's decision table with a fake fault and fake samplers: no cluster. The fault
// takes production-traffic down while it is injected; every other capability stays healthy.

type fakeFault struct {
	preflight  chaos.Preflight
	prepareErr error
	injectErr  error
	hold       kube.HoldReport
	holdErr    error
	restoreErr error
	// blockHold makes Hold wait for its context: a run interrupted while the fault holds.
	blockHold bool
	// onHold is called when Hold starts.
	onHold func()

	down                atomic.Bool
	mu                  sync.Mutex
	prepared, injected  int
	restores            int
	restoreCtxErrs      []error
	restoredWhileInject bool
}

func (f *fakeFault) Prepare(context.Context) (chaos.Preflight, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.prepared++
	pf := f.preflight
	if pf.Workload == "" {
		pf = chaos.Preflight{Workload: "Deployment/backend-worker", Method: "scale-subresource", Plan: "scale to 0", OriginalReplicas: 1}
	}
	return pf, f.prepareErr
}

func (f *fakeFault) Inject(context.Context) error {
	f.mu.Lock()
	f.injected++
	f.mu.Unlock()
	if f.injectErr != nil {
		return f.injectErr
	}
	f.down.Store(true)
	return nil
}

func (f *fakeFault) Hold(ctx context.Context, window time.Duration) (kube.HoldReport, error) {
	if f.onHold != nil {
		f.onHold()
	}
	if f.blockHold {
		<-ctx.Done()
		return kube.HoldReport{}, ctx.Err()
	}
	t := time.NewTimer(window)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return kube.HoldReport{}, ctx.Err()
	case <-t.C:
	}
	return f.hold, f.holdErr
}

func (f *fakeFault) Restore(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.restores++
	f.restoreCtxErrs = append(f.restoreCtxErrs, ctx.Err())
	f.down.Store(false)
	return f.restoreErr
}

func (f *fakeFault) counts() (prepared, injected, restores int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.prepared, f.injected, f.restores
}

// fakeSamplers: production-traffic fails while the fault is down, the rest never; sick makes
// one capability fail from the start.
func fakeSamplers(f *fakeFault, sick scenario.Capability) map[scenario.Capability]probe.Sampler {
	m := map[scenario.Capability]probe.Sampler{}
	for _, c := range scenario.Capabilities() {
		m[c] = probe.Func(c, func(context.Context) scenario.Sample {
			if c == sick || c == scenario.ProductionTraffic && f.down.Load() {
				return scenario.Sample{OK: false, ErrorClass: scenario.ErrRefused, Detail: "down"}
			}
			return scenario.Sample{OK: true, Status: 200}
		})
	}
	return m
}

// quickScenario is scenarioFile with a short hold, for the decision table.
func quickScenario(t *testing.T, productionTraffic string) scenario.Scenario {
	t.Helper()
	return scenarioWithTiming(t, "{observe: 1500ms, recoveryBudget: 5s}", productionTraffic)
}

func runFake(ctx context.Context, t *testing.T, f *fakeFault, sc scenario.Scenario, smp map[scenario.Capability]probe.Sampler, phases *[]string) (report.ScenarioResult, error) {
	t.Helper()
	var mu sync.Mutex
	return chaos.Run(ctx, chaos.Input{
		Scenario: sc, Fault: f, Samplers: smp,
		Periods: func(_ context.Context, p catalog.Period) catalog.PeriodReading {
			return catalog.PeriodReading{Interval: time.Second, Source: "test"}
		},
		Options: chaos.Options{SampleInterval: 50 * time.Millisecond, SteadyTimeout: 3 * time.Second, RecoveryMargin: time.Second},
		OnPhase: func(p string) {
			if phases != nil {
				mu.Lock()
				*phases = append(*phases, p)
				mu.Unlock()
			}
		},
		Logf: t.Logf,
	})
}

func TestDecisionPassWhenExactlyTheExpectedCapabilityIsLost(t *testing.T) {
	f := &fakeFault{}
	var phases []string
	res, err := runFake(context.Background(), t, f, quickScenario(t, "{expect: lost}"), fakeSamplers(f, ""), &phases)
	if err != nil {
		t.Fatal(err)
	}
	if res.Verdict != scenario.Pass {
		t.Fatalf("verdict %s: %s", res.Verdict, res.Reason)
	}
	if _, injected, restores := f.counts(); injected != 1 || restores < 1 || f.down.Load() {
		t.Fatalf("injected %d, restored %d, still down %v", injected, restores, f.down.Load())
	}
	want := []string{chaos.PhaseSteady, chaos.PhaseInject, chaos.PhaseFaultHeld, chaos.PhaseRestore, chaos.PhaseRecovered, chaos.PhaseVerify}
	if !slices.Equal(phases, want) {
		t.Errorf("phases %q, want %q", phases, want)
	}
	if res.Workload != "Deployment/backend-worker" || res.Method != "scale-subresource" {
		t.Errorf("workload %q method %q: the preflight is not in the result", res.Workload, res.Method)
	}
}

func TestDecisionFailOnAWrongExpectation(t *testing.T) {
	f := &fakeFault{}
	res, err := runFake(context.Background(), t, f, quickScenario(t, "{expect: kept}"), fakeSamplers(f, ""), nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Verdict != scenario.Fail || !strings.Contains(res.Reason, string(scenario.ProductionTraffic)) {
		t.Fatalf("want FAIL naming production-traffic, got %s: %s", res.Verdict, res.Reason)
	}
}

// An unhealthy steady state is INVALID and the fault is never injected.
func TestDecisionUnhealthySteadyStateNeverInjects(t *testing.T) {
	f := &fakeFault{}
	res, err := runFake(context.Background(), t, f, quickScenario(t, "{expect: lost}"), fakeSamplers(f, scenario.AdminAPIRead), nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Verdict != scenario.Invalid || !strings.Contains(res.Invalid, "steady state") || !strings.Contains(res.Invalid, string(scenario.AdminAPIRead)) {
		t.Fatalf("want INVALID naming the steady state and %s, got %s: %s", scenario.AdminAPIRead, res.Verdict, res.Invalid)
	}
	if _, injected, _ := f.counts(); injected != 0 {
		t.Fatalf("injected %d times after an unhealthy steady state", injected)
	}
}

// A fault that cannot be run as planned is INVALID before anything is sampled or changed.
func TestDecisionInvalidPreflightTouchesNothing(t *testing.T) {
	f := &fakeFault{preflight: chaos.Preflight{Workload: "Deployment/backend-worker", Invalid: "the APIManager owns the replicas"}}
	res, err := runFake(context.Background(), t, f, quickScenario(t, "{expect: lost}"), fakeSamplers(f, ""), nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Verdict != scenario.Invalid || res.Invalid != "the APIManager owns the replicas" {
		t.Fatalf("got %s: %q", res.Verdict, res.Invalid)
	}
	if _, injected, _ := f.counts(); injected != 0 {
		t.Fatalf("injected %d times", injected)
	}
}

// A fault something undoes while it is injected is INVALID, and restored.
func TestDecisionFaultNotHeldAtInjectIsInvalidAndRestored(t *testing.T) {
	f := &fakeFault{injectErr: fmt.Errorf("scale backend-worker: %w: the operator set replicas back to 1", kube.ErrFaultNotHeld)}
	res, err := runFake(context.Background(), t, f, quickScenario(t, "{expect: lost}"), fakeSamplers(f, ""), nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Verdict != scenario.Invalid || !strings.Contains(res.Invalid, "operator set replicas back") {
		t.Fatalf("got %s: %q", res.Verdict, res.Invalid)
	}
	if _, _, restores := f.counts(); restores < 1 {
		t.Fatal("not restored after a failed inject")
	}
}

// Any other inject error is the harness's: returned, and the fault restored.
func TestDecisionInjectErrorReturnedAndRestored(t *testing.T) {
	f := &fakeFault{injectErr: errors.New("forbidden: cannot update deployments/scale")}
	res, err := runFake(context.Background(), t, f, quickScenario(t, "{expect: lost}"), fakeSamplers(f, ""), nil)
	if err == nil || !strings.Contains(err.Error(), "forbidden") {
		t.Fatalf("err = %v, want the inject error", err)
	}
	if res.Verdict == scenario.Pass {
		t.Fatalf("verdict PASS after an inject error")
	}
	if _, _, restores := f.counts(); restores < 1 {
		t.Fatal("not restored after a failed inject")
	}
}

// A hold violation (the component came back during the window) is INVALID.
func TestDecisionHoldViolationIsInvalid(t *testing.T) {
	f := &fakeFault{hold: kube.HoldReport{Violations: []kube.Violation{{At: time.Now(), Kind: "replicas", Detail: "spec.replicas 1"}}}}
	res, err := runFake(context.Background(), t, f, quickScenario(t, "{expect: lost}"), fakeSamplers(f, ""), nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Verdict != scenario.Invalid || !strings.Contains(res.Invalid, "did not hold") {
		t.Fatalf("got %s: %q", res.Verdict, res.Invalid)
	}
}

// A run cancelled while the fault holds (Ctrl-C, a spec timeout) still restores, with a live
// context, and returns the cancellation.
func TestDecisionCancelledDuringHoldRestoresWithALiveContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f := &fakeFault{blockHold: true, onHold: cancel}
	_, err := runFake(ctx, t, f, quickScenario(t, "{expect: lost}"), fakeSamplers(f, ""), nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.restores < 1 || f.restoreCtxErrs[0] != nil || f.down.Load() {
		t.Fatalf("restores %d with context errors %v; still down %v", f.restores, f.restoreCtxErrs, f.down.Load())
	}
}

// A restore that fails is the run's error, named, whatever the verdict was.
func TestDecisionRestoreErrorJoined(t *testing.T) {
	f := &fakeFault{restoreErr: errors.New("backend-worker not ready after restore")}
	_, err := runFake(context.Background(), t, f, quickScenario(t, "{expect: lost}"), fakeSamplers(f, ""), nil)
	if err == nil || !strings.Contains(err.Error(), "restore") || !strings.Contains(err.Error(), "not ready after restore") {
		t.Fatalf("err = %v, want the restore error", err)
	}
}

// A fault that cannot be prepared (the workload is not found) is an error, and nothing is
// injected.
func TestDecisionPrepareErrorInjectsNothing(t *testing.T) {
	f := &fakeFault{prepareErr: errors.New(`deployments.apps "backend-worker" not found`)}
	_, err := runFake(context.Background(), t, f, quickScenario(t, "{expect: lost}"), fakeSamplers(f, ""), nil)
	if err == nil || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("err = %v", err)
	}
	if _, injected, _ := f.counts(); injected != 0 {
		t.Fatalf("injected %d times", injected)
	}
}

// A capability the scenario judges with no sampler is bad input, found before the fault is
// even prepared.
func TestDecisionMissingSamplerRejectedUpFront(t *testing.T) {
	f := &fakeFault{}
	smp := fakeSamplers(f, "")
	delete(smp, scenario.ZyncSync)
	_, err := runFake(context.Background(), t, f, quickScenario(t, "{expect: lost}"), smp, nil)
	if err == nil || !strings.Contains(err.Error(), string(scenario.ZyncSync)) {
		t.Fatalf("err = %v, want the missing capability named", err)
	}
	if prepared, _, _ := f.counts(); prepared != 0 {
		t.Fatalf("prepared %d times", prepared)
	}
}
