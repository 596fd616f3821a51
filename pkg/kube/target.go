package kube

import (
	"context"
	"errors"
	"fmt"
	"strings"

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
	return t, nil
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
