package probe

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/threescale-chaos/harness/pkg/scenario"
)

// runWatch runs w until stop says so (polled), then returns its stalls.
func runWatch(t *testing.T, w *StallWatch, stop func() bool) []scenario.Disturbance {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); w.Run(ctx) }()
	deadline := time.Now().Add(30 * time.Second)
	for !stop() {
		if time.Now().After(deadline) {
			cancel()
			<-done
			t.Fatal("the watch never got where the test waits for")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	return w.Stalls()
}

func controlStalls(ds []scenario.Disturbance, name string) []scenario.Disturbance {
	var out []scenario.Disturbance
	for _, d := range ds {
		if strings.Contains(d.What, name) {
			out = append(out, d)
		}
	}
	return out
}

func TestStallWatchRecordsASlowControl(t *testing.T) {
	var calls atomic.Int32
	var slowStart atomic.Int64
	w := &StallWatch{
		Interval: 20 * time.Millisecond, Timeout: 5 * time.Second, Threshold: 200 * time.Millisecond,
		ControlName: "the test's control", Capabilities: []scenario.Capability{scenario.StagingTraffic, scenario.AdminPortal},
		Control: func(ctx context.Context) error {
			if calls.Add(1) == 3 {
				slowStart.Store(time.Now().UnixNano())
				time.Sleep(400 * time.Millisecond)
			}
			return nil
		},
	}
	stalls := controlStalls(runWatch(t, w, func() bool { return calls.Load() >= 6 }), "the test's control")
	if len(stalls) != 1 {
		t.Fatalf("want one stall of the control, got %+v", stalls)
	}
	s := stalls[0]
	began := time.Unix(0, slowStart.Load())
	if s.Start.After(began) || began.Sub(s.Start) > 50*time.Millisecond {
		t.Errorf("stall starts at %s, the slow check at %s", s.Start, began)
	}
	if got := s.End.Sub(s.Start); got < 400*time.Millisecond+w.Threshold {
		t.Errorf("stall lasts %s, want at least the check's 400ms and the threshold's tail", got)
	}
	if !s.AnyFailure || len(s.Capabilities) != 2 || !strings.HasPrefix(s.What, "the test bed stalled: the test's control took ") {
		t.Errorf("got %+v", s)
	}
	if n, slowest := w.Checks(); n < 6 || slowest < 400*time.Millisecond {
		t.Errorf("checks %d, slowest %s", n, slowest)
	}
}

func TestStallWatchRecordsAControlWithoutAnswer(t *testing.T) {
	var calls atomic.Int32
	w := &StallWatch{
		Interval: 20 * time.Millisecond, Timeout: 100 * time.Millisecond, Threshold: time.Second,
		ControlName: "the test's control", Capabilities: []scenario.Capability{scenario.StagingTraffic},
		Control: func(ctx context.Context) error {
			if calls.Add(1) == 2 {
				<-ctx.Done()
				return fmt.Errorf("Get: %w", ctx.Err())
			}
			return nil
		},
	}
	stalls := controlStalls(runWatch(t, w, func() bool { return calls.Load() >= 4 }), "the test's control")
	if len(stalls) != 1 || !strings.Contains(stalls[0].What, "the test's control failed after") || !strings.Contains(stalls[0].What, "deadline exceeded") {
		t.Fatalf("want the timed-out check as a stall, got %+v", stalls)
	}
}

// A cluster that forbids /readyz to the harness's account answers: the test bed is up, and
// the control is given up instead of calling every check a stall.
func TestStallWatchGivesUpAnUnavailableControl(t *testing.T) {
	var calls atomic.Int32
	w := &StallWatch{
		Interval: 10 * time.Millisecond, Threshold: time.Second, ControlName: "the test's control",
		Capabilities: []scenario.Capability{scenario.StagingTraffic},
		Control: func(ctx context.Context) error {
			calls.Add(1)
			return fmt.Errorf("GET /readyz: %w: forbidden", ErrControlUnavailable)
		},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	w.Run(ctx)
	if n := calls.Load(); n != 1 {
		t.Errorf("the control was called %d times after it said it was unavailable", n)
	}
	if got := w.Unavailable(); !strings.Contains(got, "forbidden") {
		t.Errorf("Unavailable() = %q", got)
	}
	if s := controlStalls(w.Stalls(), "the test's control"); len(s) != 0 {
		t.Errorf("an unavailable control made stalls: %+v", s)
	}
}

// With a threshold of a nanosecond every wake-up of the clock is late: the clock's
// measurement, not the scheduler, is what this checks.
func TestStallWatchClock(t *testing.T) {
	w := &StallWatch{Threshold: time.Nanosecond, Capabilities: []scenario.Capability{scenario.StagingTraffic}}
	ctx, cancel := context.WithTimeout(context.Background(), 5*clockTick)
	defer cancel()
	w.Run(ctx)
	stalls := w.Stalls()
	if len(stalls) == 0 || !strings.Contains(stalls[0].What, "the harness's clock woke") {
		t.Fatalf("got %+v", stalls)
	}
}

func TestStallWatchMergesStalls(t *testing.T) {
	base := time.Date(2026, 12, 6, 13, 14, 0, 0, time.UTC)
	at := func(ms int) time.Time { return base.Add(time.Duration(ms) * time.Millisecond) }
	w := &StallWatch{Threshold: time.Second, Capabilities: []scenario.Capability{scenario.StagingTraffic}}
	w.add(at(5000), at(6000), "c") // 5.0–7.0 with the tail, alone
	w.add(at(0), at(2000), "a")    // 0–3.0
	w.add(at(2500), at(2600), "b") // starts inside a's tail: merged, 0–3.6
	for i := range 5 {             // 20.0–21.5 and four more signs inside it
		w.add(at(20000+100*i), at(20100+100*i), fmt.Sprintf("d%d", i))
	}
	got := w.Stalls()
	want := []struct {
		start, end int
		what       string
	}{
		{0, 3600, "the test bed stalled: a; b"},
		{5000, 7000, "the test bed stalled: c"},
		{20000, 21500, "the test bed stalled: d0; d1; d2; 2 more signs"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d stalls: %+v", len(got), got)
	}
	for i, w := range want {
		if !got[i].Start.Equal(at(w.start)) || !got[i].End.Equal(at(w.end)) || got[i].What != w.what || !got[i].AnyFailure {
			t.Errorf("stall %d: got %s–%s %q, want %d–%d %q", i, got[i].Start.Format("05.000"), got[i].End.Format("05.000"), got[i].What, w.start, w.end, w.what)
		}
	}
}
