package probe

import (
	"context"
	"errors"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/threescale-chaos/harness/pkg/scenario"
)

func runLoad(t *testing.T, g *LoadGenerator) (cancel func(), done <-chan struct{}) {
	t.Helper()
	ctx, stop := context.WithCancel(context.Background())
	ch := make(chan struct{})
	go func() {
		defer close(ch)
		if err := g.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	t.Cleanup(func() { stop(); within(t, "load to stop", ch) })
	return stop, ch
}

// Calls count in the phase current when they started, split by outcome.
func TestLoadCountsPerPhase(t *testing.T) {
	fc := clocktesting.NewFakeClock(t0)
	var calls atomic.Int32
	var finished atomic.Int32
	g, err := NewLoadGenerator(Load{Name: "gw", Rate: 10, Do: func(ctx context.Context) error {
		defer finished.Add(1)
		if calls.Add(1)%2 == 0 {
			return &net503{}
		}
		return nil
	}}, fc)
	if err != nil {
		t.Fatal(err)
	}
	g.SetPhase(PhaseSteady)
	runLoad(t, g)
	step := func(n int) {
		for range n {
			eventually(t, "the generator to wait for its tick", fc.HasWaiters)
			fc.Step(100 * time.Millisecond)
		}
	}
	eventually(t, "the first call", func() bool { return finished.Load() == 1 })
	step(3) // calls 2, 3, 4 in steady
	eventually(t, "four calls", func() bool { return finished.Load() == 4 })
	g.SetPhase(PhaseFaultHeld)
	step(2) // calls 5, 6 in fault-held
	eventually(t, "six calls", func() bool { return finished.Load() == 6 })

	steady, held := g.PhaseCounts(PhaseSteady), g.PhaseCounts(PhaseFaultHeld)
	if steady.Sent != 4 || steady.OK != 2 || steady.Failed != 2 || steady.ByClass[scenario.Err5xx] != 2 {
		t.Errorf("steady = %+v", steady)
	}
	if held.Sent != 2 || held.OK != 1 || held.Failed != 1 {
		t.Errorf("fault-held = %+v", held)
	}
	if tot := g.Total(); tot.Sent != 6 || tot.OK != 3 || tot.Phase != "" {
		t.Errorf("total = %+v", tot)
	}
	if c := g.Counts(); len(c) != 2 || c[0].Phase != PhaseSteady {
		t.Errorf("Counts order = %+v", c)
	}
}

type net503 struct{}

func (*net503) Error() string { return "503" }

// Unwrap lets classOf see a *Failure with class 5xx.
func (*net503) Unwrap() error { return &Failure{Class: scenario.Err5xx, Status: 503} }

// MaxInFlight is a hard cap: ticks that find it reached are dropped, not
// queued.
func TestLoadCapsInFlight(t *testing.T) {
	fc := clocktesting.NewFakeClock(t0)
	release := make(chan struct{})
	var inFlight, started atomic.Int32
	g, err := NewLoadGenerator(Load{Name: "gw", Rate: 10, MaxInFlight: 2, Do: func(ctx context.Context) error {
		inFlight.Add(1)
		started.Add(1)
		defer inFlight.Add(-1)
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}}, fc)
	if err != nil {
		t.Fatal(err)
	}
	cancel, done := runLoad(t, g)
	for range 5 {
		eventually(t, "the generator to wait for its tick", fc.HasWaiters)
		fc.Step(100 * time.Millisecond)
	}
	eventually(t, "the generator to wait again", fc.HasWaiters)
	c := g.Total()
	if c.Sent != 2 || c.Dropped != 4 || inFlight.Load() != 2 {
		t.Errorf("counts = %+v with %d in flight; want 2 sent, 4 dropped", c, inFlight.Load())
	}
	release <- struct{}{}
	eventually(t, "one call to finish", func() bool { return g.Total().OK == 1 })
	cancel()
	within(t, "Run to return", done)
	if c := g.Total(); c.Aborted != 1 || c.Failed != 0 || started.Load() != 2 {
		t.Errorf("after cancel = %+v, want the call in flight aborted, not failed", c)
	}
}

func TestLoadIsBoundedInCountAndTime(t *testing.T) {
	var calls atomic.Int32
	do := func(context.Context) error { calls.Add(1); return nil }
	g, err := NewLoadGenerator(Load{Name: "n", Rate: 1000, MaxRequests: 3, Do: do}, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, done := runLoad(t, g)
	within(t, "Run to end after MaxRequests", done)
	if c := g.Total(); c.Sent != 3 || c.OK != 3 {
		t.Errorf("count-bounded = %+v", c)
	}

	g, err = NewLoadGenerator(Load{Name: "d", Rate: 1000, MaxDuration: 20 * time.Millisecond, Do: do}, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, done = runLoad(t, g)
	within(t, "Run to end after MaxDuration", done)
	if c := g.Total(); c.Sent+c.Dropped > 20 || c.Sent == 0 {
		t.Errorf("time-bounded = %+v, want at most 20 ticks", c)
	}
}

func TestLoadClassifiesFailures(t *testing.T) {
	g, err := NewLoadGenerator(Load{Name: "r", Rate: 1000, MaxRequests: 2, Do: func(context.Context) error {
		return syscall.ECONNREFUSED
	}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, done := runLoad(t, g)
	within(t, "Run to end", done)
	if c := g.Total(); c.Failed != 2 || c.ByClass[scenario.ErrRefused] != 2 {
		t.Errorf("counts = %+v", c)
	}
	if err := g.Run(context.Background()); err == nil {
		t.Error("a second Run succeeded")
	}
}

func TestLoadValidation(t *testing.T) {
	do := func(context.Context) error { return errors.New("x") }
	for name, l := range map[string]Load{
		"no name":     {Rate: 1, Do: do},
		"no do":       {Name: "x", Rate: 1},
		"zero rate":   {Name: "x", Do: do},
		"too fast":    {Name: "x", Rate: MaxRate + 1, Do: do},
		"negative":    {Name: "x", Rate: 1, Do: do, MaxInFlight: -1},
		"neg timeout": {Name: "x", Rate: 1, Do: do, Timeout: -time.Second},
	} {
		if _, err := NewLoadGenerator(l, nil); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
