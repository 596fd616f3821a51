package kube

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/threescale-chaos/harness/pkg/catalog"
)

// Errors about the fault itself.
var (
	// ErrCannotHold is wrapped by Inject when the plan is INVALID by design; nothing
	// has been changed.
	ErrCannotHold = errors.New("the fault cannot hold")
	// ErrFaultNotHeld is wrapped when something brought the component back while the
	// harness was taking it down (e.g. the operator reverted a scale). The run's verdict
	// is INVALID.
	ErrFaultNotHeld = errors.New("the fault did not hold")
	// ErrNotReady is wrapped by Restore when the original state was put back but the
	// workload did not have its replicas Ready in time.
	ErrNotReady = errors.New("workload not ready after restore")
)

// Timeouts bound the waits. Zero fields take the defaults.
type Timeouts struct {
	// Gone bounds the wait for the component's pods to disappear; default 2m.
	Gone time.Duration
	// Ready bounds the wait for the restored workload to have its replicas Ready;
	// default 5m (system-app needs a minute or more, zync more than 100 s).
	Ready time.Duration
	// Interval is the polling interval; default 250ms.
	Interval time.Duration
}

func (t Timeouts) withDefaults() Timeouts {
	if t.Gone == 0 {
		t.Gone = 2 * time.Minute
	}
	if t.Ready == 0 {
		t.Ready = 5 * time.Minute
	}
	if t.Interval == 0 {
		t.Interval = 250 * time.Millisecond
	}
	return t
}

// Options tune a Fault and RestoreAll.
type Options struct {
	Timeouts Timeouts
	// SkipReadyWait makes restore put the original state back without waiting for Ready
	// replicas: for a caller that measures recovery itself, or a workload whose
	// controller does not report readiness.
	SkipReadyWait bool
}

// Fault carries out one Plan under one run id: Inject, Hold, Restore. Its methods are not
// safe for concurrent use, except Hold, which only reads.
type Fault struct {
	c     *Client
	plan  Plan
	runID string
	opts  Options
	entry *LedgerEntry // the ledger entry once Inject has written it
}

// NewFault prepares a fault. It does not talk to the cluster.
func NewFault(c *Client, p Plan, runID string, opts Options) (*Fault, error) {
	if err := ValidateRunID(runID); err != nil {
		return nil, err
	}
	opts.Timeouts = opts.Timeouts.withDefaults()
	return &Fault{c: c, plan: p, runID: runID, opts: opts}, nil
}

// Plan returns the plan the fault carries out.
func (f *Fault) Plan() Plan { return f.plan }

// Entry returns the ledger entry Inject wrote, and false before Inject wrote one.
func (f *Fault) Entry() (LedgerEntry, bool) {
	if f.entry == nil {
		return LedgerEntry{}, false
	}
	return *f.entry, true
}

// Inject writes the restore ledger (ConfigMap entry, then workload annotations), takes
// the component to zero by the plan's method, and waits until its pods are gone. It
// refuses an INVALID plan (ErrCannotHold) and a workload another run has annotated,
// changing nothing. Call Restore whatever Inject returns: once the ledger is written,
// Restore knows what to put back. Inject is Record, TakeDown and WaitGone in turn; a
// fault of several components calls them for all its components one step at a time.
func (f *Fault) Inject(ctx context.Context) error {
	if err := f.Record(ctx); err != nil {
		return err
	}
	if err := f.TakeDown(ctx); err != nil {
		return err
	}
	return f.WaitGone(ctx)
}

// Record writes the restore ledger (ConfigMap entry, then workload annotations) and
// changes nothing else; after it, Restore knows what to put back. It refuses an INVALID
// plan (ErrCannotHold) and a workload another run has annotated. Once recorded, it does
// nothing.
func (f *Fault) Record(ctx context.Context) error {
	t := f.plan.Target
	if f.plan.Invalid != "" {
		return fmt.Errorf("inject %s: %w: %s", t, ErrCannotHold, f.plan.Invalid)
	}
	if f.entry == nil {
		if err := f.writeLedger(ctx); err != nil {
			return fmt.Errorf("inject %s: %w", t, err)
		}
	}
	return nil
}

// TakeDown takes the component to zero by the plan's method, without waiting for its
// pods to go (WaitGone). It needs the ledger written (Record).
func (f *Fault) TakeDown(ctx context.Context) error {
	t := f.plan.Target
	if f.entry == nil {
		return fmt.Errorf("inject %s: the ledger is not written (Record first)", t)
	}
	switch f.plan.Method {
	case MethodCRPatch:
		am := f.entry.APIManager
		if err := patchField(ctx, f.c, t.Namespace, am.Name, t.Component.ReplicasField, ptrTo(int64(0))); err != nil {
			return fmt.Errorf("inject %s: %w", t, err)
		}
	default:
		if _, err := setScale(ctx, f.c, t.Namespace, t.Workload, 0); err != nil {
			return fmt.Errorf("inject %s: %w", t, err)
		}
	}
	return nil
}

// writeLedger reads the original state afresh, writes the ledger entry and annotates the
// workload. A workload that carries another run's annotation is refused.
func (f *Fault) writeLedger(ctx context.Context) error {
	t := f.plan.Target
	obj, err := f.c.Dynamic.Resource(gvrOf(t.Workload)).Namespace(t.Namespace).Get(ctx, t.Workload.Name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("read %s: %w", t.Workload, err)
	}
	if other := obj.GetAnnotations()[AnnotationLedger]; other != "" {
		if other != f.runID {
			return fmt.Errorf("%w: %s carries %s=%s: restore that run first", ErrLedgerOpen, t.Workload, AnnotationLedger, other)
		}
		// This run annotated it before (an Inject retried after an error): the ledger
		// already has the original, which the live object no longer shows.
		entries, err := ReadLedger(ctx, f.c, t.Namespace)
		for _, e := range entries {
			if e.RunID == f.runID && e.Component == t.Component.Name {
				f.entry = &e
				return nil
			}
		}
		return fmt.Errorf("%s carries this run's annotation but the ledger has no entry for it: %v", t.Workload, err)
	}
	sc, err := getScale(ctx, f.c, t.Namespace, t.Workload)
	if err != nil {
		return err
	}
	if sc.Spec.Replicas == 0 {
		return fmt.Errorf("%w: %s is already at 0 replicas, so its original state is unknown", ErrCannotHold, t.Workload)
	}
	e := LedgerEntry{
		Format: LedgerFormat, RunID: f.runID, Component: t.Component.Name, Namespace: t.Namespace,
		Workload: RefOf(t.Workload), Method: f.plan.Method, OriginalReplicas: sc.Spec.Replicas,
		State: StateOpen, OpenedAt: time.Now().UTC(),
	}
	e.HPAs = slices.Clone(t.HPAs)
	if t.APIManager != nil && t.Component.HasReplicasField() {
		am, err := f.c.Dynamic.Resource(APIManagersGVR).Namespace(t.Namespace).Get(ctx, t.APIManager.Name, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("read APIManager %s: %w", t.APIManager.Name, err)
		}
		info, err := apiManagerInfo(am, t.Component)
		if err != nil {
			return err
		}
		rec := &FieldRecord{Name: info.Name, Field: info.Field.String()}
		if info.FieldSet {
			rec.Value = ptrTo(info.FieldValue)
		}
		e.APIManager = rec
	}
	if f.plan.Method == MethodCRPatch && (e.APIManager == nil || e.APIManager.Value == nil) {
		return fmt.Errorf("the plan patches %s but the live APIManager no longer sets it: plan again", t.Component.ReplicasField)
	}
	if err := putEntry(ctx, f.c, e); err != nil {
		return err
	}
	f.entry = &e
	patch := map[string]any{"metadata": map[string]any{"annotations": map[string]any{
		AnnotationLedger:           f.runID,
		AnnotationOriginalReplicas: strconv.Itoa(int(e.OriginalReplicas)),
	}}}
	if err := mergePatch(ctx, f.c, gvrOf(t.Workload), t.Namespace, t.Workload.Name, patch); err != nil {
		return fmt.Errorf("annotate %s with the ledger: %w", t.Workload, err)
	}
	return nil
}

// WaitGone waits until the workload is at 0 replicas and no pod of the component is
// left (not even terminating). It fails fast with ErrFaultNotHeld when the fault is
// being undone: the scale set back above 0 (scale-subresource), or the APIManager field
// moved off 0 (cr-patch). A timeout names the pods last seen.
func (f *Fault) WaitGone(ctx context.Context) error {
	t := f.plan.Target
	if f.entry == nil {
		return fmt.Errorf("wait for %s to be gone: Inject has not written the ledger", t)
	}
	last := "nothing observed yet"
	err := wait.PollUntilContextTimeout(ctx, f.opts.Timeouts.Interval, f.opts.Timeouts.Gone, true, func(ctx context.Context) (bool, error) {
		sc, err := getScale(ctx, f.c, t.Namespace, t.Workload)
		if err != nil {
			last = err.Error()
			return false, nil
		}
		if f.plan.Method == MethodCRPatch {
			am, err := f.c.Dynamic.Resource(APIManagersGVR).Namespace(t.Namespace).Get(ctx, f.entry.APIManager.Name, metav1.GetOptions{})
			if err != nil {
				last = err.Error()
				return false, nil
			}
			if n, set, _ := fieldInt(am, t.Component.ReplicasField); !set || n != 0 {
				return false, fmt.Errorf("%w: APIManager %s %s is %s, the harness set 0", ErrFaultNotHeld, am.GetName(), t.Component.ReplicasField, fieldString(n, set))
			}
			// The patch waits for the operator. If the operator is stopped before the
			// component (its gate closed since the plan was made), it never comes: say so
			// now rather than after the whole Gone timeout.
			if gate := t.Component.GateFor(t.Version); sc.Spec.Replicas > 0 && gate != "" && t.Workload.Kind == catalog.KindDeployment {
				closed, _, err := gateClosed(ctx, f.c, t.Namespace, gate)
				if err != nil {
					last = err.Error()
					return false, nil
				}
				if closed != "" {
					return false, fmt.Errorf("%w: the operator will not act: %s, and %s", ErrCannotHold, closed, gateWhy(t.Component.Name, gate))
				}
			}
		} else if sc.Spec.Replicas > 0 {
			return false, fmt.Errorf("%w: %s was scaled back to %d replicas (the harness set 0)", ErrFaultNotHeld, t.Workload, sc.Spec.Replicas)
		}
		pods, err := f.pods(ctx)
		if err != nil {
			last = err.Error()
			return false, nil
		}
		last = fmt.Sprintf("spec.replicas=%d, pods %s", sc.Spec.Replicas, describePods(pods))
		return sc.Spec.Replicas == 0 && len(pods) == 0, nil
	})
	if err != nil {
		if errors.Is(err, ErrFaultNotHeld) || errors.Is(err, ErrCannotHold) {
			return fmt.Errorf("wait for %s to be gone: %w", t, err)
		}
		return fmt.Errorf("wait %s for the pods of %s (%s) to be gone: %w; last seen: %s", f.opts.Timeouts.Gone, t, t.Selector, err, last)
	}
	return nil
}

// pods lists the component's pods.
func (f *Fault) pods(ctx context.Context) ([]corev1.Pod, error) {
	return listPods(ctx, f.c, f.plan.Target.Namespace, f.plan.Target.Selector)
}

func listPods(ctx context.Context, c *Client, namespace string, sel labels.Selector) ([]corev1.Pod, error) {
	list, err := c.Kube.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return nil, fmt.Errorf("list pods %s in %s: %w", sel, namespace, err)
	}
	return list.Items, nil
}

// describePods renders pods as "[name (Phase), name (Terminating)]".
func describePods(pods []corev1.Pod) string {
	if len(pods) == 0 {
		return "none"
	}
	parts := make([]string, 0, len(pods))
	for _, p := range pods {
		state := string(p.Status.Phase)
		if p.DeletionTimestamp != nil {
			state = "Terminating"
		}
		parts = append(parts, p.Name+" ("+state+")")
	}
	slices.Sort(parts)
	return "[" + strings.Join(parts, ", ") + "]"
}

// Restore puts back what the ledger recorded, closes the entry and removes the workload's
// annotations, then waits for the replicas to be Ready (unless SkipReadyWait). It is
// idempotent: after a successful Restore, or before Inject wrote the ledger, it does
// nothing. Give it a context of its own, not one that an interrupt has cancelled.
func (f *Fault) Restore(ctx context.Context) error {
	if f.entry == nil {
		return nil
	}
	entries, err := ReadLedger(ctx, f.c, f.entry.Namespace)
	for _, e := range entries {
		if e.Key() == f.entry.Key() && e.State == StateClosed {
			f.entry = &e
			return nil
		}
	}
	if err != nil && !errors.Is(err, ErrCorruptLedger) {
		return fmt.Errorf("restore %s: %w", f.entry, err)
	}
	// The in-memory entry is what this process wrote; it is the same as the ledger's
	// unless someone edited the ConfigMap, and it survives a deleted ConfigMap.
	closed, err := restoreEntry(ctx, f.c, *f.entry, f.opts)
	if closed != nil {
		f.entry = closed
	}
	return err
}

// RestoreAll restores every open ledger entry of the namespace, or only those of runID
// when it is not empty: what `threescale-chaos restore [--run-id]` does after a harness
// was killed. It returns the entries it closed; corrupt entries are reported in the
// error and left alone.
func RestoreAll(ctx context.Context, c *Client, namespace, runID string, opts Options) ([]LedgerEntry, error) {
	opts.Timeouts = opts.Timeouts.withDefaults()
	entries, readErr := ReadLedger(ctx, c, namespace)
	if readErr != nil && !errors.Is(readErr, ErrCorruptLedger) {
		return nil, fmt.Errorf("restore all in %s: %w", namespace, readErr)
	}
	var done []LedgerEntry
	errs := []error{readErr}
	for _, e := range entries {
		if e.State != StateOpen || (runID != "" && e.RunID != runID) {
			continue
		}
		closed, err := restoreEntry(ctx, c, e, opts)
		if closed != nil {
			done = append(done, *closed)
		}
		errs = append(errs, err)
	}
	return done, errors.Join(errs...)
}

// restoreEntry puts one entry's original state back. It returns the closed entry once
// the original is back and the ledger says so, even when the wait for Ready then fails.
func restoreEntry(ctx context.Context, c *Client, e LedgerEntry, opts Options) (*LedgerEntry, error) {
	w := e.Workload.Workload()
	comp, err := catalog.Lookup(e.Component)
	if err != nil {
		return nil, fmt.Errorf("restore %s: %w", e, err)
	}
	if e.Method == MethodCRPatch {
		// Back to the exact original: the value, or no field at all.
		if err := patchField(ctx, c, e.Namespace, e.APIManager.Name, comp.ReplicasField, e.APIManager.Value); err != nil {
			return nil, fmt.Errorf("restore %s: %w", e, err)
		}
	}
	// Also through the scale subresource, for both methods: with cr-patch the operator
	// applies the same value, and if the operator is not running (or the field was
	// absent, so it never will) the workload still comes back.
	if _, err := setScale(ctx, c, e.Namespace, w, e.OriginalReplicas); err != nil {
		return nil, fmt.Errorf("restore %s: %w", e, err)
	}
	if err := removeAnnotations(ctx, c, e.Namespace, w, e.RunID); err != nil {
		return nil, fmt.Errorf("restore %s: %w", e, err)
	}
	now := time.Now().UTC()
	closed := e
	closed.State, closed.ClosedAt = StateClosed, &now
	if err := putEntry(ctx, c, closed); err != nil {
		return nil, fmt.Errorf("restore %s: original state put back, but: %w", e, err)
	}
	if opts.SkipReadyWait {
		return &closed, nil
	}
	if err := waitReady(ctx, c, e.Namespace, w, e.OriginalReplicas, opts.Timeouts); err != nil {
		return &closed, fmt.Errorf("restore %s: %w", e, err)
	}
	return &closed, nil
}

// removeAnnotations removes the ledger annotations if they belong to runID.
func removeAnnotations(ctx context.Context, c *Client, namespace string, w catalog.Workload, runID string) error {
	obj, err := c.Dynamic.Resource(gvrOf(w)).Namespace(namespace).Get(ctx, w.Name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("read %s: %w", w, err)
	}
	if obj.GetAnnotations()[AnnotationLedger] != runID {
		return nil
	}
	patch := map[string]any{"metadata": map[string]any{"annotations": map[string]any{
		AnnotationLedger: nil, AnnotationOriginalReplicas: nil,
	}}}
	if err := mergePatch(ctx, c, gvrOf(w), namespace, w.Name, patch); err != nil {
		return fmt.Errorf("remove ledger annotations from %s: %w", w, err)
	}
	return nil
}

// waitReady waits until the workload wants n replicas and reports n Ready
// (status.readyReplicas, which Deployments and DeploymentConfigs both have).
func waitReady(ctx context.Context, c *Client, namespace string, w catalog.Workload, n int32, to Timeouts) error {
	last := "nothing observed yet"
	err := wait.PollUntilContextTimeout(ctx, to.Interval, to.Ready, true, func(ctx context.Context) (bool, error) {
		obj, err := c.Dynamic.Resource(gvrOf(w)).Namespace(namespace).Get(ctx, w.Name, metav1.GetOptions{})
		if err != nil {
			last = err.Error()
			return false, nil
		}
		spec, _, _ := unstructured.NestedInt64(obj.Object, "spec", "replicas")
		ready, _, _ := unstructured.NestedInt64(obj.Object, "status", "readyReplicas")
		observed, _, _ := unstructured.NestedInt64(obj.Object, "status", "observedGeneration")
		last = fmt.Sprintf("spec.replicas=%d, status.readyReplicas=%d, observedGeneration=%d of %d", spec, ready, observed, obj.GetGeneration())
		return spec == int64(n) && ready >= int64(n) && observed >= obj.GetGeneration(), nil
	})
	if err != nil {
		return fmt.Errorf("%w: %s in %s: waited %s for %d Ready replicas: %v; last seen: %s", ErrNotReady, w, namespace, to.Ready, n, err, last)
	}
	return nil
}

// patchField sets an APIManager field to *value, or removes it when value is nil. It
// uses a JSON merge patch: null deletes the key.
func patchField(ctx context.Context, c *Client, namespace, name string, path catalog.FieldPath, value *int64) error {
	var leaf any
	if value != nil {
		leaf = *value
	}
	patch := leaf
	for i := len(path) - 1; i >= 0; i-- {
		patch = map[string]any{path[i]: patch}
	}
	if err := mergePatch(ctx, c, APIManagersGVR, namespace, name, patch.(map[string]any)); err != nil {
		return fmt.Errorf("patch APIManager %s %s to %s: %w", name, path, fieldString(deref(value), value != nil), err)
	}
	return nil
}

func mergePatch(ctx context.Context, c *Client, gvr schema.GroupVersionResource, namespace, name string, patch map[string]any) error {
	data, err := json.Marshal(patch)
	if err != nil {
		return err
	}
	_, err = c.Dynamic.Resource(gvr).Namespace(namespace).Patch(ctx, name, types.MergePatchType, data, metav1.PatchOptions{})
	if apierrors.IsNotFound(err) {
		return fmt.Errorf("%s %s/%s is gone: %w", gvr.Resource, namespace, name, err)
	}
	return err
}

func fieldString(n int64, set bool) string {
	if !set {
		return "absent"
	}
	return strconv.FormatInt(n, 10)
}

func ptrTo[T any](v T) *T { return &v }

func deref(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}
