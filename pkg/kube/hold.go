package kube

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	watchtools "k8s.io/client-go/tools/watch"
)

// ViolationKind says what brought the component back.
type ViolationKind string

// Violation kinds.
const (
	// ViolationReplicas: the workload's spec.replicas went above 0.
	ViolationReplicas ViolationKind = "replicas"
	// ViolationPod: a pod of the component was created or is Running.
	ViolationPod ViolationKind = "pod"
	// ViolationAPIManager: the APIManager's replicas field moved off what the fault needs.
	ViolationAPIManager ViolationKind = "apimanager"
	// ViolationWorkloadDeleted: the workload was deleted (an operator recreates it).
	ViolationWorkloadDeleted ViolationKind = "workload-deleted"
)

// Violation is one observation that the fault is not holding.
type Violation struct {
	At   time.Time
	Kind ViolationKind
	// Object is "Kind/name" of what changed.
	Object string
	// Detail says what changed, e.g. "spec.replicas 0 -> 1".
	Detail string
}

// String renders the violation on one line.
func (v Violation) String() string {
	return fmt.Sprintf("%s %s: %s: %s", v.At.Format(time.RFC3339Nano), v.Kind, v.Object, v.Detail)
}

// HoldOptions tune Hold.
type HoldOptions struct {
	// Window is how long to watch. Required.
	Window time.Duration
	// StopAtFirst ends the watch at the first violation.
	StopAtFirst bool
	// OnViolation, when set, is called at once for each violation (for the journal).
	OnViolation func(Violation)
}

// HoldReport is what Hold saw.
type HoldReport struct {
	Start, End time.Time
	Violations []Violation
}

// Held reports whether nothing brought the component back.
func (r HoldReport) Held() bool { return len(r.Violations) == 0 }

// Err is nil when the fault held, else an error wrapping ErrFaultNotHeld that names the
// first violation; the runner's verdict is then INVALID.
func (r HoldReport) Err() error {
	if r.Held() {
		return nil
	}
	return fmt.Errorf("%w: %d violation(s) between %s and %s, first: %s", ErrFaultNotHeld, len(r.Violations),
		r.Start.Format(time.RFC3339), r.End.Format(time.RFC3339), r.Violations[0])
}

// Hold watches the workload, the component's pods and (when recorded) the APIManager for
// the window, and reports every change that undoes the fault: replicas above 0, a pod
// created or Running, the APIManager field off 0 (cr-patch), the workload deleted. It
// starts from a list, so a state that is already wrong is reported at once. The error is
// for failures to watch, and ctx ending before the window; a fault that did not hold is
// in the report, not the error.
func (f *Fault) Hold(ctx context.Context, opts HoldOptions) (HoldReport, error) {
	t := f.plan.Target
	rep := HoldReport{Start: time.Now()}
	if opts.Window <= 0 {
		return rep, fmt.Errorf("hold %s: window %s must be positive", t, opts.Window)
	}
	ctx, cancel := context.WithTimeout(ctx, opts.Window)
	defer cancel()

	h := &holder{f: f, ctx: ctx, opts: opts, rep: &rep, podState: map[string]string{}, stop: cancel}
	workloadEvents, err := h.watchDynamic(ctx, gvrOf(t.Workload), t.Workload.Name, h.workload)
	if err != nil {
		return rep, fmt.Errorf("hold %s: %w", t, err)
	}
	defer workloadEvents.Stop()
	podEvents, err := h.watchPods(ctx)
	if err != nil {
		return rep, fmt.Errorf("hold %s: %w", t, err)
	}
	defer podEvents.Stop()
	var amEvents <-chan watch.Event
	if f.entry != nil && f.entry.APIManager != nil {
		w, err := h.watchDynamic(ctx, APIManagersGVR, f.entry.APIManager.Name, h.apiManager)
		if err != nil {
			return rep, fmt.Errorf("hold %s: %w", t, err)
		}
		defer w.Stop()
		amEvents = w.ResultChan()
	}

	for {
		select {
		case <-ctx.Done():
			rep.End = time.Now()
			if h.stopped || errors.Is(ctx.Err(), context.DeadlineExceeded) && rep.End.Sub(rep.Start) >= opts.Window {
				return rep, nil
			}
			return rep, fmt.Errorf("hold %s: ended after %s of %s: %w", t, rep.End.Sub(rep.Start).Round(time.Millisecond), opts.Window, context.Cause(ctx))
		case ev, ok := <-workloadEvents.ResultChan():
			if err := h.event(ok, ev, "workload"); err != nil {
				return rep, err
			}
			h.handleDynamic(ev, h.workload)
		case ev, ok := <-podEvents.ResultChan():
			if err := h.event(ok, ev, "pods"); err != nil {
				return rep, err
			}
			if pod, ok := ev.Object.(*corev1.Pod); ok {
				h.pod(ev.Type, pod)
			}
		case ev, ok := <-amEvents:
			if err := h.event(ok, ev, "APIManager"); err != nil {
				return rep, err
			}
			h.handleDynamic(ev, h.apiManager)
		}
	}
}

// event turns a closed watch (other than at the end of the window) or an error event into
// an error: Hold cannot vouch for a window it did not see.
func (h *holder) event(ok bool, ev watch.Event, what string) error {
	t := h.f.plan.Target
	if !ok {
		if h.ctx.Err() != nil {
			return nil // the window ended; the ctx.Done branch reports
		}
		h.rep.End = time.Now()
		return fmt.Errorf("hold %s: the %s watch ended after %s", t, what, h.rep.End.Sub(h.rep.Start).Round(time.Millisecond))
	}
	if ev.Type == watch.Error {
		h.rep.End = time.Now()
		return fmt.Errorf("hold %s: the %s watch failed: %v", t, what, apierrors.FromObject(ev.Object))
	}
	return nil
}

// holder keeps what Hold has seen, so it reports changes, not every event.
type holder struct {
	f            *Fault
	ctx          context.Context
	opts         HoldOptions
	rep          *HoldReport
	lastReplicas int64
	lastField    string
	podState     map[string]string
	stop         context.CancelFunc
	stopped      bool
}

func (h *holder) violate(kind ViolationKind, object, detail string) {
	v := Violation{At: time.Now(), Kind: kind, Object: object, Detail: detail}
	h.rep.Violations = append(h.rep.Violations, v)
	if h.opts.OnViolation != nil {
		h.opts.OnViolation(v)
	}
	if h.opts.StopAtFirst {
		h.stopped = true
		h.stop()
	}
}

type watchFunc func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error)

func (f watchFunc) WatchWithContext(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
	return f(ctx, opts)
}

// watchDynamic lists one named object, feeds its current state to handle, and watches it
// from there (re-establishing the watch if it drops).
func (h *holder) watchDynamic(ctx context.Context, gvr schema.GroupVersionResource, name string, handle func(watch.EventType, *unstructured.Unstructured)) (*watchtools.RetryWatcher, error) {
	ns := h.f.plan.Target.Namespace
	sel := fields.OneTermEqualSelector("metadata.name", name).String()
	res := h.f.c.Dynamic.Resource(gvr).Namespace(ns)
	list, err := res.List(ctx, metav1.ListOptions{FieldSelector: sel})
	if err != nil {
		return nil, fmt.Errorf("list %s %s/%s: %w", gvr.Resource, ns, name, err)
	}
	if len(list.Items) == 0 {
		handle(watch.Deleted, &unstructured.Unstructured{Object: map[string]any{"metadata": map[string]any{"name": name}}})
	}
	for i := range list.Items {
		handle(watch.Added, &list.Items[i])
	}
	w, err := watchtools.NewRetryWatcherWithContext(ctx, list.GetResourceVersion(), watchFunc(func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
		o.FieldSelector = sel
		return res.Watch(ctx, o)
	}))
	if err != nil {
		return nil, fmt.Errorf("watch %s %s/%s: %w", gvr.Resource, ns, name, err)
	}
	return w, nil
}

func (h *holder) handleDynamic(ev watch.Event, handle func(watch.EventType, *unstructured.Unstructured)) {
	if obj, ok := ev.Object.(*unstructured.Unstructured); ok {
		handle(ev.Type, obj)
	}
}

// watchPods lists the component's pods, reports any that exist, and watches them.
func (h *holder) watchPods(ctx context.Context) (*watchtools.RetryWatcher, error) {
	t := h.f.plan.Target
	pods := h.f.c.Kube.CoreV1().Pods(t.Namespace)
	sel := t.Selector.String()
	list, err := pods.List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return nil, fmt.Errorf("list pods %s in %s: %w", sel, t.Namespace, err)
	}
	for i := range list.Items {
		h.pod(watch.Added, &list.Items[i])
	}
	w, err := watchtools.NewRetryWatcherWithContext(ctx, list.ResourceVersion, watchFunc(func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
		o.LabelSelector = sel
		return pods.Watch(ctx, o)
	}))
	if err != nil {
		return nil, fmt.Errorf("watch pods %s in %s: %w", sel, t.Namespace, err)
	}
	return w, nil
}

func (h *holder) workload(typ watch.EventType, obj *unstructured.Unstructured) {
	w := h.f.plan.Target.Workload
	if typ == watch.Deleted {
		h.violate(ViolationWorkloadDeleted, w.String(), "deleted")
		h.lastReplicas = 0
		return
	}
	n, _, _ := unstructured.NestedInt64(obj.Object, "spec", "replicas")
	if n > 0 && n != h.lastReplicas {
		h.violate(ViolationReplicas, w.String(), fmt.Sprintf("spec.replicas %d -> %d", h.lastReplicas, n))
	}
	h.lastReplicas = n
}

func (h *holder) pod(typ watch.EventType, pod *corev1.Pod) {
	if typ == watch.Deleted {
		delete(h.podState, pod.Name)
		return
	}
	if pod.DeletionTimestamp != nil {
		return // on its way out
	}
	state := "created"
	if pod.Status.Phase == corev1.PodRunning {
		state = "Running"
	}
	prev := h.podState[pod.Name]
	if prev == state || prev == "Running" {
		return
	}
	h.podState[pod.Name] = state
	h.violate(ViolationPod, "Pod/"+pod.Name, fmt.Sprintf("%s (phase %s, node %s)", state, pod.Status.Phase, pod.Spec.NodeName))
}

func (h *holder) apiManager(typ watch.EventType, obj *unstructured.Unstructured) {
	rec := h.f.entry.APIManager
	object := "APIManager/" + rec.Name
	if typ == watch.Deleted {
		if h.f.plan.Method == MethodCRPatch {
			h.violate(ViolationAPIManager, object, "deleted")
		}
		return
	}
	n, set, err := fieldInt(obj, h.f.plan.Target.Component.ReplicasField)
	if err != nil {
		return
	}
	now := fieldString(n, set)
	if now == h.lastField {
		return
	}
	prev := h.lastField
	h.lastField = now
	if prev == "" {
		prev = "(hold start)"
	}
	switch {
	case h.f.plan.Method == MethodCRPatch && (!set || n != 0):
		// The operator reconciles to this value, or stops enforcing 0 when absent.
		h.violate(ViolationAPIManager, object, fmt.Sprintf("%s %s -> %s, the fault needs 0", rec.Field, prev, now))
	case h.f.plan.Method == MethodScaleSubresource && set && n > 0 && (rec.Value == nil || *rec.Value != n):
		// Someone set the field during the window: the operator will enforce it.
		h.violate(ViolationAPIManager, object, fmt.Sprintf("%s %s -> %s: the operator will scale the workload to it", rec.Field, prev, now))
	}
}
