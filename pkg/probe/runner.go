package probe

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"k8s.io/utils/clock"

	"github.com/threescale-chaos/harness/pkg/scenario"
)

// Defaults for probes that leave their cadence or timeout unset.
const (
	// DefaultInterval is the time between two ticks of one sampler.
	DefaultInterval = time.Second
	// DefaultTimeout bounds one sample (and one background request).
	DefaultTimeout = 5 * time.Second
)

// Probe is a sampler with its cadence.
type Probe struct {
	Sampler Sampler
	// Interval is the time between ticks; 0 means Options.Interval.
	Interval time.Duration
	// Timeout bounds one sample through its context; 0 means
	// Options.Timeout. A timeout longer than the interval is allowed: the
	// slow sample delays the next tick and the timeline records it.
	Timeout time.Duration
}

// Options configures a Runner.
type Options struct {
	// Interval is the default cadence; 0 means DefaultInterval.
	Interval time.Duration
	// Timeout is the default per-sample timeout; 0 means DefaultTimeout.
	Timeout time.Duration
	// Clock schedules ticks and timestamps samples and marks; nil means the
	// real clock. Per-sample timeouts always use real time (they are
	// context deadlines).
	Clock clock.Clock
	// Timeline receives the samples; nil means a new one.
	Timeline *Timeline
}

// Runner samples a set of capabilities, each on its own fixed cadence, until its
// context ends. Create it with NewRunner, start it with Run (once), wait for
// WaitReady, then Mark the phases as the scenario moves through them.
type Runner struct {
	clock    clock.Clock
	timeline *Timeline
	probes   []Probe

	ready     chan struct{}
	readyOnce sync.Once

	mu       sync.Mutex
	started  bool
	pending  map[scenario.Capability]bool
	lastMark string
}

// NewRunner validates the probes (a sampler each, one per capability,
// non-negative durations) and the loads, and returns a runner that has not
// started.
func NewRunner(opts Options, probes ...Probe) (*Runner, error) {
	if opts.Interval < 0 || opts.Timeout < 0 {
		return nil, fmt.Errorf("negative default interval (%s) or timeout (%s)", opts.Interval, opts.Timeout)
	}
	if opts.Interval == 0 {
		opts.Interval = DefaultInterval
	}
	if opts.Timeout == 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	if opts.Timeline == nil {
		opts.Timeline = NewTimeline()
	}
	r := &Runner{
		clock:    opts.Clock,
		timeline: opts.Timeline,
		ready:    make(chan struct{}),
		pending:  map[scenario.Capability]bool{},
	}
	for i, p := range probes {
		if p.Sampler == nil {
			return nil, fmt.Errorf("probe %d has no sampler", i)
		}
		c := p.Sampler.Capability()
		if c == "" {
			return nil, fmt.Errorf("probe %d samples no capability", i)
		}
		if r.pending[c] {
			return nil, fmt.Errorf("two probes sample %s", c)
		}
		if p.Interval < 0 || p.Timeout < 0 {
			return nil, fmt.Errorf("probe %s: negative interval (%s) or timeout (%s)", c, p.Interval, p.Timeout)
		}
		if p.Interval == 0 {
			p.Interval = opts.Interval
		}
		if tn, ok := p.Sampler.(Tuned); ok {
			p.Interval = max(p.Interval, tn.Tuning().MinInterval)
			p.Timeout = max(p.Timeout, tn.Tuning().Timeout)
		}
		if p.Timeout == 0 {
			p.Timeout = opts.Timeout
		}
		r.pending[c] = true
		r.probes = append(r.probes, p)
	}
	if len(r.probes) == 0 {
		r.readyOnce.Do(func() { close(r.ready) })
	}
	return r, nil
}

// Timeline returns the timeline the runner records into.
func (r *Runner) Timeline() *Timeline { return r.timeline }

// Run samples until ctx ends, then waits for samples and requests in flight to
// return (they see the cancelled context) and returns nil. A sample cut short by
// the end of the run is not recorded: its failure says nothing about 3scale.
// Run may be called once; a second call returns an error.
func (r *Runner) Run(ctx context.Context) error {
	r.mu.Lock()
	if r.started {
		r.mu.Unlock()
		return errors.New("runner already started")
	}
	r.started = true
	r.mu.Unlock()

	var wg sync.WaitGroup
	anchor := r.clock.Now()
	for _, p := range r.probes {
		wg.Go(func() { r.loop(ctx, p, anchor) })
	}
	wg.Wait()
	return nil
}

// Ready is closed once every probe has recorded a sample.
func (r *Runner) Ready() <-chan struct{} { return r.ready }

// WaitReady waits until every probe has recorded a sample, or ctx ends; the
// error then names the capabilities that have not sampled yet.
func (r *Runner) WaitReady(ctx context.Context) error {
	select {
	case <-r.ready:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting for the first sample of %s: %w", strings.Join(r.notReady(), ", "), context.Cause(ctx))
	}
}

func (r *Runner) notReady() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for c, p := range r.pending {
		if p {
			out = append(out, string(c))
		}
	}
	sort.Strings(out)
	return out
}

// Mark records a phase mark at the runner clock's current time and returns the time.
func (r *Runner) Mark(name string) time.Time {
	at := r.clock.Now()
	r.timeline.MarkAt(name, at)
	r.mu.Lock()
	r.lastMark = name
	r.mu.Unlock()
	return at
}

// Phase returns the name of the last mark set through Mark ("" before the
// first).
func (r *Runner) Phase() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lastMark
}

func (r *Runner) sampled(c scenario.Capability) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.pending[c] {
		return
	}
	r.pending[c] = false
	for _, p := range r.pending {
		if p {
			return
		}
	}
	r.readyOnce.Do(func() { close(r.ready) })
}

// loop runs one probe: tick k is due at anchor + k×interval. When a sample
// returns after the next tick was due, the next sample starts at once, counts
// as that tick (late), and the ticks that passed meanwhile are skipped; both
// are recorded as a Delay.
func (r *Runner) loop(ctx context.Context, p Probe, anchor time.Time) {
	c := p.Sampler.Capability()
	tick := 0
	for {
		due := anchor.Add(time.Duration(tick) * p.Interval)
		if wait := due.Sub(r.clock.Now()); wait > 0 {
			t := r.clock.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C():
			}
		}
		if ctx.Err() != nil {
			return
		}
		s, ok := r.sampleOnce(ctx, p)
		if !ok {
			return
		}
		r.timeline.Record(s)
		r.sampled(c)

		end := r.clock.Now()
		next := tick + 1
		nextDue := anchor.Add(time.Duration(next) * p.Interval)
		if !end.After(nextDue) {
			tick = next
			continue
		}
		// Overran: the last tick at or before end is the one the next
		// sample stands for; the ones between were skipped.
		last := int(end.Sub(anchor) / p.Interval)
		r.timeline.RecordDelay(Delay{Capability: c, Due: nextDue, Started: end, Skipped: last - next})
		tick = last
	}
}

// sampleOnce takes one sample with the probe's timeout. It returns false when
// the run ended while the sample was in flight.
func (r *Runner) sampleOnce(ctx context.Context, p Probe) (scenario.Sample, bool) {
	start := r.clock.Now()
	sctx, cancel := context.WithTimeout(ctx, p.Timeout)
	defer cancel()
	s := p.Sampler.Sample(sctx)
	if ctx.Err() != nil {
		return scenario.Sample{}, false
	}
	s.Capability = p.Sampler.Capability()
	s.Time = start
	if s.Latency == 0 {
		s.Latency = r.clock.Since(start)
	}
	if s.OK {
		s.ErrorClass = scenario.ErrNone
	} else if s.ErrorClass == scenario.ErrNone {
		s.ErrorClass = scenario.ErrOther
	}
	return s, true
}
