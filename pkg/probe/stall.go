package probe

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/threescale-chaos/harness/pkg/scenario"
)

// DefaultStallThreshold is how late the harness's clock may wake, and how long the test
// bed's control may take to answer, before StallWatch calls it a stall. The API server's
// /readyz answers in milliseconds on a healthy cluster; a second means everything behind it
// (the kubelet, port-forward, the node's pods) was held up too.
const DefaultStallThreshold = time.Second

// clockTick is how often StallWatch's clock wakes to see whether the harness's process
// was held up.
const clockTick = 100 * time.Millisecond

// ErrControlUnavailable wraps an answer of the control that says it cannot be used on
// this cluster at all (a 401, 403 or 404: the answer came, so the test bed is up). The
// watch then stops calling it and keeps only the clock.
var ErrControlUnavailable = errors.New("control unavailable")

// StallWatch watches the test bed, not 3scale, while the samplers run: a run on a loaded
// CI runner can stall the whole cluster, or the harness's own process, for seconds, and
// every sample under way then fails whichever component is down. Such failures say
// nothing about the outage. The watch records two kinds of stall, each as a
// scenario.Disturbance of every capability (AnyFailure):
//
//   - the harness's clock woke more than Threshold late (its process was not scheduled);
//   - the control (the Kubernetes API server's /readyz, which no 3scale component is
//     behind) took longer than Threshold, or failed without an answer, or answered that it
//     was not ready.
//
// Stalls only excuse failed samples under way while they lasted: a capability that is
// really broken fails outside them too, and a stall long enough to leave a cell too few
// samples makes that cell INVALID, not PASS.
type StallWatch struct {
	// Interval is how often the control is checked (the samplers' cadence).
	Interval time.Duration
	// Timeout bounds one check (the samplers' per-sample bound).
	Timeout time.Duration
	// Threshold is the lateness, or the check's duration, from which it is a stall.
	Threshold time.Duration
	// Control checks something every capability's path goes through but no 3scale
	// component is behind. Nil watches the clock only. An error wrapping
	// ErrControlUnavailable stops the checks.
	Control func(ctx context.Context) error
	// ControlName names the control in reports ("the Kubernetes API server's /readyz").
	ControlName string
	// Capabilities are the capabilities a stall accounts for: all the run samples.
	Capabilities []scenario.Capability

	mu          sync.Mutex
	stalls      []stall
	unavailable string
	checks      int
	slowest     time.Duration
}

type stall struct {
	start, end time.Time
	what       string
}

// Run watches until ctx ends.
func (w *StallWatch) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); w.watchClock(ctx) }()
	if w.Control != nil {
		w.watchControl(ctx)
	}
	wg.Wait()
}

// watchClock sleeps clockTick at a time and records every wake-up later than Threshold.
func (w *StallWatch) watchClock(ctx context.Context) {
	t := time.NewTimer(clockTick)
	defer t.Stop()
	due := time.Now().Add(clockTick)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := time.Now()
		if late := now.Sub(due); late > w.threshold() {
			w.add(due, now, fmt.Sprintf("the harness's clock woke %s late (its process was held up)", scenario.Readable(late)))
		}
		due = now.Add(clockTick)
		t.Reset(clockTick)
	}
}

// watchControl checks the control every Interval, one check at a time.
func (w *StallWatch) watchControl(ctx context.Context) {
	interval := w.Interval
	if interval <= 0 {
		interval = time.Second
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		if !w.checkControl(ctx) {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// checkControl runs one check and says whether to go on.
func (w *StallWatch) checkControl(ctx context.Context) bool {
	timeout := w.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	start := time.Now()
	err := w.Control(cctx)
	took := time.Since(start)
	cancel()
	if ctx.Err() != nil {
		return false // the run ended under the check: that says nothing of the test bed
	}
	w.mu.Lock()
	w.checks++
	w.slowest = max(w.slowest, took)
	w.mu.Unlock()
	switch {
	case errors.Is(err, ErrControlUnavailable):
		w.mu.Lock()
		w.unavailable = ErrorDetail(err)
		w.mu.Unlock()
		return false
	case err != nil:
		w.add(start, start.Add(took), fmt.Sprintf("%s failed after %s: %s", w.ControlName, scenario.Readable(took), ErrorDetail(err)))
	case took > w.threshold():
		w.add(start, start.Add(took), fmt.Sprintf("%s took %s", w.ControlName, scenario.Readable(took)))
	}
	return true
}

func (w *StallWatch) add(start, end time.Time, what string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stalls = append(w.stalls, stall{start: start, end: end, what: what})
}

// Unavailable says why the control was given up, empty when it was not.
func (w *StallWatch) Unavailable() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.unavailable
}

// Checks returns how many checks of the control completed and the slowest one's duration.
func (w *StallWatch) Checks() (int, time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.checks, w.slowest
}

// Stalls returns the stalls seen so far as disturbances, in time order. Overlapping
// stalls, and stalls less than Threshold apart, are merged into one, and each ends
// Threshold after the last sign of it: what queued up behind the stall drains then.
func (w *StallWatch) Stalls() []scenario.Disturbance {
	w.mu.Lock()
	ss := slices.Clone(w.stalls)
	w.mu.Unlock()
	tail := w.threshold()
	slices.SortFunc(ss, func(a, b stall) int { return a.start.Compare(b.start) })
	var out []scenario.Disturbance
	var whats []string
	flush := func() {
		if len(whats) == 0 {
			return
		}
		if len(whats) > maxStallSigns {
			whats = append(whats[:maxStallSigns], fmt.Sprintf("%d more signs", len(whats)-maxStallSigns))
		}
		out[len(out)-1].What = "the test bed stalled: " + strings.Join(whats, "; ")
		whats = nil
	}
	for _, s := range ss {
		end := s.end.Add(tail)
		if n := len(out); n > 0 && !s.start.After(out[n-1].End) {
			if end.After(out[n-1].End) {
				out[n-1].End = end
			}
			whats = append(whats, s.what)
			continue
		}
		flush()
		out = append(out, scenario.Disturbance{Start: s.start, End: end, Capabilities: slices.Clone(w.Capabilities), AnyFailure: true})
		whats = append(whats, s.what)
	}
	flush()
	return out
}

// maxStallSigns bounds how many signs of one stall its description lists.
const maxStallSigns = 3

func (w *StallWatch) threshold() time.Duration {
	if w.Threshold <= 0 {
		return DefaultStallThreshold
	}
	return w.Threshold
}
