package scenario

import (
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/threescale-chaos/harness/pkg/catalog"
)

const scenarioDir = "../../scenarios"

func loadRepoScenarios(t *testing.T) map[string]Scenario {
	t.Helper()
	all, err := LoadDir(scenarioDir)
	if err != nil {
		t.Fatalf("LoadDir(%s):\n%v", scenarioDir, err)
	}
	byName := make(map[string]Scenario, len(all))
	for _, s := range all {
		byName[s.Name] = s
	}
	return byName
}

func TestRepoScenariosCoverEveryComponent(t *testing.T) {
	byName := loadRepoScenarios(t)
	single := 0
	for _, s := range byName {
		if !s.Multi() && !s.Variant() {
			single++
		}
	}
	if single != len(catalog.All()) {
		t.Errorf("%d single-component scenarios, want one per catalog component (%d)", single, len(catalog.All()))
	}
	for _, c := range catalog.All() {
		s, ok := byName[c.Name]
		if !ok {
			t.Errorf("no scenario for %s", c.Name)
			continue
		}
		if got := filepath.Base(s.Path); got != c.Name+".yaml" {
			t.Errorf("%s: file is %s, want %s.yaml", c.Name, got, c.Name)
		}
		if s.Doc.Section != c.DocSection {
			t.Errorf("%s: doc.section %q, want the doc's heading %q", s.Path, s.Doc.Section, c.DocSection)
		}
	}
}

// TestRepoScenariosMatchTheDesignMatrix cross-checks key cells against the starting
// matrix the project was designed to (the cells below, read from 3scale's documentation
// of component failures; a cell not in it is kept). Cells the research refined
// (and that carry a doc gap) are checked in TestRepoScenariosEncodeTheResearch.
func TestRepoScenariosMatchTheDesignMatrix(t *testing.T) {
	byName := loadRepoScenarios(t)
	cells := []struct {
		component  string
		capability Capability
		want       Expect
	}{
		{"apicast-production", ProductionTraffic, Lost},
		{"apicast-production", StagingTraffic, Kept},
		{"apicast-staging", StagingTraffic, Lost},
		{"apicast-staging", ProductionTraffic, Kept},
		{"backend-cron", FailedJobRescheduling, Deferred},
		{"backend-listener", ProductionTraffic, Lost},
		{"backend-listener", StagingTraffic, Lost},
		{"backend-listener", RateLimiting, Lost},
		{"backend-listener", AdminAPIWrite, Lost},
		{"backend-redis", ProductionTraffic, Lost},
		{"backend-redis", StagingTraffic, Lost},
		{"backend-redis", Analytics, Lost},
		{"backend-redis", RateLimiting, Lost},
		{"backend-redis", BackendReportQueue, Unasserted},
		{"backend-redis", AdminAPIWrite, Lost},
		{"backend-worker", RateLimiting, Lost},
		{"backend-worker", Analytics, Deferred},
		{"backend-worker", Alerts, Deferred},
		{"backend-worker", BackendReportQueue, Deferred},
		{"backend-worker", ProductionTraffic, Kept},
		{"system-app", AdminAPIRead, Lost},
		{"system-app", AdminAPIWrite, Lost},
		{"system-app", AdminPortal, Lost},
		{"system-app", DeveloperPortal, Lost},
		{"system-app", GatewayConfigRetrieval, Lost},
		{"system-app", Analytics, Lost},
		{"system-app", Search, Lost},
		{"system-app", ProductionTraffic, Kept},
		{"system-app", StagingTraffic, Lost},
		{"system-memcache", AdminAPIRead, Degraded},
		{"system-memcache", AdminAPIWrite, Degraded},
		{"system-memcache", AdminPortal, Degraded},
		{"system-memcache", DeveloperPortal, Degraded},
		{"system-memcache", ProductionTraffic, Kept},
		{"system-redis", BackgroundJobs, Lost},
		{"system-redis", ZyncSync, Lost},
		{"system-sidekiq", BackgroundJobs, Deferred},
		{"system-sidekiq", ZyncSync, Deferred},
		{"system-sidekiq", Alerts, Deferred},
		{"system-searchd", Search, Lost},
		{"system-searchd", SearchIndexing, Deferred},
		{"zync", ZyncSync, Deferred},
		{"zync-database", ZyncSync, Deferred},
		{"zync-que", ZyncSync, Deferred},
	}
	for _, c := range cells {
		s, ok := byName[c.component]
		if !ok {
			t.Errorf("no scenario for %s", c.component)
			continue
		}
		if got, _ := s.Expectation(c.capability); got.Expect != c.want {
			t.Errorf("%s / %s = %q, want %q (the starting matrix)", c.component, c.capability, got.Expect, c.want)
		}
	}

	// system-mysql is "as system-app" for every cell the matrix names.
	app, mysql := byName["system-app"], byName["system-mysql"]
	for _, c := range []Capability{AdminAPIRead, AdminAPIWrite, AdminPortal, DeveloperPortal, GatewayConfigRetrieval, Analytics, Search, ProductionTraffic, StagingTraffic} {
		if a, m := app.Expectations[c].Expect, mysql.Expectations[c].Expect; a != m {
			t.Errorf("system-mysql / %s = %s, system-app has %s; the matrix says they match", c, m, a)
		}
	}

	// No outage may turn a gateway fail-open.
	for name, s := range byName {
		if got := s.Expectations[UnauthorizedDenial].Expect; got != Kept {
			t.Errorf("%s / unauthorized-denial = %s, want kept in every scenario", name, got)
		}
	}
}

// TestRepoScenariosEncodeTheResearch checks cells where the research refines or
// corrects the doc: each must carry a doc gap, so the report shows documented
// against observed behaviour.
func TestRepoScenariosEncodeTheResearch(t *testing.T) {
	byName := loadRepoScenarios(t)
	gaps := []struct {
		component  string
		capability Capability
		want       Expect
	}{
		{"system-app", StagingTraffic, Lost},          // lazy loader, cache off
		{"system-app", Alerts, Deferred},              // events wait in backend
		{"backend-listener", ProductionTraffic, Lost}, // one pass per cached key per pod
		{"backend-worker", RateLimiting, Lost},        // not "less accurate": not enforced
		{"backend-redis", Analytics, Lost},            // system reads backend Redis
		{"system-searchd", Search, Lost},              // account_query in the API too
		{"system-redis", Alerts, Deferred},            // not lost: backend keeps the events
		{"system-redis", AdminAPIWrite, Lost},         // every write 500s on its audit job
		{"zync-database", ZyncSync, Deferred},         // emptyDir: data erased
	}
	for _, g := range gaps {
		s := byName[g.component]
		if got := s.Expectations[g.capability].Expect; got != g.want {
			t.Errorf("%s / %s = %s, want %s", g.component, g.capability, got, g.want)
		}
		if !slices.ContainsFunc(s.DocGaps, func(d DocGap) bool { return d.Capability == g.capability }) {
			t.Errorf("%s / %s: no doc gap recorded", g.component, g.capability)
		}
	}

	// The strict-cache onset: judged only after a grace, with passes to spare.
	for _, name := range []string{"backend-listener", "backend-redis"} {
		for _, c := range []Capability{ProductionTraffic, StagingTraffic} {
			if e := byName[name].Expectations[c]; e.OnsetPasses < 1 || e.OnsetGrace <= 0 {
				t.Errorf("%s / %s: want an onset grace and at least one tolerated pass, got %+v", name, c, e)
			}
		}
	}
	// Frozen per-minute counters keep denying until the minute at T0 ends.
	w := byName["backend-worker"]
	if e := w.Expectations[RateLimiting]; e.OnsetGrace < time.Minute || w.Timing.Observe <= e.OnsetGrace {
		t.Errorf("backend-worker / rate-limiting: want onsetGrace >= 60s inside the observation window, got grace %s, observe %s", e.OnsetGrace, w.Timing.Observe)
	}
}

func TestRepoScenarioDocGapsCiteTheResearch(t *testing.T) {
	known := []string{"3scale-operator.md", "apicast-apisonator.md", "porta-zync.md"}
	cited := regexp.MustCompile(`research/([A-Za-z0-9._-]+\.md)`)
	// An upstream source path: a word with a slash and a file extension.
	upstream := regexp.MustCompile(`[a-z0-9_.-]+/[A-Za-z0-9_./-]+\.(rb|lua|go|md)|openshift/backend-cron|\.s2i/bin/run`)
	for name, s := range loadRepoScenarios(t) {
		for i, g := range s.DocGaps {
			for _, m := range cited.FindAllStringSubmatch(g.Citation, -1) {
				if !slices.Contains(known, m[1]) {
					t.Errorf("%s docGaps[%d]: cites research/%s, which is not a research file", name, i, m[1])
				}
			}
			rest := cited.ReplaceAllString(g.Citation, "")
			if !upstream.MatchString(rest) {
				t.Errorf("%s docGaps[%d]: citation %q names no upstream source file", name, i, g.Citation)
			}
			if e := s.Expectations[g.Capability]; e.Capability == "" {
				t.Errorf("%s docGaps[%d]: capability %s has no expectation", name, i, g.Capability)
			}
		}
	}
}

func TestRepoScenariosUseFastLocalTimings(t *testing.T) {
	for name, s := range loadRepoScenarios(t) {
		if s.Timing.Observe < 30*time.Second || s.Timing.Observe > 2*time.Minute {
			t.Errorf("%s: observe %s, want 30s-2m for the local test bed", name, s.Timing.Observe)
		}
		for _, e := range s.Cells() {
			if e.RecoveryBudget > 5*time.Minute {
				t.Errorf("%s / %s: recovery budget %s is beyond a local test bed", name, e.Capability, e.RecoveryBudget)
			}
		}
		if !strings.Contains(s.Doc.Summary, " ") {
			t.Errorf("%s: summary too short", name)
		}
	}
}

// Work that is lost, not only deferred, is encoded where the research says so: jobs not
// enqueued while system-redis is down are never run.
func TestLostWorkEncodedForSystemRedis(t *testing.T) {
	sc, err := LoadFile("../../scenarios/system-redis.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []Capability{BackgroundJobs, ZyncSync} {
		if e, _ := sc.Expectation(c); e.Expect != Lost || !e.LostWork {
			t.Errorf("system-redis %s: %s lostWork=%v, want lost with lostWork", c, e.Expect, e.LostWork)
		}
	}
}
