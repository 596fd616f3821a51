package report

import (
	"strings"
	"testing"
	"time"

	"github.com/threescale-chaos/harness/pkg/scenario"
)

// onsetJournal has one scenario whose lost cells failed after the given delays (nil: never
// failed in the window) and one kept cell.
func onsetJournal(runID string, delays ...*time.Duration) *Journal {
	j := New(runID, t0, Target{Namespace: "3scale"})
	sc := ScenarioResult{Component: "backend-listener", StartedAt: t0, FinishedAt: at(90_000),
		Window: Window{Start: at(10_000), End: at(55_000)}, Verdict: scenario.Pass}
	for _, d := range delays {
		c := Cell{Capability: scenario.ProductionTraffic, Expect: scenario.Lost, Verdict: scenario.Pass}
		if d != nil {
			dd := Duration(*d)
			c.Outage.TimeToFail = &dd
		}
		sc.Cells = append(sc.Cells, c)
	}
	ttr := Duration(7 * time.Second)
	sc.Cells = append(sc.Cells, Cell{Capability: scenario.AdminAPIRead, Expect: scenario.Kept, Verdict: scenario.Pass,
		Recovery: RecoveryRecord{TimeToRecover: &ttr}})
	sc.Usage = &Usage{Wall: Duration(80 * time.Second), CPU: Duration(4 * time.Second), CPUPercent: 5, MaxRSSBytes: 64 << 20}
	j.Scenarios = append(j.Scenarios, sc)
	j.FinishedAt = at(100_000)
	j.Usage = sc.Usage
	j.Conclude()
	return j
}

func dur(d time.Duration) *time.Duration { return &d }

func TestSummarizeOnsets(t *testing.T) {
	a := onsetJournal("run-a", dur(2*time.Second), dur(4*time.Second), nil)
	b := onsetJournal("run-b", dur(9*time.Second))
	s := Summarize(a, b)

	if len(s.Runs) != 2 || s.Runs[0].Wall != 100*time.Second || s.Runs[1].RunID != "run-b" {
		t.Fatalf("runs = %+v", s.Runs)
	}
	if len(s.Scenarios) != 2 || s.Scenarios[0].Lost != 3 || s.Scenarios[0].Window != 45*time.Second ||
		s.Scenarios[0].SlowestRecovery != 7*time.Second || s.Scenarios[0].Wall != 90*time.Second {
		t.Fatalf("scenarios = %+v", s.Scenarios)
	}
	if len(s.Onset) != 1 {
		t.Fatalf("onset = %+v, want one capability", s.Onset)
	}
	o := s.Onset[0]
	want := OnsetSummary{Capability: scenario.ProductionTraffic, N: 3, Missing: 1,
		Median: 4 * time.Second, Min: 2 * time.Second, Max: 9 * time.Second, P90: 8 * time.Second}
	if o != want {
		t.Errorf("onset = %+v, want %+v", o, want)
	}
	if s.AllOnsets.N != 3 || s.AllOnsets.Median != 4*time.Second || s.AllOnsets.Capability != "" {
		t.Errorf("all onsets = %+v", s.AllOnsets)
	}

	var b2 strings.Builder
	if err := s.WriteText(&b2); err != nil {
		t.Fatal(err)
	}
	out := b2.String()
	for _, want := range []string{"run-a", "backend-listener", "production-traffic", "(every lost cell)", "64 MiB", "4s", "9s"} {
		if !strings.Contains(out, want) {
			t.Errorf("text summary lacks %q:\n%s", want, out)
		}
	}
}

func TestSummarizeSkipsScenariosWithoutAWindow(t *testing.T) {
	j := onsetJournal("run-invalid", dur(time.Second))
	j.Scenarios[0].Window = Window{} // the fault never held: no onset to speak of
	s := Summarize(j)
	if len(s.Onset) != 0 || s.AllOnsets.N != 0 || s.Scenarios[0].Lost != 0 {
		t.Errorf("a scenario whose fault never held contributed onsets: %+v", s)
	}
}

func TestPercentile(t *testing.T) {
	ds := []time.Duration{1, 2, 3, 4}
	for _, c := range []struct {
		p    float64
		want time.Duration
	}{{0, 1}, {50, 2}, {100, 4}, {90, 3}} {
		if got := percentile(ds, c.p); got != c.want {
			t.Errorf("p%.0f = %d, want %d", c.p, got, c.want)
		}
	}
	if got := percentile([]time.Duration{5}, 50); got != 5 {
		t.Errorf("one value: %d", got)
	}
}

func TestUsageCountsThisProcess(t *testing.T) {
	m := MarkUsage()
	deadline := time.Now().Add(50 * time.Millisecond)
	x := 0
	for time.Now().Before(deadline) {
		x++
	}
	u := m.Since()
	if u.CPU <= 0 || u.Wall <= 0 || u.MaxRSSBytes <= 0 || u.CPUPercent <= 0 {
		t.Errorf("usage after busy work = %+v (%d loops)", u, x)
	}
}

// A variant is summed up under its file's name, so that two variants of one component (and
// the component's own file) stay apart; a journal without names falls back to the component.
func TestSummaryNamesVariants(t *testing.T) {
	j := onsetJournal("run-v", dur(time.Second))
	plain := j.Scenarios[0]
	variant := plain
	variant.Name = "backend-listener-caching-resilient"
	j.Scenarios = append(j.Scenarios, variant)
	s := Summarize(j)
	if len(s.Scenarios) != 2 || s.Scenarios[0].Scenario != "backend-listener" || s.Scenarios[1].Scenario != "backend-listener-caching-resilient" {
		t.Fatalf("scenarios named %+v", s.Scenarios)
	}
	var b strings.Builder
	if err := s.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "\nbackend-listener-caching-resilient  PASS") {
		t.Errorf("the variant's row is not named by its file:\n%s", b.String())
	}
}

// A failed run ends with what failed and why, one line per cell (or per scenario when no cell
// did), so that the tail of a CI log names it; a passing run prints no such section.
func TestSummaryEndsWithWhatDidNotPass(t *testing.T) {
	j := onsetJournal("run-f", dur(time.Second))
	j.Scenarios[0].Name = "system-redis"
	j.Scenarios[0].Cells[1].Verdict = scenario.Fail
	j.Scenarios[0].Cells[1].Reason = "outage: 1 of 80 samples failed"
	j.Scenarios[0].TestBed = "the Kubernetes API server's /readyz checked 201 times, slowest 262.6ms; 0 stalls of the test bed (0s in all)"
	invalid := onsetJournal("x", dur(time.Second)).Scenarios[0]
	invalid.Name = "backend-cron"
	invalid.Invalid = "steady state: staging-traffic failed"
	j.Scenarios = append(j.Scenarios, invalid)
	for i := range j.Scenarios {
		j.Scenarios[i].Conclude()
	}
	j.Conclude()
	s := Summarize(j)
	var b strings.Builder
	if err := s.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	_, tail, ok := strings.Cut(out, "\nNOT PASSING\n")
	if !ok {
		t.Fatalf("no NOT PASSING section:\n%s", out)
	}
	want := "system-redis admin-api-read (kept): FAIL: outage: 1 of 80 samples failed\n" +
		"system-redis: test bed: the Kubernetes API server's /readyz checked 201 times, slowest 262.6ms; 0 stalls of the test bed (0s in all)\n" +
		"backend-cron: INVALID: " + j.Scenarios[1].Reason + "\n"
	if tail != want {
		t.Errorf("NOT PASSING section =\n%s\nwant\n%s", tail, want)
	}

	var pass strings.Builder
	if err := Summarize(onsetJournal("run-p", dur(time.Second))).WriteText(&pass); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(pass.String(), "NOT PASSING") {
		t.Errorf("a passing run printed a NOT PASSING section:\n%s", pass.String())
	}
}
