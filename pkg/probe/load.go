package probe

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"sync"
	"time"

	"k8s.io/utils/clock"

	"github.com/threescale-chaos/harness/pkg/scenario"
)

// Bounds and defaults for background load.
const (
	// MaxRate is the highest rate a Load may ask for: one request per
	// millisecond. The harness proves behaviour, it does not benchmark.
	MaxRate = 1000.0
	// DefaultMaxInFlight caps concurrent requests of a Load.
	DefaultMaxInFlight = 16
	// DefaultLoadDuration bounds a Load's run when MaxDuration is unset.
	DefaultLoadDuration = time.Hour
)

// Load describes background traffic: Do is called Rate times a second on fixed
// ticks, each call with its own timeout, never more than MaxInFlight at once.
// A tick that finds MaxInFlight calls still running is dropped, not queued, so a
// slow target never builds a backlog the harness then fires at it.
type Load struct {
	// Name identifies the load in counts and reports ("production-gateway").
	Name string
	// Rate is requests per second, in (0, MaxRate].
	Rate float64
	// Do performs one request and returns nil when it succeeded.
	Do func(ctx context.Context) error
	// MaxInFlight is the hard cap on concurrent calls; 0 means
	// DefaultMaxInFlight.
	MaxInFlight int
	// Timeout bounds one call; 0 means DefaultTimeout.
	Timeout time.Duration
	// MaxDuration bounds the run; 0 means DefaultLoadDuration.
	MaxDuration time.Duration
	// MaxRequests bounds how many calls are started; 0 means what Rate
	// allows in MaxDuration.
	MaxRequests int
}

func (l *Load) validate() error {
	switch {
	case l.Name == "":
		return errors.New("load has no name")
	case l.Do == nil:
		return fmt.Errorf("load %q has no Do function", l.Name)
	case math.IsNaN(l.Rate) || l.Rate <= 0 || l.Rate > MaxRate:
		return fmt.Errorf("load %q: rate %v is not in (0, %v] requests per second", l.Name, l.Rate, MaxRate)
	case l.MaxInFlight < 0 || l.Timeout < 0 || l.MaxDuration < 0 || l.MaxRequests < 0:
		return fmt.Errorf("load %q: negative bound (maxInFlight %d, timeout %s, maxDuration %s, maxRequests %d)",
			l.Name, l.MaxInFlight, l.Timeout, l.MaxDuration, l.MaxRequests)
	}
	if l.MaxInFlight == 0 {
		l.MaxInFlight = DefaultMaxInFlight
	}
	if l.Timeout == 0 {
		l.Timeout = DefaultTimeout
	}
	if l.MaxDuration == 0 {
		l.MaxDuration = DefaultLoadDuration
	}
	if l.MaxRequests == 0 {
		l.MaxRequests = int(math.Ceil(l.Rate*l.MaxDuration.Seconds())) + 1
	}
	return nil
}

// LoadCounts tallies a load's calls in one phase. A call counts in the phase
// that was current when it started. Sent = OK + Failed + Aborted + calls still
// in flight.
type LoadCounts struct {
	Load  string
	Phase string
	// Sent is how many calls started.
	Sent int
	// OK and Failed split finished calls by outcome.
	OK, Failed int
	// Aborted is how many calls the end of the run cut short; they are
	// neither OK nor Failed.
	Aborted int
	// Dropped is how many ticks started no call because MaxInFlight calls
	// were running, or because the generator fell a tick behind.
	Dropped int
	// ByClass splits Failed by error class.
	ByClass map[scenario.ErrorClass]int
}

func (c *LoadCounts) add(o LoadCounts) {
	c.Sent += o.Sent
	c.OK += o.OK
	c.Failed += o.Failed
	c.Aborted += o.Aborted
	c.Dropped += o.Dropped
	for k, v := range o.ByClass {
		if c.ByClass == nil {
			c.ByClass = map[scenario.ErrorClass]int{}
		}
		c.ByClass[k] += v
	}
}

// LoadGenerator runs one Load and keeps its counts per phase. It is safe for
// concurrent use.
type LoadGenerator struct {
	load  Load
	clock clock.Clock

	mu      sync.Mutex
	phase   string
	counts  map[string]*LoadCounts
	phases  []string
	started bool
}

// NewLoadGenerator validates l and returns a generator for it; a nil clock means
// the real clock.
func NewLoadGenerator(l Load, clk clock.Clock) (*LoadGenerator, error) {
	if err := l.validate(); err != nil {
		return nil, err
	}
	if clk == nil {
		clk = clock.RealClock{}
	}
	return &LoadGenerator{load: l, clock: clk, counts: map[string]*LoadCounts{}}, nil
}

// Name returns the load's name.
func (g *LoadGenerator) Name() string { return g.load.Name }

// SetPhase makes name the phase that calls started from now on count against.
func (g *LoadGenerator) SetPhase(name string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.phase = name
}

// Phase returns the phase calls currently count against.
func (g *LoadGenerator) Phase() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.phase
}

// Counts returns the counts per phase, in the order phases were first counted.
func (g *LoadGenerator) Counts() []LoadCounts {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]LoadCounts, 0, len(g.phases))
	for _, p := range g.phases {
		c := *g.counts[p]
		c.ByClass = maps.Clone(c.ByClass)
		out = append(out, c)
	}
	return out
}

// Total returns the counts summed over every phase (Phase is empty).
func (g *LoadGenerator) Total() LoadCounts {
	t := LoadCounts{Load: g.load.Name}
	for _, c := range g.Counts() {
		t.add(c)
	}
	return t
}

// PhaseCounts returns the counts of one phase (zero counts if nothing was
// counted in it).
func (g *LoadGenerator) PhaseCounts(phase string) LoadCounts {
	for _, c := range g.Counts() {
		if c.Phase == phase {
			return c
		}
	}
	return LoadCounts{Load: g.load.Name, Phase: phase}
}

// Run sends calls until ctx ends, MaxDuration has passed or MaxRequests calls
// have started, then waits for the calls in flight and returns nil. Calls in
// flight when ctx ends see its cancellation and count as Aborted. Run may be
// called once.
func (g *LoadGenerator) Run(ctx context.Context) error {
	g.mu.Lock()
	if g.started {
		g.mu.Unlock()
		return fmt.Errorf("load %q already started", g.load.Name)
	}
	g.started = true
	g.mu.Unlock()

	l := g.load
	period := time.Duration(float64(time.Second) / l.Rate)
	anchor := g.clock.Now()
	deadline := anchor.Add(l.MaxDuration)
	slots := make(chan struct{}, l.MaxInFlight)
	var wg sync.WaitGroup
	defer wg.Wait()

	sent := 0
	for tick := 0; sent < l.MaxRequests; tick++ {
		due := anchor.Add(time.Duration(tick) * period)
		if !due.Before(deadline) {
			return nil
		}
		now := g.clock.Now()
		if !now.Before(deadline) {
			return nil
		}
		if wait := due.Sub(now); wait > 0 {
			t := g.clock.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-t.C():
			}
			now = g.clock.Now()
		} else if behind := int(now.Sub(due) / period); behind > 0 {
			// The generator itself fell behind (a stalled process); count
			// the ticks that passed instead of bursting to catch up.
			g.count(func(c *LoadCounts) { c.Dropped += behind })
			tick += behind - 1 // the loop's tick++ lands on the tick due now
			continue
		}
		if ctx.Err() != nil {
			return nil
		}
		select {
		case slots <- struct{}{}:
		default:
			g.count(func(c *LoadCounts) { c.Dropped++ })
			continue
		}
		phase := g.count(func(c *LoadCounts) { c.Sent++ })
		sent++
		wg.Go(func() {
			defer func() { <-slots }()
			g.call(ctx, phase)
		})
	}
	return nil
}

func (g *LoadGenerator) call(ctx context.Context, phase string) {
	cctx, cancel := context.WithTimeout(ctx, g.load.Timeout)
	err := g.load.Do(cctx)
	cancel()
	g.countIn(phase, func(c *LoadCounts) {
		switch {
		case err == nil:
			c.OK++
		case ctx.Err() != nil:
			c.Aborted++
		default:
			c.Failed++
			if c.ByClass == nil {
				c.ByClass = map[scenario.ErrorClass]int{}
			}
			c.ByClass[classOf(err)]++
		}
	})
}

func classOf(err error) scenario.ErrorClass {
	var f *Failure
	if errors.As(err, &f) && f.Class != scenario.ErrNone {
		return f.Class
	}
	return ClassifyError(err)
}

// count applies f to the current phase's counts and returns the phase.
func (g *LoadGenerator) count(f func(*LoadCounts)) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.apply(g.phase, f)
	return g.phase
}

func (g *LoadGenerator) countIn(phase string, f func(*LoadCounts)) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.apply(phase, f)
}

func (g *LoadGenerator) apply(phase string, f func(*LoadCounts)) {
	c, ok := g.counts[phase]
	if !ok {
		c = &LoadCounts{Load: g.load.Name, Phase: phase}
		g.counts[phase] = c
		g.phases = append(g.phases, phase)
	}
	f(c)
}
