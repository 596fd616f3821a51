package kube

import (
	"context"
	"fmt"
	"time"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/apimachinery/pkg/util/wait"
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

// scaleBackoff spaces the attempts of setScale: six tries over about six seconds, long enough
// for an API server that answered one request with a timeout or a 503 (a restarting
// apiserver, an overloaded etcd, a load balancer between replicas) to answer the next.
var scaleBackoff = wait.Backoff{Duration: 200 * time.Millisecond, Factor: 2, Jitter: 0.1, Steps: 6}

// retriable reports whether a failed scale call is worth repeating: a conflict with another
// writer, or an answer that says the API server, or the way to it, was briefly unable. A
// restore that gave up on one such error would leave the component at zero until someone ran
// `threescale-chaos restore`. Errors of the request itself (not found, forbidden, invalid)
// and the caller's own cancellation are final.
func retriable(err error) bool {
	return apierrors.IsConflict(err) || apierrors.IsServerTimeout(err) || apierrors.IsTimeout(err) ||
		apierrors.IsTooManyRequests(err) || apierrors.IsServiceUnavailable(err) || apierrors.IsInternalError(err) ||
		utilnet.IsConnectionRefused(err) || utilnet.IsConnectionReset(err) || utilnet.IsProbableEOF(err)
}

// setScale sets the workload's spec.replicas through the scale subresource, retrying on
// conflicts and transient API errors (retriable), and returns the value it replaced.
func setScale(ctx context.Context, c *Client, namespace string, w catalog.Workload, replicas int32) (previous int32, err error) {
	gr := schema.GroupResource{Group: w.Group(), Resource: w.Resource()}
	err = retry.OnError(scaleBackoff, func(err error) bool { return ctx.Err() == nil && retriable(err) }, func() error {
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
