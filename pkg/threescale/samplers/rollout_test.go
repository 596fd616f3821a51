package samplers

import (
	"context"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/threescale-chaos/harness/pkg/scenario"
	"github.com/threescale-chaos/harness/pkg/threescale"
	"github.com/threescale-chaos/harness/pkg/threescale/fixture"
	"github.com/threescale-chaos/harness/pkg/threescale/target"
)

func gatewayPod(name string, age time.Duration, ready bool) *corev1.Pod {
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "3scale", Labels: map[string]string{"deployment": "apicast-production"},
			CreationTimestamp: metav1.NewTime(time.Now().Add(-age))},
		Status: corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: status, LastTransitionTime: metav1.Now()}},
			InitContainerStatuses: []corev1.ContainerStatus{{Name: "system-master-svc", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}},
	}
}

func rolloutBed(t *testing.T, pods ...*corev1.Pod) (*samplers, *fake.Clientset) {
	t.Helper()
	one := int32(1)
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "apicast-production", Namespace: "3scale", Generation: 1},
		Spec:       appsv1.DeploymentSpec{Replicas: &one, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"deployment": "apicast-production"}}},
		Status:     appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 1, UpdatedReplicas: 1, AvailableReplicas: 1},
	}
	cs := fake.NewSimpleClientset(d)
	for _, p := range pods {
		if _, err := cs.CoreV1().Pods("3scale").Create(context.Background(), p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	env := &threescale.Env{Kube: cs, Target: &target.Target{Namespace: "3scale"}}
	return &samplers{env: env, f: &fixture.Fixture{}, o: Options{}.withDefaults()}, cs
}

// A gateway pod that has not been Ready for longer than the bound fails the sample, saying
// what it waits for; a young one or a Ready one does not.
func TestGatewayRolloutSampler(t *testing.T) {
	ctx := context.Background()
	s, _ := rolloutBed(t, gatewayPod("old", time.Hour, true), gatewayPod("young", 5*time.Second, false))
	if err := s.gatewayRollout(time.Minute)(ctx); err != nil {
		t.Fatalf("a Ready pod and one starting for 5s: %v", err)
	}
	s, _ = rolloutBed(t, gatewayPod("old", time.Hour, true), gatewayPod("stuck", 2*time.Minute, false))
	err := s.gatewayRollout(time.Minute)(ctx)
	if err == nil || !strings.Contains(err.Error(), "pod stuck not Ready 2m0s after it was created") || !strings.Contains(err.Error(), "waiting for system-master") {
		t.Fatalf("a pod starting for 2m: want it named with what it waits for, got %v", err)
	}
}

// The work probe rolls the gateway out while the fault holds and counts the rollout applied
// only once a new pod is Ready and no pod from before is left.
func TestGatewayRolloutProbe(t *testing.T) {
	ctx := context.Background()
	p, cs := submittedRollout(t)
	d, err := cs.AppsV1().Deployments("3scale").Get(ctx, "apicast-production", metav1.GetOptions{})
	if err != nil || d.Spec.Template.Annotations["kubectl.kubernetes.io/restartedAt"] == "" {
		t.Fatalf("Submit did not roll the Deployment out: %v %v", err, d.Spec.Template.Annotations)
	}
	// The new pod never became Ready: not applied, and the check says where it stands.
	if _, err := cs.CoreV1().Pods("3scale").Create(ctx, gatewayPod("new", time.Minute, false), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	wc, err := p.Check(ctx, time.Second)
	if err != nil || wc.Submitted != 1 || wc.Applied != 0 || wc.Capability != scenario.GatewayRollout {
		t.Fatalf("a rollout still in progress: %+v, %v; want 1 submitted, none applied", wc, err)
	}
	// The new pod Ready, the old one gone, the new generation observed: applied.
	d.Generation, d.Status.ObservedGeneration = 2, 2
	p.gen = 2
	if _, err := cs.AppsV1().Deployments("3scale").UpdateStatus(ctx, d, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := cs.CoreV1().Pods("3scale").Delete(ctx, "old", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().Pods("3scale").UpdateStatus(ctx, gatewayPod("new", time.Minute, true), metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	wc, err = p.Check(ctx, time.Second)
	if err != nil || wc.Submitted != 1 || wc.Applied != 1 || !strings.Contains(wc.Detail, "new (Ready at") {
		t.Fatalf("a completed rollout: %+v, %v; want 1 of 1 applied, the new pod named", wc, err)
	}
}

// samplersWith is the samplers' shared state with opts, for a sampler built on its own.
func samplersWith(env *threescale.Env, f *fixture.Fixture, opts Options) *samplers {
	return &samplers{env: env, f: f, o: opts.withDefaults()}
}

// The rollout's stop of a pod from before the fault is reported as a disturbance of the
// capabilities sampled through apicast-production, from when the pod was asked to stop to
// after it was gone; pods the rollout made are not.
func TestGatewayRolloutProbeDisturbance(t *testing.T) {
	ctx := context.Background()
	p, cs := submittedRollout(t)
	if _, err := cs.CoreV1().Pods("3scale").Create(ctx, gatewayPod("new", time.Minute, true), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	stopped := func(name string) func() bool {
		return func() bool {
			p.mu.Lock()
			defer p.mu.Unlock()
			st := p.stops[name]
			return st != nil && !st.gone.IsZero()
		}
	}
	before := time.Now()
	old, err := cs.CoreV1().Pods("3scale").Get(ctx, "old", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	now := metav1.Now()
	old.DeletionTimestamp = &now
	if _, err := cs.CoreV1().Pods("3scale").Update(ctx, old, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := cs.CoreV1().Pods("3scale").Delete(ctx, "old", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 10*time.Second, stopped("old"))
	after := time.Now()
	if err := cs.CoreV1().Pods("3scale").Delete(ctx, "new", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	ds := p.Disturbances()
	if len(ds) != 1 {
		t.Fatalf("want one disturbance (the old pod's stop), got %+v", ds)
	}
	d := ds[0]
	if d.Start.Before(before.Add(-stopLead)) || d.Start.After(after) || d.End.Before(d.Start.Add(stopTail)) || d.End.After(after.Add(stopTail)) {
		t.Errorf("disturbance %s–%s, want it from the stop (between %s and %s) to %s after the pod was gone", d.Start, d.End, before, after, stopTail)
	}
	if !strings.Contains(d.What, "stopped pod old") || len(d.Capabilities) != 3 || d.Capabilities[2] != scenario.RateLimiting {
		t.Errorf("got %+v", d)
	}
	reset := scenario.Sample{Capability: scenario.RateLimiting, Time: d.Start.Add(time.Second), ErrorClass: scenario.ErrReset}
	if !d.Excludes(reset) {
		t.Errorf("a reset of rate-limiting inside %s is not excluded", d)
	}
}

func waitUntil(t *testing.T, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s", timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// submittedRollout is a rollout probe over one old apicast-production pod, its baseline
// taken and its rollout submitted.
func submittedRollout(t *testing.T) (*rolloutProbe, *fake.Clientset) {
	t.Helper()
	s, cs := rolloutBed(t, gatewayPod("old", time.Hour, true))
	p := &rolloutProbe{s: s, o: WorkOptions{Settle: 2 * time.Second, Timeout: time.Second}.withDefaults()}
	if err := p.Baseline(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := p.Submit(context.Background()); err != nil {
		t.Fatal(err)
	}
	return p, cs
}
