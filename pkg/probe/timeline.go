package probe

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/threescale-chaos/harness/pkg/scenario"
)

// Phase names the runner marks on a timeline, in the order a scenario passes
// through them. Marks are free-form strings; these are the ones the scenario
// runner and the report agree on.
const (
	// PhaseSteady: samplers are ready; steady state is being observed.
	PhaseSteady = "steady"
	// PhaseInject: the scale-down is being applied.
	PhaseInject = "inject"
	// PhaseFaultHeld: the component's last pod is gone (T0, the start of
	// the window that verdicts judge).
	PhaseFaultHeld = "fault-held"
	// PhaseObserve: the observation window is running with the fault held.
	PhaseObserve = "observe"
	// PhaseRestore: restore began (T1, the end of the judged window).
	PhaseRestore = "restore"
	// PhaseRecovered: every capability was healthy again, or the recovery
	// budget ran out.
	PhaseRecovered = "recovered"
	// PhaseVerifyWork: deferred-work checks are running.
	PhaseVerifyWork = "verify-work"
)

// Mark is a named moment on a timeline.
type Mark struct {
	Name string
	At   time.Time
}

// Delay records a tick a sampler could not take on time because its previous
// sample was still running: the sample due at Due started at Started, and
// Skipped later ticks passed with no sample at all.
type Delay struct {
	Capability scenario.Capability
	Due        time.Time
	Started    time.Time
	Skipped    int
}

// Late is how late the delayed sample started.
func (d Delay) Late() time.Duration { return d.Started.Sub(d.Due) }

// Outage is a run of consecutive failed samples of one capability.
type Outage struct {
	Capability scenario.Capability
	// Start is the start time of the first failed sample.
	Start time.Time
	// End is the start of the first successful sample after the run; when
	// the run is still going (Ongoing), the end of its last sample.
	End     time.Time
	Ongoing bool
	// Count is how many samples failed in a row.
	Count int
	// Classes lists the error classes seen, in order of first appearance.
	Classes []scenario.ErrorClass
	// First is the first failed sample.
	First scenario.Sample
}

// Duration is End minus Start.
func (o Outage) Duration() time.Duration { return o.End.Sub(o.Start) }

// Timeline holds every sample of a run, per capability and in time order, and
// the run's phase marks. It is safe for concurrent use; every query returns
// copies.
type Timeline struct {
	mu      sync.RWMutex
	samples map[scenario.Capability][]scenario.Sample
	order   []scenario.Capability
	marks   []Mark
	delays  []Delay
}

// NewTimeline returns an empty timeline.
func NewTimeline() *Timeline {
	return &Timeline{samples: map[scenario.Capability][]scenario.Sample{}}
}

// Record adds a sample. Samples of one capability are kept ordered by Time even
// if they are recorded out of order.
func (t *Timeline) Record(s scenario.Sample) {
	t.mu.Lock()
	defer t.mu.Unlock()
	ss, known := t.samples[s.Capability]
	if !known {
		t.order = append(t.order, s.Capability)
	}
	// Samples nearly always arrive in order; search only when they do not.
	if n := len(ss); n == 0 || !s.Time.Before(ss[n-1].Time) {
		t.samples[s.Capability] = append(ss, s)
		return
	}
	i := sort.Search(len(ss), func(i int) bool { return ss[i].Time.After(s.Time) })
	t.samples[s.Capability] = slices.Insert(ss, i, s)
}

// MarkAt records a phase mark. Marks are kept in time order.
func (t *Timeline) MarkAt(name string, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	i := sort.Search(len(t.marks), func(i int) bool { return t.marks[i].At.After(at) })
	t.marks = slices.Insert(t.marks, i, Mark{Name: name, At: at})
}

// RecordDelay records a late tick.
func (t *Timeline) RecordDelay(d Delay) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.delays = append(t.delays, d)
}

// Capabilities returns the capabilities that have samples, in the order their
// first sample was recorded.
func (t *Timeline) Capabilities() []scenario.Capability {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return slices.Clone(t.order)
}

// Samples returns every sample of capability c, in time order.
func (t *Timeline) Samples(c scenario.Capability) []scenario.Sample {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return slices.Clone(t.samples[c])
}

// All returns every sample of every capability, ordered by time (ties in
// capability order).
func (t *Timeline) All() []scenario.Sample {
	t.mu.RLock()
	var out []scenario.Sample
	for _, c := range t.order {
		out = append(out, t.samples[c]...)
	}
	t.mu.RUnlock()
	slices.SortStableFunc(out, func(a, b scenario.Sample) int { return a.Time.Compare(b.Time) })
	return out
}

// Len returns how many samples capability c has.
func (t *Timeline) Len(c scenario.Capability) int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return len(t.samples[c])
}

// Between returns c's samples whose Time is in [from, to), in time order. A zero
// to means no upper bound.
func (t *Timeline) Between(c scenario.Capability, from, to time.Time) []scenario.Sample {
	t.mu.RLock()
	defer t.mu.RUnlock()
	ss := t.samples[c]
	i := sort.Search(len(ss), func(i int) bool { return !ss[i].Time.Before(from) })
	j := len(ss)
	if !to.IsZero() {
		j = sort.Search(len(ss), func(j int) bool { return !ss[j].Time.Before(to) })
	}
	if i >= j {
		return nil
	}
	return slices.Clone(ss[i:j])
}

// Marks returns the phase marks in time order.
func (t *Timeline) Marks() []Mark {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return slices.Clone(t.marks)
}

// MarkTime returns the time of the first mark with the given name.
func (t *Timeline) MarkTime(name string) (time.Time, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	for _, m := range t.marks {
		if m.Name == name {
			return m.At, true
		}
	}
	return time.Time{}, false
}

// Window returns the window between the first marks named from and to, for
// example Window(PhaseFaultHeld, PhaseRestore), the window verdicts judge.
func (t *Timeline) Window(from, to string) (scenario.Window, error) {
	start, ok := t.MarkTime(from)
	if !ok {
		return scenario.Window{}, fmt.Errorf("timeline has no %q mark (marks: %s)", from, t.markNames())
	}
	end, ok := t.MarkTime(to)
	if !ok {
		return scenario.Window{}, fmt.Errorf("timeline has no %q mark (marks: %s)", to, t.markNames())
	}
	if !end.After(start) {
		return scenario.Window{}, fmt.Errorf("mark %q (%s) is not after mark %q (%s)", to, end.Format(time.RFC3339Nano), from, start.Format(time.RFC3339Nano))
	}
	return scenario.Window{Start: start, End: end}, nil
}

func (t *Timeline) markNames() string {
	marks := t.Marks()
	if len(marks) == 0 {
		return "none"
	}
	names := make([]string, len(marks))
	for i, m := range marks {
		names[i] = m.Name
	}
	return strings.Join(names, ", ")
}

// Delays returns the late ticks of capability c, in time order.
func (t *Timeline) Delays(c scenario.Capability) []Delay {
	t.mu.RLock()
	defer t.mu.RUnlock()
	var out []Delay
	for _, d := range t.delays {
		if d.Capability == c {
			out = append(out, d)
		}
	}
	return out
}

// Outages returns c's runs of consecutive failed samples over the whole
// timeline.
func (t *Timeline) Outages(c scenario.Capability) []Outage {
	return Outages(t.Samples(c))
}

// OutagesBetween returns c's outages counted from the samples in [from, to)
// only; a run that continues past to is reported as ongoing.
func (t *Timeline) OutagesBetween(c scenario.Capability, from, to time.Time) []Outage {
	return Outages(t.Between(c, from, to))
}

// FirstFailureAfter returns c's first failed sample whose Time is at or after
// from.
func (t *Timeline) FirstFailureAfter(c scenario.Capability, from time.Time) (scenario.Sample, bool) {
	for _, s := range t.Between(c, from, time.Time{}) {
		if !s.OK {
			return s, true
		}
	}
	return scenario.Sample{}, false
}

// TimeToRecover judges c's recovery from restoreAt within budget, with
// scenario.EvaluateRecovery: the time to the first sample from which every later
// one succeeded.
func (t *Timeline) TimeToRecover(c scenario.Capability, restoreAt time.Time, budget time.Duration) scenario.RecoveryVerdict {
	return scenario.EvaluateRecovery(budget, restoreAt, t.Samples(c))
}

// Evaluate judges the outage verdict of one cell over window w with
// scenario.Evaluate.
func (t *Timeline) Evaluate(exp scenario.Expectation, w scenario.Window) scenario.CellVerdict {
	return scenario.Evaluate(exp, w, t.Samples(exp.Capability))
}

// EvaluateCell judges one cell completely (outage, recovery from w.End, and the
// work check when given) with scenario.EvaluateCell.
func (t *Timeline) EvaluateCell(exp scenario.Expectation, w scenario.Window, work *scenario.WorkCheck) scenario.CellResult {
	return scenario.EvaluateCell(exp, w, t.Samples(exp.Capability), work)
}

// Outages returns the runs of consecutive failed samples in samples, which must
// be of one capability and in time order (as Timeline returns them).
func Outages(samples []scenario.Sample) []Outage {
	var (
		out []Outage
		cur *Outage
	)
	for _, s := range samples {
		if s.OK {
			if cur != nil {
				cur.End = s.Time
				out = append(out, *cur)
				cur = nil
			}
			continue
		}
		if cur == nil {
			cur = &Outage{Capability: s.Capability, Start: s.Time, First: s}
		}
		cur.Count++
		if !slices.Contains(cur.Classes, s.ErrorClass) {
			cur.Classes = append(cur.Classes, s.ErrorClass)
		}
		cur.End = s.Time.Add(s.Latency)
	}
	if cur != nil {
		cur.Ongoing = true
		out = append(out, *cur)
	}
	return out
}
