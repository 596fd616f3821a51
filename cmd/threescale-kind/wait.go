package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
)

// operatorDeployments are the Deployments the 3scale operator creates for the APIManager of
// 50-apimanager.yaml (zync enabled, zync's database internal): DeploymentsLister.
// DeploymentNames in pkg/3scale/amp/component/deployments_lister.go at 3scale-2.16.3-GA
// (3scale-operator 3fe8fd9488), which is also the list its status reconciler waits for.
var operatorDeployments = []string{
	"apicast-staging", "apicast-production",
	"backend-listener", "backend-worker", "backend-cron",
	"system-memcache", "system-app", "system-sidekiq", "system-searchd",
	"zync", "zync-que", "zync-database",
}

// expectedDeployments are the Deployments an install waits for: those the manifests create
// (datastores, MinIO, the operator, the echo upstream) and then the operator's.
func expectedDeployments(ms []manifest) []string {
	out := deploymentNames(ms)
	for _, d := range operatorDeployments {
		if !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	return out
}

// zync-que's switch for Route creation (zync config/integrations.yml: the Kubernetes
// integration is on unless DISABLE_K8S_ROUTES_CREATION is set to something other than "0";
// 3scale-operator doc/operator-user-guide.md "Disabling zync route generation").
const (
	zyncQueDeployment = "zync-que"
	zyncQueContainer  = "que"
	zyncRoutesEnv     = "DISABLE_K8S_ROUTES_CREATION"
)

var apiManagerGVR = schema.GroupVersionResource{Group: "apps.3scale.net", Version: "v1alpha1", Resource: "apimanagers"}

// waiter waits for an install to come up and says how far it got.
type waiter struct {
	kube          kubernetes.Interface
	dyn           dynamic.Interface
	namespace     string
	apiManager    string
	deployments   []string // must exist and be Available
	jobs          []string // must complete
	interval      time.Duration
	progressEvery time.Duration
	out           io.Writer
	start         time.Time

	lastLine  string
	lastPrint time.Time
	routesOff bool
}

// status is one look at the install.
type status struct {
	// ready counts the expected Deployments that are Available.
	ready, total int
	// waiting says, one entry per object, what is not there yet and why.
	waiting []string
	// failed is set when something cannot come up by waiting longer (a failed Job).
	failed error
	// apiManager describes the APIManager's conditions, for the record.
	apiManager string
}

func (s status) done() bool { return s.failed == nil && len(s.waiting) == 0 }

func (s status) line() string {
	l := fmt.Sprintf("%d/%d Deployments Available", s.ready, s.total)
	if len(s.waiting) > 0 {
		l += "; waiting for " + strings.Join(s.waiting, ", ")
	}
	return l
}

// run polls until everything is up, ctx ends or timeout passes. The error names what was
// still missing, with each waiting Deployment's pods and the APIManager's conditions.
func (w *waiter) run(ctx context.Context, timeout time.Duration) error {
	var last status
	err := wait.PollUntilContextTimeout(ctx, w.interval, timeout, true, func(ctx context.Context) (bool, error) {
		if !w.routesOff {
			done, err := disableZyncRoutes(ctx, w.kube, w.namespace)
			switch {
			case err != nil:
				w.printf("install: %s: %v (will retry)", zyncQueDeployment, err)
			case done:
				w.routesOff = true
				w.printf("install: %s=1 is set on Deployment %s: zync creates no Routes", zyncRoutesEnv, zyncQueDeployment)
			}
		}
		last = w.look(ctx, false)
		w.progress(last)
		if last.failed != nil {
			return false, last.failed
		}
		return last.done() && w.routesOff, nil
	})
	if err == nil {
		return nil
	}
	if last.failed != nil {
		return fmt.Errorf("install failed after %s: %w", time.Since(w.start).Round(time.Second), last.failed)
	}
	// Look once more, in detail, for the message (with a context of its own: ctx may be over).
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	detail := w.look(dctx, true)
	msg := fmt.Sprintf("3scale did not come up in namespace %s within %s: %s", w.namespace, timeout, detail.line())
	if !w.routesOff {
		msg += fmt.Sprintf("; %s not yet set on %s", zyncRoutesEnv, zyncQueDeployment)
	}
	if detail.apiManager != "" {
		msg += "; APIManager " + w.apiManager + ": " + detail.apiManager
	}
	return fmt.Errorf("%s: %w", msg, err)
}

func (w *waiter) printf(format string, args ...any) {
	fmt.Fprintf(w.out, format+"\n", args...)
}

// progress prints the status when it changed, or every progressEvery when it did not.
func (w *waiter) progress(s status) {
	line := s.line()
	now := time.Now()
	if line == w.lastLine && now.Sub(w.lastPrint) < w.progressEvery {
		return
	}
	w.lastLine, w.lastPrint = line, now
	w.printf("install: %s: %s", time.Since(w.start).Round(time.Second), line)
}

// look reads the APIManager, the Deployments and the Jobs once. With detail, each waiting
// Deployment also carries what its pods are waiting on.
func (w *waiter) look(ctx context.Context, detail bool) status {
	var s status
	am, err := w.dyn.Resource(apiManagerGVR).Namespace(w.namespace).Get(ctx, w.apiManager, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		s.waiting = append(s.waiting, "APIManager "+w.apiManager+" (not found)")
	case err != nil:
		s.waiting = append(s.waiting, fmt.Sprintf("APIManager %s (%v)", w.apiManager, err))
	default:
		s.apiManager = apiManagerConditions(am)
	}

	deps, err := w.kube.AppsV1().Deployments(w.namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		s.waiting = append(s.waiting, fmt.Sprintf("Deployments (list: %v)", err))
		s.total = len(w.deployments)
		return s
	}
	s.ready, s.total, s.waiting = assessDeployments(deps.Items, w.deployments, s.waiting)
	if detail {
		for i, wt := range s.waiting {
			name, _, _ := strings.Cut(wt, " ")
			if d := findDeployment(deps.Items, name); d != nil {
				if pods := w.podSummary(ctx, d); pods != "" {
					s.waiting[i] = strings.TrimSuffix(wt, ")") + "; " + pods + ")"
				}
			}
		}
	}

	for _, name := range w.jobs {
		job, err := w.kube.BatchV1().Jobs(w.namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			s.waiting = append(s.waiting, fmt.Sprintf("Job %s (%v)", name, err))
			continue
		}
		done, failed, why := jobState(job)
		if failed {
			s.failed = fmt.Errorf("Job %s failed: %s", name, why)
		} else if !done {
			s.waiting = append(s.waiting, fmt.Sprintf("Job %s (%s)", name, why))
		}
	}
	return s
}

// assessDeployments counts the expected Deployments that are Available and appends one
// entry to waiting for each that is not: missing, or how many replicas are available and
// why not. Deployments in the namespace that were not expected must be Available too (an
// install leaves nothing broken behind), but they do not count in ready/total.
func assessDeployments(items []appsv1.Deployment, expected []string, waiting []string) (ready, total int, _ []string) {
	total = len(expected)
	for _, name := range expected {
		d := findDeployment(items, name)
		if d == nil {
			waiting = append(waiting, name+" (not created yet)")
			continue
		}
		if ok, why := deploymentAvailable(d); ok {
			ready++
		} else {
			waiting = append(waiting, name+" ("+why+")")
		}
	}
	var extra []string
	for i := range items {
		d := &items[i]
		if slices.Contains(expected, d.Name) {
			continue
		}
		if ok, why := deploymentAvailable(d); !ok {
			extra = append(extra, d.Name+" ("+why+")")
		}
	}
	sort.Strings(extra)
	return ready, total, append(waiting, extra...)
}

func findDeployment(items []appsv1.Deployment, name string) *appsv1.Deployment {
	for i := range items {
		if items[i].Name == name {
			return &items[i]
		}
	}
	return nil
}

// deploymentAvailable is the Deployment controller's own verdict, for the Deployment's
// current generation: condition Available=True. With one replica that means one pod Ready
// (for min-ready seconds); it does not hold while a rollout has not been observed.
func deploymentAvailable(d *appsv1.Deployment) (bool, string) {
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	counts := fmt.Sprintf("%d/%d available", d.Status.AvailableReplicas, want)
	if d.Status.ObservedGeneration < d.Generation {
		return false, counts + ", rollout not observed yet"
	}
	for _, c := range d.Status.Conditions {
		if c.Type != appsv1.DeploymentAvailable {
			continue
		}
		if c.Status == corev1.ConditionTrue {
			return true, counts
		}
		if c.Reason != "" {
			return false, counts + ", " + c.Reason
		}
		return false, counts
	}
	return false, counts + ", no Available condition yet"
}

// jobState reports whether a Job completed or failed for good, and how it stands.
func jobState(j *batchv1.Job) (done, failed bool, why string) {
	for _, c := range j.Status.Conditions {
		if c.Status != corev1.ConditionTrue {
			continue
		}
		switch c.Type {
		case batchv1.JobComplete:
			return true, false, "complete"
		case batchv1.JobFailed:
			return false, true, strings.TrimSpace(c.Reason + ": " + c.Message)
		}
	}
	return false, false, fmt.Sprintf("%d active, %d failed attempts", j.Status.Active, j.Status.Failed)
}

// podSummary says what the Deployment's pods are waiting on: phase, unschedulable reasons,
// and each container that is not ready with its waiting or last termination reason.
func (w *waiter) podSummary(ctx context.Context, d *appsv1.Deployment) string {
	if d.Spec.Selector == nil {
		return ""
	}
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return ""
	}
	pods, err := w.kube.CoreV1().Pods(w.namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return "pods: " + err.Error()
	}
	if len(pods.Items) == 0 {
		return "no pods"
	}
	var parts []string
	for i := range pods.Items {
		parts = append(parts, describePod(&pods.Items[i]))
	}
	sort.Strings(parts)
	return strings.Join(parts, "; ")
}

// describePod is one line about why a pod is not ready.
func describePod(p *corev1.Pod) string {
	s := "pod " + p.Name + " " + string(p.Status.Phase)
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse {
			s += ", unschedulable: " + strings.TrimSpace(c.Reason+" "+c.Message)
		}
	}
	add := func(kind string, cs []corev1.ContainerStatus) {
		for _, c := range cs {
			if c.Ready {
				continue
			}
			switch {
			case c.State.Waiting != nil:
				s += fmt.Sprintf(", %s %s waiting: %s", kind, c.Name, strings.TrimSpace(c.State.Waiting.Reason+" "+c.State.Waiting.Message))
			case c.State.Terminated != nil && kind == "init container" && c.State.Terminated.ExitCode == 0:
				// an init container that finished is not a reason to wait
			case c.State.Terminated != nil:
				s += fmt.Sprintf(", %s %s terminated: %s (exit %d)", kind, c.Name, c.State.Terminated.Reason, c.State.Terminated.ExitCode)
			case c.State.Running != nil:
				s += fmt.Sprintf(", %s %s running, not ready", kind, c.Name)
			}
			if c.RestartCount > 0 {
				s += fmt.Sprintf(" (%d restarts)", c.RestartCount)
			}
		}
	}
	add("init container", p.Status.InitContainerStatuses)
	add("container", p.Status.ContainerStatuses)
	return s
}

// apiManagerConditions lists the APIManager's status conditions, for the record: on kind
// Available stays False because no router admits the Routes (crds/route.yaml).
func apiManagerConditions(am *unstructured.Unstructured) string {
	conds, _, _ := unstructured.NestedSlice(am.Object, "status", "conditions")
	if len(conds) == 0 {
		return "no status conditions yet"
	}
	var parts []string
	for _, c := range conds {
		m, _ := c.(map[string]any)
		p := fmt.Sprintf("%v=%v", m["type"], m["status"])
		if msg, _ := m["message"].(string); msg != "" {
			p += " (" + msg + ")"
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, ", ")
}

// disableZyncRoutes sets DISABLE_K8S_ROUTES_CREATION=1 on zync-que's container once the
// operator has created the Deployment. It reports done when the variable is there (set now
// or before); a Deployment not created yet is not an error.
func disableZyncRoutes(ctx context.Context, kc kubernetes.Interface, ns string) (bool, error) {
	d, err := kc.AppsV1().Deployments(ns).Get(ctx, zyncQueDeployment, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	idx := slices.IndexFunc(d.Spec.Template.Spec.Containers, func(c corev1.Container) bool { return c.Name == zyncQueContainer })
	if idx < 0 {
		return false, fmt.Errorf("Deployment %s has no container %s", zyncQueDeployment, zyncQueContainer)
	}
	for _, e := range d.Spec.Template.Spec.Containers[idx].Env {
		if e.Name == zyncRoutesEnv && e.Value == "1" && e.ValueFrom == nil {
			return true, nil
		}
	}
	// A strategic merge patch merges containers by name and env by name: it adds (or
	// replaces) this one variable and leaves the operator's others alone.
	patch := fmt.Sprintf(`{"spec":{"template":{"spec":{"containers":[{"name":%q,"env":[{"name":%q,"value":"1"}]}]}}}}`, zyncQueContainer, zyncRoutesEnv)
	if _, err := kc.AppsV1().Deployments(ns).Patch(ctx, zyncQueDeployment, types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{FieldManager: fieldManager}); err != nil {
		if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
			return false, nil // the operator was writing it, or removed it; look again next time
		}
		return false, fmt.Errorf("set %s: %w", zyncRoutesEnv, err)
	}
	return true, nil
}
