package operator_test

import (
	"reflect"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"

	"github.com/threescale-chaos/harness/pkg/twin/operator"
)

func apiManager(spec map[string]any) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apps.3scale.net/v1alpha1", "kind": "APIManager",
		"metadata": map[string]any{"name": "3scale", "namespace": "3scale"},
		"spec":     spec,
	}}
}

func deployment(name string, spec, replicas, ready int32, available bool) appsv1.Deployment {
	d := appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: appsv1.DeploymentSpec{Replicas: ptr.To(spec)},
		Status: appsv1.DeploymentStatus{Replicas: replicas, ReadyReplicas: ready}}
	if available {
		d.Status.Conditions = []appsv1.DeploymentCondition{{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue}}
	}
	return d
}

func route(name, host string, admitted ...bool) unstructured.Unstructured {
	var ingress []any
	for _, a := range admitted {
		status := "False"
		if a {
			status = "True"
		}
		ingress = append(ingress, map[string]any{"conditions": []any{map[string]any{"type": "Admitted", "status": status}}})
	}
	return unstructured.Unstructured{Object: map[string]any{
		"metadata": map[string]any{"name": name},
		"spec":     map[string]any{"host": host},
		"status":   map[string]any{"ingress": ingress},
	}}
}

// status.deployments sorts Deployments as olm.GetDeploymentStatus does: spec 0 or no replica
// is stopped, fewer ready than existing is starting, else ready.
func TestDeploymentStatusSorting(t *testing.T) {
	am := apiManager(map[string]any{"wildcardDomain": "example.test"})
	st := operator.ComputeStatus(am, operator.Status{}, operator.StatusInputs{Now: time.Unix(0, 0), Owned: []appsv1.Deployment{
		deployment("apicast-production", 1, 1, 1, true),
		deployment("backend-cron", 0, 0, 0, false),
		deployment("backend-listener", 2, 2, 1, true),
		deployment("system-app", 1, 0, 0, false),
	}})
	want := operator.DeploymentStatus{Ready: []string{"apicast-production"}, Starting: []string{"backend-listener"}, Stopped: []string{"backend-cron", "system-app"}}
	if !reflect.DeepEqual(st.Deployments, want) {
		t.Errorf("deployments %+v, want %+v", st.Deployments, want)
	}
}

// Available is True only when every expected Deployment (DeploymentsLister) is owned and
// Available, every default Route is admitted (DefaultRoutesReady), and no watched Secret is
// missing; its lastTransitionTime moves only when its status does (SetCondition).
func TestAvailableCondition(t *testing.T) {
	am := apiManager(map[string]any{"wildcardDomain": "example.test", "tenantName": "acme"})
	var all []appsv1.Deployment
	for _, n := range operator.ExpectedDeployments(am) {
		all = append(all, deployment(n, 1, 1, 1, true))
	}
	if len(all) != 12 {
		t.Fatalf("expected Deployments %d, want 12 (zync enabled, its database internal)", len(all))
	}
	var routes []unstructured.Unstructured
	for i, h := range operator.DefaultRouteHosts(am) {
		routes = append(routes, route(string(rune('a'+i)), h, true))
	}
	wantHosts := []string{"backend-acme.example.test", "api-acme-apicast-production.example.test", "api-acme-apicast-staging.example.test", "master.example.test", "acme.example.test", "acme-admin.example.test"}
	if got := operator.DefaultRouteHosts(am); !reflect.DeepEqual(got, wantHosts) {
		t.Fatalf("default route hosts %v, want %v", got, wantHosts)
	}
	t0, t1 := time.Unix(1000, 0), time.Unix(2000, 0)
	in := operator.StatusInputs{Owned: all, RoutesReady: operator.RoutesReady(am, routes), Now: t0}
	st := operator.ComputeStatus(am, operator.Status{}, in)
	if c := st.Conditions[0]; c.Type != "Available" || c.Status != "True" || c.LastTransitionTime != t0.UTC().Format(time.RFC3339) {
		t.Fatalf("all ready: %+v", st.Conditions)
	}
	in.Now = t1
	if again := operator.ComputeStatus(am, st, in); again.Conditions[0].LastTransitionTime != st.Conditions[0].LastTransitionTime {
		t.Errorf("lastTransitionTime moved without a transition: %+v", again.Conditions)
	}

	notAvailable := append([]appsv1.Deployment(nil), all...)
	notAvailable[3] = deployment(notAvailable[3].Name, 1, 1, 0, false)
	for name, tc := range map[string]operator.StatusInputs{
		"one Deployment not Available": {Owned: notAvailable, RoutesReady: true, Now: t1},
		"one Deployment not owned":     {Owned: all[1:], RoutesReady: true, Now: t1},
		"a Route not admitted":         {Owned: all, RoutesReady: operator.RoutesReady(am, append(routes[1:], route("z", routes[0].Object["spec"].(map[string]any)["host"].(string), true, false))), Now: t1},
		"a watched Secret missing":     {Owned: all, RoutesReady: true, MissingSecrets: []string{"zync"}, Now: t1},
	} {
		got := operator.ComputeStatus(am, st, tc)
		if c := got.Conditions[0]; c.Status != "False" || c.LastTransitionTime != t1.UTC().Format(time.RFC3339) {
			t.Errorf("%s: %+v, want Available False since %s", name, c, t1)
		}
	}
	// Without zync, its Deployments and Routes are not expected.
	off := apiManager(map[string]any{"wildcardDomain": "example.test", "zync": map[string]any{"enabled": false}})
	if n := len(operator.ExpectedDeployments(off)); n != 9 {
		t.Errorf("zync disabled: %d expected Deployments, want 9", n)
	}
	if hosts := operator.DefaultRouteHosts(off); !reflect.DeepEqual(hosts, []string{"backend-3scale.example.test"}) {
		t.Errorf("zync disabled: default route hosts %v", hosts)
	}
}
