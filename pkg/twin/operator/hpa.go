package operator

import (
	"context"
	"fmt"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
)

// DisableAsyncAnnotation on an APIManager ("true") turns backend's async mode off, and with it
// the backend HPAs (operator@3scale-2.16.3-GA apis/apps/v1alpha1/apimanager_types.go
// DisableAsyncAnnotation, IsAsyncDisableAnnotationPresent).
const DisableAsyncAnnotation = "apps.3scale.net/disable-async"

// HPA bounds and targets of every HPA the operator creates (operator@3scale-2.16.3-GA
// pkg/3scale/amp/component/hpa.go DefaultHpa): 1 to 5 replicas, 85 % average memory and CPU
// utilization.
const (
	hpaMinReplicas    = 1
	hpaMaxReplicas    = 5
	hpaTargetPercent  = 85
	apiManagerVersion = "apps.3scale.net/v1alpha1"
)

// wantHPA says whether the operator keeps an HPA for c: apicast-production when its hpa is
// true; backend-listener and backend-worker when theirs is true and async is not disabled;
// never for any other component (operator@3scale-2.16.3-GA
// pkg/3scale/amp/operator/base_apimanager_logic_reconciler.go ReconcileHpa, called from
// backend_reconciler.go for the listener and worker and from apicast_reconciler.go for
// production; "Delete HPA in all other cases").
func wantHPA(am *unstructured.Unstructured, c Component) (bool, error) {
	if c.HPA == nil {
		return false, nil
	}
	on, _, err := unstructured.NestedBool(am.Object, c.HPA...)
	if err != nil {
		return false, fmt.Errorf("APIManager %s/%s: %s: %w", am.GetNamespace(), am.GetName(), dotted(c.HPA), err)
	}
	if c.Stage == StageBackend && am.GetAnnotations()[DisableAsyncAnnotation] == "true" {
		return false, nil
	}
	return on, nil
}

// desiredHPA is DefaultHpa for the Deployment name, owned by the APIManager as
// ReconcileResource makes every object but Secrets (SetControllerOwnerReference). The metric
// order (memory, then cpu) is DefaultHpa's.
func desiredHPA(am *unstructured.Unstructured, name string) *autoscalingv2.HorizontalPodAutoscaler {
	utilization := func(r corev1.ResourceName) autoscalingv2.MetricSpec {
		return autoscalingv2.MetricSpec{
			Type: autoscalingv2.ResourceMetricSourceType,
			Resource: &autoscalingv2.ResourceMetricSource{
				Name:   r,
				Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr.To(int32(hpaTargetPercent))},
			},
		}
	}
	return &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{
			Name:      name,
			Namespace: am.GetNamespace(),
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: apiManagerVersion, Kind: "APIManager", Name: am.GetName(), UID: am.GetUID(),
				Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true),
			}},
		},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{Kind: "Deployment", Name: name, APIVersion: "apps/v1"},
			MinReplicas:    ptr.To(int32(hpaMinReplicas)),
			MaxReplicas:    hpaMaxReplicas,
			Metrics:        []autoscalingv2.MetricSpec{utilization(corev1.ResourceMemory), utilization(corev1.ResourceCPU)},
		},
	}
}

// reconcileHPA creates the HPA when wanted and absent, and deletes it when not wanted. An
// existing HPA is never updated: the operator reconciles it with CreateOnlyMutator
// (backend_reconciler.go, apicast_reconciler.go ReconcileHpa(..., reconcilers.CreateOnlyMutator)),
// so an HPA a user edited keeps the edit.
func (c *controller) reconcileHPA(ctx context.Context, am *unstructured.Unstructured, comp Component) error {
	if comp.HPA == nil {
		return nil // ReconcileHpa is called for the three components with an hpa switch only
	}
	want, err := wantHPA(am, comp)
	if err != nil {
		return err
	}
	name := comp.Deployment
	_, err = c.hpas.HorizontalPodAutoscalers(c.ns).Get(name)
	exists := err == nil
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("get HorizontalPodAutoscaler %s: %w", name, err)
	}
	switch {
	case want && !exists:
		_, err := c.kube.AutoscalingV2().HorizontalPodAutoscalers(c.ns).Create(ctx, desiredHPA(am, name), metav1.CreateOptions{FieldManager: fieldManager})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create HorizontalPodAutoscaler %s: %w", name, err)
		}
		c.log.Info("HorizontalPodAutoscaler created", "name", name, "field", dotted(comp.HPA))
	case !want && exists:
		err := c.kube.AutoscalingV2().HorizontalPodAutoscalers(c.ns).Delete(ctx, name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete HorizontalPodAutoscaler %s: %w", name, err)
		}
		c.log.Info("HorizontalPodAutoscaler deleted", "name", name)
	}
	return nil
}
