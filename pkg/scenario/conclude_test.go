package scenario

import "testing"

func TestConcludeScenario(t *testing.T) {
	pass := CellResult{Capability: RateLimiting, Expect: Lost, Verdict: Pass, Reason: "lost as expected"}
	fail := CellResult{Capability: AdminAPIRead, Expect: Kept, Verdict: Fail, Reason: "3 of 30 samples failed"}
	fail2 := CellResult{Capability: Analytics, Expect: Deferred, Verdict: Fail, Reason: "work: deferred work lost"}
	invalid := CellResult{Capability: Search, Expect: Kept, Verdict: Invalid, Reason: "only 1 samples during the outage"}
	tests := []struct {
		name       string
		invalid    string
		cells      []CellResult
		want       Verdict
		wantReason string
	}{
		{"the invalid reason beats a failing cell", "the operator scaled backend-worker back to 1 at T0+12s", []CellResult{pass, fail},
			Invalid, "the operator scaled backend-worker back to 1 at T0+12s"},
		{"no cells", "", nil, Invalid, "no cell was judged"},
		{"every cell passes", "", []CellResult{pass, pass}, Pass, "all 2 cells PASS"},
		{"FAIL names only the failing cells", "", []CellResult{pass, fail, invalid, fail2},
			Fail, "2 of 4 cells FAIL: admin-api-read (expected kept: 3 of 30 samples failed); analytics (expected deferred: work: deferred work lost)"},
		{"INVALID cells without a failure", "", []CellResult{pass, invalid},
			Invalid, "1 of 2 cells INVALID: search (expected kept: only 1 samples during the outage)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, reason := ConcludeScenario(tt.invalid, tt.cells)
			if got != tt.want || reason != tt.wantReason {
				t.Errorf("got %s %q\nwant %s %q", got, reason, tt.want, tt.wantReason)
			}
		})
	}
}

func TestConcludeRun(t *testing.T) {
	tests := []struct {
		name       string
		scenarios  []ScenarioVerdict
		want       Verdict
		wantReason string
	}{
		{"no scenario", nil, Invalid, "no scenario ran"},
		{"every scenario passes", []ScenarioVerdict{{"backend-worker", Pass}, {"zync", Pass}}, Pass, "all 2 scenarios PASS"},
		{"FAIL names the failing scenarios", []ScenarioVerdict{{"backend-worker", Fail}, {"zync", Invalid}, {"system-app", Fail}},
			Fail, "2 of 3 scenarios FAIL: backend-worker, system-app"},
		{"INVALID without a failure", []ScenarioVerdict{{"backend-worker", Pass}, {"zync", Invalid}},
			Invalid, "1 of 2 scenarios INVALID: zync"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, reason := ConcludeRun(tt.scenarios)
			if got != tt.want || reason != tt.wantReason {
				t.Errorf("got %s %q\nwant %s %q", got, reason, tt.want, tt.wantReason)
			}
		})
	}
}
