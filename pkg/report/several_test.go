package report

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/threescale-chaos/harness/pkg/catalog"
	"github.com/threescale-chaos/harness/pkg/scenario"
)

// A scenario of several components names them in the journal (an added field) and the
// report; a scenario of one component is written as before, without the field.
func TestScenarioOfSeveralComponents(t *testing.T) {
	var comps []catalog.Component
	for _, name := range []string{"system-app", "system-sidekiq"} {
		c, err := catalog.Lookup(name)
		if err != nil {
			t.Fatal(err)
		}
		comps = append(comps, c)
	}
	multi := NewScenario(scenario.Scenario{Path: "scenarios/system-app-sidekiq.yaml", Name: "system-app-sidekiq", Component: comps[0], Components: comps}, t0)
	if multi.Name != "system-app-sidekiq" || multi.Component != "system-app-sidekiq" || !slices.Equal(multi.Components, []string{"system-app", "system-sidekiq"}) {
		t.Errorf("name %q, component %q, components %v", multi.Name, multi.Component, multi.Components)
	}
	single := NewScenario(scenario.Scenario{Path: "scenarios/system-app.yaml", Name: "system-app", Component: comps[0], Components: comps[:1]}, t0)
	if single.Component != "system-app" || single.Components != nil {
		t.Errorf("single: component %q, components %v", single.Component, single.Components)
	}

	j := New("run-7", t0, Target{Namespace: "3scale"})
	j.Scenarios = []ScenarioResult{single, multi}
	j.Conclude()
	var b bytes.Buffer
	if err := j.Encode(&b); err != nil {
		t.Fatal(err)
	}
	var raw struct {
		Schema    string           `json:"schema"`
		Scenarios []map[string]any `json:"scenarios"`
	}
	if err := json.Unmarshal(b.Bytes(), &raw); err != nil {
		t.Fatal(err)
	}
	if raw.Schema != Schema || Schema != "threescale-chaos.journal/v1" {
		t.Errorf("schema %q", raw.Schema)
	}
	if _, ok := raw.Scenarios[0]["components"]; ok {
		t.Errorf("a single-component scenario has a components field: %v", raw.Scenarios[0])
	}
	if got, _ := json.Marshal(raw.Scenarios[1]["components"]); string(got) != `["system-app","system-sidekiq"]` {
		t.Errorf("components %s", got)
	}
	back, err := Decode(bytes.NewReader(b.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(back.Scenarios[1].Components, multi.Components) {
		t.Errorf("read back %v", back.Scenarios[1].Components)
	}

	var page strings.Builder
	if err := j.RenderHTML(&page); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(page.String(), "system-app-sidekiq (down together: system-app, system-sidekiq)") {
		t.Error("the report does not name the components")
	}
}
