package chaos_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/threescale-chaos/harness/pkg/catalog"
	"github.com/threescale-chaos/harness/pkg/chaos"
	"github.com/threescale-chaos/harness/pkg/kube"
	"github.com/threescale-chaos/harness/pkg/probe"
	"github.com/threescale-chaos/harness/pkg/scenario"
)

// A fault of several components with fake components: no cluster. Each fake logs its steps
// in one shared log, so the order across components shows.

type stepLog struct {
	mu    sync.Mutex
	steps []string
}

func (l *stepLog) add(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.steps = append(l.steps, s)
}

func (l *stepLog) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.steps)
}

type fakeComponent struct {
	name       string
	log        *stepLog
	recordErr  error
	restoreErr error
	// blockHold makes Hold wait for its context; onHold is called when Hold starts.
	blockHold bool
	onHold    func()

	down            atomic.Bool
	mu              sync.Mutex
	restores        int
	restoreCtxErrs  []error
	recorded, taken bool
}

func (c *fakeComponent) Record(context.Context) error {
	c.log.add("record " + c.name)
	if c.recordErr != nil {
		return c.recordErr
	}
	c.mu.Lock()
	c.recorded = true
	c.mu.Unlock()
	return nil
}

func (c *fakeComponent) TakeDown(context.Context) error {
	c.log.add("down " + c.name)
	c.mu.Lock()
	c.taken = true
	c.mu.Unlock()
	c.down.Store(true)
	return nil
}

func (c *fakeComponent) WaitGone(context.Context) error {
	c.log.add("gone " + c.name)
	return nil
}

func (c *fakeComponent) Hold(ctx context.Context, opts kube.HoldOptions) (kube.HoldReport, error) {
	if c.onHold != nil {
		c.onHold()
	}
	start := time.Now()
	if c.blockHold {
		<-ctx.Done()
		return kube.HoldReport{Start: start, End: time.Now()}, ctx.Err()
	}
	t := time.NewTimer(opts.Window)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return kube.HoldReport{Start: start, End: time.Now()}, ctx.Err()
	case <-t.C:
		return kube.HoldReport{Start: start, End: time.Now()}, nil
	}
}

func (c *fakeComponent) Restore(ctx context.Context) error {
	c.log.add("restore " + c.name)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.restores++
	c.restoreCtxErrs = append(c.restoreCtxErrs, ctx.Err())
	c.down.Store(false)
	return c.restoreErr
}

func (c *fakeComponent) restored() (int, []error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.restores, slices.Clone(c.restoreCtxErrs)
}

func twoComponents() (*fakeComponent, *fakeComponent, *stepLog) {
	log := &stepLog{}
	return &fakeComponent{name: "backend-worker", log: log}, &fakeComponent{name: "backend-cron", log: log}, log
}

// prepared is a fault whose Prepare answers a fixed preflight, over a fault of several
// components already prepared.
type prepared struct {
	chaos.Fault
}

func (prepared) Prepare(context.Context) (chaos.Preflight, error) {
	return chaos.Preflight{Workload: "Deployment/backend-worker, Deployment/backend-cron", Method: "scale-subresource", Plan: "scale both to 0", OriginalReplicas: 1}, nil
}

// severalSamplers: production-traffic fails while any of the components is down.
func severalSamplers(cs ...*fakeComponent) map[scenario.Capability]probe.Sampler {
	m := map[scenario.Capability]probe.Sampler{}
	for _, c := range scenario.Capabilities() {
		m[c] = probe.Func(c, func(context.Context) scenario.Sample {
			if c == scenario.ProductionTraffic && slices.ContainsFunc(cs, func(f *fakeComponent) bool { return f.down.Load() }) {
				return scenario.Sample{OK: false, ErrorClass: scenario.ErrRefused, Detail: "down"}
			}
			return scenario.Sample{OK: true, Status: 200}
		})
	}
	return m
}

func runSeveral(ctx context.Context, t *testing.T, cs ...*fakeComponent) (scenario.Verdict, error) {
	t.Helper()
	fs := make([]chaos.ComponentFault, len(cs))
	for i, c := range cs {
		fs[i] = c
	}
	res, err := chaos.Run(ctx, chaos.Input{
		Scenario: quickScenario(t, "{expect: lost}"), Fault: prepared{chaos.SeveralFaults(fs...)}, Samplers: severalSamplers(cs...),
		Periods: func(context.Context, catalog.Period) catalog.PeriodReading {
			return catalog.PeriodReading{Interval: time.Second, Source: "test"}
		},
		Options: chaos.Options{SampleInterval: 50 * time.Millisecond, SteadyTimeout: 3 * time.Second, RecoveryMargin: time.Second},
		Logf:    t.Logf,
	})
	if err == nil && res.Verdict != scenario.Pass {
		t.Logf("verdict %s: %s", res.Verdict, res.Reason)
	}
	return res.Verdict, err
}

// Every component is in the ledger before any is taken down, all are taken down before the
// wait for their pods, and all are restored.
func TestSeveralComponentsRecordedBeforeAnyIsTakenDown(t *testing.T) {
	a, b, log := twoComponents()
	verdict, err := runSeveral(context.Background(), t, a, b)
	if err != nil || verdict != scenario.Pass {
		t.Fatalf("verdict %s, err %v; want PASS", verdict, err)
	}
	steps := log.all()
	want := []string{"record backend-worker", "record backend-cron", "down backend-worker", "down backend-cron", "gone backend-worker", "gone backend-cron"}
	if len(steps) < len(want) || !slices.Equal(steps[:len(want)], want) {
		t.Fatalf("steps %q, want first %q", steps, want)
	}
	rest := steps[len(want):]
	slices.Sort(rest)
	if !slices.Equal(rest, []string{"restore backend-cron", "restore backend-worker"}) {
		t.Errorf("after the inject: %q, want each component restored once", rest)
	}
	for _, c := range []*fakeComponent{a, b} {
		if c.down.Load() {
			t.Errorf("%s left down", c.name)
		}
	}
}

// A component that cannot be recorded stops the inject before anything is taken down; the
// one already recorded is restored.
func TestSeveralComponentsRecordErrorTakesNothingDown(t *testing.T) {
	a, b, log := twoComponents()
	b.recordErr = errors.New("backend-cron carries another run's annotation")
	_, err := runSeveral(context.Background(), t, a, b)
	if err == nil || !strings.Contains(err.Error(), "another run's annotation") {
		t.Fatalf("err = %v, want the record error", err)
	}
	for _, s := range log.all() {
		if strings.HasPrefix(s, "down ") {
			t.Errorf("%q after a failed record: %q", s, log.all())
		}
	}
	if n, _ := a.restored(); n < 1 {
		t.Error("the recorded component was not restored")
	}
}

// A restore that fails on one component still restores the other, and the error names it.
func TestSeveralComponentsRestoreErrorStillRestoresTheOther(t *testing.T) {
	a, b, _ := twoComponents()
	a.restoreErr = fmt.Errorf("restore backend-worker: %w", kube.ErrNotReady)
	_, err := runSeveral(context.Background(), t, a, b)
	if !errors.Is(err, kube.ErrNotReady) || !strings.Contains(err.Error(), "backend-worker") {
		t.Fatalf("err = %v, want backend-worker's restore error", err)
	}
	if n, _ := b.restored(); n < 1 || b.down.Load() {
		t.Errorf("backend-cron restored %d times, down %v, after backend-worker's restore failed", n, b.down.Load())
	}
	// Restore joins the errors of every component.
	b.restoreErr = errors.New("backend-cron: scale refused")
	err = chaos.SeveralFaults(a, b).Restore(context.Background())
	if !errors.Is(err, kube.ErrNotReady) || !strings.Contains(err.Error(), "backend-cron: scale refused") {
		t.Errorf("err = %v, want both components' errors", err)
	}
}

// A run cancelled while the fault holds restores every component, with a live context.
func TestSeveralComponentsCancelledRunRestoresAll(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, b, _ := twoComponents()
	a.blockHold, b.blockHold = true, true
	b.onHold = cancel
	_, err := runSeveral(ctx, t, a, b)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	for _, c := range []*fakeComponent{a, b} {
		n, ctxErrs := c.restored()
		if n < 1 || ctxErrs[0] != nil || c.down.Load() {
			t.Errorf("%s: restored %d times with context errors %v; down %v", c.name, n, ctxErrs, c.down.Load())
		}
	}
}
