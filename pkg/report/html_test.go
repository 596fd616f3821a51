package report

import (
	"strings"
	"testing"

	"github.com/threescale-chaos/harness/pkg/catalog"
	"github.com/threescale-chaos/harness/pkg/scenario"
)

// TestGapSeen: a doc gap is observed when its cell's outage (and work) verdict
// is PASS, not observed when one is FAIL, and not sampled without the cell or
// its samples.
func TestGapSeen(t *testing.T) {
	pass := PartRecord{Verdict: scenario.Pass}
	fail := PartRecord{Verdict: scenario.Fail}
	sampled := Counts{Total: 10, Judged: 10, OK: 10}
	for _, tc := range []struct {
		name string
		cell *Cell
		want string
	}{
		{"no cell", nil, "not sampled"},
		{"no samples", &Cell{Outage: OutageRecord{PartRecord: pass}}, "not sampled"},
		{"outage pass, recovery fail", &Cell{Verdict: scenario.Fail, Outage: OutageRecord{PartRecord: pass, Counts: sampled},
			Recovery: RecoveryRecord{PartRecord: fail}}, "observed"},
		{"outage fail", &Cell{Outage: OutageRecord{PartRecord: fail, Counts: sampled}}, "not observed"},
		{"work fail", &Cell{Outage: OutageRecord{PartRecord: pass, Counts: sampled}, Work: &fail}, "not observed"},
		{"work only", &Cell{Outage: OutageRecord{PartRecord: pass}, Work: &pass}, "observed"},
		{"outage invalid", &Cell{Outage: OutageRecord{PartRecord: PartRecord{Verdict: scenario.Invalid}, Counts: sampled}}, "not sampled"},
	} {
		s := ScenarioResult{}
		if tc.cell != nil {
			tc.cell.Capability = scenario.Analytics
			s.Cells = []Cell{*tc.cell}
		}
		if got, _ := gapSeen(s, DocGap{Capability: scenario.Analytics}); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
}

func TestShortLocation(t *testing.T) {
	for in, want := range map[string]string{
		"apisonator@3scale-2.16.4-GA:lib/3scale/backend/transactor.rb:125-146": "apisonator transactor.rb:125-146",
		"porta@3scale-2.16.4-GA:Gemfile.lock:62":                               "porta Gemfile.lock:62",
		"research/apicast.md §3":                                               "research/apicast.md §3",
		"the same at 3scale-2.15.1-GA":                                         "the same at 3scale-2.15.1-GA",
	} {
		if got := shortLocation(in); got != want {
			t.Errorf("shortLocation(%q) = %q, want %q", in, got, want)
		}
	}
}

// A claim held when every cell it cites passed, did not hold when one failed, and is listed
// with its reason when nothing asserts it; the report shows each with its cells' verdicts.
func TestClaimsInJournalAndReport(t *testing.T) {
	comp, err := catalog.Lookup("system-app")
	if err != nil {
		t.Fatal(err)
	}
	sc := scenario.Scenario{Path: "scenarios/system-app.yaml", Component: comp, Doc: scenario.Doc{Section: comp.DocSection},
		Claims: []scenario.Claim{
			{ID: "system-app/1", Says: "the admin API stops", Cells: []scenario.ClaimCell{{Capability: scenario.AdminAPIRead, Expect: scenario.Lost}}},
			{ID: "system-app/2", Says: "production keeps serving", Cells: []scenario.ClaimCell{
				{Capability: scenario.ProductionTraffic, Expect: scenario.Kept}, {Capability: scenario.AdminAPIRead, Expect: scenario.Lost}}},
			{ID: "system-app/3", Says: "new gateways do not start", Unasserted: "no probe starts a gateway"},
		}}
	r := NewScenario(sc, t0)
	r.Cells = []Cell{
		{Capability: scenario.AdminAPIRead, Expect: scenario.Lost, Verdict: scenario.Pass},
		{Capability: scenario.ProductionTraffic, Expect: scenario.Kept, Verdict: scenario.Fail},
	}
	r.Conclude()
	want := []scenario.Verdict{scenario.Pass, scenario.Fail, ""}
	for i, c := range r.Claims {
		if c.Verdict != want[i] {
			t.Errorf("claim %s: verdict %q, want %q", c.ID, c.Verdict, want[i])
		}
	}
	if r.Claims[2].Status != scenario.NotAsserted || r.Claims[0].Status != scenario.Asserted {
		t.Errorf("statuses %q, %q", r.Claims[0].Status, r.Claims[2].Status)
	}
	j := New("run-claims", t0, Target{Namespace: "3scale"})
	j.Scenarios = []ScenarioResult{r}
	j.Conclude()
	var b strings.Builder
	if err := j.RenderHTML(&b); err != nil {
		t.Fatal(err)
	}
	html := b.String()
	for _, w := range []string{
		`id="claims"`, "3 claims: 1 held (0 of them asserted in part), 1 did not hold, 0 not judged, 1 not asserted",
		"system-app/2", "production-traffic kept FAIL", "admin-api-read lost PASS", "no probe starts a gateway",
		`<td class="seen fail">did not hold</td>`,
	} {
		if !strings.Contains(html, w) {
			t.Errorf("the report lacks %q", w)
		}
	}
}
