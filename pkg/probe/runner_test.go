package probe

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/threescale-chaos/harness/pkg/scenario"
)

// gated is a sampler whose samples the test can hold and release, and which
// counts how many run at once.
type gated struct {
	c        scenario.Capability
	hold     atomic.Bool
	release  chan struct{}
	inFlight atomic.Int32
	maxSeen  atomic.Int32
	calls    atomic.Int32
}

func newGated(c scenario.Capability) *gated {
	return &gated{c: c, release: make(chan struct{})}
}

func (g *gated) Capability() scenario.Capability { return g.c }

func (g *gated) Sample(ctx context.Context) scenario.Sample {
	n := g.inFlight.Add(1)
	defer g.inFlight.Add(-1)
	for {
		m := g.maxSeen.Load()
		if n <= m || g.maxSeen.CompareAndSwap(m, n) {
			break
		}
	}
	g.calls.Add(1)
	if g.hold.Load() {
		select {
		case <-g.release:
		case <-ctx.Done():
			return scenario.Sample{ErrorClass: ClassifyError(ctx.Err()), Detail: "cut short"}
		}
	}
	return scenario.Sample{OK: true, Latency: time.Millisecond}
}

func startRunner(t *testing.T, r *Runner) (cancel func()) {
	t.Helper()
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := r.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	var once sync.Once
	cancel = func() {
		once.Do(func() {
			stop()
			within(t, "Run to return after cancel", done)
		})
	}
	t.Cleanup(cancel)
	return cancel
}

// The runner ticks on a fixed grid (start + k × interval) and timestamps
// samples with its clock.
func TestRunnerTicksOnAFixedGrid(t *testing.T) {
	fc := clocktesting.NewFakeClock(t0)
	g := newGated(scenario.AdminAPIRead)
	r, err := NewRunner(Options{Interval: time.Second, Clock: fc}, Probe{Sampler: g})
	if err != nil {
		t.Fatal(err)
	}
	startRunner(t, r)
	within(t, "ready", r.Ready())
	for i := 1; i <= 4; i++ {
		eventually(t, "the sampler to wait for its tick", fc.HasWaiters)
		fc.Step(time.Second)
		eventually(t, "the next sample", func() bool { return r.Timeline().Len(g.c) == i+1 })
	}
	for i, s := range r.Timeline().Samples(g.c) {
		if want := t0.Add(time.Duration(i) * time.Second); !s.Time.Equal(want) || !s.OK || s.Capability != g.c {
			t.Errorf("sample %d = %+v, want OK at %s", i, s, want)
		}
	}
	if d := r.Timeline().Delays(g.c); len(d) != 0 {
		t.Errorf("delays on an on-time run: %+v", d)
	}
}

// A paced sampler (one that writes to 3scale) ticks at its own minimum interval when that is
// longer than the runner's cadence; the others keep the runner's.
func TestRunnerPacedSamplerKeepsItsMinimumInterval(t *testing.T) {
	fc := clocktesting.NewFakeClock(t0)
	writer, reader := newGated(scenario.AdminAPIWrite), newGated(scenario.AdminAPIRead)
	r, err := NewRunner(Options{Interval: time.Second, Clock: fc}, Probe{Sampler: Pace(writer, 5*time.Second)}, Probe{Sampler: reader})
	if err != nil {
		t.Fatal(err)
	}
	startRunner(t, r)
	within(t, "ready", r.Ready())
	for i := 1; i <= 10; i++ {
		eventually(t, "the samplers to wait for their ticks", func() bool { return fc.Waiters() >= 2 })
		fc.Step(time.Second)
		eventually(t, "the reader's next sample", func() bool { return r.Timeline().Len(reader.c) == i+1 })
	}
	eventually(t, "the writer's samples", func() bool { return r.Timeline().Len(writer.c) == 3 })
	for i, s := range r.Timeline().Samples(writer.c) {
		if want := t0.Add(time.Duration(i) * 5 * time.Second); !s.Time.Equal(want) {
			t.Errorf("writer sample %d at %s, want %s", i, s.Time, want)
		}
	}
}

// A tuned sampler that waits for an asynchronous effect gets its own per-sample bound when
// it is longer than the run's.
func TestRunnerTunedSamplerGetsItsTimeout(t *testing.T) {
	deadline := make(chan time.Duration, 1)
	s := Func(scenario.SearchIndexing, func(ctx context.Context) scenario.Sample {
		d, _ := ctx.Deadline()
		select {
		case deadline <- time.Until(d):
		default:
		}
		return scenario.Sample{OK: true}
	})
	r, err := NewRunner(Options{Interval: time.Second, Timeout: time.Second}, Probe{Sampler: Tune(s, Tuning{Timeout: time.Minute})})
	if err != nil {
		t.Fatal(err)
	}
	startRunner(t, r)
	within(t, "ready", r.Ready())
	if d := <-deadline; d < 30*time.Second {
		t.Errorf("the sample's deadline was %s away, want about a minute", d)
	}
}

// A sample that overruns its tick delays the next one, which starts as soon as
// it returns; the ticks that passed are skipped and recorded. Samples of one
// sampler never overlap.
func TestRunnerSlowSampleDelaysTheNextTick(t *testing.T) {
	fc := clocktesting.NewFakeClock(t0)
	g := newGated(scenario.AdminAPIWrite)
	r, err := NewRunner(Options{Interval: time.Second, Timeout: time.Minute, Clock: fc}, Probe{Sampler: g})
	if err != nil {
		t.Fatal(err)
	}
	startRunner(t, r)
	within(t, "ready", r.Ready())

	g.hold.Store(true)
	eventually(t, "the sampler to wait for tick 1", fc.HasWaiters)
	fc.Step(time.Second) // tick 1 at +1s starts and blocks
	eventually(t, "sample 1 in flight", func() bool { return g.inFlight.Load() == 1 })
	fc.Step(2500 * time.Millisecond) // now +3.5s: ticks 2 and 3 passed
	g.hold.Store(false)
	g.release <- struct{}{}

	// The delayed sample runs without the clock moving.
	eventually(t, "the delayed sample", func() bool { return r.Timeline().Len(g.c) == 3 })
	ss := r.Timeline().Samples(g.c)
	if !ss[1].Time.Equal(t0.Add(time.Second)) || !ss[2].Time.Equal(t0.Add(3500*time.Millisecond)) {
		t.Errorf("sample times = %v, %v; want +1s and +3.5s", ss[1].Time, ss[2].Time)
	}
	d := r.Timeline().Delays(g.c)
	if len(d) != 1 || !d[0].Due.Equal(t0.Add(2*time.Second)) || d[0].Late() != 1500*time.Millisecond || d[0].Skipped != 1 {
		t.Fatalf("delays = %+v, want tick 2 late by 1.5s with tick 3 skipped", d)
	}
	// Back on the grid: the next tick is +4s.
	eventually(t, "the sampler to wait for tick 4", fc.HasWaiters)
	fc.Step(500 * time.Millisecond)
	eventually(t, "sample at +4s", func() bool { return r.Timeline().Len(g.c) == 4 })
	if s := r.Timeline().Samples(g.c)[3]; !s.Time.Equal(t0.Add(4 * time.Second)) {
		t.Errorf("sample after the delay at %v, want +4s", s.Time)
	}
	if m := g.maxSeen.Load(); m != 1 {
		t.Errorf("%d samples of one sampler ran at once", m)
	}
}

func TestRunnerWaitReadyNamesTheLaggards(t *testing.T) {
	fast := newGated(scenario.Search)
	slow := newGated(scenario.ZyncSync)
	slow.hold.Store(true)
	r, err := NewRunner(Options{Interval: time.Hour}, Probe{Sampler: fast}, Probe{Sampler: slow})
	if err != nil {
		t.Fatal(err)
	}
	startRunner(t, r)
	eventually(t, "the fast sampler's first sample", func() bool { return r.Timeline().Len(fast.c) == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	err = r.WaitReady(ctx)
	if err == nil || !strings.Contains(err.Error(), "zync-sync") || strings.Contains(err.Error(), "search") {
		t.Fatalf("WaitReady = %v, want an error naming zync-sync only", err)
	}
	slow.release <- struct{}{}
	if err := r.WaitReady(context.Background()); err != nil {
		t.Fatalf("WaitReady after the first sample: %v", err)
	}
}

// Ending the run stops every sampler; a sample cut short by the end is not
// recorded as a failure.
func TestRunnerStopsCleanly(t *testing.T) {
	g := newGated(scenario.Alerts)
	r, err := NewRunner(Options{Interval: time.Hour}, Probe{Sampler: g})
	if err != nil {
		t.Fatal(err)
	}
	g.hold.Store(true)
	cancel := startRunner(t, r)
	eventually(t, "a sample in flight", func() bool { return g.inFlight.Load() == 1 })
	cancel()
	if n := r.Timeline().Len(g.c); n != 0 {
		t.Errorf("the cut-short sample was recorded: %v", r.Timeline().Samples(g.c))
	}
	if g.inFlight.Load() != 0 {
		t.Error("Run returned with a sample in flight")
	}
	if err := r.Run(context.Background()); err == nil {
		t.Error("a second Run succeeded")
	}
}

// The per-sample timeout reaches the sampler through its context.
func TestRunnerPerSampleTimeout(t *testing.T) {
	s := Func(scenario.Search, func(ctx context.Context) scenario.Sample {
		<-ctx.Done()
		return SampleFromError(scenario.Search, ctx.Err())
	})
	r, err := NewRunner(Options{Interval: time.Hour}, Probe{Sampler: s, Timeout: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	startRunner(t, r)
	within(t, "ready", r.Ready())
	got := r.Timeline().Samples(scenario.Search)[0]
	if got.OK || got.ErrorClass != scenario.ErrTimeout || got.Latency < 20*time.Millisecond {
		t.Errorf("sample = %+v, want a timeout after at least 20ms", got)
	}
}

func TestRunnerMarksPhasesOnTheTimeline(t *testing.T) {
	fc := clocktesting.NewFakeClock(t0)
	r, err := NewRunner(Options{Clock: fc})
	if err != nil {
		t.Fatal(err)
	}
	if at := r.Mark(PhaseSteady); !at.Equal(t0) {
		t.Errorf("Mark returned %v", at)
	}
	fc.Step(time.Second)
	r.Mark(PhaseInject)
	if r.Phase() != PhaseInject {
		t.Errorf("Phase = %q", r.Phase())
	}
	if m := r.Timeline().Marks(); len(m) != 2 || !m[1].At.Equal(t0.Add(time.Second)) {
		t.Errorf("marks = %v", m)
	}
	select {
	case <-r.Ready():
	default:
		t.Error("a runner without probes is not ready")
	}
}

func TestNewRunnerRejects(t *testing.T) {
	a := newGated(scenario.Search)
	tests := map[string]struct {
		opts   Options
		probes []Probe
	}{
		"nil sampler":       {probes: []Probe{{}}},
		"duplicate":         {probes: []Probe{{Sampler: a}, {Sampler: a}}},
		"no capability":     {probes: []Probe{{Sampler: newGated("")}}},
		"negative interval": {probes: []Probe{{Sampler: a, Interval: -time.Second}}},
		"negative default":  {opts: Options{Timeout: -1}},
	}
	for name, tt := range tests {
		if _, err := NewRunner(tt.opts, tt.probes...); err == nil {
			t.Errorf("%s: NewRunner succeeded", name)
		}
	}
}
