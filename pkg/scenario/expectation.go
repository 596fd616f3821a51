package scenario

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Expect is what a scenario promises about one capability while its component is
// held at zero replicas.
type Expect string

// The expectations.
const (
	// Lost: the capability must fail during the outage, after any onset
	// grace. One that keeps working fails the cell exactly as a kept one
	// that breaks.
	Lost Expect = "lost"
	// Kept: every sample during the outage must succeed.
	Kept Expect = "kept"
	// Degraded: every sample must succeed; it may be slower. Latency is
	// recorded, and judged only when the expectation sets MaxLatency.
	Degraded Expect = "degraded"
	// Deferred: the capability's effect is not applied during the outage and
	// must all be applied after recovery. Outage samples are recorded, not
	// judged; a WorkCheck run after recovery decides the cell.
	Deferred Expect = "deferred"
	// Unasserted: recorded and reported, never judged during the outage. It
	// needs a written reason (usually: the outage leaves the capability
	// nothing to act on, so any outcome would be meaningless).
	Unasserted Expect = "unasserted"
)

var allExpects = []Expect{Lost, Kept, Degraded, Deferred, Unasserted}

// ParseExpect returns the expectation with the given name, or an error listing
// the valid ones.
func ParseExpect(s string) (Expect, error) {
	e := Expect(s)
	if slices.Contains(allExpects, e) {
		return e, nil
	}
	names := make([]string, len(allExpects))
	for i, x := range allExpects {
		names[i] = string(x)
	}
	return "", fmt.Errorf("%q is not one of %s", s, strings.Join(names, ", "))
}

// DefaultMinSamples is how many judged samples a cell needs by default before its
// outage verdict means anything; fewer gives INVALID.
const DefaultMinSamples = 3

// Expectation is one cell of the failure matrix: what must happen to one
// capability while the scenario's component is down, and how soon it must be
// healthy again after restore.
type Expectation struct {
	Capability Capability
	Expect     Expect
	// Reason says why the cell is what it is. Required for Unasserted.
	Reason string

	// OnsetGrace (Lost only): samples taken before the fault-held window's
	// start plus OnsetGrace are not judged. It covers what takes time to
	// notice the outage, such as endpoint propagation.
	OnsetGrace time.Duration
	// OnsetPasses (Lost only): after OnsetGrace, up to this many successful
	// samples are tolerated before the capability must stay failed. It
	// models work served from a cache that one more request empties, such
	// as APIcast's strict authorization cache: one more pass per cached key
	// per gateway pod after backend-listener goes away.
	OnsetPasses int

	// LostWork (Lost only): the work created during the outage is itself lost, not only
	// the capability's answers: the work check after recovery must find none of it
	// applied. system-redis is the case: jobs not enqueued are never run later.
	LostWork bool

	// MaxLatency (Degraded only): when set, every sample must also be at
	// least this fast.
	MaxLatency time.Duration

	// Spans (Kept or Degraded only) names a periodic process the claim rests on
	// (a catalog.Period): the claim is tested only if the observation lasts at
	// least one of its periods, so the runner holds the fault that long (see
	// Scenario.Observation).
	Spans string

	// RecoveryBudget is how long after restore the capability may take to be
	// healthy again, for every expectation (unasserted ones included).
	RecoveryBudget time.Duration

	// MinSamples is how many judged samples the outage verdict needs.
	MinSamples int
}

func (e Expectation) minSamples() int {
	if e.MinSamples > 0 {
		return e.MinSamples
	}
	return DefaultMinSamples
}

// Verdict is the outcome of a cell, a check or a scenario.
type Verdict string

// The verdicts.
const (
	// Pass: what was expected happened.
	Pass Verdict = "PASS"
	// Fail: the experiment ran as planned and 3scale did something else.
	Fail Verdict = "FAIL"
	// Invalid: the experiment did not happen as planned (too few samples,
	// missing check, steady state not healthy, fault not held), so it says
	// nothing about 3scale.
	Invalid Verdict = "INVALID"
)

// Worst combines verdicts: FAIL beats INVALID beats PASS. A definite failure
// observed with valid evidence stays a failure even if another part of the
// evidence is missing; a scenario whose fault did not hold is made INVALID by
// the runner, above the cells. No verdicts give PASS.
func Worst(verdicts ...Verdict) Verdict {
	worst := Pass
	for _, v := range verdicts {
		switch {
		case v == Fail:
			return Fail
		case v == Invalid:
			worst = Invalid
		}
	}
	return worst
}
