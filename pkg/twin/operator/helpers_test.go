package operator_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"

	"github.com/threescale-chaos/harness/pkg/twin/operator"
)

// deadline bounds every wait: generous for 2 shared cores, but a reverted
// scale normally takes well under a second.
const deadline = 30 * time.Second

var nsCounter atomic.Int32

// namespace creates a namespace for one test and deletes it afterwards.
func namespace(t *testing.T) string {
	t.Helper()
	name := strings.ToLower(strings.NewReplacer("_", "-", "/", "-").Replace(t.Name()))
	if len(name) > 45 {
		name = name[:45]
	}
	name = fmt.Sprintf("%s-%d", strings.TrimSuffix(name, "-"), nsCounter.Add(1))
	if _, err := kube.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create namespace %s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = kube.CoreV1().Namespaces().Delete(context.Background(), name, metav1.DeleteOptions{})
	})
	return name
}

// startOperator runs the twin operator on ns until the test ends, and fails
// the test if Run returns an error.
func startOperator(t *testing.T, ns string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	log := slog.New(slog.NewTextHandler(testWriter{t}, nil))
	go func() {
		done <- operator.Run(ctx, operator.Config{RESTConfig: restCfg, Namespace: ns, Logger: log})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("operator.Run: %v", err)
			}
		case <-time.After(deadline):
			t.Errorf("operator.Run did not return within %s of cancel", deadline)
		}
	})
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// createDeployment creates a Deployment with the operator's name and labels
// (research 1.3). No node runs its pods; only spec.replicas matters here.
func createDeployment(t *testing.T, ns, name string, replicas int32) {
	t.Helper()
	labels := map[string]string{"deployment": name}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": "3scale-api-management"}},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "twin"}}},
			},
		},
	}
	if _, err := kube.AppsV1().Deployments(ns).Create(context.Background(), d, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create Deployment %s: %v", name, err)
	}
}

// createAPIManager creates an APIManager named apimanager with the given spec
// fragment (wildcardDomain is added).
func createAPIManager(t *testing.T, ns string, spec map[string]any) {
	t.Helper()
	s := map[string]any{"wildcardDomain": "127.0.0.1.nip.io"}
	for k, v := range spec {
		s[k] = v
	}
	obj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apps.3scale.net/v1alpha1",
		"kind":       "APIManager",
		"metadata":   map[string]any{"name": "apimanager"},
		"spec":       s,
	}}
	if _, err := dyn.Resource(operator.APIManagerGVR).Namespace(ns).Create(context.Background(), obj, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create APIManager: %v", err)
	}
}

// patchAPIManager applies a JSON merge patch to the APIManager's spec.
func patchAPIManager(t *testing.T, ns string, patch map[string]any) {
	t.Helper()
	body, err := json.Marshal(map[string]any{"spec": patch})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dyn.Resource(operator.APIManagerGVR).Namespace(ns).Patch(context.Background(), "apimanager", types.MergePatchType, body, metav1.PatchOptions{}); err != nil {
		t.Fatalf("patch APIManager %s: %v", body, err)
	}
}

// scale sets replicas through the scale subresource, as `kubectl scale` and the
// harness do, and returns the Deployment generation that scale produced.
func scale(t *testing.T, ns, name string, replicas int32) int64 {
	t.Helper()
	ctx := context.Background()
	var gen int64
	err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, deadline, true, func(ctx context.Context) (bool, error) {
		s, err := kube.AppsV1().Deployments(ns).GetScale(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		s.Spec.Replicas = replicas
		out, err := kube.AppsV1().Deployments(ns).UpdateScale(ctx, name, s, metav1.UpdateOptions{})
		if err != nil {
			return false, nil // a conflict with the operator: read again
		}
		gen = scaleGeneration(ctx, t, ns, name, out)
		return true, nil
	})
	if err != nil {
		t.Fatalf("scale %s to %d: %v", name, replicas, err)
	}
	return gen
}

// scaleGeneration is the Deployment generation at (or just after) the scale:
// the Scale object carries the Deployment's metadata.
func scaleGeneration(ctx context.Context, t *testing.T, ns, name string, s *autoscalingv1.Scale) int64 {
	if s.Generation > 0 {
		return s.Generation
	}
	d, err := kube.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get Deployment %s: %v", name, err)
	}
	return d.Generation
}

func replicasOf(ctx context.Context, ns, name string) (int32, int64, error) {
	d, err := kube.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return 0, 0, err
	}
	return ptr.Deref(d.Spec.Replicas, 1), d.Generation, nil
}

// waitReplicas waits until the Deployment's spec.replicas is want.
func waitReplicas(t *testing.T, ns, name string, want int32) time.Duration {
	t.Helper()
	start := time.Now()
	last := "nothing read"
	err := wait.PollUntilContextTimeout(context.Background(), 20*time.Millisecond, deadline, true, func(ctx context.Context) (bool, error) {
		n, gen, err := replicasOf(ctx, ns, name)
		if err != nil {
			last = err.Error()
			return false, nil
		}
		last = fmt.Sprintf("replicas %d at generation %d", n, gen)
		return n == want, nil
	})
	if err != nil {
		t.Fatalf("Deployment %s never had replicas %d (last: %s): %v", name, want, last, err)
	}
	return time.Since(start)
}

// entry is one Deployment's entry in the operator's record (operator.RecordAnnotation).
type entry struct {
	Mode               string `json:"mode"`
	DesiredReplicas    *int64 `json:"desiredReplicas"`
	ObservedGeneration int64  `json:"observedGeneration"`
	Replicas           *int64 `json:"replicas"`
	Missing            bool   `json:"missing"`
}

// twinStatus is the operator's record of its last pass.
type twinStatus struct {
	ObservedGeneration int64 // the APIManager generation the pass read
	Twin               struct {
		Deployments map[string]entry
		WaitingFor  string
	}
}

// readStatus reads the operator's record (not the APIManager status, which is the real
// operator's shape) and the APIManager's generation.
func readStatus(ctx context.Context, ns string) (twinStatus, int64, error) {
	var st twinStatus
	am, err := dyn.Resource(operator.APIManagerGVR).Namespace(ns).Get(ctx, "apimanager", metav1.GetOptions{})
	if err != nil {
		return st, 0, err
	}
	rec, err := operator.ReadRecord(am)
	if err != nil {
		return st, 0, err
	}
	st.ObservedGeneration = rec.APIManagerGeneration
	st.Twin.WaitingFor = rec.WaitingFor
	st.Twin.Deployments = map[string]entry{}
	for name, raw := range rec.Deployments {
		b, err := json.Marshal(raw)
		if err != nil {
			return st, 0, err
		}
		var e entry
		if err := json.Unmarshal(b, &e); err != nil {
			return st, 0, err
		}
		st.Twin.Deployments[name] = e
	}
	return st, am.GetGeneration(), nil
}

// waitObserved waits until the operator has reconciled the Deployment at
// generation gen or later, and returns its record. This is how a test knows
// the operator has seen a scale, so that "it was left alone" is an
// observation, not a sleep.
func waitObserved(t *testing.T, ns, name string, gen int64) entry {
	t.Helper()
	var got entry
	last := "no status"
	err := wait.PollUntilContextTimeout(context.Background(), 20*time.Millisecond, deadline, true, func(ctx context.Context) (bool, error) {
		st, _, err := readStatus(ctx, ns)
		if err != nil {
			last = err.Error()
			return false, nil
		}
		e, ok := st.Twin.Deployments[name]
		last = fmt.Sprintf("%+v", st.Twin)
		if !ok || e.ObservedGeneration < gen {
			return false, nil
		}
		got = e
		return true, nil
	})
	if err != nil {
		t.Fatalf("operator never reconciled %s at generation >= %d (last status: %s): %v", name, gen, last, err)
	}
	return got
}

// generation reads the Deployment's current generation.
func generation(t *testing.T, ns, name string) int64 {
	t.Helper()
	_, gen, err := replicasOf(context.Background(), ns, name)
	if err != nil {
		t.Fatalf("get Deployment %s: %v", name, err)
	}
	return gen
}

// assertReplicas checks spec.replicas now.
func assertReplicas(t *testing.T, ns, name string, want int32) {
	t.Helper()
	n, gen, err := replicasOf(context.Background(), ns, name)
	if err != nil {
		t.Fatalf("get Deployment %s: %v", name, err)
	}
	if n != want {
		t.Fatalf("Deployment %s has replicas %d (generation %d), want %d", name, n, gen, want)
	}
}
