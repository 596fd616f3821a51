package threescale

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
)

// ProductionGateway is apicast-production's Deployment (3scale 2.15 and later; the
// operator's name, operator@3scale-2.16.3-GA pkg/3scale/amp/component/apicast.go).
const ProductionGateway = "apicast-production"

// restartedAtAnnotation is the pod template annotation `kubectl rollout restart` sets.
const restartedAtAnnotation = "kubectl.kubernetes.io/restartedAt"

// RestartDeployment restarts a Deployment's pods as `kubectl rollout restart` does (a merge
// patch of the pod template's restartedAt annotation, which the 3scale operator does not
// reconcile) and waits, within timeout, until the rollout is complete: the new generation
// observed, every replica updated and available, and no pod of the old template left. It is
// how 3scale's QE suite makes apicast-production load a promoted configuration
// (3scale-tests@v2.16.0.11 testsuite/gateways/apicast/system.py reload → rollout).
func RestartDeployment(ctx context.Context, env *Env, name string, timeout time.Duration) error {
	gen, err := StartRollout(ctx, env, name)
	if err != nil {
		return err
	}
	last := "not read yet"
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	err = wait.PollUntilContextCancel(wctx, time.Second, true, func(ctx context.Context) (bool, error) {
		done, state, err := RolloutState(ctx, env, name, gen)
		if err != nil {
			last = err.Error()
			return false, nil
		}
		last = state
		return done, nil
	})
	if err != nil {
		return fmt.Errorf("rollout of Deployment %s/%s not complete within %s: %s", env.Target.Namespace, name, timeout, last)
	}
	return nil
}

// StartRollout starts what `kubectl rollout restart` does and returns the Deployment's new
// generation, without waiting for the rollout (RolloutState tells how it goes).
func StartRollout(ctx context.Context, env *Env, name string) (int64, error) {
	patch, err := json.Marshal(map[string]any{"spec": map[string]any{"template": map[string]any{"metadata": map[string]any{
		"annotations": map[string]string{restartedAtAnnotation: time.Now().UTC().Format(time.RFC3339)}}}}})
	if err != nil {
		return 0, err
	}
	d, err := env.Kube.AppsV1().Deployments(env.Target.Namespace).Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{})
	if err != nil {
		return 0, fmt.Errorf("rollout restart Deployment %s/%s: %w", env.Target.Namespace, name, err)
	}
	return d.Generation, nil
}

// RolloutState reads the Deployment and says whether the rollout of generation gen is
// complete, with the counts that say so.
func RolloutState(ctx context.Context, env *Env, name string, gen int64) (bool, string, error) {
	d, err := env.Kube.AppsV1().Deployments(env.Target.Namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return false, "", err
	}
	done, state := rolledOut(d, gen)
	return done, state, nil
}

// rolledOut is kubectl rollout status's test: the controller saw generation gen, and every
// replica runs the new template and is available, with no old one left.
func rolledOut(d *appsv1.Deployment, gen int64) (bool, string) {
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	st := d.Status
	state := fmt.Sprintf("generation %d observed %d; %d/%d updated, %d available, %d in all", gen, st.ObservedGeneration, st.UpdatedReplicas, want, st.AvailableReplicas, st.Replicas)
	return st.ObservedGeneration >= gen && st.UpdatedReplicas == want && st.Replicas == want && st.AvailableReplicas == want, state
}
