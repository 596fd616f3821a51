package operator_test

import (
	"context"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
)

// The APIManager test of issue 3: with spec.backend.listenerSpec.replicas: 1
// set, a manual scale to zero is reverted (research 2.2, "Reverted at once").
func TestFieldSetRevertsManualScale(t *testing.T) {
	ns := namespace(t)
	createDeployment(t, ns, "backend-listener", 1)
	createAPIManager(t, ns, map[string]any{"backend": map[string]any{"listenerSpec": map[string]any{"replicas": 1}}})
	startOperator(t, ns)
	e := waitObserved(t, ns, "backend-listener", generation(t, ns, "backend-listener"))
	if e.Mode != "Enforced" {
		t.Fatalf("backend-listener mode %q, want Enforced", e.Mode)
	}

	for i := range 3 { // every scale is reverted, not just the first
		scale(t, ns, "backend-listener", 0)
		took := waitReplicas(t, ns, "backend-listener", 1)
		t.Logf("scale %d to 0 reverted to 1 in %s", i+1, took)
	}
}

// The other half: without the field, a manual scale to zero sticks
// (research 2.2, "Stays at 0"). The operator records the Deployment
// generation it reconciled, so the test waits for it to have seen the scale.
func TestFieldAbsentManualScaleSticks(t *testing.T) {
	ns := namespace(t)
	createDeployment(t, ns, "backend-listener", 1)
	createDeployment(t, ns, "system-app", 2)
	createAPIManager(t, ns, map[string]any{"backend": map[string]any{"workerSpec": map[string]any{"replicas": 1}}})
	startOperator(t, ns)

	gen := scale(t, ns, "backend-listener", 0)
	e := waitObserved(t, ns, "backend-listener", gen)
	if e.Mode != "Unmanaged" || e.Replicas == nil || *e.Replicas != 0 {
		t.Fatalf("operator record for backend-listener %+v, want Unmanaged with replicas 0", e)
	}
	assertReplicas(t, ns, "backend-listener", 0)
	if now := generation(t, ns, "backend-listener"); now != gen {
		t.Fatalf("backend-listener generation moved from %d to %d: something wrote it", gen, now)
	}

	// Any later pass leaves it too: scale another unmanaged Deployment and
	// wait for the pass that saw that.
	gen2 := scale(t, ns, "system-app", 1)
	waitObserved(t, ns, "system-app", gen2)
	assertReplicas(t, ns, "system-app", 1)
	assertReplicas(t, ns, "backend-listener", 0)

	// The absent worker Deployment is recorded, not an error.
	st, _, err := readStatus(context.Background(), ns)
	if err != nil {
		t.Fatal(err)
	}
	if w := st.Twin.Deployments["backend-worker"]; !w.Missing || w.Mode != "Enforced" {
		t.Fatalf("backend-worker record %+v, want Missing and Enforced", w)
	}
}

// hpa: true with no replicas field: nothing is written (research 2.1, 2.4).
// hpa: true with replicas set: the CR value is ignored and the Deployment is
// put back to 1 (research 2.1 "except when hpa: true ... desired stays 1",
// 2.4 and 2.6 "a CR patch to 0 does not work").
func TestHPA(t *testing.T) {
	ns := namespace(t)
	createDeployment(t, ns, "backend-listener", 1)
	createDeployment(t, ns, "backend-worker", 1)
	createDeployment(t, ns, "apicast-production", 2)
	createAPIManager(t, ns, map[string]any{
		"backend": map[string]any{
			"listenerSpec": map[string]any{"hpa": true},
			"workerSpec":   map[string]any{"hpa": true, "replicas": 3},
		},
		"apicast": map[string]any{"productionSpec": map[string]any{"hpa": false, "replicas": 2}},
	})
	startOperator(t, ns)

	t.Run("hpa without replicas: scale sticks", func(t *testing.T) {
		gen := scale(t, ns, "backend-listener", 0)
		e := waitObserved(t, ns, "backend-listener", gen)
		if e.Mode != "Unmanaged" {
			t.Fatalf("backend-listener mode %q, want Unmanaged", e.Mode)
		}
		assertReplicas(t, ns, "backend-listener", 0)
		gen = scale(t, ns, "backend-listener", 4)
		waitObserved(t, ns, "backend-listener", gen)
		assertReplicas(t, ns, "backend-listener", 4)
	})
	t.Run("hpa with replicas: forced to 1, CR value ignored", func(t *testing.T) {
		waitReplicas(t, ns, "backend-worker", 1) // never 3
		scale(t, ns, "backend-worker", 0)
		waitReplicas(t, ns, "backend-worker", 1)
		patchAPIManager(t, ns, map[string]any{"backend": map[string]any{"workerSpec": map[string]any{"replicas": 0}}})
		_, crGen, err := readStatus(context.Background(), ns)
		if err != nil {
			t.Fatal(err)
		}
		waitStatusGeneration(t, ns, crGen)
		e := waitObserved(t, ns, "backend-worker", generation(t, ns, "backend-worker"))
		if e.Mode != "HPA" || e.DesiredReplicas == nil || *e.DesiredReplicas != 1 {
			t.Fatalf("backend-worker record %+v, want HPA with desired 1", e)
		}
		assertReplicas(t, ns, "backend-worker", 1)
	})
	t.Run("hpa false: replicas enforced", func(t *testing.T) {
		scale(t, ns, "apicast-production", 0)
		waitReplicas(t, ns, "apicast-production", 2)
	})
}

// Fault injection through the owner (research 2.6 (a)): patching the field to
// 0 scales the Deployment to 0 and holds it there; patching it back restores.
func TestPatchFieldScalesDeployment(t *testing.T) {
	ns := namespace(t)
	createDeployment(t, ns, "backend-listener", 1)
	createDeployment(t, ns, "zync-que", 1)
	createAPIManager(t, ns, map[string]any{
		"backend": map[string]any{"listenerSpec": map[string]any{"replicas": 1}},
		"zync":    map[string]any{"queSpec": map[string]any{"replicas": 1}},
	})
	startOperator(t, ns)
	waitObserved(t, ns, "backend-listener", generation(t, ns, "backend-listener"))

	patchAPIManager(t, ns, map[string]any{"backend": map[string]any{"listenerSpec": map[string]any{"replicas": 0}}})
	t.Logf("CR patch to 0 applied in %s", waitReplicas(t, ns, "backend-listener", 0))

	// Held: a manual scale back up is reverted to the CR's 0.
	scale(t, ns, "backend-listener", 1)
	waitReplicas(t, ns, "backend-listener", 0)

	patchAPIManager(t, ns, map[string]any{"backend": map[string]any{"listenerSpec": map[string]any{"replicas": 1}}})
	t.Logf("CR restore to 1 applied in %s", waitReplicas(t, ns, "backend-listener", 1))

	// Other components follow their own field.
	patchAPIManager(t, ns, map[string]any{"zync": map[string]any{"queSpec": map[string]any{"replicas": 2}}})
	waitReplicas(t, ns, "zync-que", 2)

	// Deleting the field does not restore anything (research 2.6: "Do not
	// restore by deleting the field"): it only stops the enforcement.
	patchAPIManager(t, ns, map[string]any{"backend": map[string]any{"listenerSpec": map[string]any{"replicas": 0}}})
	waitReplicas(t, ns, "backend-listener", 0)
	patchAPIManager(t, ns, map[string]any{"backend": map[string]any{"listenerSpec": map[string]any{"replicas": nil}}})
	_, crGen, err := readStatus(context.Background(), ns)
	if err != nil {
		t.Fatal(err)
	}
	waitStatusGeneration(t, ns, crGen)
	e := waitObserved(t, ns, "backend-listener", generation(t, ns, "backend-listener"))
	if e.Mode != "Unmanaged" {
		t.Fatalf("backend-listener mode %q after the field was removed, want Unmanaged", e.Mode)
	}
	assertReplicas(t, ns, "backend-listener", 0)
}

// The searchd gate (research 2.5): while system-searchd is not Available the
// pass stops after backend, so system, zync and apicast are not enforced.
func TestSearchdGate(t *testing.T) {
	ns := namespace(t)
	createDeployment(t, ns, "backend-listener", 1)
	createDeployment(t, ns, "system-app", 1)
	// No node runs its pod, so system-searchd at 1 never becomes Available.
	createDeployment(t, ns, "system-searchd", 1)
	createAPIManager(t, ns, map[string]any{
		"backend": map[string]any{"listenerSpec": map[string]any{"replicas": 1}},
		"system":  map[string]any{"appSpec": map[string]any{"replicas": 2}},
	})
	startOperator(t, ns)

	waitWaitingFor(t, ns, "system-searchd")
	scale(t, ns, "backend-listener", 0)
	waitReplicas(t, ns, "backend-listener", 1) // backend comes before the gate
	assertReplicas(t, ns, "system-app", 1)     // the pass never got there

	// At 0 replicas system-searchd is Available (research 2.5), the gate opens.
	scale(t, ns, "system-searchd", 0)
	waitReplicas(t, ns, "system-app", 2)
	waitWaitingFor(t, ns, "")
}

func waitWaitingFor(t *testing.T, ns, want string) {
	t.Helper()
	last := ""
	err := wait.PollUntilContextTimeout(context.Background(), 20*time.Millisecond, deadline, true, func(ctx context.Context) (bool, error) {
		st, _, err := readStatus(ctx, ns)
		if err != nil {
			last = err.Error()
			return false, nil
		}
		last = st.Twin.WaitingFor
		return st.ObservedGeneration > 0 && st.Twin.WaitingFor == want, nil
	})
	if err != nil {
		t.Fatalf("the operator record's waitingFor never %q (last %q): %v", want, last, err)
	}
}

// waitStatusGeneration waits until the operator has read the APIManager at
// generation gen or later.
func waitStatusGeneration(t *testing.T, ns string, gen int64) {
	t.Helper()
	var last int64
	err := wait.PollUntilContextTimeout(context.Background(), 20*time.Millisecond, deadline, true, func(ctx context.Context) (bool, error) {
		st, _, err := readStatus(ctx, ns)
		if err != nil {
			return false, nil
		}
		last = st.ObservedGeneration
		return last >= gen, nil
	})
	if err != nil {
		t.Fatalf("the operator record's apiManagerGeneration never reached %d (last %d): %v", gen, last, err)
	}
}
