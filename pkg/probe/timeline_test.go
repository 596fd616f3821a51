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
}

func TestTimelineKeepsMarksOrdered(t *testing.T) {
	tl := NewTimeline()
	tl.MarkAt(PhaseRestore, at(8))
	tl.MarkAt(PhaseFaultHeld, at(2))
	tl.MarkAt(PhaseSteady, at(0))
	marks := tl.Marks()
	if len(marks) != 3 || marks[0].Name != PhaseSteady || marks[2].Name != PhaseRestore {
		t.Errorf("marks not in time order: %v", marks)
	}
}
