package cluster_test

import (
	"context"
	"fmt"
	"time"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
)

// Benchmarks cannot use the *testing.T helpers; these return errors instead (testsupport's
// take a testing.TB and serve both).

func nsObj(name string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
}

func waitSA(ctx context.Context, ns string) error {
	return wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		_, err := client.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	})
}

func scaleTo(ctx context.Context, ns, name string, n int32) error {
	_, err := client.AppsV1().Deployments(ns).UpdateScale(ctx, name, &autoscalingv1.Scale{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec:       autoscalingv1.ScaleSpec{Replicas: n},
	}, metav1.UpdateOptions{})
	return err
}

// waitReplicas waits until n pods are Ready and no other pod of the Deployment exists.
func waitReplicas(ctx context.Context, ns, name string, n int) error {
	last := ""
	err := wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, 60*time.Second, true, func(ctx context.Context) (bool, error) {
		pods, err := client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=" + name})
		if err != nil {
			return false, nil
		}
		ready := 0
		for i := range pods.Items {
			if isReady(&pods.Items[i]) && pods.Items[i].DeletionTimestamp == nil {
				ready++
			}
		}
		last = fmt.Sprintf("%d pods, %d ready", len(pods.Items), ready)
		return ready == n && len(pods.Items) == n, nil
	})
	if err != nil {
		return fmt.Errorf("%s/%s to %d ready: %w (last: %s)", ns, name, n, err, last)
	}
	return nil
}
