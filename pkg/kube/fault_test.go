package kube

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/utils/ptr"

	"github.com/threescale-chaos/harness/pkg/catalog"
)

// The scale-subresource path on a component with no APIManager field: the pods really go,
// the ledger is in the cluster before the scale, the fault holds, restore brings it back.
func TestScaleSubresourceTakesPodsToZeroAndRestoreBringsThemBack(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	ns := namespace(t, true)
	comp := component(t, "system-memcache")
	createDeployment(t, ns, comp, 1)
	waitDeploymentReady(t, ns, "system-memcache", 1)

	if err := CheckNamespace(ctx, client, ns); err != nil {
		t.Fatal(err)
	}
	if err := CheckOpenLedger(ctx, client, ns); err != nil {
		t.Fatal(err)
	}
	target, err := Resolve(ctx, client, comp, ns, catalog.Version{})
	if err != nil {
		t.Fatal(err)
	}
	if !target.Detected || target.Version != catalog.V2_15 || target.Workload.Kind != catalog.KindDeployment || target.Replicas != 1 ||
		target.SelectorSource != "spec.selector" || target.Selector.String() != "deployment=system-memcache" || target.APIManager != nil || len(target.HPAs) != 0 {
		t.Fatalf("Resolve = %+v", target)
	}
	plan := NewPlan(target, PlanOptions{})
	if plan.Method != MethodScaleSubresource || plan.Invalid != "" {
		t.Fatalf("plan:\n%s", plan)
	}

	// Watch the Deployment from before the change: at the first event that shows 0
	// replicas, the ledger must already be in the cluster.
	runID := NewRunID(time.Now())
	type atScale struct {
		annotations map[string]string
		rv          string
		cm          *corev1.ConfigMap
		err         error
	}
	seen := make(chan atScale, 1)
	w, err := client.Kube.AppsV1().Deployments(ns).Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=system-memcache"})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		defer w.Stop()
		for ev := range w.ResultChan() {
			d, ok := ev.Object.(*appsv1.Deployment)
			if ok && ev.Type == watch.Modified && ptr.Deref(d.Spec.Replicas, 1) == 0 {
				cm, err := client.Kube.CoreV1().ConfigMaps(ns).Get(context.Background(), LedgerConfigMap, metav1.GetOptions{})
				seen <- atScale{annotations: d.Annotations, rv: d.ResourceVersion, cm: cm, err: err}
				return
			}
		}
	}()

	fault, err := NewFault(client, plan, runID, fast)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = fault.Restore(context.Background()) })
	if err := fault.Inject(ctx); err != nil {
		t.Fatal(err)
	}
	pods, err := client.Kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "deployment=system-memcache"})
	if err != nil || len(pods.Items) != 0 {
		t.Fatalf("after Inject pods are %s (%v)", describePods(pods.Items), err)
	}

	select {
	case s := <-seen:
		if s.err != nil {
			t.Fatalf("ledger ConfigMap at the scale event: %v", s.err)
		}
		if s.annotations[AnnotationLedger] != runID || s.annotations[AnnotationOriginalReplicas] != "1" {
			t.Errorf("the object scaled to 0 did not carry the ledger annotations: %v", s.annotations)
		}
		// Resource versions are etcd revisions on this API server: the ConfigMap's
		// write is older than the scale.
		cmRV, _ := strconv.ParseInt(s.cm.ResourceVersion, 10, 64)
		scaleRV, _ := strconv.ParseInt(s.rv, 10, 64)
		if cmRV == 0 || cmRV >= scaleRV {
			t.Errorf("ledger ConfigMap revision %s is not older than the scale's %s", s.cm.ResourceVersion, s.rv)
		}
		if _, err := DecodeEntry(runID+".system-memcache", []byte(s.cm.Data[runID+".system-memcache"])); err != nil {
			t.Errorf("ledger entry at the scale event: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no watch event with spec.replicas 0")
	}
	e := ledgerEntry(t, ns, runID, "system-memcache")
	if e.State != StateOpen || e.OriginalReplicas != 1 || e.Method != MethodScaleSubresource || e.APIManager != nil {
		t.Errorf("open ledger entry = %+v", e)
	}

	rep, err := fault.Hold(ctx, HoldOptions{Window: 1500 * time.Millisecond})
	if err != nil || !rep.Held() || rep.Err() != nil {
		t.Fatalf("Hold = %+v, %v", rep, err)
	}

	if err := fault.Restore(ctx); err != nil {
		t.Fatal(err)
	}
	waitDeploymentReady(t, ns, "system-memcache", 1)
	if e := ledgerEntry(t, ns, runID, "system-memcache"); e.State != StateClosed || e.ClosedAt == nil {
		t.Errorf("ledger entry after Restore = %+v", e)
	}
	d, _ := client.Kube.AppsV1().Deployments(ns).Get(ctx, "system-memcache", metav1.GetOptions{})
	if _, ok := d.Annotations[AnnotationLedger]; ok {
		t.Errorf("annotations left after Restore: %v", d.Annotations)
	}
	if err := fault.Restore(ctx); err != nil {
		t.Errorf("second Restore: %v", err)
	}
	if err := CheckOpenLedger(ctx, client, ns); err != nil {
		t.Errorf("CheckOpenLedger after Restore: %v", err)
	}
}

// The CR path: the APIManager field is set and a stand-in operator enforces it; patching
// the field to 0 holds, and restore sets the original value back.
func TestCRPatchHoldsAndRestoresTheOriginalValue(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	ns := namespace(t, true)
	comp := component(t, "backend-listener")
	createAPIManager(t, ns, map[string]any{"backend": map[string]any{"listenerSpec": map[string]any{"replicas": 2}}})
	createDeployment(t, ns, comp, 1)
	startFakeOperator(t, ns, comp)
	waitDeploymentReady(t, ns, "backend-listener", 2)

	target, err := Resolve(ctx, client, comp, ns, catalog.V2_15)
	if err != nil {
		t.Fatal(err)
	}
	if am := target.APIManager; am == nil || am.Name != "apimanager" || !am.FieldSet || am.FieldValue != 2 || am.HPAEnabled {
		t.Fatalf("APIManager = %+v", target.APIManager)
	}
	plan := NewPlan(target, PlanOptions{})
	if plan.Method != MethodCRPatch {
		t.Fatalf("plan:\n%s", plan)
	}
	runID := NewRunID(time.Now())
	fault, err := NewFault(client, plan, runID, fast)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = fault.Restore(context.Background()) })
	if err := fault.Inject(ctx); err != nil {
		t.Fatal(err)
	}
	if got := apiManagerField(t, ns, comp.ReplicasField); got != "0" {
		t.Errorf("APIManager field after Inject = %s, want 0", got)
	}
	e := ledgerEntry(t, ns, runID, comp.Name)
	if e.Method != MethodCRPatch || e.APIManager == nil || ptr.Deref(e.APIManager.Value, -1) != 2 || e.APIManager.Field != "spec.backend.listenerSpec.replicas" || e.OriginalReplicas != 2 {
		t.Errorf("ledger entry = %+v (%+v)", e, e.APIManager)
	}

	rep, err := fault.Hold(ctx, HoldOptions{Window: 2 * time.Second})
	if err != nil || !rep.Held() {
		t.Fatalf("Hold: %+v, %v", rep, err)
	}
	if err := fault.Restore(ctx); err != nil {
		t.Fatal(err)
	}
	if got := apiManagerField(t, ns, comp.ReplicasField); got != "2" {
		t.Errorf("APIManager field after Restore = %s, want 2", got)
	}
	waitDeploymentReady(t, ns, "backend-listener", 2)
	if e := ledgerEntry(t, ns, runID, comp.Name); e.State != StateClosed {
		t.Errorf("ledger entry after Restore: %s", e.State)
	}
}

// ForceScaleSubresource with the field set: the stand-in operator reverts the scale and
// Hold reports it, with the time and what changed; the runner's verdict is INVALID.
func TestForcedScaleIsRevertedAndHoldReportsIt(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	ns := namespace(t, true)
	comp := component(t, "system-sidekiq")
	createAPIManager(t, ns, map[string]any{"system": map[string]any{"sidekiqSpec": map[string]any{"replicas": 1}}})
	createDeployment(t, ns, comp, 1)
	op := startFakeOperator(t, ns, comp)
	waitDeploymentReady(t, ns, "system-sidekiq", 1)

	target, err := Resolve(ctx, client, comp, ns, catalog.V2_15)
	if err != nil {
		t.Fatal(err)
	}
	plan := NewPlan(target, PlanOptions{ForceScaleSubresource: true})
	if plan.Method != MethodScaleSubresource || plan.ExpectReverted == "" {
		t.Fatalf("plan:\n%s", plan)
	}
	fault, err := NewFault(client, plan, NewRunID(time.Now()), fast)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = fault.Restore(context.Background()) })

	// The operator is paused so that the pods are gone first; then it acts, as the real
	// one does on its next reconcile.
	op.paused.Store(true)
	if err := fault.Inject(ctx); err != nil {
		t.Fatal(err)
	}
	op.paused.Store(false)
	var notified []Violation
	rep, err := fault.Hold(ctx, HoldOptions{Window: 30 * time.Second, StopAtFirst: true, OnViolation: func(v Violation) { notified = append(notified, v) }})
	if err != nil {
		t.Fatalf("Hold: %v", err)
	}
	if rep.Held() || len(notified) != 1 || !errors.Is(rep.Err(), ErrFaultNotHeld) {
		t.Fatalf("Hold report %+v (notified %v), want one violation", rep, notified)
	}
	v := rep.Violations[0]
	if v.Kind != ViolationReplicas || v.Object != "Deployment/system-sidekiq" || v.Detail != "spec.replicas 0 -> 1" || v.At.Before(rep.Start) {
		t.Errorf("violation = %+v", v)
	}
	t.Logf("hold: %v", rep.Err())
	if rep.End.Sub(rep.Start) > 20*time.Second {
		t.Errorf("StopAtFirst did not stop: held for %s", rep.End.Sub(rep.Start))
	}
	if !strings.Contains(rep.Err().Error(), "spec.replicas 0 -> 1") {
		t.Errorf("report error %q does not say what changed", rep.Err())
	}
	if err := fault.Restore(ctx); err != nil {
		t.Fatal(err)
	}
	waitDeploymentReady(t, ns, "system-sidekiq", 1)
}

// An HPA that targets the workload is found and recorded, and left alone; the operator's
// hpa switch with a set replicas field makes the plan INVALID, and Inject then changes
// nothing.
func TestHPAIsDetectedRecordedAndPlanned(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	ns := namespace(t, true)
	comp := component(t, "apicast-production")
	createAPIManager(t, ns, map[string]any{"apicast": map[string]any{"productionSpec": map[string]any{"hpa": true}}})
	createDeployment(t, ns, comp, 1)
	hpa := &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: "apicast-production"},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "apicast-production"},
			MinReplicas:    ptr.To(int32(1)), MaxReplicas: 5,
			Metrics: []autoscalingv2.MetricSpec{{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
				Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr.To(int32(85))},
			}}},
		},
	}
	if _, err := client.Kube.AutoscalingV2().HorizontalPodAutoscalers(ns).Create(ctx, hpa, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// Another HPA, for another workload, must not be taken for this one.
	other := hpa.DeepCopy()
	other.Name, other.Spec.ScaleTargetRef.Name = "apicast-staging", "apicast-staging"
	if _, err := client.Kube.AutoscalingV2().HorizontalPodAutoscalers(ns).Create(ctx, other, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitDeploymentReady(t, ns, "apicast-production", 1)

	// hpa: true, replicas unset: the operator does not write replicas and the HPA does
	// not scale a target at 0, so the scale subresource holds.
	target, err := Resolve(ctx, client, comp, ns, catalog.Version{})
	if err != nil {
		t.Fatal(err)
	}
	if len(target.HPAs) != 1 || target.HPAs[0].Name != "apicast-production" || ptr.Deref(target.HPAs[0].MinReplicas, 0) != 1 || target.HPAs[0].MaxReplicas != 5 {
		t.Fatalf("HPAs = %+v", target.HPAs)
	}
	if !target.APIManager.HPAEnabled || target.APIManager.FieldSet {
		t.Fatalf("APIManager = %+v", target.APIManager)
	}
	plan := NewPlan(target, PlanOptions{})
	if plan.Method != MethodScaleSubresource || plan.Invalid != "" || !strings.Contains(plan.String(), "HPA apicast-production (min 1, max 5)") {
		t.Fatalf("plan:\n%s", plan)
	}
	runID := NewRunID(time.Now())
	fault, err := NewFault(client, plan, runID, fast)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = fault.Restore(context.Background()) })
	if err := fault.Inject(ctx); err != nil {
		t.Fatal(err)
	}
	if e := ledgerEntry(t, ns, runID, comp.Name); len(e.HPAs) != 1 || e.HPAs[0].MaxReplicas != 5 || e.APIManager == nil || e.APIManager.Value != nil {
		t.Errorf("ledger entry = %+v", e)
	}
	if err := fault.Restore(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := client.Kube.AutoscalingV2().HorizontalPodAutoscalers(ns).Get(ctx, "apicast-production", metav1.GetOptions{})
	if err != nil || ptr.Deref(got.Spec.MinReplicas, 0) != 1 || got.Spec.MaxReplicas != 5 {
		t.Errorf("HPA after the run: %+v, %v", got.Spec, err)
	}

	// hpa: true and replicas set: the operator pins 1 replica; INVALID by design.
	patchAPIManager(t, ns, map[string]any{"apicast": map[string]any{"productionSpec": map[string]any{"replicas": 1}}})
	target, err = Resolve(ctx, client, comp, ns, catalog.V2_15)
	if err != nil {
		t.Fatal(err)
	}
	plan = NewPlan(target, PlanOptions{})
	t.Logf("plan:\n%s", plan)
	if !strings.Contains(plan.Invalid, "pins Deployment/apicast-production to 1 replica") {
		t.Fatalf("plan:\n%s", plan)
	}
	refused, err := NewFault(client, plan, NewRunID(time.Now()), fast)
	if err != nil {
		t.Fatal(err)
	}
	if err := refused.Inject(ctx); !errors.Is(err, ErrCannotHold) {
		t.Fatalf("Inject of an INVALID plan: %v, want ErrCannotHold", err)
	}
	if _, ok := refused.Entry(); ok || deploymentReplicas(t, ns, "apicast-production") != 1 {
		t.Error("a refused Inject wrote a ledger entry or scaled")
	}
	if err := CheckOpenLedger(ctx, client, ns); err != nil {
		t.Errorf("a refused Inject left an open entry: %v", err)
	}
}

// A harness killed after the scale leaves the ledger; CheckOpenLedger refuses the next
// run, and RestoreAll, from a fresh client that knows nothing but the namespace and run
// id, puts the component back.
func TestRestoreAllAfterACrash(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	ns := namespace(t, true)
	comp := component(t, "zync-database")
	createDeployment(t, ns, comp, 1)
	waitDeploymentReady(t, ns, "zync-database", 1)
	runID := NewRunID(time.Now())

	func() { // the process that "crashes": its Go objects are dropped after Inject
		target, err := Resolve(ctx, client, comp, ns, catalog.V2_16)
		if err != nil {
			t.Fatal(err)
		}
		fault, err := NewFault(client, NewPlan(target, PlanOptions{}), runID, fast)
		if err != nil {
			t.Fatal(err)
		}
		if err := fault.Inject(ctx); err != nil {
			t.Fatal(err)
		}
	}()

	err := CheckOpenLedger(ctx, client, ns)
	t.Logf("open ledger: %v", err)
	var open *OpenLedgerError
	if !errors.As(err, &open) || !errors.Is(err, ErrLedgerOpen) || len(open.Entries) != 1 {
		t.Fatalf("CheckOpenLedger = %v, want one open entry", err)
	}
	for _, want := range []string{runID, "zync-database", "--run-id " + runID} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not name %q", err, want)
		}
	}

	// A second run on the same workload is refused by its annotation too.
	target, err := Resolve(ctx, client, comp, ns, catalog.V2_16)
	if err != nil {
		t.Fatal(err)
	}
	if target.Replicas != 0 {
		t.Fatalf("replicas after the crash = %d", target.Replicas)
	}
	if p := NewPlan(target, PlanOptions{}); p.Invalid == "" {
		t.Errorf("a plan on a component already at 0 must be INVALID: %s", p)
	}

	fresh, err := NewClient(restCfg)
	if err != nil {
		t.Fatal(err)
	}
	restored, err := RestoreAll(ctx, fresh, ns, "", fast)
	if err != nil {
		t.Fatal(err)
	}
	if len(restored) != 1 || restored[0].RunID != runID || restored[0].State != StateClosed {
		t.Fatalf("RestoreAll restored %+v", restored)
	}
	waitDeploymentReady(t, ns, "zync-database", 1)
	if err := CheckOpenLedger(ctx, fresh, ns); err != nil {
		t.Errorf("CheckOpenLedger after RestoreAll: %v", err)
	}
	if again, err := RestoreAll(ctx, fresh, ns, runID, fast); err != nil || len(again) != 0 {
		t.Errorf("second RestoreAll: %v, %v", again, err)
	}
}

// A workload annotated by another run is refused before anything is written.
func TestInjectRefusesAWorkloadOfAnotherRun(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	ns := namespace(t, true)
	comp := component(t, "zync-que")
	createDeployment(t, ns, comp, 1)
	patch := []byte(`{"metadata":{"annotations":{"` + AnnotationLedger + `":"someone-else"}}}`)
	if _, err := client.Kube.AppsV1().Deployments(ns).Patch(ctx, "zync-que", "application/merge-patch+json", patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	target, err := Resolve(ctx, client, comp, ns, catalog.V2_15)
	if err != nil {
		t.Fatal(err)
	}
	fault, err := NewFault(client, NewPlan(target, PlanOptions{}), NewRunID(time.Now()), fast)
	if err != nil {
		t.Fatal(err)
	}
	err = fault.Inject(ctx)
	if !errors.Is(err, ErrLedgerOpen) || !strings.Contains(err.Error(), "someone-else") {
		t.Fatalf("Inject = %v, want a refusal naming run someone-else", err)
	}
	if _, err := client.Kube.CoreV1().ConfigMaps(ns).Get(ctx, LedgerConfigMap, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("a refused Inject wrote the ledger: %v", err)
	}
	if deploymentReplicas(t, ns, "zync-que") != 1 {
		t.Error("a refused Inject scaled")
	}
}

// A DeploymentConfig (an apps.openshift.io/v1 object with a scale subresource) goes
// through the same scale client: detected when no Deployment exists, taken to 0 and
// restored to its original replicas.
func TestDeploymentConfigThroughTheScaleSubresource(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	ns := namespace(t, true)
	comp := component(t, "zync")
	dc := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apps.openshift.io/v1", "kind": "DeploymentConfig",
		"metadata": map[string]any{"name": "zync"},
		"spec": map[string]any{
			"replicas": 2,
			"selector": map[string]any{"deploymentConfig": "zync"},
			"template": map[string]any{"metadata": map[string]any{"labels": map[string]any{"deploymentConfig": "zync", "threescale_component": "zync"}}},
		},
	}}
	if _, err := client.Dynamic.Resource(DeploymentConfigsGVR).Namespace(ns).Create(ctx, dc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	target, err := Resolve(ctx, client, comp, ns, catalog.Version{})
	if err != nil {
		t.Fatal(err)
	}
	if target.Workload.Kind != catalog.KindDeploymentConfig || target.Version != catalog.V2_14 || target.Replicas != 2 ||
		target.SelectorSource != "spec.selector" || target.Selector.String() != "deploymentConfig=zync" {
		t.Fatalf("Resolve = %+v", target)
	}
	plan := NewPlan(target, PlanOptions{})
	opts := fast
	opts.SkipReadyWait = true // nothing runs DeploymentConfigs here, so nothing reports readiness
	runID := NewRunID(time.Now())
	fault, err := NewFault(client, plan, runID, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = fault.Restore(context.Background()) })
	if err := fault.Inject(ctx); err != nil {
		t.Fatal(err)
	}
	got := dcObject(t, ns)
	if n, _, _ := unstructured.NestedInt64(got.Object, "spec", "replicas"); n != 0 || got.GetAnnotations()[AnnotationOriginalReplicas] != "2" {
		t.Fatalf("DeploymentConfig after Inject: replicas %d, annotations %v", n, got.GetAnnotations())
	}
	if e := ledgerEntry(t, ns, runID, "zync"); e.Workload.Kind != catalog.KindDeploymentConfig || e.Workload.APIVersion != "apps.openshift.io/v1" {
		t.Errorf("ledger workload = %+v", e.Workload)
	}
	if err := fault.Restore(ctx); err != nil {
		t.Fatal(err)
	}
	got = dcObject(t, ns)
	if n, _, _ := unstructured.NestedInt64(got.Object, "spec", "replicas"); n != 2 || len(got.GetAnnotations()) != 0 {
		t.Fatalf("DeploymentConfig after Restore: replicas %d, annotations %v", n, got.GetAnnotations())
	}
}

func dcObject(t *testing.T, ns string) *unstructured.Unstructured {
	t.Helper()
	got, err := client.Dynamic.Resource(DeploymentConfigsGVR).Namespace(ns).Get(context.Background(), "zync", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// CheckNamespace refuses a namespace without the opt-in label, a missing namespace and an
// unreachable cluster, each with its own error, quickly.
func TestCheckNamespaceRefuses(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	plain := namespace(t, false)
	err := CheckNamespace(ctx, client, plain)
	t.Logf("not opted in: %v", err)
	if !errors.Is(err, ErrNotOptedIn) || !strings.Contains(err.Error(), "kubectl label namespace "+plain+" chaos.3scale.net/opt-in=true") {
		t.Errorf("unlabelled namespace: %v", err)
	}
	if err := CheckNamespace(ctx, client, "no-such-namespace"); !errors.Is(err, ErrNamespaceNotFound) || !strings.Contains(err.Error(), "no-such-namespace") {
		t.Errorf("missing namespace: %v", err)
	}

	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfig, []byte(`apiVersion: v1
kind: Config
clusters: [{name: gone, cluster: {server: "https://127.0.0.1:1", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: not-a-secret}}]
contexts: [{name: gone, context: {cluster: gone, user: u}}]
current-context: gone
`), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadRESTConfig(kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	unreachable, err := NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = CheckNamespace(ctx, unreachable, "threescale")
	t.Logf("unreachable: %v", err)
	if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Errorf("unreachable cluster: %v", err)
	}
	if took := time.Since(start); took > CheckTimeout {
		t.Errorf("unreachable cluster took %s to report", took)
	}
	if strings.Contains(err.Error(), "not-a-secret") {
		t.Errorf("the error leaks the token: %v", err)
	}
}
