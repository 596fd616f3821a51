package probe

import (
	"slices"
	"sort"
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

// Marks returns the phase marks in time order.
func (t *Timeline) Marks() []Mark {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return slices.Clone(t.marks)
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
