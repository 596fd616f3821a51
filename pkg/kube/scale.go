package kube

import (
	"context"
	"fmt"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/util/retry"

	"github.com/threescale-chaos/harness/pkg/catalog"
)

// getScale reads the workload's scale subresource. If discovery does not know the
// resource yet (a CRD registered after the client was built), it forgets its cache and
// tries once more.
func getScale(ctx context.Context, c *Client, namespace string, w catalog.Workload) (*autoscalingv1.Scale, error) {
	gr := schema.GroupResource{Group: w.Group(), Resource: w.Resource()}
	sc, err := c.Scales.Scales(namespace).Get(ctx, gr, w.Name, metav1.GetOptions{})
	if isNoMatch(err) {
		c.resetDiscovery()
		sc, err = c.Scales.Scales(namespace).Get(ctx, gr, w.Name, metav1.GetOptions{})
	}
	if err != nil {
		return nil, fmt.Errorf("get scale of %s in %s: %w", w, namespace, err)
	}
	return sc, nil
}

// setScale sets the workload's spec.replicas through the scale subresource, retrying on
// conflicts, and returns the value it replaced.
func setScale(ctx context.Context, c *Client, namespace string, w catalog.Workload, replicas int32) (previous int32, err error) {
	gr := schema.GroupResource{Group: w.Group(), Resource: w.Resource()}
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		sc, err := getScale(ctx, c, namespace, w)
		if err != nil {
			return err
		}
		previous = sc.Spec.Replicas
		if sc.Spec.Replicas == replicas {
			return nil
		}
		sc.Spec.Replicas = replicas
		_, err = c.Scales.Scales(namespace).Update(ctx, gr, sc, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		return previous, fmt.Errorf("scale %s in %s to %d: %w", w, namespace, replicas, err)
	}
	return previous, nil
}
