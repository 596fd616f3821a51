package scenario

import (
	"fmt"
	"strings"
	"time"

	"github.com/threescale-chaos/harness/pkg/catalog"
)

// Observation is how long a scenario holds its fault once the pods are gone, and why: the
// file's observe, or longer when a kept claim rests on a periodic process whose period,
// read from the cluster, does not fit in it, since such a claim is only shown by an
// observation that spans at least one period.
type Observation struct {
	// Planned is timing.observe; Effective is what the fault is held for.
	Planned, Effective time.Duration
	// Reasons has one line per spanned period, whether or not it lengthened the window.
	Reasons []string
	// Unread names the periods whose setting could not be read, with why; their
	// default was used.
	Unread []string
}

// Lengthened reports whether a period made the observation longer than planned.
func (o Observation) Lengthened() bool { return o.Effective > o.Planned }

// String renders the observation for plans and logs: "observe 45s → 5m10s: <reasons>".
func (o Observation) String() string {
	s := "observe " + o.Planned.String()
	if o.Lengthened() {
		s += " → " + o.Effective.String()
	}
	if len(o.Reasons) > 0 {
		s += ": " + strings.Join(o.Reasons, "; ")
	}
	return s
}

// Periods returns the names of the periods the scenario's expectations span, each once,
// in capability order.
func (s Scenario) Periods() []string {
	var out []string
	seen := map[string]bool{}
	for _, e := range s.Cells() {
		if e.Spans != "" && !seen[e.Spans] {
			seen[e.Spans] = true
			out = append(out, e.Spans)
		}
	}
	return out
}

// Observation works out the observation from what the cluster says about each period the
// scenario spans: at least timing.observe, and for each period with an interval at least
// that interval plus timing.periodMargin, so that one run of the process falls inside
// the window and is followed by samples. A period missing from readings counts as not
// read, with its default.
func (s Scenario) Observation(readings map[string]catalog.PeriodReading) Observation {
	o := Observation{Planned: s.Timing.Observe, Effective: s.Timing.Observe}
	margin := s.Timing.PeriodMargin
	if margin == 0 {
		margin = DefaultPeriodMargin
	}
	for _, name := range s.Periods() {
		r, ok := readings[name]
		if !ok {
			p, err := catalog.LookupPeriod(name)
			if err != nil {
				o.Unread = append(o.Unread, err.Error())
				continue
			}
			r = p.Unreadable("not read")
		}
		var cells []string
		for _, e := range s.Cells() {
			if e.Spans == name {
				cells = append(cells, fmt.Sprintf("%s (%s)", e.Capability, e.Expect))
			}
		}
		verb := "rests"
		if len(cells) > 1 {
			verb = "rest"
		}
		line := fmt.Sprintf("%s %s on %s %s (%s)", strings.Join(cells, ", "), verb, r.Period.What, r.Meaning, r.Source)
		switch need := r.Interval + margin; {
		case r.Interval <= 0:
			line += "; nothing to span, observe unchanged"
		case need > o.Planned:
			line += fmt.Sprintf("; held %s: one period and a %s margin", need, margin)
			o.Effective = max(o.Effective, need)
		default:
			line += fmt.Sprintf("; %s already spans it and a %s margin", o.Planned, margin)
		}
		if r.Unread != "" {
			o.Unread = append(o.Unread, fmt.Sprintf("%s: %s", name, r.Unread))
		}
		o.Reasons = append(o.Reasons, line)
	}
	return o
}
