package chaos_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/threescale-chaos/harness/pkg/chaos"
	"github.com/threescale-chaos/harness/pkg/kube"
)

// Diagnose writes events, pod states and each container's log, with the previous run of a
// container that restarted; no cluster is needed (the fake clientset serves "fake logs").
func TestDiagnoseCollectsContainerLogs(t *testing.T) {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "apicast-production-1", Namespace: "3scale"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "apicast"}, {Name: "sidecar"}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{
			{Name: "apicast", RestartCount: 1}, {Name: "sidecar"},
		}},
	}
	ev := &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "e1", Namespace: "3scale"}, Reason: "ScalingReplicaSet"}
	c := &kube.Client{Kube: fake.NewClientset(pod, ev)}
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	held, err := chaos.PodStates(ctx, c, "3scale")
	if err != nil || len(held) != 1 || held[0].Name != "apicast-production-1" || held[0].Phase != "Running" || len(held[0].Containers) != 2 {
		t.Fatalf("PodStates: %v %+v", err, held)
	}
	files, err := chaos.Diagnose(ctx, c, "3scale", dir, "backend-listener", chaos.DiagnoseOptions{Since: time.Now().Add(-time.Minute),
		Redact: func(s string) string { return strings.ReplaceAll(s, "fake", "[REDACTED]") }, Held: held})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"backend-listener-pods-held.json",
		"backend-listener-events.json",
		"backend-listener-pods.json",
		filepath.Join("backend-listener-logs", "apicast-production-1.apicast.log"),
		filepath.Join("backend-listener-logs", "apicast-production-1.apicast.previous.log"),
		filepath.Join("backend-listener-logs", "apicast-production-1.sidecar.log"),
	}
	if !slices.Equal(files, want) {
		t.Fatalf("Diagnose wrote %q, want %q", files, want)
	}
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil || len(b) == 0 {
			t.Errorf("%s: %v, %d bytes", f, err, len(b))
		}
		if strings.HasSuffix(f, ".log") && string(b) != "[REDACTED] logs" {
			t.Errorf("%s: %q, want the log redacted", f, b)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "backend-listener-events.json")); !strings.Contains(string(b), "ScalingReplicaSet") {
		t.Errorf("events:\n%s", b)
	}
}

// A cancelled context bounds the dump: logs not read are listed with the reason, and the
// error says so, instead of the dump waiting on a kubelet that does not answer.
func TestDiagnoseBoundedByContext(t *testing.T) {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "3scale"},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c"}}},
	}
	cs := fake.NewClientset(pod)
	ctx, cancel := context.WithCancel(context.Background())
	// The log read is where a dump waits on a node; cancel as the pods are listed, so that
	// events and pod states are written and the logs are not read.
	cs.PrependReactor("list", "pods", func(action k8stesting.Action) (bool, runtime.Object, error) {
		cancel()
		return false, nil, nil
	})
	dir := t.TempDir()
	files, err := chaos.Diagnose(ctx, &kube.Client{Kube: cs}, "3scale", dir, "x", chaos.DiagnoseOptions{})
	if err == nil || !strings.Contains(err.Error(), "could not be read") {
		t.Fatalf("err = %v, want the unread logs named", err)
	}
	b, rerr := os.ReadFile(filepath.Join(dir, "x-logs", "unavailable.txt"))
	if rerr != nil || !strings.Contains(string(b), "p/c: context canceled") {
		t.Fatalf("unavailable.txt: %v %q (files %q)", rerr, b, files)
	}
}
