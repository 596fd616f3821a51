package probe

import (
	"testing"
	"time"

	"github.com/threescale-chaos/harness/pkg/scenario"
)

var t0 = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

func at(sec float64) time.Time { return t0.Add(time.Duration(sec * float64(time.Second))) }

func smp(c scenario.Capability, sec float64, ok bool, class scenario.ErrorClass) scenario.Sample {
	return scenario.Sample{Capability: c, Time: at(sec), OK: ok, ErrorClass: class, Latency: 10 * time.Millisecond}
}

// pattern records one sample a second for c: '+' healthy, '-' refused, 't' timeout.
func pattern(tl *Timeline, c scenario.Capability, p string) {
	for i, ch := range p {
		switch ch {
		case '+':
			tl.Record(smp(c, float64(i), true, scenario.ErrNone))
		case '-':
			tl.Record(smp(c, float64(i), false, scenario.ErrRefused))
		case 't':
			tl.Record(smp(c, float64(i), false, scenario.ErrTimeout))
		}
	}
}

func TestTimelineKeepsSamplesOrdered(t *testing.T) {
	tl := NewTimeline()
	for _, sec := range []float64{0, 2, 1, 3, 0.5} {
		tl.Record(smp(scenario.Search, sec, true, scenario.ErrNone))
	}
	tl.Record(smp(scenario.Analytics, 1.5, true, scenario.ErrNone))
	got := tl.Samples(scenario.Search)
	for i := 1; i < len(got); i++ {
		if got[i].Time.Before(got[i-1].Time) {
			t.Fatalf("samples out of order at %d: %v", i, got)
		}
	}
	if caps := tl.Capabilities(); len(caps) != 2 || caps[0] != scenario.Search {
		t.Errorf("Capabilities = %v", caps)
	}
	all := tl.All()
	if len(all) != 6 || all[3].Capability != scenario.Analytics {
		t.Errorf("All = %v", all)
	}
	// Between is [from, to).
	if b := tl.Between(scenario.Search, at(0.5), at(2)); len(b) != 2 || !b[0].Time.Equal(at(0.5)) || !b[1].Time.Equal(at(1)) {
		t.Errorf("Between(0.5, 2) = %v", b)
	}
	if b := tl.Between(scenario.Search, at(2), time.Time{}); len(b) != 2 {
		t.Errorf("Between(2, open) = %v", b)
	}
}

func TestOutages(t *testing.T) {
	tl := NewTimeline()
	pattern(tl, scenario.ProductionTraffic, "++--t++-+---")
	got := tl.Outages(scenario.ProductionTraffic)
	if len(got) != 3 {
		t.Fatalf("outages = %+v, want 3", got)
	}
	o := got[0]
	if !o.Start.Equal(at(2)) || !o.End.Equal(at(5)) || o.Count != 3 || o.Ongoing || o.Duration() != 3*time.Second {
		t.Errorf("first outage = %+v", o)
	}
	if len(o.Classes) != 2 || o.Classes[0] != scenario.ErrRefused || o.Classes[1] != scenario.ErrTimeout {
		t.Errorf("classes = %v", o.Classes)
	}
	if got[1].Count != 1 || !got[1].End.Equal(at(8)) {
		t.Errorf("second outage = %+v", got[1])
	}
	last := got[2]
	if !last.Ongoing || last.Count != 3 || !last.End.Equal(at(11).Add(10*time.Millisecond)) {
		t.Errorf("last outage = %+v, want ongoing ending with its last sample", last)
	}
	// Restricted to [0, 4) the first outage has not ended.
	if w := tl.OutagesBetween(scenario.ProductionTraffic, at(0), at(4)); len(w) != 1 || !w[0].Ongoing || w[0].Count != 2 {
		t.Errorf("OutagesBetween = %+v", w)
	}
}

func TestFirstFailureAndRecovery(t *testing.T) {
	tl := NewTimeline()
	pattern(tl, scenario.AdminAPIRead, "+++---++-+++")
	if s, ok := tl.FirstFailureAfter(scenario.AdminAPIRead, at(0)); !ok || !s.Time.Equal(at(3)) {
		t.Errorf("FirstFailureAfter(0) = %v, %v", s, ok)
	}
	if s, ok := tl.FirstFailureAfter(scenario.AdminAPIRead, at(6)); !ok || !s.Time.Equal(at(8)) {
		t.Errorf("FirstFailureAfter(6) = %v, %v", s, ok)
	}
	if _, ok := tl.FirstFailureAfter(scenario.AdminAPIRead, at(9)); ok {
		t.Errorf("FirstFailureAfter(9) found a failure")
	}
	r := tl.TimeToRecover(scenario.AdminAPIRead, at(5), 10*time.Second)
	if r.Verdict != scenario.Pass || r.TimeToRecover != 4*time.Second || !r.RecoveredAt.Equal(at(9)) {
		t.Errorf("TimeToRecover = %+v, want PASS after 4s", r)
	}
	if r := tl.TimeToRecover(scenario.AdminAPIRead, at(5), 2*time.Second); r.Verdict != scenario.Fail {
		t.Errorf("TimeToRecover over budget = %+v, want FAIL", r)
	}
}

func TestWindowAndEvaluate(t *testing.T) {
	tl := NewTimeline()
	pattern(tl, scenario.StagingTraffic, "++------++")
	if _, err := tl.Window(PhaseFaultHeld, PhaseRestore); err == nil {
		t.Fatal("Window without marks succeeded")
	}
	tl.MarkAt(PhaseRestore, at(8))
	tl.MarkAt(PhaseFaultHeld, at(2))
	tl.MarkAt(PhaseSteady, at(0))
	marks := tl.Marks()
	if len(marks) != 3 || marks[0].Name != PhaseSteady || marks[2].Name != PhaseRestore {
		t.Errorf("marks not in time order: %v", marks)
	}
	w, err := tl.Window(PhaseFaultHeld, PhaseRestore)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tl.Window(PhaseRestore, PhaseFaultHeld); err == nil {
		t.Error("reversed window accepted")
	}
	exp := scenario.Expectation{Capability: scenario.StagingTraffic, Expect: scenario.Lost, RecoveryBudget: 5 * time.Second}
	if v := tl.Evaluate(exp, w); v.Verdict != scenario.Pass || v.TimeToFail != 0 {
		t.Errorf("Evaluate = %+v", v)
	}
	res := tl.EvaluateCell(exp, w, nil)
	if res.Verdict != scenario.Pass || res.Recovery.TimeToRecover != 0 {
		t.Errorf("EvaluateCell = %+v", res)
	}
	exp.Expect = scenario.Kept
	if v := tl.Evaluate(exp, w); v.Verdict != scenario.Fail {
		t.Errorf("kept over an outage = %s, want FAIL", v.Verdict)
	}
}
