package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"

	"github.com/threescale-chaos/harness/internal/testsupport"
	"github.com/threescale-chaos/harness/pkg/catalog"
)

// fast keeps the waits of the tests short; the sleep pods stop in about a second.
var fast = Options{Timeouts: Timeouts{Gone: 45 * time.Second, Ready: 45 * time.Second, Interval: 100 * time.Millisecond}}

var nsCounter atomic.Int32

// namespace creates a namespace for one test, opted in or not, and deletes it afterwards.
func namespace(t *testing.T, optIn bool) string {
	t.Helper()
	local.Get(t)
	name := strings.ToLower(strings.NewReplacer("_", "-", "/", "-").Replace(t.Name()))
	if len(name) > 45 {
		name = name[:45]
	}
	name = fmt.Sprintf("%s-%d", strings.TrimSuffix(name, "-"), nsCounter.Add(1))
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if optIn {
		ns.Labels = map[string]string{LabelOptIn: "true"}
	}
	if _, err := client.Kube.CoreV1().Namespaces().Create(context.Background(), ns, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create namespace %s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = client.Kube.CoreV1().Namespaces().Delete(context.Background(), name, metav1.DeleteOptions{})
	})
	// Pods need the namespace's default ServiceAccount, which a controller creates.
	testsupport.Eventually(t, 30*time.Second, "default ServiceAccount in "+name, func(ctx context.Context) (bool, string) {
		_, err := client.Kube.CoreV1().ServiceAccounts(name).Get(ctx, "default", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return true, ""
	})
	return name
}

func component(t *testing.T, name string) catalog.Component {
	t.Helper()
	c, err := catalog.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// createDeployment creates the component's Deployment with the operator's name, selector
// and pod labels (research/3scale-operator.md §1.3). Its pods are hostNetwork shells that
// sleep, so "pods gone" means processes gone.
func createDeployment(t *testing.T, ns string, c catalog.Component, replicas int32) {
	t.Helper()
	name := c.NameFor(catalog.V2_15)
	podLabels := c.PodSelector(catalog.V2_15)
	podLabels["deployment"] = name
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": "3scale-api-management"}},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"deployment": name}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: podLabels},
				Spec: corev1.PodSpec{
					HostNetwork:                   true,
					TerminationGracePeriodSeconds: ptr.To(int64(1)),
					Containers: []corev1.Container{{
						Name: "main", Image: "twin/shell",
						Command: []string{"/bin/sh", "-c", "sleep 3600"},
					}},
				},
			},
		},
	}
	if _, err := client.Kube.AppsV1().Deployments(ns).Create(context.Background(), d, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create Deployment %s: %v", name, err)
	}
}

// waitDeploymentReady waits until the Deployment has n Ready replicas and n pods Running.
func waitDeploymentReady(t *testing.T, ns, name string, n int32) {
	t.Helper()
	testsupport.Eventually(t, 45*time.Second, fmt.Sprintf("Deployment %s/%s with %d Ready replicas", ns, name, n), func(ctx context.Context) (bool, string) {
		d, err := client.Kube.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		pods, err := client.Kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "deployment=" + name})
		if err != nil {
			return false, err.Error()
		}
		done, seen := testsupport.DeploymentRolledOut(d, n)
		return done && len(pods.Items) == int(n), seen + "; pods " + describePods(pods.Items)
	})
}

// createAPIManager creates the APIManager "apimanager" with the given spec fragment.
func createAPIManager(t *testing.T, ns string, spec map[string]any) {
	t.Helper()
	spec["wildcardDomain"] = "127.0.0.1.nip.io"
	obj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apps.3scale.net/v1alpha1", "kind": "APIManager",
		"metadata": map[string]any{"name": "apimanager"}, "spec": spec,
	}}
	if _, err := client.Dynamic.Resource(APIManagersGVR).Namespace(ns).Create(context.Background(), obj, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create APIManager: %v", err)
	}
}

// patchAPIManager applies a JSON merge patch to the APIManager's spec.
func patchAPIManager(t *testing.T, ns string, spec map[string]any) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"spec": spec})
	if _, err := client.Dynamic.Resource(APIManagersGVR).Namespace(ns).Patch(context.Background(), "apimanager", types.MergePatchType, body, metav1.PatchOptions{}); err != nil {
		t.Fatalf("patch APIManager %s: %v", body, err)
	}
}

// apiManagerField reads the APIManager's value at path ("absent" when unset).
func apiManagerField(t *testing.T, ns string, path catalog.FieldPath) string {
	t.Helper()
	am, err := client.Dynamic.Resource(APIManagersGVR).Namespace(ns).Get(context.Background(), "apimanager", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n, set, err := fieldInt(am, path)
	if err != nil {
		t.Fatal(err)
	}
	return fieldString(n, set)
}

// fakeOperator stands in for the 3scale operator's replica reconciliation, and only that:
// while the APIManager sets the component's replicas field, it puts the Deployment's
// spec.replicas back to the field's value (DeploymentReplicasMutator,
// research/3scale-operator.md §2.1); while the field is unset it never writes replicas.
// It polls instead of watching to stay tiny. paused stops it, so a test can choose the
// moment the "operator" reverts a fault. The harness never knows it exists.
type fakeOperator struct {
	paused atomic.Bool
}

func startFakeOperator(t *testing.T, ns string, c catalog.Component) *fakeOperator {
	t.Helper()
	op := &fakeOperator{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	name := c.NameFor(catalog.V2_15)
	go func() {
		defer close(done)
		wait.UntilWithContext(ctx, func(ctx context.Context) {
			if op.paused.Load() {
				return
			}
			am, err := client.Dynamic.Resource(APIManagersGVR).Namespace(ns).Get(ctx, "apimanager", metav1.GetOptions{})
			if err != nil {
				return
			}
			want, set, err := fieldInt(am, c.ReplicasField)
			if err != nil || !set {
				return
			}
			d, err := client.Kube.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
			if err != nil || ptr.Deref(d.Spec.Replicas, 1) == int32(want) {
				return
			}
			d.Spec.Replicas = ptr.To(int32(want))
			_, _ = client.Kube.AppsV1().Deployments(ns).Update(ctx, d, metav1.UpdateOptions{})
		}, 100*time.Millisecond)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return op
}

// deploymentReplicas reads spec.replicas.
func deploymentReplicas(t *testing.T, ns, name string) int32 {
	t.Helper()
	d, err := client.Kube.AppsV1().Deployments(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return ptr.Deref(d.Spec.Replicas, 1)
}

// ledgerEntry reads one entry of the namespace's ledger.
func ledgerEntry(t *testing.T, ns, runID, comp string) LedgerEntry {
	t.Helper()
	entries, err := ReadLedger(context.Background(), client, ns)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.RunID == runID && e.Component == comp {
			return e
		}
	}
	t.Fatalf("no ledger entry for run %s component %s in %s: %v", runID, comp, ns, entries)
	return LedgerEntry{}
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}
