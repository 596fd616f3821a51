package kube

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/threescale-chaos/harness/internal/testsupport"
	"github.com/threescale-chaos/harness/pkg/catalog"
)

// What the real operator does not do, planned on the local control plane: it never gets
// past a system-searchd that is not Available (real-operator-check.md §2.3), and it does
// not run a component that a switch of the APIManager disables or makes external.

// setSearchdReady makes system-searchd's pods Ready or never Ready, through a readiness
// probe, as a searchd that has not loaded its indexes is. Changing the probe rolls the
// Deployment out.
func setSearchdReady(t *testing.T, ns string, ready bool) {
	t.Helper()
	probe := "null"
	if !ready {
		// Nothing listens on port 1 of the node's loopback.
		probe = `{"httpGet": {"path": "/", "port": 1, "host": "127.0.0.1"}, "periodSeconds": 1}`
	}
	patch := fmt.Sprintf(`{"spec": {"template": {"spec": {"containers": [{"name": "main", "readinessProbe": %s}]}}}}`, probe)
	if _, err := client.Kube.AppsV1().Deployments(ns).Patch(context.Background(), "system-searchd", types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatalf("patch system-searchd's readiness probe: %v", err)
	}
}

// waitGate waits until the operator's gate on system-searchd is open (closed == false)
// or closed, as gateClosed sees it.
func waitGate(t *testing.T, ns string, closed bool) {
	t.Helper()
	testsupport.Eventually(t, 45*time.Second, fmt.Sprintf("the gate on system-searchd in %s to be closed=%t", ns, closed), func(ctx context.Context) (bool, string) {
		why, _, err := gateClosed(ctx, client, ns, "system-searchd")
		if err != nil {
			return false, err.Error()
		}
		return (why != "") == closed, "closed: " + why
	})
}

// A cr-patch of a component the operator reconciles after system-searchd is INVALID by
// design while searchd is not Available or is rolling out: the patch would never be
// applied. A component before the gate (backend-worker) still gets its cr-patch, and when
// searchd is Available again the gated one does too. The old plan said cr-patch and the
// inject waited the whole Gone timeout (research/real-operator-check.md §3.1, last row).
func TestSearchdGateMakesACRPatchInvalid(t *testing.T) {
	ctx := testCtx(t)
	ns := namespace(t, true)
	searchd, sysApp, zyncQue, worker := component(t, "system-searchd"), component(t, "system-app"), component(t, "zync-que"), component(t, "backend-worker")
	createAPIManager(t, ns, map[string]any{
		"system":  map[string]any{"appSpec": map[string]any{"replicas": int64(1)}},
		"zync":    map[string]any{"queSpec": map[string]any{"replicas": int64(1)}},
		"backend": map[string]any{"workerSpec": map[string]any{"replicas": int64(1)}},
	})
	for _, c := range []catalog.Component{sysApp, zyncQue, worker} {
		createDeployment(t, ns, c, 1)
	}
	createDeployment(t, ns, searchd, 1)
	setSearchdReady(t, ns, false)
	waitGate(t, ns, true)

	for _, c := range []catalog.Component{sysApp, zyncQue} {
		tg, err := Resolve(ctx, client, c, ns, catalog.V2_16)
		if err != nil {
			t.Fatal(err)
		}
		if tg.Gate == nil || tg.Gate.Component != "system-searchd" || !strings.Contains(tg.Gate.Closed, "Deployment/system-searchd") {
			t.Fatalf("%s: gate %+v, want system-searchd closed", c.Name, tg.Gate)
		}
		p := NewPlan(tg, PlanOptions{})
		for _, want := range []string{"the operator will not act", c.ReplicasField.String() + "=1", "system-searchd", "system_searchd_reconciler.go:112"} {
			if !strings.Contains(p.Invalid, want) {
				t.Errorf("%s: plan Invalid %q lacks %q", c.Name, p.Invalid, want)
			}
		}
		if !strings.Contains(p.String(), "INVALID by design: the operator will not act") {
			t.Errorf("%s: plan does not say it:\n%s", c.Name, p)
		}
		// Forced onto the scale subresource, nothing reverts the scale while the gate is
		// closed: no "expect reverted", a note instead.
		if f := NewPlan(tg, PlanOptions{ForceScaleSubresource: true}); f.Invalid != "" || f.ExpectReverted != "" || !strings.Contains(f.String(), "will not scale") {
			t.Errorf("%s forced: Invalid %q ExpectReverted %q\n%s", c.Name, f.Invalid, f.ExpectReverted, f)
		}
		fault, err := NewFault(client, p, "gate-refused-"+strings.ReplaceAll(c.Name, "-", ""), fast)
		if err != nil {
			t.Fatal(err)
		}
		if err := fault.Inject(ctx); !errors.Is(err, ErrCannotHold) {
			t.Errorf("%s: Inject = %v, want ErrCannotHold", c.Name, err)
		}
	}
	tg, err := Resolve(ctx, client, worker, ns, catalog.V2_16)
	if err != nil {
		t.Fatal(err)
	}
	if p := NewPlan(tg, PlanOptions{}); p.Method != MethodCRPatch || p.Invalid != "" || tg.Gate != nil {
		t.Errorf("backend-worker is reconciled before the gate: method %s, Invalid %q, gate %+v", p.Method, p.Invalid, tg.Gate)
	}

	setSearchdReady(t, ns, true)
	waitGate(t, ns, false)
	tg, err = Resolve(ctx, client, sysApp, ns, catalog.V2_16)
	if err != nil {
		t.Fatal(err)
	}
	if p := NewPlan(tg, PlanOptions{}); p.Method != MethodCRPatch || p.Invalid != "" {
		t.Errorf("searchd Available: method %s, Invalid %q, want a cr-patch", p.Method, p.Invalid)
	}
	// Before 2.15 (DeploymentConfigs) the operator had no such gate.
	if sysApp.GateFor(catalog.V2_14) != "" {
		t.Errorf("system-app is gated on 2.14")
	}
}

// The gate can close after the plan was made (searchd rolls out while the steady state is
// checked). Inject then ends at once with ErrCannotHold and the reason, instead of waiting
// the Gone timeout for pods the operator will never remove; restore puts the field back.
func TestInjectStopsAtOnceWhenTheGateCloses(t *testing.T) {
	ctx := testCtx(t)
	ns := namespace(t, true)
	searchd, sysApp := component(t, "system-searchd"), component(t, "system-app")
	createAPIManager(t, ns, map[string]any{"system": map[string]any{"appSpec": map[string]any{"replicas": int64(1)}}})
	createDeployment(t, ns, sysApp, 1)
	createDeployment(t, ns, searchd, 1)
	waitDeploymentReady(t, ns, "system-searchd", 1)
	waitGate(t, ns, false)
	tg, err := Resolve(ctx, client, sysApp, ns, catalog.V2_16)
	if err != nil {
		t.Fatal(err)
	}
	p := NewPlan(tg, PlanOptions{})
	if p.Method != MethodCRPatch || p.Invalid != "" {
		t.Fatalf("plan with the gate open: %s", p)
	}

	setSearchdReady(t, ns, false)
	waitGate(t, ns, true)
	fault, err := NewFault(client, p, "gate-closed-later", fast)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = fault.Restore(context.Background()) })
	start := time.Now()
	err = fault.Inject(ctx)
	took := time.Since(start)
	if !errors.Is(err, ErrCannotHold) || !strings.Contains(err.Error(), "the operator will not act") || !strings.Contains(err.Error(), "Deployment/system-searchd") {
		t.Fatalf("Inject = %v, want ErrCannotHold naming the gate", err)
	}
	if took > fast.Timeouts.Gone/3 {
		t.Errorf("Inject took %s to give up; the Gone timeout is %s", took, fast.Timeouts.Gone)
	}
	if err := fault.Restore(ctx); err != nil {
		t.Fatal(err)
	}
	if got := apiManagerField(t, ns, sysApp.ReplicasField); got != "1" {
		t.Errorf("%s after restore = %s, want 1", sysApp.ReplicasField, got)
	}
}

// A component an APIManager switch disables, or a datastore the operator of the version
// does not run, is absent by design: Resolve says so instead of "workload not found", the
// plan is INVALID with the switch and the operator source, and Inject changes nothing. A
// datastore the install runs itself is planned, with a note that it is not the operator's
// (not "the operator never writes its replicas after creation", which it never created).
func TestAbsentByDesign(t *testing.T) {
	ctx := testCtx(t)
	ns := namespace(t, true)
	createAPIManager(t, ns, map[string]any{
		"zync":               map[string]any{"enabled": false},
		"externalComponents": map[string]any{"backend": map[string]any{"redis": true}},
	})
	absent := []struct {
		component, version, short, detail string
	}{
		{"zync", "2.16", "spec.zync.enabled: false", "zync_reconciler.go"},
		{"zync-que", "2.16", "spec.zync.enabled: false", "deleteZyncComponents"},
		{"zync-database", "2.16", "spec.zync.enabled: false", "deletes zync, zync-que and zync-database"},
		{"backend-redis", "2.16", "spec.externalComponents.backend.redis: true", "the install provides it"},
		{"system-redis", "2.16", "external from 3scale 2.16", "dependencyReconcilerForComponents"},
	}
	for _, a := range absent {
		c := component(t, a.component)
		tg, err := Resolve(ctx, client, c, ns, catalog.MustParseVersion(a.version))
		if err != nil {
			t.Errorf("%s: Resolve = %v, want absent by design", a.component, err)
			continue
		}
		if tg.Absent != a.short {
			t.Errorf("%s: Absent %q, want %q", a.component, tg.Absent, a.short)
		}
		p := NewPlan(tg, PlanOptions{})
		if want := "absent by design (" + a.short + ")"; !strings.Contains(p.Invalid, want) || !strings.Contains(p.Invalid, a.detail) || !strings.Contains(p.String(), want) {
			t.Errorf("%s: plan lacks %q and %q:\n%s", a.component, want, a.detail, p)
		}
		if strings.Contains(p.String(), "cannot be resolved") || strings.Contains(p.String(), "not found") {
			t.Errorf("%s: plan speaks of a missing workload:\n%s", a.component, p)
		}
		fault, err := NewFault(client, p, "absent-"+strings.ReplaceAll(a.component, "-", ""), fast)
		if err != nil {
			t.Fatal(err)
		}
		if err := fault.Inject(ctx); !errors.Is(err, ErrCannotHold) {
			t.Errorf("%s: Inject = %v, want ErrCannotHold", a.component, err)
		}
	}
	if entries, err := ReadLedger(ctx, client, ns); err != nil || len(entries) != 0 {
		t.Errorf("ledger written for absent components: %v %v", entries, err)
	}

	// Without a switch, and on a version whose operator runs it, a missing workload is
	// still an error.
	if _, err := Resolve(ctx, client, component(t, "system-redis"), ns, catalog.V2_15); !errors.Is(err, ErrWorkloadNotFound) {
		t.Errorf("system-redis on 2.15: Resolve = %v, want ErrWorkloadNotFound", err)
	}

	// The install's own datastores.
	for _, name := range []string{"backend-redis", "system-redis"} {
		c := component(t, name)
		createDeployment(t, ns, c, 1)
		tg, err := Resolve(ctx, client, c, ns, catalog.V2_16)
		if err != nil {
			t.Fatal(err)
		}
		p := NewPlan(tg, PlanOptions{})
		if p.Invalid != "" || p.Method != MethodScaleSubresource {
			t.Errorf("%s: %s", name, p)
		}
		if s := p.String(); !strings.Contains(s, name+" is not the operator's") || !strings.Contains(s, "the install's own") || strings.Contains(s, "never writes its replicas after creation") {
			t.Errorf("%s: plan notes:\n%s", name, s)
		}
	}
}

// gateClosed follows the operator's IsDeploymentAvailable and IsDeploymentProgressing on
// the Deployment status the controller writes; a Deployment at zero replicas is Available,
// so the system-searchd scenario itself opens the gate.
func TestGateClosedReadsTheOperatorsConditions(t *testing.T) {
	ctx := testCtx(t)
	ns := namespace(t, true)
	if why, missing, err := gateClosed(ctx, client, ns, "system-searchd"); err != nil || why != "" || !missing {
		t.Errorf("no Deployment: closed %q missing %t %v, want missing and not closed", why, missing, err)
	}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "system-searchd"},
		Spec: appsv1.DeploymentSpec{
			Replicas: new(int32),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"deployment": "system-searchd"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"deployment": "system-searchd"}},
				Spec: corev1.PodSpec{HostNetwork: true, Containers: []corev1.Container{{
					Name: "main", Image: "twin/shell", Command: []string{"/bin/sh", "-c", "sleep 3600"},
					ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Host: "127.0.0.1", Port: intstr.FromInt32(1)}}},
				}}},
			},
		},
	}
	if _, err := client.Kube.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitGate(t, ns, false)
}
