package report

import (
	"testing"

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
