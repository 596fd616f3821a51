package main

import (
	"bytes"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/threescale-chaos/harness/pkg/scenario"
	"github.com/threescale-chaos/harness/pkg/timing"
)

// The plan of a zync scenario says what the doc claims of zync that no capability samples:
// Routes, which cannot exist on a cluster without the Route API (kind), and the IdP sync.
// Other scenarios say nothing of it.
func TestPlanSaysWhyZyncRoutesAreNotSampled(t *testing.T) {
	kind := fake.NewSimpleClientset()
	openshift := fake.NewSimpleClientset()
	openshift.Resources = []*metav1.APIResourceList{{GroupVersion: "route.openshift.io/v1", APIResources: []metav1.APIResource{{Name: "routes", Kind: "Route"}}}}
	for _, tt := range []struct {
		file     string
		served   *bool
		want     string
		wantNone bool
	}{
		{file: "zync", served: routesServed(kind.Discovery()), want: "zync's Routes: cannot exist here; this cluster serves no route.openshift.io/v1 (kind"},
		{file: "zync-que", served: routesServed(openshift.Discovery()), want: "zync's Routes: not sampled; this cluster serves route.openshift.io/v1, but no capability reads"},
		{file: "zync-database", served: nil, want: "zync's Routes: not sampled; discovery could not tell"},
		{file: "backend-worker", served: routesServed(kind.Discovery()), wantNone: true},
	} {
		sc, err := scenario.LoadFile("../../scenarios/" + tt.file + ".yaml")
		if err != nil {
			t.Fatal(err)
		}
		var notes []string
		if zyncScenario(sc) {
			notes = zyncNotes(tt.served)
		}
		var b bytes.Buffer
		printPlan(&b, sc, nil, scenario.Observation{}, timing.Timeouts{}, notes...)
		out := b.String()
		if tt.wantNone {
			if strings.Contains(out, "zync's") {
				t.Errorf("%s: the plan speaks of zync:\n%s", tt.file, out)
			}
			continue
		}
		if !strings.Contains(out, "   "+tt.want) || !strings.Contains(out, "zync's identity-provider sync: not sampled") {
			t.Errorf("%s: plan lacks %q and the IdP line:\n%s", tt.file, tt.want, out)
		}
	}
}
