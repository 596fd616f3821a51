package operator_test

import (
	"slices"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/threescale-chaos/harness/pkg/catalog"
	"github.com/threescale-chaos/harness/pkg/twin/operator"
)

// The twin's table and the harness catalog were written separately from the
// same research (1.2, 2.4); they must agree on every field.
func TestComponentsAgreeWithCatalog(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range operator.Components {
		if seen[c.Deployment] {
			t.Errorf("%s listed twice", c.Deployment)
		}
		seen[c.Deployment] = true
		cat, err := catalog.Lookup(c.Deployment)
		if err != nil {
			t.Errorf("%s: %v", c.Deployment, err)
			continue
		}
		if !slices.Equal(c.Replicas, cat.ReplicasField) {
			t.Errorf("%s: replicas field %v, catalog %v", c.Deployment, c.Replicas, cat.ReplicasField)
		}
		if !slices.Equal(c.HPA, cat.HPAField) {
			t.Errorf("%s: hpa field %v, catalog %v", c.Deployment, c.HPA, cat.HPAField)
		}
	}
	for _, cat := range catalog.All() {
		if cat.HasReplicasField() && !seen[cat.Name] {
			t.Errorf("catalog gives %s the field %v; the twin operator does not manage it", cat.Name, cat.ReplicasField)
		}
	}
	if len(operator.Components) != 9 {
		t.Errorf("%d components, research 2.2 lists 9", len(operator.Components))
	}
}

func TestDesiredReplicas(t *testing.T) {
	byName := map[string]operator.Component{}
	for _, c := range operator.Components {
		byName[c.Deployment] = c
	}
	cases := []struct {
		name, component string
		spec            map[string]any
		mode            operator.Mode
		replicas        int32
	}{
		{"absent", "backend-listener", map[string]any{}, operator.ModeUnmanaged, 0},
		{"null", "backend-listener", map[string]any{"backend": map[string]any{"listenerSpec": map[string]any{"replicas": nil}}}, operator.ModeUnmanaged, 0},
		{"set", "backend-listener", map[string]any{"backend": map[string]any{"listenerSpec": map[string]any{"replicas": int64(3)}}}, operator.ModeEnforced, 3},
		{"zero", "system-app", map[string]any{"system": map[string]any{"appSpec": map[string]any{"replicas": int64(0)}}}, operator.ModeEnforced, 0},
		{"hpa only", "backend-worker", map[string]any{"backend": map[string]any{"workerSpec": map[string]any{"hpa": true}}}, operator.ModeUnmanaged, 0},
		{"hpa and replicas", "apicast-production", map[string]any{"apicast": map[string]any{"productionSpec": map[string]any{"hpa": true, "replicas": int64(0)}}}, operator.ModeHPA, 1},
		{"hpa false", "apicast-production", map[string]any{"apicast": map[string]any{"productionSpec": map[string]any{"hpa": false, "replicas": int64(4)}}}, operator.ModeEnforced, 4},
		{"hpa on a component without one is not read", "apicast-staging", map[string]any{"apicast": map[string]any{"stagingSpec": map[string]any{"hpa": true, "replicas": int64(2)}}}, operator.ModeEnforced, 2},
		{"zync disabled", "zync-que", map[string]any{"zync": map[string]any{"enabled": false, "queSpec": map[string]any{"replicas": int64(1)}}}, operator.ModeZyncDisabled, 0},
		{"zync enabled", "zync", map[string]any{"zync": map[string]any{"enabled": true, "appSpec": map[string]any{"replicas": int64(2)}}}, operator.ModeEnforced, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			am := &unstructured.Unstructured{Object: map[string]any{"spec": tc.spec}}
			d, err := operator.DesiredReplicas(am, byName[tc.component])
			if err != nil {
				t.Fatal(err)
			}
			if d.Mode != tc.mode || (d.Manages() && d.Replicas != tc.replicas) {
				t.Fatalf("got %s %d, want %s %d", d.Mode, d.Replicas, tc.mode, tc.replicas)
			}
		})
	}
	bad := &unstructured.Unstructured{Object: map[string]any{"spec": map[string]any{"backend": map[string]any{"cronSpec": map[string]any{"replicas": "two"}}}}}
	if _, err := operator.DesiredReplicas(bad, byName["backend-cron"]); err == nil {
		t.Fatal("a string replicas was accepted")
	}
}
