package kube

import (
	"testing"
	"time"

	"github.com/threescale-chaos/harness/pkg/catalog"
)

// A fault of several components, as package chaos runs one: Record for each (the ledger has
// every entry and nothing is scaled yet), then TakeDown and WaitGone for each. A harness
// killed then leaves two open entries, and RestoreAll puts both components back.
func TestRecordThenRestoreAllOfTwoComponents(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	ns := namespace(t, true)
	names := []string{"zync", "zync-que"}
	for _, name := range names {
		createDeployment(t, ns, component(t, name), 1)
		waitDeploymentReady(t, ns, name, 1)
	}
	runID := NewRunID(time.Now())

	func() { // the process that is killed: its Go objects are dropped after the inject
		var faults []*Fault
		for _, name := range names {
			target, err := Resolve(ctx, client, component(t, name), ns, catalog.V2_16)
			if err != nil {
				t.Fatal(err)
			}
			f, err := NewFault(client, NewPlan(target, PlanOptions{}), runID, fast)
			if err != nil {
				t.Fatal(err)
			}
			faults = append(faults, f)
		}
		for _, f := range faults {
			if err := f.Record(ctx); err != nil {
				t.Fatal(err)
			}
		}
		for _, name := range names {
			if e := ledgerEntry(t, ns, runID, name); e.State != StateOpen || e.OriginalReplicas != 1 {
				t.Errorf("%s's entry after Record: %+v, want open with 1 replica", name, e)
			}
			if n := deploymentReplicas(t, ns, name); n != 1 {
				t.Errorf("%s at %d replicas after Record, want it untouched", name, n)
			}
		}
		for _, f := range faults {
			if err := f.TakeDown(ctx); err != nil {
				t.Fatal(err)
			}
		}
		for _, f := range faults {
			if err := f.WaitGone(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}()

	restored, err := RestoreAll(ctx, client, ns, runID, fast)
	if err != nil {
		t.Fatal(err)
	}
	if len(restored) != 2 {
		t.Fatalf("RestoreAll restored %+v, want both components", restored)
	}
	for _, name := range names {
		waitDeploymentReady(t, ns, name, 1)
		if e := ledgerEntry(t, ns, runID, name); e.State != StateClosed {
			t.Errorf("%s's entry %s after RestoreAll, want closed", name, e.State)
		}
	}
	if err := CheckOpenLedger(ctx, client, ns); err != nil {
		t.Errorf("CheckOpenLedger after RestoreAll: %v", err)
	}
}
