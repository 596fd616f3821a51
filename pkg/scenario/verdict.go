package scenario

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Counts tallies the samples an outage verdict looked at.
type Counts struct {
	// Total is the capability's samples inside the fault-held window.
	Total int
	// InGrace is how many of them fell inside the onset grace (lost only)
	// and were not judged.
	InGrace int
	// Judged is Total minus InGrace for lost, kept and degraded; 0 for
	// deferred and unasserted, which are not judged during the outage.
	Judged int
	// OK and Failed split Total by outcome.
	OK, Failed int
	// ToleratedPasses is how many successful samples a lost expectation's
	// OnsetPasses forgave.
	ToleratedPasses int
	// Excluded is how many failed samples in the window a Disturbance (the
	// harness's own action) accounted for: not in Total, not judged.
	Excluded int
}

// LatencyStats summarises the latency of the samples inside the window.
type LatencyStats struct {
	Median, Max time.Duration
}

// CellVerdict is the outage verdict of one cell (or the verdict of a work check).
type CellVerdict struct {
	Capability Capability
	Expect     Expect
	Verdict    Verdict
	// Reason explains the verdict in a sentence a 3scale engineer can act on.
	Reason  string
	Counts  Counts
	Latency LatencyStats
	// FirstFailure is the first failing sample at or after the window start,
	// zero when none failed inside the window.
	FirstFailure time.Time
	// TimeToFail is FirstFailure minus the window start; it is meaningful
	// only when FirstFailure is set. For lost capabilities it is how long
	// 3scale took to show the outage.
	TimeToFail time.Duration
	// Offending is the first sample that contradicts the expectation, nil
	// when none does.
	Offending *Sample
	// OnsetGrace is the expectation's onset grace (lost only): the time after
	// the window start in which samples were not judged, so how long the
	// capability had to fail.
	OnsetGrace time.Duration
}

// HasFailed reports whether a sample failed inside the window (so TimeToFail is
// meaningful).
func (v CellVerdict) HasFailed() bool {
	return !v.FirstFailure.IsZero()
}

// Evaluate judges one capability's samples against its expectation over the
// fault-held window w. Samples of other capabilities, and samples that did not
// both start and finish within [w.Start, w.End], are ignored, so a whole timeline
// can be passed in any order. A sample that straddles the restore saw the
// component come back and says nothing about the outage.
//
//   - lost: samples before w.Start+OnsetGrace are not judged; of the rest, at
//     most OnsetPasses may succeed and every other one must fail.
//   - kept: every sample must succeed.
//   - degraded: every sample must succeed, and be no slower than MaxLatency
//     when that is set.
//   - deferred: samples are recorded, not judged (PASS with a note); the cell
//     is decided by EvaluateWork after recovery (EvaluateCell does both).
//   - unasserted: never judged (PASS with the reason as a note).
//
// Lost, kept and degraded need at least MinSamples judged samples, else the
// verdict is INVALID: the harness did not look often enough to say.
func Evaluate(exp Expectation, w Window, samples []Sample) CellVerdict {
	v := CellVerdict{Capability: exp.Capability, Expect: exp.Expect}
	if err := w.validate(); err != nil {
		v.Verdict, v.Reason = Invalid, err.Error()
		return v
	}
	var inWindow []Sample
	for _, s := range samplesOf(exp.Capability, samples) {
		if w.holds(s) {
			inWindow = append(inWindow, s)
		}
	}
	v.Counts.Total = len(inWindow)
	for _, s := range inWindow {
		if s.OK {
			v.Counts.OK++
		} else {
			v.Counts.Failed++
			if v.FirstFailure.IsZero() {
				v.FirstFailure, v.TimeToFail = s.Time, s.Time.Sub(w.Start)
			}
		}
	}
	v.Latency = latencyOf(inWindow)

	switch exp.Expect {
	case Lost:
		evaluateLost(&v, exp, w, inWindow)
	case Kept, Degraded:
		evaluateKept(&v, exp, w, inWindow)
	case Deferred:
		v.Verdict = Pass
		v.Reason = fmt.Sprintf("deferred: %d of %d samples during the outage succeeded; they are recorded, not judged, and the work check after recovery decides", v.Counts.OK, v.Counts.Total)
	case Unasserted:
		v.Verdict = Pass
		v.Reason = fmt.Sprintf("unasserted (%s): %d of %d samples during the outage succeeded, not judged", exp.Reason, v.Counts.OK, v.Counts.Total)
	default:
		v.Verdict, v.Reason = Invalid, fmt.Sprintf("unknown expectation %q", exp.Expect)
	}
	return v
}

func evaluateLost(v *CellVerdict, exp Expectation, w Window, inWindow []Sample) {
	v.OnsetGrace = exp.OnsetGrace
	judgeFrom := w.Start.Add(exp.OnsetGrace)
	var unexpected []Sample
	for _, s := range inWindow {
		if s.Time.Before(judgeFrom) {
			v.Counts.InGrace++
			continue
		}
		v.Counts.Judged++
		if !s.OK {
			continue
		}
		if v.Counts.ToleratedPasses < exp.OnsetPasses {
			v.Counts.ToleratedPasses++
			continue
		}
		unexpected = append(unexpected, s)
	}
	if v.Counts.Judged < exp.minSamples() {
		v.Verdict = Invalid
		v.Reason = fmt.Sprintf("only %d samples after the onset grace of %s (%d in the window), %d needed to judge a lost capability",
			v.Counts.Judged, exp.OnsetGrace, v.Counts.Total, exp.minSamples())
		return
	}
	if len(unexpected) > 0 {
		first := unexpected[0]
		v.Verdict, v.Offending = Fail, &first
		v.Reason = fmt.Sprintf("expected lost, but %d of %d judged samples succeeded%s; first at T0+%s: %s",
			len(unexpected), v.Counts.Judged, toleratedNote(v.Counts.ToleratedPasses), Readable(offset(w, first.Time)), first)
		return
	}
	v.Verdict = Pass
	v.Reason = fmt.Sprintf("lost as expected: %d judged samples failed%s", v.Counts.Judged-v.Counts.ToleratedPasses, toleratedNote(v.Counts.ToleratedPasses))
	if v.HasFailed() {
		v.Reason += fmt.Sprintf("; first failure at T0+%s", Readable(v.TimeToFail))
	}
}

func evaluateKept(v *CellVerdict, exp Expectation, w Window, inWindow []Sample) {
	v.Counts.Judged = len(inWindow)
	if v.Counts.Judged < exp.minSamples() {
		v.Verdict = Invalid
		v.Reason = fmt.Sprintf("only %d samples during the outage, %d needed to judge a %s capability", v.Counts.Judged, exp.minSamples(), exp.Expect)
		return
	}
	var failed, slow []Sample
	for _, s := range inWindow {
		switch {
		case !s.OK:
			failed = append(failed, s)
		case exp.Expect == Degraded && exp.MaxLatency > 0 && s.Latency > exp.MaxLatency:
			slow = append(slow, s)
		}
	}
	if len(failed) > 0 {
		first := failed[0]
		v.Verdict, v.Offending = Fail, &first
		v.Reason = fmt.Sprintf("expected %s, but %d of %d samples failed; first at T0+%s: %s",
			exp.Expect, len(failed), v.Counts.Judged, Readable(offset(w, first.Time)), first)
		return
	}
	if len(slow) > 0 {
		first := slow[0]
		v.Verdict, v.Offending = Fail, &first
		v.Reason = fmt.Sprintf("expected degraded within %s, but %d of %d samples were slower (max %s); first at T0+%s took %s",
			exp.MaxLatency, len(slow), v.Counts.Judged, Readable(v.Latency.Max), Readable(offset(w, first.Time)), Readable(first.Latency))
		return
	}
	v.Verdict = Pass
	v.Reason = fmt.Sprintf("%s as expected: all %d samples succeeded", exp.Expect, v.Counts.Judged)
	if exp.Expect == Degraded {
		v.Reason += fmt.Sprintf(" (median latency %s, max %s)", Readable(v.Latency.Median), Readable(v.Latency.Max))
	}
}

// RecoveryVerdict says whether, and how fast, a capability was healthy again after
// restore.
type RecoveryVerdict struct {
	Verdict Verdict
	Reason  string
	Budget  time.Duration
	// Samples is how many samples were taken after restore.
	Samples int
	// Recovered is true when the last sample succeeded.
	Recovered bool
	// RecoveredAt is the first sample from which every later one succeeded.
	RecoveredAt time.Time
	// TimeToRecover is RecoveredAt minus the restore time; its resolution is
	// the sampling cadence.
	TimeToRecover time.Duration
}

// EvaluateRecovery judges the samples of one capability taken from restoreAt on.
// The time to recover is measured to the first sample from which every later
// sample succeeded. It is FAIL when that is later than restoreAt+budget or when
// the last sample failed (never recovered), INVALID when there are no samples
// after restore, no budget, or samples of more than one capability.
func EvaluateRecovery(budget time.Duration, restoreAt time.Time, samples []Sample) RecoveryVerdict {
	r := RecoveryVerdict{Budget: budget}
	if len(samples) > 0 {
		c := samples[0].Capability
		for _, s := range samples {
			if s.Capability != c {
				r.Verdict = Invalid
				r.Reason = fmt.Sprintf("samples of more than one capability (%s and %s); pass one capability's samples", c, s.Capability)
				return r
			}
		}
	}
	switch {
	case restoreAt.IsZero():
		r.Verdict, r.Reason = Invalid, "restore time not set"
		return r
	case budget <= 0:
		r.Verdict, r.Reason = Invalid, "no recovery budget"
		return r
	}
	var after []Sample
	for _, s := range samples {
		if !s.Time.Before(restoreAt) {
			after = append(after, s)
		}
	}
	slices.SortStableFunc(after, func(a, b Sample) int { return a.Time.Compare(b.Time) })
	r.Samples = len(after)
	if len(after) == 0 {
		r.Verdict, r.Reason = Invalid, "no samples after restore"
		return r
	}
	suffix := len(after)
	for suffix > 0 && after[suffix-1].OK {
		suffix--
	}
	if suffix == len(after) {
		last := after[len(after)-1]
		r.Verdict = Fail
		r.Reason = fmt.Sprintf("not recovered within the %s budget: the last sample, at restore+%s, %s", budget, Readable(last.Time.Sub(restoreAt)), last)
		return r
	}
	r.Recovered = true
	r.RecoveredAt = after[suffix].Time
	r.TimeToRecover = r.RecoveredAt.Sub(restoreAt)
	if r.TimeToRecover > budget {
		r.Verdict = Fail
		r.Reason = fmt.Sprintf("recovered after %s, over the %s budget", Readable(r.TimeToRecover), budget)
		return r
	}
	r.Verdict = Pass
	r.Reason = fmt.Sprintf("recovered after %s (budget %s)", Readable(r.TimeToRecover), budget)
	return r
}

// WorkCheck is the result of a no-lost-work check run after recovery: how much
// work the harness submitted while the fault held, and how much of it 3scale had
// applied when the check ended. For example: 120 hits sent through the gateway
// while backend-worker was down, 120 counted by the Analytics API after recovery.
// The check polls within the capability's recovery budget; Applied is its last
// observation.
type WorkCheck struct {
	Capability Capability
	// What names the unit of work for reports ("hits", "accounts created",
	// "zync notifications", "failed report jobs").
	What string
	// Submitted is how many units were submitted while the fault held.
	Submitted int
	// Applied is how many of them 3scale had applied when the check ended.
	Applied int
	// CheckedAt is when the check ended.
	CheckedAt time.Time
	// Detail is a short free-text note for reports.
	Detail string
}

// EvaluateWork judges a work check against an expectation:
//
//   - deferred: everything submitted during the outage was applied, exactly
//     once (Applied == Submitted). Fewer means work was lost, more means it
//     was applied twice.
//   - lost: nothing submitted during the outage was applied later
//     (Applied == 0); the doc says such work is dropped, not delayed.
//
// Nothing submitted gives INVALID (the check did not exercise anything), as
// does a check for any other expectation or another capability.
func EvaluateWork(exp Expectation, check WorkCheck) CellVerdict {
	v := CellVerdict{Capability: exp.Capability, Expect: exp.Expect}
	what := check.What
	if what == "" {
		what = "units of work"
	}
	switch {
	case check.Capability != exp.Capability:
		v.Verdict, v.Reason = Invalid, fmt.Sprintf("work check is for %s, not %s", check.Capability, exp.Capability)
	case exp.Expect != Deferred && exp.Expect != Lost:
		v.Verdict, v.Reason = Invalid, fmt.Sprintf("a work check judges deferred or lost expectations, not %s", exp.Expect)
	case check.Submitted <= 0:
		v.Verdict, v.Reason = Invalid, fmt.Sprintf("no %s were submitted during the outage, so the check exercised nothing", what)
	case check.Applied < 0:
		v.Verdict, v.Reason = Invalid, fmt.Sprintf("work check reports a negative count of applied %s (%d)", what, check.Applied)
	case exp.Expect == Deferred && check.Applied == check.Submitted:
		v.Verdict, v.Reason = Pass, fmt.Sprintf("deferred work applied: %d of %d %s", check.Applied, check.Submitted, what)
	case exp.Expect == Deferred && check.Applied < check.Submitted:
		v.Verdict, v.Reason = Fail, fmt.Sprintf("deferred work lost: %d of %d %s submitted during the outage were applied after recovery (%d missing)",
			check.Applied, check.Submitted, what, check.Submitted-check.Applied)
	case exp.Expect == Deferred:
		v.Verdict, v.Reason = Fail, fmt.Sprintf("deferred work applied more than once: %d applied for %d %s submitted", check.Applied, check.Submitted, what)
	case check.Applied == 0:
		v.Verdict, v.Reason = Pass, fmt.Sprintf("lost as documented: none of %d %s submitted during the outage were applied after recovery", check.Submitted, what)
	default:
		v.Verdict, v.Reason = Fail, fmt.Sprintf("expected lost, but %d of %d %s submitted during the outage were applied after recovery", check.Applied, check.Submitted, what)
	}
	if check.Detail != "" {
		v.Reason += " (" + check.Detail + ")"
	}
	return v
}

// CellResult is everything the harness concludes about one cell: the outage
// verdict, the recovery verdict and, when one ran, the work check.
type CellResult struct {
	Capability Capability
	Expect     Expect
	// Verdict is Worst of the parts.
	Verdict Verdict
	// Reason gathers the reasons of the parts that decided the verdict.
	Reason   string
	Outage   CellVerdict
	Recovery RecoveryVerdict
	// Work is nil when no work check applies.
	Work *CellVerdict
}

// EvaluateCell runs Evaluate over the window, EvaluateRecovery from w.End with
// the expectation's budget, and EvaluateWork when a check is given. A deferred
// expectation without a check is INVALID: nothing proved the work was applied.
//
// Samples that one of the disturbances accounts for (Disturbance.Excludes: the
// harness's own action cut the capability off) are judged by neither verdict; each
// verdict's reason says how many it left out and why, and the outage verdict counts
// them in Counts.Excluded.
func EvaluateCell(exp Expectation, w Window, samples []Sample, work *WorkCheck, disturbances ...Disturbance) CellResult {
	res := CellResult{Capability: exp.Capability, Expect: exp.Expect}
	judged, excluded := partition(samplesOf(exp.Capability, samples), disturbances)
	res.Outage = Evaluate(exp, w, judged)
	res.Recovery = EvaluateRecovery(exp.RecoveryBudget, w.End, judged)
	var during, after []Sample
	for _, s := range excluded {
		switch {
		case w.holds(s):
			during = append(during, s)
		case !s.Time.Before(w.End):
			after = append(after, s)
		}
	}
	res.Outage.Counts.Excluded = len(during)
	res.Outage.Reason += excludedNote(during, disturbances)
	res.Recovery.Reason += excludedNote(after, disturbances)
	switch {
	case work != nil:
		wv := EvaluateWork(exp, *work)
		res.Work = &wv
	case exp.Expect == Deferred:
		res.Work = &CellVerdict{Capability: exp.Capability, Expect: exp.Expect, Verdict: Invalid,
			Reason: "deferred, but no work check ran to show the work was applied after recovery"}
	}

	type part struct {
		name    string
		verdict Verdict
		reason  string
	}
	parts := []part{
		{"outage", res.Outage.Verdict, res.Outage.Reason},
		{"recovery", res.Recovery.Verdict, res.Recovery.Reason},
	}
	if res.Work != nil {
		parts = append(parts, part{"work", res.Work.Verdict, res.Work.Reason})
	}
	verdicts := make([]Verdict, len(parts))
	for i, p := range parts {
		verdicts[i] = p.verdict
	}
	res.Verdict = Worst(verdicts...)
	var reasons []string
	for _, p := range parts {
		if p.verdict == res.Verdict {
			reasons = append(reasons, p.name+": "+p.reason)
		}
	}
	res.Reason = strings.Join(reasons, "; ")
	return res
}

func latencyOf(samples []Sample) LatencyStats {
	if len(samples) == 0 {
		return LatencyStats{}
	}
	ls := make([]time.Duration, len(samples))
	for i, s := range samples {
		ls[i] = s.Latency
	}
	slices.Sort(ls)
	return LatencyStats{Median: ls[len(ls)/2], Max: ls[len(ls)-1]}
}

func offset(w Window, t time.Time) time.Duration {
	return t.Sub(w.Start)
}

func toleratedNote(n int) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf(" (%d successful samples tolerated by onsetPasses)", n)
}

// Readable rounds a measured duration for people: to 0.1 ms under a second, to 10 ms above
// (samples are a second apart; nanoseconds are noise). Journals keep the exact values.
func Readable(d time.Duration) time.Duration {
	if d < time.Second && d > -time.Second {
		return d.Round(100 * time.Microsecond)
	}
	return d.Round(10 * time.Millisecond)
}
