package deploy_test

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/threescale-chaos/harness/pkg/twin/deploy"
)

// notComponent are the twin's Deployments that are not 3scale components: the upstream API and
// the operator (which carries the operator's own labels, research/3scale-operator.md §2.8).
var notComponent = map[string]bool{"echo-api": true, "threescale-operator-controller-manager-v2": true}

func testValues(t *testing.T) deploy.Values {
	t.Helper()
	v, err := deploy.NewValues("3scale", "/opt/twin/threescale-twin", t.TempDir())
	if err != nil {
		t.Fatalf("values: %v", err)
	}
	return v
}

// Every rendered Deployment carries the operator's labels and selector
// (research/3scale-operator.md §1.3), runs on the host network, and names no secret value
// in its spec: secrets reach containers through secretKeyRef only.
func TestRenderedDeploymentsFollowTheOperator(t *testing.T) {
	v := testValues(t)
	objs, err := deploy.Render(v)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, o := range objs {
		if o.GetKind() != "Deployment" {
			continue
		}
		name := o.GetName()
		seen[name] = true
		if notComponent[name] {
			continue
		}
		sel, _, _ := unstructuredString(o.Object, "spec", "selector", "matchLabels", "deployment")
		if sel != name {
			t.Errorf("%s: selector deployment=%q, want %q", name, sel, name)
		}
		podLabels, _, _ := unstructuredMap(o.Object, "spec", "template", "metadata", "labels")
		if podLabels["deployment"] != name {
			t.Errorf("%s: pod label deployment=%v", name, podLabels["deployment"])
		}
		for _, k := range []string{"app", "threescale_component", "threescale_component_element"} {
			if podLabels[k] == nil || o.GetLabels()[k] == "" {
				t.Errorf("%s: missing operator label %s", name, k)
			}
		}
		if hn, _, _ := unstructuredBool(o.Object, "spec", "template", "spec", "hostNetwork"); !hn {
			t.Errorf("%s: not hostNetwork: the local node would not run it", name)
		}
		spec := toJSON(t, o.Object["spec"])
		for _, s := range []string{v.Secrets.AdminAccessToken, v.Secrets.MasterAccessToken, v.Secrets.BackendInternalPassword, v.Secrets.ZyncToken, v.Secrets.ZyncDatabasePassword} {
			if strings.Contains(spec, s) {
				t.Errorf("%s: a secret value is written into the Deployment spec", name)
			}
		}
	}
	for _, want := range []string{"backend-redis", "system-redis", "system-memcache", "zync-database", "backend-listener", "backend-worker", "backend-cron", "echo-api"} {
		if !seen[want] {
			t.Errorf("no Deployment %s rendered", want)
		}
	}
}

// Bad values fail to render with the template and the reason, never a half-rendered set.
func TestRenderRejectsMissingValues(t *testing.T) {
	v := testValues(t)
	v.UIDs = map[string]int64{}
	if _, err := deploy.Render(v); err == nil || !strings.Contains(err.Error(), "10-datastores.yaml.tmpl") {
		t.Fatalf("want an error naming the template, got %v", err)
	}
}

// Every port moves with Shifted, so two twins never share one.
func TestShiftedMovesEveryPort(t *testing.T) {
	base, shifted := deploy.DefaultPorts(), deploy.DefaultPorts().Shifted(100)
	bv, sv := reflect.ValueOf(base), reflect.ValueOf(shifted)
	for i := 0; i < bv.NumField(); i++ {
		if sv.Field(i).Int() != bv.Field(i).Int()+100 {
			t.Errorf("port %s not shifted: %d -> %d", bv.Type().Field(i).Name, bv.Field(i).Int(), sv.Field(i).Int())
		}
	}
}

// operatorOwned are the rendered objects the operator creates (research/real-operator-check.md
// §2.2); every other object is the user's, or the twin's own.
var operatorOwned = map[string]bool{
	"Deployment/apicast-production": true, "Deployment/apicast-staging": true, "Deployment/backend-cron": true,
	"Deployment/backend-listener": true, "Deployment/backend-worker": true, "Deployment/system-app": true,
	"Deployment/system-memcache": true, "Deployment/system-searchd": true, "Deployment/system-sidekiq": true,
	"Deployment/zync": true, "Deployment/zync-database": true, "Deployment/zync-que": true,
	"Service/apicast-production": true, "Service/apicast-staging": true, "Service/backend-listener": true,
	"Service/system-provider": true, "Service/system-master": true, "Service/system-developer": true,
	"Service/system-memcache": true, "Service/system-searchd": true, "Service/zync": true, "Service/zync-database": true,
	"ConfigMap/apicast-environment": true, "ServiceAccount/amp": true, "ServiceAccount/zync-que-sa": true,
	"Role/zync-que-role": true, "RoleBinding/zync-que-rolebinding": true,
}

// With the APIManager's uid known, exactly the operator's objects name it as their controller
// (SetControllerOwnerReference, never on Secrets), and the operator's pod templates carry the
// metering labels (operator@3scale-2.16.3-GA pkg/helper/labels.go MeteringLabels).
func TestRenderedOwnershipAndMeteringLabels(t *testing.T) {
	v := testValues(t)
	v.OwnerUID = "0b5e3c1a-uid"
	objs, err := deploy.Render(v)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, o := range objs {
		key := o.GetKind() + "/" + o.GetName()
		refs := o.GetOwnerReferences()
		isOwned := len(refs) == 1 && refs[0].Kind == "APIManager" && refs[0].Name == deploy.APIManagerName &&
			string(refs[0].UID) == v.OwnerUID && refs[0].Controller != nil && *refs[0].Controller
		if isOwned != operatorOwned[key] {
			t.Errorf("%s: owned by the APIManager = %v (%+v), want %v", key, isOwned, refs, operatorOwned[key])
		}
		seen[key] = true
		if o.GetKind() != "Deployment" {
			continue
		}
		podLabels, _, _ := unstructured.NestedStringMap(o.Object, "spec", "template", "metadata", "labels")
		if got, want := podLabels["rht.comp_ver"] == "2.16" && podLabels["rht.subcomp"] == o.GetName(), operatorOwned[key]; got != want {
			t.Errorf("%s: metering labels present = %v, want %v (%v)", key, got, want, podLabels)
		}
	}
	for key := range operatorOwned {
		if !seen[key] {
			t.Errorf("%s not rendered", key)
		}
	}
	// Before Up knows the uid, nothing names an owner.
	v.OwnerUID = ""
	objs, err = deploy.Render(v)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if len(o.GetOwnerReferences()) > 0 {
			t.Errorf("%s/%s has owners without an APIManager uid", o.GetKind(), o.GetName())
		}
	}
}

// backend-cron runs with the operator's environment: no reschedule period, so apisonator's
// default of 300 s applies (operator@3scale-2.16.3-GA pkg/3scale/amp/component/backend.go
// CronDeployment sets none; apisonator@3scale-2.16.4-GA openshift/backend-cron
// DEFAULT_RESCHEDULE_JOBS_FREQ). The harness's failed-job bound is tested on that period.
func TestBackendCronKeepsApisonatorsReschedulePeriod(t *testing.T) {
	objs, err := deploy.Render(testValues(t))
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, o := range objs {
		if o.GetKind() != "Deployment" || o.GetName() != "backend-cron" {
			continue
		}
		found = true
		ctrs, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
		for _, c := range ctrs {
			env, _, _ := unstructured.NestedSlice(c.(map[string]any), "env")
			for _, e := range env {
				if n := e.(map[string]any)["name"]; n == "RESCHEDULE_JOBS_FREQ" || n == "RESCHEDULE_EVERY" {
					t.Errorf("backend-cron sets %v; the operator leaves apisonator's 300 s", n)
				}
			}
		}
	}
	if !found {
		t.Fatal("no backend-cron Deployment rendered")
	}
}

// apicast-production refreshes its configuration every 300 s, as the operator deploys it,
// unless the deploy asks for another period; staging keeps its lazy loader with no cache.
func TestProductionConfigCache(t *testing.T) {
	for _, tc := range []struct {
		set        time.Duration
		production string
	}{{0, "300"}, {60 * time.Second, "60"}} {
		v := testValues(t)
		v.ProductionConfigCache = tc.set
		objs, err := deploy.Render(v)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, o := range objs {
			if o.GetKind() != "Deployment" || !strings.HasPrefix(o.GetName(), "apicast-") {
				continue
			}
			ctrs, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
			for _, c := range ctrs {
				env, _, _ := unstructured.NestedSlice(c.(map[string]any), "env")
				for _, e := range env {
					if m := e.(map[string]any); m["name"] == "APICAST_CONFIGURATION_CACHE" {
						got[o.GetName()] = fmt.Sprint(m["value"])
					}
				}
			}
		}
		if got["apicast-production"] != tc.production || got["apicast-staging"] != "0" {
			t.Errorf("ProductionConfigCache %v: APICAST_CONFIGURATION_CACHE = %v, want production %s and staging 0", tc.set, got, tc.production)
		}
	}
}
