package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/threescale-chaos/harness/pkg/scenario"
	"github.com/threescale-chaos/harness/pkg/timing"
)

// --component picks a variant by its file's name, and a component's name picks its own file
// only; plan shows the variant's chain.
func TestVariantSelectedAndPlanned(t *testing.T) {
	for _, tt := range []struct {
		component string
		want      []string
	}{
		{"backend-listener-caching-resilient", []string{"backend-listener-caching-resilient"}},
		{"backend-listener", []string{"backend-listener"}},
		{"backend-listener-caching-allow,backend-listener", []string{"backend-listener-caching-allow", "backend-listener"}},
	} {
		c := common{scenarioDir: "../../scenarios", components: strings.Split(tt.component, ",")}
		scs, err := c.scenarios()
		if err != nil {
			t.Fatalf("--component %s: %v", tt.component, err)
		}
		var got []string
		for _, sc := range scs {
			got = append(got, sc.Name)
		}
		if strings.Join(got, " ") != strings.Join(tt.want, " ") {
			t.Errorf("--component %s selects %v, want %v", tt.component, got, tt.want)
		}
	}

	sc, err := scenario.LoadFile("../../scenarios/backend-listener-caching-resilient.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	printPlan(&b, sc, nil, scenario.Observation{}, timing.Timeouts{})
	want := "   variant: the run's product runs caching{caching_type: resilient}, then the APIcast policy from before the steady state"
	if !strings.Contains(b.String(), want) {
		t.Errorf("plan lacks %q:\n%s", want, b.String())
	}
}
