package conformance

import (
	"context"
	"fmt"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/threescale-chaos/harness/internal/testsupport"
)

// patchAPIManager merge-patches the twin's APIManager.
func patchAPIManager(t *testing.T, patch string) {
	t.Helper()
	err := client.Discovery().RESTClient().Patch(types.MergePatchType).
		AbsPath("/apis/apps.3scale.net/v1alpha1/namespaces", namespace, "apimanagers", "3scale").
		Body([]byte(patch)).Do(context.Background()).Error()
	if err != nil {
		t.Fatalf("patch APIManager: %v", err)
	}
}

func replicasOf(ctx context.Context, name string) (int32, string) {
	d, err := client.AppsV1().Deployments(namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil || d.Spec.Replicas == nil {
		return -1, fmt.Sprint(err)
	}
	return *d.Spec.Replicas, fmt.Sprintf("spec.replicas=%d generation=%d", *d.Spec.Replicas, d.Generation)
}

// With spec.backend.listenerSpec.replicas set, the operator puts backend-listener back after
// a manual scale to zero (research/3scale-operator.md §2.1); without it, the scale sticks.
func TestOperatorRevertsScaleWhenReplicasFieldIsSet(t *testing.T) {
	patchAPIManager(t, `{"spec":{"backend":{"listenerSpec":{"replicas":1}}}}`)
	t.Cleanup(func() {
		patchAPIManager(t, `{"spec":{"backend":{"listenerSpec":{"replicas":null}}}}`)
		scaleUp(t, "backend-listener")
	})
	setReplicas(t, "backend-listener", 0)
	testsupport.Eventually(t, 30*time.Second, "the operator to revert backend-listener to 1", func(ctx context.Context) (bool, string) {
		n, seen := replicasOf(ctx, "backend-listener")
		return n == 1, seen
	})
}

func TestOperatorLeavesScaleWithoutReplicasField(t *testing.T) {
	// backend-cron has no replicas field in the twin's APIManager. A change to another
	// Deployment's field makes the operator reconcile everything; once it has reverted that
	// one, it has also seen backend-cron at zero and left it.
	scaleDown(t, "backend-cron")
	patchAPIManager(t, `{"spec":{"backend":{"workerSpec":{"replicas":1}}}}`)
	t.Cleanup(func() { patchAPIManager(t, `{"spec":{"backend":{"workerSpec":{"replicas":null}}}}`) })
	setReplicas(t, "backend-worker", 0)
	testsupport.Eventually(t, 30*time.Second, "the operator to revert backend-worker", func(ctx context.Context) (bool, string) {
		n, seen := replicasOf(ctx, "backend-worker")
		return n == 1, seen
	})
	if n, seen := replicasOf(context.Background(), "backend-cron"); n != 0 {
		t.Fatalf("backend-cron has no replicas field but the operator scaled it: %s", seen)
	}
}
