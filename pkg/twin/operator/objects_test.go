package operator_test

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"

	"github.com/threescale-chaos/harness/pkg/twin/operator"
)

// getAPIManager reads the test's APIManager.
func getAPIManager(ctx context.Context, ns string) (*unstructured.Unstructured, error) {
	return dyn.Resource(operator.APIManagerGVR).Namespace(ns).Get(ctx, "apimanager", metav1.GetOptions{})
}

// waitHPA waits until the HPA name exists (want) or does not, and returns it.
func waitHPA(t *testing.T, ns, name string, want bool) *autoscalingv2.HorizontalPodAutoscaler {
	t.Helper()
	var got *autoscalingv2.HorizontalPodAutoscaler
	last := "nothing read"
	err := wait.PollUntilContextTimeout(context.Background(), 20*time.Millisecond, deadline, true, func(ctx context.Context) (bool, error) {
		h, err := kube.AutoscalingV2().HorizontalPodAutoscalers(ns).Get(ctx, name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			last = "absent"
			return !want, nil
		case err != nil:
			last = err.Error()
			return false, nil
		}
		got, last = h, "present"
		return want, nil
	})
	if err != nil {
		t.Fatalf("HorizontalPodAutoscaler %s present=%v never held (last: %s): %v", name, want, last, err)
	}
	return got
}

// The HPAs of `hpa: true`, as ReconcileHpa makes them (operator@3scale-2.16.3-GA
// pkg/3scale/amp/operator/base_apimanager_logic_reconciler.go, component/hpa.go DefaultHpa):
// one per switched-on component, named after its Deployment, 1 to 5 replicas, memory then
// cpu at 85 % average utilization, owned by the APIManager; deleted when the switch goes off,
// and for backend when the disable-async annotation is set; recreated when deleted.
func TestHPAsFollowTheHpaSwitches(t *testing.T) {
	ns := namespace(t)
	createDeployment(t, ns, "backend-listener", 1)
	createDeployment(t, ns, "backend-worker", 1)
	createDeployment(t, ns, "apicast-production", 1)
	createAPIManager(t, ns, map[string]any{
		"backend": map[string]any{"listenerSpec": map[string]any{"hpa": true}, "workerSpec": map[string]any{"hpa": false}},
		"apicast": map[string]any{"productionSpec": map[string]any{"hpa": true}},
	})
	startOperator(t, ns)

	am, err := getAPIManager(context.Background(), ns)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"backend-listener", "apicast-production"} {
		h := waitHPA(t, ns, name, true)
		want := autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{Kind: "Deployment", Name: name, APIVersion: "apps/v1"},
			MinReplicas:    ptr.To(int32(1)),
			MaxReplicas:    5,
			Metrics: []autoscalingv2.MetricSpec{
				{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{Name: corev1.ResourceMemory,
					Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr.To(int32(85))}}},
				{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{Name: corev1.ResourceCPU,
					Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr.To(int32(85))}}},
			},
		}
		if !reflect.DeepEqual(h.Spec, want) {
			got, _ := json.Marshal(h.Spec)
			exp, _ := json.Marshal(want)
			t.Errorf("HPA %s spec\n got %s\nwant %s", name, got, exp)
		}
		owner := metav1.GetControllerOf(h)
		if owner == nil || owner.Kind != "APIManager" || owner.UID != am.GetUID() {
			t.Errorf("HPA %s controller %+v, want the APIManager %s", name, owner, am.GetUID())
		}
	}
	waitHPA(t, ns, "backend-worker", false)

	// Switched off: deleted.
	patchAPIManager(t, ns, map[string]any{"backend": map[string]any{"listenerSpec": map[string]any{"hpa": false}}})
	waitHPA(t, ns, "backend-listener", false)

	// Deleted by hand while wanted: made again at the next pass. HPAs are not watched, so the
	// test starts a pass the way any APIManager change does.
	before := waitHPA(t, ns, "apicast-production", true).UID
	if err := kube.AutoscalingV2().HorizontalPodAutoscalers(ns).Delete(context.Background(), "apicast-production", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	annotate(t, ns, "example.com/poke", "1")
	last := "nothing read"
	err = wait.PollUntilContextTimeout(context.Background(), 20*time.Millisecond, deadline, true, func(ctx context.Context) (bool, error) {
		h, err := kube.AutoscalingV2().HorizontalPodAutoscalers(ns).Get(ctx, "apicast-production", metav1.GetOptions{})
		if err != nil {
			last = err.Error()
			return false, nil
		}
		last = "uid " + string(h.UID)
		return h.UID != before, nil
	})
	if err != nil {
		t.Fatalf("the deleted HPA apicast-production was not made again (last: %s): %v", last, err)
	}

	// Backend async disabled: no backend HPA even with its switch on; apicast keeps its own.
	annotate(t, ns, operator.DisableAsyncAnnotation, "true")
	patchAPIManager(t, ns, map[string]any{"backend": map[string]any{"workerSpec": map[string]any{"hpa": true}}})
	waitStatus(t, ns, "the async-disabled warning", func(st operator.Status) bool {
		return hasCondition(st, "Warning", "HPA", "HorizontalPodAutoscaling (Hpa). Discovered async disabled annotation and Hpa enabled for backend. Hpa for backends will now be disabled.")
	})
	waitHPA(t, ns, "backend-worker", false)
	waitHPA(t, ns, "apicast-production", true)
}

// annotate sets one annotation on the APIManager.
func annotate(t *testing.T, ns, key, value string) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]any{key: value}}})
	if _, err := dyn.Resource(operator.APIManagerGVR).Namespace(ns).Patch(context.Background(), "apimanager", types.MergePatchType, body, metav1.PatchOptions{}); err != nil {
		t.Fatalf("annotate APIManager: %v", err)
	}
}

func hasCondition(st operator.Status, typ, reason, message string) bool {
	for _, c := range st.Conditions {
		if c.Type == typ && c.Reason == reason && c.Message == message {
			return true
		}
	}
	return false
}

// readRealStatus decodes the APIManager's status and reports every top-level key it has.
func readRealStatus(ctx context.Context, ns string) (operator.Status, []string, error) {
	var st operator.Status
	am, err := getAPIManager(ctx, ns)
	if err != nil {
		return st, nil, err
	}
	raw, _, _ := unstructured.NestedMap(am.Object, "status")
	var keys []string
	for k := range raw {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	b, err := json.Marshal(raw)
	if err != nil {
		return st, keys, err
	}
	return st, keys, json.Unmarshal(b, &st)
}

func waitStatus(t *testing.T, ns, what string, cond func(operator.Status) bool) operator.Status {
	t.Helper()
	var got operator.Status
	last := "nothing read"
	err := wait.PollUntilContextTimeout(context.Background(), 20*time.Millisecond, deadline, true, func(ctx context.Context) (bool, error) {
		st, keys, err := readRealStatus(ctx, ns)
		if err != nil {
			last = err.Error()
			return false, nil
		}
		b, _ := json.Marshal(st)
		got, last = st, fmt.Sprintf("keys %v: %s", keys, b)
		return cond(st), nil
	})
	if err != nil {
		t.Fatalf("APIManager status never showed %s (last: %s): %v", what, last, err)
	}
	return got
}

// createOwnedDeployment creates a Deployment the APIManager owns, as the operator does.
func createOwnedDeployment(t *testing.T, ns, name string, replicas int32, am *unstructured.Unstructured) {
	t.Helper()
	labels := map[string]string{"deployment": name}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, OwnerReferences: []metav1.OwnerReference{{
			APIVersion: "apps.3scale.net/v1alpha1", Kind: "APIManager", Name: am.GetName(), UID: am.GetUID(), Controller: ptr.To(true),
		}}},
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

// The APIManager as the real operator leaves it (apimanager_status_reconciler.go,
// apimanager_types.go setAPIManagerAnnotationsDefaults; research/real-operator-check.md
// §2.1, §2.4): the two version annotations; a status of conditions (Available, False here:
// not every Deployment exists, no Route is admitted) and deployments sorted into ready,
// starting and stopped among the Deployments the APIManager owns, and nothing else (no
// observedGeneration); the two HPA warnings while an hpa switch is on with
// resourceRequirementsEnabled false, gone when it is off; the Available condition reasons
// about missing watched Secrets.
func TestAPIManagerStatusAndAnnotationsAsTheRealOperator(t *testing.T) {
	ns := namespace(t)
	createAPIManager(t, ns, map[string]any{
		"resourceRequirementsEnabled": false,
		"backend":                     map[string]any{"workerSpec": map[string]any{"hpa": true}},
	})
	am, err := getAPIManager(context.Background(), ns)
	if err != nil {
		t.Fatal(err)
	}
	createOwnedDeployment(t, ns, "backend-cron", 0, am)
	createOwnedDeployment(t, ns, "backend-listener", 1, am) // no node: its pod never gets ready
	createDeployment(t, ns, "backend-worker", 1)            // not the APIManager's
	for _, s := range []string{"system-redis", "backend-redis"} {
		if _, err := kube.CoreV1().Secrets(ns).Create(context.Background(), &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: s}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	startOperator(t, ns)

	st := waitStatus(t, ns, "stopped backend-cron and starting backend-listener", func(st operator.Status) bool {
		return reflect.DeepEqual(st.Deployments, operator.DeploymentStatus{Starting: []string{"backend-listener"}, Stopped: []string{"backend-cron"}})
	})
	_, keys, err := readRealStatus(context.Background(), ns)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(keys, []string{"conditions", "deployments"}) {
		t.Errorf("status keys %v, want exactly [conditions deployments]", keys)
	}
	var avail *operator.Condition
	for i := range st.Conditions {
		if st.Conditions[i].Type == "Available" {
			avail = &st.Conditions[i]
		}
	}
	if avail == nil || avail.Status != "False" || avail.Reason != "MissingWatchedSecrets" ||
		avail.Message != "The following secret(s) could not be found: system-database, zync" || avail.LastTransitionTime == "" {
		t.Errorf("Available condition %+v, want False, MissingWatchedSecrets naming system-database and zync, with a transition time", avail)
	}
	for _, w := range []struct{ reason, message string }{
		{"HPA & ResourceRequirementsEnabled false", "HorizontalPodAutoScaling (HPA) can't function if ResourcesRequirementsEnabled is set to false as there would be no resources to compare to in order to scale"},
		{"HPA", "HorizontalPodAutoscaling (Hpa) enabled overrides values applied to replicas"},
	} {
		if !hasCondition(st, "Warning", w.reason, w.message) {
			t.Errorf("no Warning %q in %+v", w.reason, st.Conditions)
		}
	}

	a, err := getAPIManager(context.Background(), ns)
	if err != nil {
		t.Fatal(err)
	}
	if got := a.GetAnnotations(); got["apps.3scale.net/apimanager-threescale-version"] != "2.16.3" || got["apps.3scale.net/threescale-operator-version"] != "0.13.3" {
		t.Errorf("version annotations %v, want 2.16.3 and 0.13.3", got)
	}

	// The missing Secrets appear: the reason goes; the hpa switch goes off: the warnings go.
	for _, s := range []string{"system-database", "zync"} {
		if _, err := kube.CoreV1().Secrets(ns).Create(context.Background(), &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: s}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	patchAPIManager(t, ns, map[string]any{"backend": map[string]any{"workerSpec": map[string]any{"hpa": false}}})
	waitStatus(t, ns, "only an Available=False condition without a reason", func(st operator.Status) bool {
		return len(st.Conditions) == 1 && st.Conditions[0].Type == "Available" && st.Conditions[0].Status == "False" && st.Conditions[0].Reason == ""
	})
}
