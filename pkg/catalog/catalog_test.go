package catalog

import (
	"errors"
	"maps"
	"strings"
	"testing"
)

func TestAllHasTheFifteenDocComponents(t *testing.T) {
	want := []string{
		"apicast-production", "apicast-staging", "backend-cron", "backend-listener",
		"backend-redis", "backend-worker", "system-app", "system-memcache",
		"system-mysql", "system-redis", "system-searchd", "system-sidekiq",
		"zync", "zync-database", "zync-que",
	}
	got := Names()
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("Names() = %v, want %v", got, want)
	}
	seen := map[string]bool{}
	for _, c := range All() {
		if c.DocSection == "" || c.LabelComponent == "" || c.LabelElement == "" {
			t.Errorf("%s: doc section and labels must be set: %+v", c.Name, c)
		}
		for _, n := range append([]string{c.Name}, c.Aliases...) {
			if seen[n] {
				t.Errorf("name %q used twice", n)
			}
			seen[n] = true
		}
	}
}

func TestLookup(t *testing.T) {
	for _, name := range []string{"system-sphinx", "system-searchd", " System-Searchd "} {
		c, err := Lookup(name)
		if err != nil {
			t.Fatalf("Lookup(%q): %v", name, err)
		}
		if c.Name != "system-searchd" || c.DocSection != "system-sphinx" {
			t.Errorf("Lookup(%q) = %s (doc %s), want system-searchd (doc system-sphinx)", name, c.Name, c.DocSection)
		}
	}

	_, err := Lookup("backend-listner")
	if !errors.Is(err, ErrUnknownComponent) {
		t.Fatalf("Lookup(typo) error = %v, want ErrUnknownComponent", err)
	}
	for _, want := range []string{`"backend-listner"`, "backend-listener", "system-searchd (alias system-sphinx)", "zync-que"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestWorkloadFor(t *testing.T) {
	tests := []struct {
		component, version string
		want               Workload
	}{
		{"backend-listener", "2.14", Workload{KindDeploymentConfig, "apps.openshift.io/v1", "backend-listener"}},
		{"backend-listener", "2.15", Workload{KindDeployment, "apps/v1", "backend-listener"}},
		{"system-searchd", "2.13.2", Workload{KindDeploymentConfig, "apps.openshift.io/v1", "system-sphinx"}},
		{"system-sphinx", "2.14.1", Workload{KindDeploymentConfig, "apps.openshift.io/v1", "system-searchd"}},
		{"system-searchd", "2.16.3", Workload{KindDeployment, "apps/v1", "system-searchd"}},
		{"zync-database", "2.12", Workload{KindDeploymentConfig, "apps.openshift.io/v1", "zync-database"}},
		{"system-redis", "2.16", Workload{KindDeployment, "apps/v1", "system-redis"}},
	}
	for _, tt := range tests {
		t.Run(tt.component+"@"+tt.version, func(t *testing.T) {
			c, err := Lookup(tt.component)
			if err != nil {
				t.Fatal(err)
			}
			got := c.WorkloadFor(MustParseVersion(tt.version))
			if got != tt.want {
				t.Errorf("WorkloadFor = %+v, want %+v", got, tt.want)
			}
		})
	}

	dc := Workload{Kind: KindDeploymentConfig, APIVersion: "apps.openshift.io/v1", Name: "zync"}
	if dc.Group() != "apps.openshift.io" || dc.Resource() != "deploymentconfigs" || dc.String() != "DeploymentConfig/zync" {
		t.Errorf("DC group/resource/string = %s %s %s", dc.Group(), dc.Resource(), dc)
	}
	if !maps.Equal(dc.SelectorLabels(), map[string]string{"deploymentConfig": "zync"}) {
		t.Errorf("DC selector = %v", dc.SelectorLabels())
	}
	d := Workload{Kind: KindDeployment, APIVersion: "apps/v1", Name: "zync"}
	if d.Group() != "apps" || d.Resource() != "deployments" || !maps.Equal(d.SelectorLabels(), map[string]string{"deployment": "zync"}) {
		t.Errorf("Deployment group/resource/selector = %s %s %v", d.Group(), d.Resource(), d.SelectorLabels())
	}
}

func TestPodSelectorIsTheSameAcrossTheMigration(t *testing.T) {
	for _, c := range All() {
		if c.Name == "system-searchd" {
			continue
		}
		dc, dep := c.PodSelector(MustParseVersion("2.14")), c.PodSelector(MustParseVersion("2.15"))
		if !maps.Equal(dc, dep) {
			t.Errorf("%s: selector changed across 2.15: %v vs %v", c.Name, dc, dep)
		}
		if _, ok := dc["deployment"]; ok {
			t.Errorf("%s: selector uses the era-specific deployment label", c.Name)
		}
	}
	s, _ := Lookup("system-searchd")
	if got := s.PodSelectorString(MustParseVersion("2.13")); got != "threescale_component=system,threescale_component_element=sphinx" {
		t.Errorf("searchd@2.13 selector = %s", got)
	}
	if got := s.PodSelectorString(MustParseVersion("2.14")); got != "threescale_component=system,threescale_component_element=searchd" {
		t.Errorf("searchd@2.14 selector = %s", got)
	}
}

func TestScalingOwnerFacts(t *testing.T) {
	withReplicas := map[string]string{
		"apicast-production": "spec.apicast.productionSpec.replicas",
		"apicast-staging":    "spec.apicast.stagingSpec.replicas",
		"backend-cron":       "spec.backend.cronSpec.replicas",
		"backend-listener":   "spec.backend.listenerSpec.replicas",
		"backend-worker":     "spec.backend.workerSpec.replicas",
		"system-app":         "spec.system.appSpec.replicas",
		"system-sidekiq":     "spec.system.sidekiqSpec.replicas",
		"zync":               "spec.zync.appSpec.replicas",
		"zync-que":           "spec.zync.queSpec.replicas",
	}
	hpa := map[string]bool{"apicast-production": true, "backend-listener": true, "backend-worker": true}
	external := map[string]bool{"backend-redis": true, "system-redis": true, "system-mysql": true}
	v214, v215, v216 := MustParseVersion("2.14"), MustParseVersion("2.15"), MustParseVersion("2.16.3")

	for _, c := range All() {
		if want, ok := withReplicas[c.Name]; ok {
			if c.ReplicasField.String() != want {
				t.Errorf("%s: replicas field %q, want %q", c.Name, c.ReplicasField, want)
			}
		} else if c.HasReplicasField() {
			t.Errorf("%s: has replicas field %q, want none", c.Name, c.ReplicasField)
		}
		if c.SupportsHPA(v215) != hpa[c.Name] {
			t.Errorf("%s: SupportsHPA(2.15) = %v", c.Name, c.SupportsHPA(v215))
		}
		if c.SupportsHPA(v214) {
			t.Errorf("%s: SupportsHPA(2.14) must be false (hpa switches arrived in 2.15)", c.Name)
		}
		if !c.OperatorManaged(v215) {
			t.Errorf("%s: must be operator-managed on 2.15", c.Name)
		}
		if c.OperatorManaged(v216) == external[c.Name] {
			t.Errorf("%s: OperatorManaged(2.16) = %v", c.Name, c.OperatorManaged(v216))
		}
	}
}

func TestReturnedValuesAreCopies(t *testing.T) {
	c, _ := Lookup("system-searchd")
	c.Aliases[0] = "changed"
	c.ReplicasField = append(c.ReplicasField, "x")
	again, _ := Lookup("system-sphinx")
	if again.Aliases[0] != "system-sphinx" {
		t.Fatal("changing a returned Component changed the catalog")
	}
}

// The operator's reconcile order at 3scale-2.16.3-GA (controllers/apps/apimanager_controller.go
// reconcileAPIManagerLogic): backend, memcached, system-searchd, then system (system-app,
// system-sidekiq), zync (zync, zync-que, zync-database) and APIcast; everything after
// system-searchd waits for it from 2.15 (GatedSince), nothing before it does.
func TestGateFor(t *testing.T) {
	gated := map[string]bool{
		"system-app": true, "system-sidekiq": true, "zync": true, "zync-que": true,
		"zync-database": true, "apicast-production": true, "apicast-staging": true,
	}
	for _, c := range All() {
		want := ""
		if gated[c.Name] {
			want = "system-searchd"
		}
		if got := c.GateFor(V2_16); got != want {
			t.Errorf("%s.GateFor(2.16) = %q, want %q", c.Name, got, want)
		}
		if got := c.GateFor(V2_14); got != "" {
			t.Errorf("%s.GateFor(2.14) = %q: the 2.14 operator has no searchd gate", c.Name, got)
		}
	}
}

// Every switch that makes a component absent says what the operator does, with its source.
func TestAbsentSwitchesSayWhy(t *testing.T) {
	for _, c := range All() {
		for _, sw := range c.AbsentWhen {
			if !strings.Contains(sw.Why, "operator@3scale-2.16.3-GA") {
				t.Errorf("%s %s: Why %q cites no operator source", c.Name, sw.Field, sw.Why)
			}
		}
		if !c.ExternalFrom.IsZero() && !strings.Contains(c.ExternalWhy, "operator@3scale-2.16.3-GA") {
			t.Errorf("%s: ExternalWhy %q cites no operator source", c.Name, c.ExternalWhy)
		}
	}
}
