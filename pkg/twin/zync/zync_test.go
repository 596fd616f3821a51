package zync

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/threescale-chaos/harness/internal/testsupport"
	"github.com/threescale-chaos/harness/pkg/twin/cluster"
)

func TestQueRetryDelay(t *testing.T) {
	for n, want := range map[int]time.Duration{1: 4 * time.Second, 2: 19 * time.Second, 3: 84 * time.Second, 15: 50628 * time.Second} {
		if got := QueRetryDelay(n); got != want {
			t.Errorf("QueRetryDelay(%d) = %v, want %v", n, got, want)
		}
	}
}

func TestTokenFromHeader(t *testing.T) {
	for h, want := range map[string]string{
		`Token token="abc"`:            "abc",
		`Token token="abc", nonce="x"`: "abc",
		`Token token=abc`:              "abc",
		`Token abc`:                    "abc",
		`Bearer abc`:                   "abc",
		`Basic abc`:                    "",
		``:                             "",
	} {
		if got, _ := tokenFromHeader(h); got != want {
			t.Errorf("tokenFromHeader(%q) = %q, want %q", h, got, want)
		}
	}
}

// A tenant and a notification become a que job; zync-que fetches the entity from system and
// records it.
func TestNotificationIsProcessed(t *testing.T) {
	e := newTestEnv(t)
	e.startAPI()

	if code, _ := e.put("/tenant", "", map[string]any{"id": testTenantID}); code != http.StatusUnauthorized {
		t.Errorf("PUT /tenant without a token: %d, want 401", code)
	}
	if code, _ := e.put("/tenant", "wrong", map[string]any{"id": testTenantID}); code != http.StatusUnauthorized {
		t.Errorf("PUT /tenant with a wrong token: %d, want 401", code)
	}
	if code, body := e.notify("Application", 7, map[string]any{"service_id": 1}); code != http.StatusNotFound {
		t.Errorf("notification for an unknown tenant: %d %s, want 404", code, body)
	}
	code, body := e.put("/tenant", testZyncToken, map[string]any{"tenant": map[string]any{
		"id": testTenantID, "endpoint": e.system.srv.URL, "access_token": testSystemToken}})
	if code != http.StatusCreated {
		t.Fatalf("first PUT /tenant: %d %s, want 201", code, body)
	}
	if code, body := e.put("/tenant", testZyncToken, map[string]any{
		"id": testTenantID, "endpoint": e.system.srv.URL, "access_token": testSystemToken}); code != http.StatusOK {
		t.Errorf("second PUT /tenant: %d %s, want 200", code, body)
	}
	if code, body := e.notify("Bogus", 1, nil); code != http.StatusUnprocessableEntity {
		t.Errorf("notification of type Bogus: %d %s, want 422", code, body)
	}
	if code, body := e.notify("Application", 7, nil); code != http.StatusUnprocessableEntity {
		t.Errorf("Application without service_id: %d %s, want 422", code, body)
	}

	e.mustNotify("Application", 7, map[string]any{"service_id": 1})
	e.mustNotify("Application", 901, map[string]any{"service_id": 1}) // deleted in system
	e.mustNotify("Provider", testTenantID, nil)
	e.mustNotify("Service", 1, nil)
	if n := e.mustQuery(pendingJobs+` AND job_class = $1 AND args->0->>'job_class' = 'UpdateJob'`, activeJobWrapper); n != 4 {
		t.Fatalf("pending UpdateJobs = %d, want 4", n)
	}
	if code, body := e.get("/status/ready"); code != http.StatusOK || !strings.Contains(body, `"database"`) {
		t.Errorf("/status/ready: %d %s", code, body)
	}

	stop := e.startQue(nil, "")
	e.waitCount(20*time.Second, 0, pendingJobs)
	if n := e.mustQuery(`SELECT count(*) FROM entries e JOIN models m ON m.id = e.model_id
		WHERE m.record_type = 'Application' AND m.record_id = 7 AND e.data->'application'->>'id' = '7'`); n != 1 {
		t.Errorf("entries for application 7 = %d, want 1", n)
	}
	if n := e.mustQuery(`SELECT count(*) FROM entries e JOIN models m ON m.id = e.model_id
		WHERE m.record_type = 'Application' AND m.record_id = 901 AND e.data IS NULL`); n != 1 {
		t.Errorf("nil entries for deleted application 901 = %d, want 1", n)
	}
	if n := e.mustQuery(`SELECT count(*) FROM entries e JOIN models m ON m.id = e.model_id
		WHERE m.record_type = 'Provider' AND e.data->'account'->>'id' IS NOT NULL`); n != 1 {
		t.Errorf("provider entries = %d, want 1", n)
	}
	if n := e.mustQuery(`SELECT count(*) FROM entries`); n != 4 {
		t.Errorf("entries = %d, want 4", n)
	}
	e.waitCount(10*time.Second, 1, `SELECT count(*) FROM que_lockers`)
	stop()
	if n := e.mustQuery(`SELECT count(*) FROM que_lockers`); n != 0 {
		t.Errorf("que_lockers after a clean stop = %d, want 0", n)
	}
}

// While zync-que is down notifications are accepted and jobs accumulate, one per distinct
// model; they drain when zync-que starts (research/porta-zync.md §5.3 "zync-que down").
func TestJobsAccumulateWhileQueIsDown(t *testing.T) {
	e := newTestEnv(t)
	e.startAPI()
	e.putTenant()
	for id := 1; id <= 5; id++ {
		e.mustNotify("Application", id, map[string]any{"service_id": 1})
	}
	for range 3 {
		e.mustNotify("Application", 1, map[string]any{"service_id": 1})
	}
	if n := e.mustQuery(pendingJobs); n != 5 {
		t.Errorf("pending jobs = %d, want 5 (deduplicated per model)", n)
	}
	if n := e.mustQuery(`SELECT count(*) FROM notifications`); n != 8 {
		t.Errorf("notifications = %d, want 8", n)
	}
	if n := e.mustQuery(`SELECT count(*) FROM que_lockers`); n != 0 {
		t.Errorf("que_lockers with no zync-que = %d, want 0", n)
	}
	e.startQue(nil, "")
	e.waitCount(20*time.Second, 0, pendingJobs)
	if n := e.mustQuery(`SELECT count(DISTINCT model_id) FROM entries`); n != 5 {
		t.Errorf("models with entries = %d, want 5", n)
	}
}

// PostgreSQL going away makes /status/live and the PUTs fail fast with 500 while
// /status/ready stays 200 (research/porta-zync.md §5.3); when it is back both processes
// recover without a restart.
func TestDatabaseOutageAndRecovery(t *testing.T) {
	e := newTestEnv(t)
	e.startAPI()
	e.putTenant()
	e.startQue(nil, "")
	e.mustNotify("Application", 1, map[string]any{"service_id": 1})
	e.waitCount(20*time.Second, 1, `SELECT count(*) FROM entries`)
	e.waitCount(10*time.Second, 1, `SELECT count(*) FROM que_lockers`)

	e.pg.stop()
	testsupport.Eventually(t, 15*time.Second, "/status/live failing", func(context.Context) (bool, string) {
		code, body := e.get("/status/live")
		return code == http.StatusInternalServerError, fmt.Sprintf("%d %s", code, body)
	})
	for i := range 3 {
		start := time.Now()
		code, body := e.notify("Application", 10+i, map[string]any{"service_id": 1})
		took := time.Since(start)
		if code < 500 || code > 599 {
			t.Errorf("PUT /notification with PostgreSQL down: %d %s, want 5xx", code, body)
		}
		if took > 3*time.Second {
			t.Errorf("PUT /notification with PostgreSQL down took %v, want a quick failure", took)
		}
	}
	if code, _ := e.put("/tenant", testZyncToken, map[string]any{
		"id": testTenantID, "endpoint": e.system.srv.URL, "access_token": testSystemToken}); code != http.StatusInternalServerError {
		t.Errorf("PUT /tenant with PostgreSQL down: %d, want 500", code)
	}
	if code, body := e.get("/status/ready"); code != http.StatusOK {
		t.Errorf("/status/ready with PostgreSQL down: %d %s, want 200", code, body)
	}

	e.pg.start() // same data directory: the schema and the tenant survive
	testsupport.Eventually(t, 20*time.Second, "/status/live recovering", func(context.Context) (bool, string) {
		code, body := e.get("/status/live")
		return code == http.StatusOK, fmt.Sprintf("%d %s", code, body)
	})
	testsupport.Eventually(t, 10*time.Second, "PUT /notification accepted again", func(context.Context) (bool, string) {
		code, body := e.notify("Application", 20, map[string]any{"service_id": 1})
		return code == http.StatusCreated, fmt.Sprintf("%d %s", code, body)
	})
	e.waitCount(20*time.Second, 0, pendingJobs)
	e.waitCount(10*time.Second, 1, `SELECT count(*) FROM entries e JOIN models m ON m.id = e.model_id
		WHERE m.record_type = 'Application' AND m.record_id = 20`)
	e.waitCount(10*time.Second, 1, `SELECT count(*) FROM que_lockers`)
}

// A job whose fetch fails is kept with error_count, last_error_message and run_at pushed back
// by que's back-off (research/porta-zync.md §5.2 "Retries").
func TestSystemErrorIsRetried(t *testing.T) {
	e := newTestEnv(t)
	e.startAPI()
	e.putTenant()
	e.system.setStatus(http.StatusInternalServerError)
	e.mustNotify("Application", 3, map[string]any{"service_id": 1})
	e.startQue(nil, "")

	e.waitCount(10*time.Second, 1, pendingJobs+` AND error_count = 1`)
	if n := e.mustQuery(pendingJobs + ` AND last_error_message LIKE '%system answered 500%'
		AND run_at > now() + interval '2 seconds' AND run_at <= now() + interval '4 seconds'`); n != 1 {
		t.Errorf("after the first failure: no job with the error and run_at ≈ now+4s")
	}
	// The first retry is due 4s later (1⁴+3) and fails again; the next is 19s (2⁴+3) away.
	e.waitCount(15*time.Second, 1, pendingJobs+` AND error_count = 2`)
	if n := e.mustQuery(pendingJobs + ` AND run_at > now() + interval '15 seconds'`); n != 1 {
		t.Errorf("after the second failure: run_at not pushed ≈19s back")
	}
	if n := e.mustQuery(`SELECT count(*) FROM entries`); n != 0 {
		t.Errorf("entries while system fails = %d, want 0", n)
	}

	e.system.setStatus(0)
	// Rather than wait 19s, the test makes the retry due now.
	e.exec(`UPDATE que_jobs SET run_at = now()`)
	e.waitCount(10*time.Second, 0, `SELECT count(*) FROM que_jobs`)
	if n := e.mustQuery(`SELECT count(*) FROM entries`); n != 1 {
		t.Errorf("entries after system recovered = %d, want 1", n)
	}
}

// A Proxy notification makes zync-que create the zync-3scale-api-* Routes for the production
// and staging gateways, and remove them once the product is no longer hosted
// (research/porta-zync.md §5.2 "Routes").
func TestProxyNotificationCreatesRoutes(t *testing.T) {
	_, err := cluster.FindBinaries("", "")
	testsupport.Require(t, err == nil, fmt.Sprintf("the local control plane binaries (%v)", err))
	e := newTestEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cp, err := cluster.StartControlPlane(ctx, cluster.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatalf("start control plane: %v", err)
	}
	defer func() { _ = cp.Stop() }()
	dc, err := dynamic.NewForConfig(cp.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	installRouteCRD(t, dc)

	e.startAPI()
	e.putTenant()
	e.startQue(cp.RESTConfig(), "default")
	e.mustNotify("Proxy", 11, map[string]any{"service_id": 1})

	routes := dc.Resource(RouteGVR).Namespace("default")
	selector := LabelCreatedBy + "=zync," + LabelRecord + "=" + recordLabel("Proxy", 11)
	var got []unstructured.Unstructured
	testsupport.Eventually(t, 20*time.Second, "two zync routes", func(ctx context.Context) (bool, string) {
		l, err := routes.List(ctx, metav1.ListOptions{LabelSelector: selector})
		if err != nil {
			return false, err.Error()
		}
		got = l.Items
		return len(got) == 2, fmt.Sprintf("%d routes", len(got))
	})
	want := map[string]string{
		"apicast-production": "api-3scale-apicast-production.example.test",
		"apicast-staging":    "api-3scale-apicast-staging.example.test",
	}
	for _, r := range got {
		to, _, _ := unstructured.NestedString(r.Object, "spec", "to", "name")
		host, _, _ := unstructured.NestedString(r.Object, "spec", "host")
		port, _, _ := unstructured.NestedString(r.Object, "spec", "port", "targetPort")
		tls, _, _ := unstructured.NestedString(r.Object, "spec", "tls", "termination")
		if want[to] != host || port != "gateway" || tls != "edge" || !strings.HasPrefix(r.GetName(), ProxyRoutePrefix) {
			t.Errorf("route %s: to=%s host=%s port=%s tls=%s", r.GetName(), to, host, port, tls)
		}
	}
	e.waitCount(10*time.Second, 1, `SELECT count(*) FROM integration_states WHERE success`)

	// The product turns self-managed: the next notification removes its routes.
	e.system.setDeploymentOption("self_managed")
	e.mustNotify("Proxy", 11, map[string]any{"service_id": 1})
	testsupport.Eventually(t, 20*time.Second, "routes removed for a self-managed product", func(ctx context.Context) (bool, string) {
		l, err := routes.List(ctx, metav1.ListOptions{LabelSelector: selector})
		if err != nil {
			return false, err.Error()
		}
		return len(l.Items) == 0, fmt.Sprintf("%d routes", len(l.Items))
	})
}

// installRouteCRD registers a minimal route.openshift.io/v1 Route CRD and waits until Routes
// can be listed.
func installRouteCRD(t *testing.T, dc dynamic.Interface) {
	t.Helper()
	crd := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiextensions.k8s.io/v1",
		"kind":       "CustomResourceDefinition",
		"metadata":   map[string]any{"name": "routes.route.openshift.io"},
		"spec": map[string]any{
			"group": "route.openshift.io",
			"scope": "Namespaced",
			"names": map[string]any{"plural": "routes", "singular": "route", "kind": "Route", "listKind": "RouteList"},
			"versions": []any{map[string]any{
				"name": "v1", "served": true, "storage": true,
				"schema": map[string]any{"openAPIV3Schema": map[string]any{
					"type": "object", "x-kubernetes-preserve-unknown-fields": true,
				}},
			}},
		},
	}}
	crdGVR := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	if _, err := dc.Resource(crdGVR).Create(context.Background(), crd, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create Route CRD: %v", err)
	}
	testsupport.Eventually(t, 30*time.Second, "Route CRD served", func(ctx context.Context) (bool, string) {
		_, err := dc.Resource(RouteGVR).Namespace("default").List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		return true, ""
	})
}
