package deploy_test

import (
	"reflect"
	"strings"
	"testing"

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
