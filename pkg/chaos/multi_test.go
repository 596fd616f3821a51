package chaos_test

import (
	"context"
	"testing"
	"time"

	"github.com/threescale-chaos/harness/pkg/catalog"
	"github.com/threescale-chaos/harness/pkg/chaos"
	"github.com/threescale-chaos/harness/pkg/kube"
	"github.com/threescale-chaos/harness/pkg/scenario"
)

// ScaleToZero with two components takes both down for the hold and brings both back: the
// fault the runner takes as a parameter is not limited to the scenario's own component.
func TestScaleToZeroTakesSeveralComponentsDownAndBack(t *testing.T) {
	ns, worker := component(t, "backend-worker")
	deploy(t, ns, "backend-cron")
	var comps []catalog.Component
	for _, name := range []string{"backend-worker", "backend-cron"} {
		c, err := catalog.Lookup(name)
		if err != nil {
			t.Fatal(err)
		}
		comps = append(comps, c)
	}
	runID := kube.NewRunID(time.Now())
	fault := chaos.ScaleToZero(kc, ns, catalog.Version{}, runID, comps, kube.PlanOptions{}, kube.Options{})
	heldAt := map[string]int32{}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	res, err := chaos.Run(ctx, chaos.Input{
		Scenario: scenarioFile(t, "{expect: lost}"), Kube: kc, Namespace: ns, RunID: runID,
		Samplers: samplers(worker, steadyServer(t)), Fault: fault,
		Options: chaos.Options{SampleInterval: 250 * time.Millisecond, SteadyTimeout: 30 * time.Second},
		OnPhase: func(p string) {
			if p == chaos.PhaseFaultHeld {
				for _, name := range []string{"backend-worker", "backend-cron"} {
					heldAt[name] = replicas(t, ns, name)
				}
			}
		},
		Logf: t.Logf,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Verdict != scenario.Pass {
		t.Fatalf("verdict %s: %s", res.Verdict, res.Reason)
	}
	if res.Workload != "Deployment/backend-worker, Deployment/backend-cron" {
		t.Errorf("workload %q, want both", res.Workload)
	}
	for _, name := range []string{"backend-worker", "backend-cron"} {
		if heldAt[name] != 0 {
			t.Errorf("%s at %d replicas while the fault held, want 0", name, heldAt[name])
		}
		if n := replicas(t, ns, name); n != 1 {
			t.Errorf("%s left at %d replicas", name, n)
		}
	}
	if entries, err := kube.ReadLedger(ctx, kc, ns); err != nil || len(entries) != 2 || entries[0].State != kube.StateClosed || entries[1].State != kube.StateClosed {
		t.Errorf("ledger: %v %+v, want two closed entries", err, entries)
	}
}
