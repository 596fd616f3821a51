package conformance

import (
	"context"
	"fmt"
	"testing"
	"time"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/threescale-chaos/harness/internal/testsupport"
)

// BenchmarkComponentZeroToReady measures, for each deployed component, the time from the
// scale subresource write 0 -> 1 until the Deployment reports its replica Ready. Scaling down
// and waiting for the pods to go is not timed.
func BenchmarkComponentZeroToReady(b *testing.B) {
	ctx := context.Background()
	list, err := client.AppsV1().Deployments(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		b.Fatal(err)
	}
	for _, d := range list.Items {
		name := d.Name
		b.Run(name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				if err := scaleAndWait(ctx, name, 0); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				if err := scaleAndWait(ctx, name, 1); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// scaleAndWait sets replicas and waits until the Deployment has exactly n Ready pods and no
// other pod.
func scaleAndWait(ctx context.Context, name string, n int32) error {
	if _, err := client.AppsV1().Deployments(namespace).UpdateScale(ctx, name, &autoscalingv1.Scale{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		Spec:       autoscalingv1.ScaleSpec{Replicas: n},
	}, metav1.UpdateOptions{}); err != nil {
		return err
	}
	last := ""
	err := wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		d, err := client.AppsV1().Deployments(namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		pods, err := client.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: "deployment=" + name})
		if err != nil {
			return false, nil
		}
		done, seen := testsupport.DeploymentRolledOut(d, n)
		last = fmt.Sprintf("%s; %d pods", seen, len(pods.Items))
		return done && len(pods.Items) == int(n), nil
	})
	if err != nil {
		return fmt.Errorf("%s to %d: %w (last %s)", name, n, err, last)
	}
	return nil
}
