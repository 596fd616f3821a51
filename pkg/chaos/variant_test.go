package chaos_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/threescale-chaos/harness/pkg/catalog"
	"github.com/threescale-chaos/harness/pkg/chaos"
	"github.com/threescale-chaos/harness/pkg/probe"
	"github.com/threescale-chaos/harness/pkg/scenario"
)

// A variant's configuration (Input.Configure) with a fake fault: set before the first sample,
// undone after the fault's restore on every way out of Run.

type fakeVariant struct {
	log        *stepLog
	configErr  error
	undoErr    error
	mu         sync.Mutex
	undoCtxErr []error
}

func (v *fakeVariant) configure(context.Context) (func(context.Context) error, error) {
	v.log.add("configure")
	if v.configErr != nil {
		return nil, v.configErr
	}
	return func(ctx context.Context) error {
		v.log.add("undo")
		v.mu.Lock()
		v.undoCtxErr = append(v.undoCtxErr, ctx.Err())
		v.mu.Unlock()
		return v.undoErr
	}, nil
}

// loggedFault is fakeFault with its inject and restore in the variant's log.
type loggedFault struct {
	*fakeFault
	log *stepLog
}

func (f loggedFault) Inject(ctx context.Context) error {
	f.log.add("inject")
	return f.fakeFault.Inject(ctx)
}

func (f loggedFault) Restore(ctx context.Context) error {
	f.log.add("restore")
	return f.fakeFault.Restore(ctx)
}

func runVariant(ctx context.Context, t *testing.T, f *fakeFault, v *fakeVariant) (scenario.Verdict, error) {
	t.Helper()
	smp := fakeSamplers(f, "")
	sampled := false
	var mu sync.Mutex
	for c, s := range smp {
		smp[c] = probe.Func(c, func(ctx context.Context) scenario.Sample {
			mu.Lock()
			if !sampled {
				sampled = true
				v.log.add("first sample")
			}
			mu.Unlock()
			return s.Sample(ctx)
		})
	}
	res, err := chaos.Run(ctx, chaos.Input{
		Scenario: quickScenario(t, "{expect: lost}"), Fault: loggedFault{f, v.log}, Samplers: smp, Configure: v.configure,
		Periods: func(context.Context, catalog.Period) catalog.PeriodReading {
			return catalog.PeriodReading{Interval: time.Second, Source: "test"}
		},
		Options: chaos.Options{SampleInterval: 50 * time.Millisecond, SteadyTimeout: 3 * time.Second, RecoveryMargin: time.Second},
		Logf:    t.Logf,
	})
	return res.Verdict, err
}

func TestVariantConfiguredBeforeSamplingAndUndoneAfterRestore(t *testing.T) {
	v := &fakeVariant{log: &stepLog{}}
	verdict, err := runVariant(context.Background(), t, &fakeFault{}, v)
	if err != nil || verdict != scenario.Pass {
		t.Fatalf("verdict %s, err %v", verdict, err)
	}
	steps := v.log.all()
	// Restore may run twice (the runner's own, then its deferred no-op); only the order counts.
	steps = slices.Compact(steps)
	want := []string{"configure", "first sample", "inject", "restore", "undo"}
	if !slices.Equal(steps, want) {
		t.Fatalf("steps %q, want %q", steps, want)
	}
}

// A failed inject is the run's error; the variant is put back all the same.
func TestVariantUndoneWhenTheRunFails(t *testing.T) {
	v := &fakeVariant{log: &stepLog{}}
	_, err := runVariant(context.Background(), t, &fakeFault{injectErr: errors.New("forbidden")}, v)
	if err == nil || !strings.Contains(err.Error(), "forbidden") {
		t.Fatalf("err = %v, want the inject error", err)
	}
	if steps := v.log.all(); !slices.Contains(steps, "undo") || steps[len(steps)-1] != "undo" {
		t.Fatalf("steps %q: the variant is not undone last", steps)
	}
}

// A run cancelled while the fault holds undoes the variant with a live context, after the
// restore.
func TestVariantUndoneWithALiveContextWhenCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	v := &fakeVariant{log: &stepLog{}}
	_, err := runVariant(ctx, t, &fakeFault{blockHold: true, onHold: cancel}, v)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	steps := v.log.all()
	if len(steps) == 0 || steps[len(steps)-1] != "undo" {
		t.Fatalf("steps %q: the variant is not undone last", steps)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.undoCtxErr) != 1 || v.undoCtxErr[0] != nil {
		t.Fatalf("undo ran %d times with context errors %v; want once, live", len(v.undoCtxErr), v.undoCtxErr)
	}
}

// A variant that cannot be configured stops the run before anything is sampled or injected;
// an undo that fails is the run's error.
func TestVariantConfigureAndUndoErrors(t *testing.T) {
	f := &fakeFault{}
	v := &fakeVariant{log: &stepLog{}, configErr: errors.New("PUT policies: 422")}
	_, err := runVariant(context.Background(), t, f, v)
	if err == nil || !strings.Contains(err.Error(), "configure the variant: PUT policies: 422") {
		t.Fatalf("err = %v", err)
	}
	if steps := v.log.all(); !slices.Equal(steps, []string{"configure"}) {
		t.Fatalf("steps %q after a failed configure", steps)
	}

	v = &fakeVariant{log: &stepLog{}, undoErr: errors.New("promote: 500")}
	_, err = runVariant(context.Background(), t, &fakeFault{}, v)
	if err == nil || !strings.Contains(err.Error(), "undo the variant") || !strings.Contains(err.Error(), "promote: 500") {
		t.Fatalf("err = %v, want the undo error", err)
	}
}
