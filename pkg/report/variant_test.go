package report

import (
	"bytes"
	"strings"
	"testing"

	"github.com/threescale-chaos/harness/pkg/catalog"
	"github.com/threescale-chaos/harness/pkg/scenario"
)

// A variant is recorded under its file's name and its component, with the policies it put in
// the product's chain (an added field); a plain scenario is written without the field.
func TestVariantInTheJournal(t *testing.T) {
	c, err := catalog.Lookup("backend-listener")
	if err != nil {
		t.Fatal(err)
	}
	v := NewScenario(scenario.Scenario{Path: "scenarios/backend-listener-caching-allow.yaml", Name: "backend-listener-caching-allow",
		Component: c, Components: []catalog.Component{c},
		Product: &scenario.Product{Policies: []scenario.Policy{{Name: "caching", Configuration: map[string]string{"caching_type": "allow"}}}}}, t0)
	if v.Name != "backend-listener-caching-allow" || v.Component != "backend-listener" {
		t.Errorf("name %q, component %q; want the file's name and the component", v.Name, v.Component)
	}
	plain := NewScenario(scenario.Scenario{Path: "scenarios/backend-listener.yaml", Name: "backend-listener", Component: c, Components: []catalog.Component{c}}, t0)
	j := New("run-8", t0, Target{Namespace: "3scale"})
	j.Scenarios = []ScenarioResult{v, plain}
	j.Conclude()
	var b bytes.Buffer
	if err := j.Encode(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if n := strings.Count(out, `"productPolicies"`); n != 1 || !strings.Contains(strings.Join(strings.Fields(out), ""), `"productPolicies":[{"name":"caching","configuration":{"caching_type":"allow"}}]`) {
		t.Errorf("productPolicies written %d times, want once, for the variant:\n%s", n, out)
	}
	back, err := Decode(&b)
	if err != nil {
		t.Fatal(err)
	}
	if got := back.Scenarios[0].ProductPolicies; len(got) != 1 || got[0].Configuration["caching_type"] != "allow" {
		t.Errorf("read back %v", got)
	}
	if k := scenarioKey(back.Scenarios[0]); k != "backend-listener/backend-listener-caching-allow" {
		t.Errorf("diff key %q: a variant must not be compared with its component's plain file", k)
	}
}
