package scenario

import (
	"fmt"
	"slices"
	"time"
)

// ErrorClass says how a failed sample failed.
type ErrorClass string

// The error classes. A probe picks the most specific one.
const (
	// ErrNone is the class of a successful sample.
	ErrNone ErrorClass = ""
	// ErrRefused: the connection was refused (a Service with no endpoints).
	ErrRefused ErrorClass = "refused"
	// ErrTimeout: no answer within the probe's per-request timeout.
	ErrTimeout ErrorClass = "timeout"
	// ErrReset: the connection was reset or closed mid-request.
	ErrReset ErrorClass = "reset"
	// Err5xx: an HTTP 5xx status.
	Err5xx ErrorClass = "5xx"
	// Err4xx: an HTTP 4xx status the capability does not expect.
	Err4xx ErrorClass = "4xx"
	// ErrWrongStatus: a status outside 4xx and 5xx that the capability does
	// not expect, such as a 2xx where a denial was expected, or a redirect.
	ErrWrongStatus ErrorClass = "wrong-status"
	// ErrWrongBody: the expected status with a body that does not show the
	// expected outcome (not the upstream's marker, object missing).
	ErrWrongBody ErrorClass = "wrong-body"
	// ErrNotApplied: an asynchronous effect (an index entry, a zync entry,
	// an alert, a drained queue) did not appear within the probe's bound.
	ErrNotApplied ErrorClass = "not-applied"
	// ErrOther: anything else (DNS, TLS, a store that cannot be read).
	ErrOther ErrorClass = "other"
)

// Sample is one observation of one capability.
type Sample struct {
	Capability Capability
	// Time is when the sample started.
	Time time.Time
	// OK is whether the capability was healthy, as its definition says.
	OK bool
	// Status is the HTTP status, 0 when there was none (or not HTTP).
	Status int
	// Latency is how long the sample took.
	Latency time.Duration
	// ErrorClass is ErrNone when OK.
	ErrorClass ErrorClass
	// Detail is a short free-text note for reports (an error message).
	Detail string
}

// String describes the sample's outcome for verdict reasons.
func (s Sample) String() string {
	outcome := "ok"
	if !s.OK {
		outcome = "failed"
		if s.ErrorClass != ErrNone {
			outcome += " (" + string(s.ErrorClass) + ")"
		}
	}
	if s.Status != 0 {
		outcome += fmt.Sprintf(" status %d", s.Status)
	}
	if s.Detail != "" {
		outcome += ": " + s.Detail
	}
	return outcome
}

// Window is the interval during which the fault held.
type Window struct {
	// Start (T0) is when the component's last pod was gone.
	Start time.Time
	// End (T1) is when restore began.
	End time.Time
}

// Duration returns End - Start.
func (w Window) Duration() time.Duration {
	return w.End.Sub(w.Start)
}

// Contains reports whether t is in [Start, End).
func (w Window) Contains(t time.Time) bool {
	return !t.Before(w.Start) && t.Before(w.End)
}

// holds says whether s both started and finished within [w.Start, w.End]: a sample that
// straddles the restore saw the component come back and says nothing about the outage.
func (w Window) holds(s Sample) bool {
	return w.Contains(s.Time) && !s.Time.Add(s.Latency).After(w.End)
}

func (w Window) validate() error {
	switch {
	case w.Start.IsZero() || w.End.IsZero():
		return fmt.Errorf("the fault-held window is not set (start %v, end %v)", w.Start, w.End)
	case !w.End.After(w.Start):
		return fmt.Errorf("the fault-held window ends (%s) before it starts (%s)", w.End.Format(time.RFC3339Nano), w.Start.Format(time.RFC3339Nano))
	}
	return nil
}

// samplesOf returns c's samples sorted by time; the input is not changed.
func samplesOf(c Capability, samples []Sample) []Sample {
	var out []Sample
	for _, s := range samples {
		if s.Capability == c {
			out = append(out, s)
		}
	}
	slices.SortStableFunc(out, func(a, b Sample) int { return a.Time.Compare(b.Time) })
	return out
}
