package kube

import (
	"context"
	"errors"
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/threescale-chaos/harness/pkg/catalog"
)

// ErrWorkloadNotFound is wrapped by Resolve when no workload of the component exists in
// the namespace.
var ErrWorkloadNotFound = errors.New("workload not found")

// Target is a component found on a live cluster: what Resolve saw, at the time it looked.
type Target struct {
	Component catalog.Component
	Namespace string
	// Version is the 3scale version given to Resolve or, when none was given, the
	// earliest version consistent with the workload found (2.15 for a Deployment, 2.14
	// or 2.13 for a DeploymentConfig, by the search daemon's name).
	Version catalog.Version
	// Detected is true when Version was inferred from the cluster.
	Detected bool
	// Workload is the object that owns the pods.
	Workload catalog.Workload
	// Replicas is the scale subresource's spec.replicas.
	Replicas int32
	// Selector selects the component's pods; SelectorSource says where it came from:
	// "spec.selector" of the live workload, or "catalog" (Component.PodSelector).
	Selector       labels.Selector
	SelectorSource string
	// HPAs are the autoscaling/v2 HorizontalPodAutoscalers in the namespace whose
	// scaleTargetRef names the workload.
	HPAs []HPAInfo
	// APIManager is the live APIManager of the namespace, nil when there is none (or the
	// CRD is not installed).
	APIManager *APIManagerInfo
	// Absent is set when the component has no workload by design, and says why in a few
	// words ("spec.zync.enabled: false", "external from 3scale 2.16"); AbsentDetail says
	// it with the operator source. Resolve returns such a target, Workload being the name
	// the workload would have, instead of ErrWorkloadNotFound; NewPlan makes it INVALID.
	Absent, AbsentDetail string
	// Gate is the operator's gate on the component (catalog.Component.GateFor), nil when
	// it has none or no APIManager reconciles it.
	Gate *GateInfo
}

// GateInfo is the state of a component the operator waits for before it reconciles the
// target at all (system-searchd for system, zync and APIcast).
type GateInfo struct {
	// Component is the one waited for.
	Component string
	// Closed is empty while the operator goes past the gate, and otherwise says what it
	// saw ("Deployment/system-searchd is not Available (...)").
	Closed string
	// Missing is true when the gate's Deployment does not exist. A running operator
	// creates it (and then waits for it); without it the harness cannot tell, and takes
	// the gate as open.
	Missing bool
}

// HPAInfo is an HPA that targets the workload.
type HPAInfo struct {
	Name        string `json:"name"`
	MinReplicas *int32 `json:"minReplicas,omitempty"`
	MaxReplicas int32  `json:"maxReplicas"`
}

// APIManagerInfo is what the live APIManager says about one component.
type APIManagerInfo struct {
	// Name is the APIManager's name.
	Name string
	// Field is the component's replicas field, empty when the component has none.
	Field catalog.FieldPath
	// FieldSet says whether the field is present (and not null) in the live CR; the
	// operator enforces it only then (research/3scale-operator.md §2.1).
	FieldSet bool
	// FieldValue is the field's value when FieldSet.
	FieldValue int64
	// HPAEnabled says whether the component's `hpa` switch is true.
	HPAEnabled bool
	// Switches are the component's AbsentWhen switches that the live CR sets (a switch
	// newer than the operator cannot be set: its CRD prunes unknown fields).
	Switches []catalog.FieldSwitch
}

// switchNames renders switches as "spec.zync.enabled: false", for those that are (or are
// not) External.
func switchNames(sws []catalog.FieldSwitch, external bool) []string {
	var out []string
	for _, sw := range sws {
		if sw.External == external {
			out = append(out, fmt.Sprintf("%s: %t", sw.Field, sw.Value))
		}
	}
	return out
}

// String describes the target for plans and errors.
func (t Target) String() string {
	return fmt.Sprintf("%s (%s in namespace %s)", t.Component.Name, t.Workload, t.Namespace)
}

// Resolve finds comp on the cluster. With a zero version it detects the era: a Deployment
// of the current name first, then a DeploymentConfig (of the current, then the pre-2.14
// name). Nothing is changed.
func Resolve(ctx context.Context, c *Client, comp catalog.Component, namespace string, v catalog.Version) (Target, error) {
	t := Target{Component: comp, Namespace: namespace, Version: v}
	candidates := []catalog.Version{v}
	if v.IsZero() {
		t.Detected = true
		candidates = []catalog.Version{catalog.V2_15, catalog.V2_14, {Major: 2, Minor: 13}}
	}
	var tried []string
	var obj *unstructured.Unstructured
	seen := map[catalog.Workload]bool{}
	for _, cv := range candidates {
		w := comp.WorkloadFor(cv)
		if seen[w] {
			continue
		}
		seen[w] = true
		got, err := c.Dynamic.Resource(gvrOf(w)).Namespace(namespace).Get(ctx, w.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) || isNoMatch(err) {
			tried = append(tried, w.String()+" (not found)")
			continue
		}
		if err != nil {
			return t, fmt.Errorf("resolve %s in namespace %s: get %s: %w", comp.Name, namespace, w, err)
		}
		obj, t.Workload, t.Version = got, w, cv
		break
	}
	if obj == nil {
		am, err := readAPIManager(ctx, c, namespace, comp)
		if err != nil {
			return t, fmt.Errorf("resolve %s in namespace %s: %w", comp.Name, namespace, err)
		}
		if absent, detail := absentByDesign(comp, t.Version, am); absent != "" {
			v := t.Version
			if v.IsZero() {
				v = catalog.V2_15
			}
			t.Workload, t.APIManager, t.Absent, t.AbsentDetail = comp.WorkloadFor(v), am, absent, detail
			return t, nil
		}
		return t, fmt.Errorf("resolve %s in namespace %s: %w: tried %s", comp.Name, namespace, ErrWorkloadNotFound, strings.Join(tried, ", "))
	}

	sc, err := getScale(ctx, c, namespace, t.Workload)
	if err != nil {
		return t, fmt.Errorf("resolve %s: %w", t, err)
	}
	t.Replicas = sc.Spec.Replicas

	t.Selector, t.SelectorSource, err = workloadSelector(obj, t.Workload)
	if err != nil {
		return t, fmt.Errorf("resolve %s: %w", t, err)
	}
	if t.Selector == nil {
		t.Selector, t.SelectorSource = labels.SelectorFromSet(comp.PodSelector(t.Version)), "catalog"
	}

	if t.HPAs, err = findHPAs(ctx, c, namespace, t.Workload); err != nil {
		return t, fmt.Errorf("resolve %s: %w", t, err)
	}
	if t.APIManager, err = readAPIManager(ctx, c, namespace, comp); err != nil {
		return t, fmt.Errorf("resolve %s: %w", t, err)
	}
	if gate := comp.GateFor(t.Version); gate != "" && t.APIManager != nil && t.Workload.Kind == catalog.KindDeployment {
		closed, missing, err := gateClosed(ctx, c, namespace, gate)
		if err != nil {
			return t, fmt.Errorf("resolve %s: %w", t, err)
		}
		t.Gate = &GateInfo{Component: gate, Closed: closed, Missing: missing}
	}
	return t, nil
}

// absentByDesign says why comp has no workload on purpose, "" when nothing says it should
// not be there: an AbsentWhen switch of the live APIManager, or a datastore the operator of
// version v does not run at all. The short form names the switch or the version; detail
// adds what the operator does, with its source.
func absentByDesign(comp catalog.Component, v catalog.Version, am *APIManagerInfo) (short, detail string) {
	if am != nil && len(am.Switches) > 0 {
		sw := am.Switches[0]
		short = fmt.Sprintf("%s: %t", sw.Field, sw.Value)
		detail = fmt.Sprintf("APIManager %s sets %s: %s", am.Name, short, sw.Why)
		if sw.External {
			detail += ", and no workload of that name is in this namespace"
		}
		return short, detail
	}
	if !v.IsZero() && !comp.OperatorManaged(v) {
		short = fmt.Sprintf("external from 3scale %d.%d", comp.ExternalFrom.Major, comp.ExternalFrom.Minor)
		return short, fmt.Sprintf("from 3scale %d.%d %s, and no workload of it is in this namespace", comp.ExternalFrom.Major, comp.ExternalFrom.Minor, comp.ExternalWhy)
	}
	return "", ""
}

// gateClosed reports what keeps the operator from going past the named Deployment, ""
// when it goes past: it must be Available and not be progressing
// (operator@3scale-2.16.3-GA pkg/3scale/amp/operator/system_searchd_reconciler.go:112
// with pkg/helper/deployment.go: IsDeploymentAvailable is the condition Available=True,
// IsDeploymentProgressing is status.unavailableReplicas > 0 or the condition Progressing
// with reason ReplicaSetUpdated). A Deployment at 0 replicas is Available. A missing one
// is reported as such and not as closed: the operator would create it first, so its
// absence means no operator acts here, or the harness cannot see it.
func gateClosed(ctx context.Context, c *Client, namespace, name string) (closed string, missing bool, err error) {
	d, err := c.Kube.AppsV1().Deployments(namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return "", true, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("read the operator's gate Deployment/%s: %w", name, err)
	}
	available, progressing := false, ""
	for _, cond := range d.Status.Conditions {
		switch {
		case cond.Type == appsv1.DeploymentAvailable && cond.Status == corev1.ConditionTrue:
			available = true
		case cond.Type == appsv1.DeploymentProgressing && cond.Reason == "ReplicaSetUpdated":
			progressing = "condition Progressing is ReplicaSetUpdated"
		}
	}
	if d.Status.UnavailableReplicas > 0 {
		progressing = fmt.Sprintf("%d replica(s) unavailable", d.Status.UnavailableReplicas)
	}
	switch {
	case !available:
		return fmt.Sprintf("Deployment/%s is not Available (readyReplicas %d of %d)", name, d.Status.ReadyReplicas, ptrOr(d.Spec.Replicas, 1)), false, nil
	case progressing != "":
		return fmt.Sprintf("Deployment/%s is progressing (%s)", name, progressing), false, nil
	}
	return "", false, nil
}

func ptrOr(p *int32, def int32) int32 {
	if p == nil {
		return def
	}
	return *p
}

// workloadSelector reads the live workload's own spec.selector: a LabelSelector on a
// Deployment, a plain label map on a DeploymentConfig. It returns a nil selector when
// the object has none, so the caller falls back to the catalog.
func workloadSelector(obj *unstructured.Unstructured, w catalog.Workload) (labels.Selector, string, error) {
	raw, found, err := unstructured.NestedFieldNoCopy(obj.Object, "spec", "selector")
	if err != nil || !found || raw == nil {
		return nil, "", nil
	}
	m, ok := raw.(map[string]any)
	if !ok || len(m) == 0 {
		return nil, "", nil
	}
	if w.Kind == catalog.KindDeploymentConfig {
		set := labels.Set{}
		for k, v := range m {
			s, ok := v.(string)
			if !ok {
				return nil, "", fmt.Errorf("%s spec.selector.%s is %T, want a string", w, k, v)
			}
			set[k] = s
		}
		return labels.SelectorFromSet(set), "spec.selector", nil
	}
	var ls metav1.LabelSelector
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(m, &ls); err != nil {
		return nil, "", fmt.Errorf("%s spec.selector: %w", w, err)
	}
	sel, err := metav1.LabelSelectorAsSelector(&ls)
	if err != nil {
		return nil, "", fmt.Errorf("%s spec.selector: %w", w, err)
	}
	if sel.Empty() {
		return nil, "", nil // an empty selector would select every pod of the namespace
	}
	return sel, "spec.selector", nil
}

// findHPAs lists the HPAs whose scaleTargetRef names the workload.
func findHPAs(ctx context.Context, c *Client, namespace string, w catalog.Workload) ([]HPAInfo, error) {
	list, err := c.Kube.AutoscalingV2().HorizontalPodAutoscalers(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list HorizontalPodAutoscalers in %s: %w", namespace, err)
	}
	var out []HPAInfo
	for _, h := range list.Items {
		ref := h.Spec.ScaleTargetRef
		if ref.Kind != string(w.Kind) || ref.Name != w.Name {
			continue
		}
		if ref.APIVersion != "" {
			if gv, err := schema.ParseGroupVersion(ref.APIVersion); err == nil && gv.Group != w.Group() {
				continue
			}
		}
		out = append(out, HPAInfo{Name: h.Name, MinReplicas: h.Spec.MinReplicas, MaxReplicas: h.Spec.MaxReplicas})
	}
	return out, nil
}

// readAPIManager reads the namespace's APIManager, nil when there is none. The operator
// supports one per namespace; more than one is an error, since the harness could not
// tell which one owns the component.
func readAPIManager(ctx context.Context, c *Client, namespace string, comp catalog.Component) (*APIManagerInfo, error) {
	list, err := c.Dynamic.Resource(APIManagersGVR).Namespace(namespace).List(ctx, metav1.ListOptions{})
	if apierrors.IsNotFound(err) || isNoMatch(err) {
		return nil, nil // the CRD is not installed: no operator to fight
	}
	if err != nil {
		return nil, fmt.Errorf("list APIManagers in %s: %w", namespace, err)
	}
	switch len(list.Items) {
	case 0:
		return nil, nil
	case 1:
	default:
		var names []string
		for _, am := range list.Items {
			names = append(names, am.GetName())
		}
		return nil, fmt.Errorf("namespace %s has %d APIManagers (%s); the operator supports one per namespace", namespace, len(names), strings.Join(names, ", "))
	}
	return apiManagerInfo(&list.Items[0], comp)
}

// apiManagerInfo reads comp's replicas field and hpa switch from an APIManager.
func apiManagerInfo(am *unstructured.Unstructured, comp catalog.Component) (*APIManagerInfo, error) {
	info := &APIManagerInfo{Name: am.GetName(), Field: comp.ReplicasField}
	if comp.HasReplicasField() {
		n, set, err := fieldInt(am, comp.ReplicasField)
		if err != nil {
			return nil, err
		}
		info.FieldSet, info.FieldValue = set, n
	}
	if len(comp.HPAField) > 0 {
		on, _, err := unstructured.NestedBool(am.Object, comp.HPAField...)
		if err != nil {
			return nil, fmt.Errorf("APIManager %s/%s %s: %w", am.GetNamespace(), am.GetName(), comp.HPAField, err)
		}
		info.HPAEnabled = on
	}
	for _, sw := range comp.AbsentWhen {
		raw, found, _ := unstructured.NestedFieldNoCopy(am.Object, sw.Field...)
		if on, ok := raw.(bool); found && ok && on == sw.Value {
			info.Switches = append(info.Switches, sw)
		}
	}
	return info, nil
}

// fieldInt reads an integer field; set is false when it is absent or null.
func fieldInt(am *unstructured.Unstructured, path catalog.FieldPath) (n int64, set bool, err error) {
	raw, found, err := unstructured.NestedFieldNoCopy(am.Object, path...)
	if err != nil {
		return 0, false, fmt.Errorf("APIManager %s/%s %s: %w", am.GetNamespace(), am.GetName(), path, err)
	}
	if !found || raw == nil {
		return 0, false, nil
	}
	switch x := raw.(type) {
	case int64:
		return x, true, nil
	case int32:
		return int64(x), true, nil
	case int:
		return int64(x), true, nil
	case float64:
		if x == float64(int64(x)) {
			return int64(x), true, nil
		}
	}
	return 0, false, fmt.Errorf("APIManager %s/%s %s is %v (%T), want an integer", am.GetNamespace(), am.GetName(), path, raw, raw)
}
