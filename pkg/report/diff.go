package report

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/threescale-chaos/harness/pkg/scenario"
)

// Diff is what behaves differently in one run (New) than in another (Old): the verdicts
// that changed, the cells whose verdict, expectation or observed outcome changed, and the
// onsets and recoveries that moved by more than the sampling can tell apart.
//
// Scenarios are matched by component and name, cells by capability within their scenario:
// never by position, osc two runs that ran the scenarios in another order compare the same.
type Diff struct {
	Old, New RunHeader
	// Scenarios are the scenarios whose verdict changed, then those in only one run.
	Scenarios []ScenarioChange
	// Cells are the changed cells, most important first: new failures, vanished
	// failures, other verdict changes, then expectation and behaviour changes, then
	// cells in one run only.
	Cells []CellChange
	// Timing are the onset and recovery shifts beyond noise (see TimingShift).
	Timing []TimingShift
}

// RunHeader is what identifies a run in a diff.
type RunHeader struct {
	RunID     string
	StartedAt time.Time
	Verdict   scenario.Verdict
	Scenarios int
	Target    Target
}

// ScenarioChange is a scenario whose verdict differs, or that only one run holds (the
// other verdict is then empty).
type ScenarioChange struct {
	Scenario string
	Old, New scenario.Verdict
	// Cells is how many cells the scenario has in the run that holds it, when only one
	// does.
	Cells int
}

// OnlyIn says which run alone holds the scenario: "OLD", "NEW" or "" when both do.
func (s ScenarioChange) OnlyIn() string { return onlyIn(s.Old, s.New) }

func onlyIn(o, n scenario.Verdict) string {
	switch {
	case o == "":
		return "NEW"
	case n == "":
		return "OLD"
	}
	return ""
}

// ChangeKind says what changed about a cell. The kinds are in order of importance.
type ChangeKind int

// The kinds of cell change.
const (
	// NewFailure is a cell that passed in OLD and does not in NEW.
	NewFailure ChangeKind = iota
	// VanishedFailure is a cell that did not pass in OLD and passes in NEW.
	VanishedFailure
	// VerdictChanged is any other verdict change (FAIL to INVALID and back).
	VerdictChanged
	// ExpectChanged is a cell whose scenario file now expects something else, with the
	// same verdict.
	ExpectChanged
	// BehaviourChanged is a cell with the same verdict and expectation whose capability
	// behaved differently during the outage: kept in one run, lost in the other, or
	// recovered in one and not in the other (deferred and unasserted cells pass
	// either way; this is where they show).
	BehaviourChanged
	// CellAdded and CellRemoved are cells of a scenario both runs hold that only NEW,
	// or only OLD, has.
	CellAdded
	CellRemoved
)

func (k ChangeKind) String() string {
	switch k {
	case NewFailure:
		return "new failure"
	case VanishedFailure:
		return "vanished failure"
	case VerdictChanged:
		return "verdict changed"
	case ExpectChanged:
		return "expectation changed"
	case BehaviourChanged:
		return "behaviour changed"
	case CellAdded:
		return "only in NEW"
	case CellRemoved:
		return "only in OLD"
	}
	return fmt.Sprintf("ChangeKind(%d)", int(k))
}

// CellChange is one cell that differs. For a cell in one run only, the other side is zero.
type CellChange struct {
	Scenario   string
	Capability scenario.Capability
	Kind       ChangeKind
	Old, New   CellSide
}

// CellSide is a cell as one run saw it.
type CellSide struct {
	Expect  scenario.Expect
	Verdict scenario.Verdict
	Outcome Outcome
	// Reason is the cell's reason, for the side that did not pass.
	Reason string
}

// Outcome is what a capability did while the fault held, and whether it came back.
type Outcome struct {
	// Total is the number of samples in the fault-held window, Failed how many failed.
	Total, Failed int
	Recovered     bool
}

// String is "kept", "lost 3/90" (3 of 90 samples failed), or "no samples"; ", not
// recovered" is added when the capability did not come back.
func (o Outcome) String() string {
	var s string
	switch {
	case o.Total == 0:
		s = "no samples"
	case o.Failed == 0:
		s = "kept"
	default:
		s = fmt.Sprintf("lost %d/%d", o.Failed, o.Total)
	}
	if !o.Recovered {
		s += ", not recovered"
	}
	return s
}

// same reports whether two outcomes are the same behaviour: kept in both, or lost in both
// (however many samples failed: that is noise, the onset comparison says more), and
// recovered in both or in neither.
func (o Outcome) same(p Outcome) bool {
	return (o.Total == 0) == (p.Total == 0) && (o.Failed == 0) == (p.Failed == 0) && o.Recovered == p.Recovered
}

// TimingShift is an onset or recovery that moved beyond noise. A time measured from
// samples is only known to the sampling's resolution, osc each run's time is an interval:
//
//   - onset (time to fail): from the fault-held mark to the first failing sample in the
//     window; the capability stopped working after the last successful sample before that
//     one (or after the mark, when none succeeded since), osc the onset lies in
//     [last success - mark, first failure - mark].
//   - recovery (time to recover): from the restore to the first sample from which every
//     later one succeeded; the capability came back after the last failing sample before
//     it (or after the restore, when none failed since), osc the recovery lies in
//     [last failure - restore, first lasting success - restore].
//
// A shift is reported only when OLD's and NEW's intervals do not overlap: a capability
// sampled every 5 s whose onset reads 2 s in one run and 6 s in the other may have failed
// at the same moment both times. A time is compared only when both runs recorded it and
// hold the samples it came from.
type TimingShift struct {
	Scenario   string
	Capability scenario.Capability
	// What is "onset" or "recovery".
	What     string
	Old, New Interval
}

// Interval is a time known to lie between Lo and Hi; Hi is the value the journal records
// (the first sample that showed it).
type Interval struct {
	Lo, Hi time.Duration
}

func (i Interval) overlaps(j Interval) bool { return i.Lo <= j.Hi && j.Lo <= i.Hi }

// String is "4.3s (3.3s-4.3s)".
func (i Interval) String() string {
	return fmt.Sprintf("%s (%s-%s)", scenario.Readable(i.Hi), scenario.Readable(i.Lo), scenario.Readable(i.Hi))
}

// RunVerdictChanged reports whether the runs' verdicts differ.
func (d *Diff) RunVerdictChanged() bool { return d.Old.Verdict != d.New.Verdict }

// VerdictChanged reports whether any verdict of something both runs hold changed: the
// run's, a scenario's or a cell's. Scenarios and cells in one run only do not count (a
// run of one component compared with the whole matrix is not a regression), unless they
// changed the run's verdict.
func (d *Diff) VerdictChanged() bool {
	if d.RunVerdictChanged() {
		return true
	}
	for _, s := range d.Scenarios {
		if s.OnlyIn() == "" {
			return true
		}
	}
	for _, c := range d.Cells {
		if c.Kind <= VerdictChanged {
			return true
		}
	}
	return false
}

// Empty reports whether the diff found nothing at all.
func (d *Diff) Empty() bool {
	return !d.RunVerdictChanged() && len(d.Scenarios) == 0 && len(d.Cells) == 0 && len(d.Timing) == 0
}

// TargetsDiffer names the target fields that differ between the runs (3scale version,
// cluster, namespace, target file): context for the reader, not a difference in
// behaviour.
func (d *Diff) TargetsDiffer() []string {
	var out []string
	for _, c := range d.targetChanges() {
		out = append(out, c.name)
	}
	return out
}

type targetChange struct{ name, old, new string }

func (d *Diff) targetChanges() []targetChange {
	var out []targetChange
	o, n := d.Old.Target, d.New.Target
	for _, c := range []targetChange{
		{"3scale version", o.Version, n.Version},
		{"cluster", o.Cluster, n.Cluster},
		{"namespace", o.Namespace, n.Namespace},
		{"target file", o.File, n.File},
	} {
		if c.old != c.new {
			out = append(out, c)
		}
	}
	return out
}

// Compare returns what differs from oldRun to newRun.
func Compare(oldRun, newRun *Journal) *Diff {
	d := &Diff{Old: header(oldRun), New: header(newRun)}
	olds := scenarioIndex(oldRun)
	for i := range newRun.Scenarios {
		nsc := &newRun.Scenarios[i]
		key := scenarioKey(*nsc)
		osc, ok := olds[key]
		if !ok {
			d.Scenarios = append(d.Scenarios, ScenarioChange{Scenario: key, New: nsc.Verdict, Cells: len(nsc.Cells)})
			continue
		}
		delete(olds, key)
		if osc.Verdict != nsc.Verdict {
			d.Scenarios = append(d.Scenarios, ScenarioChange{Scenario: key, Old: osc.Verdict, New: nsc.Verdict})
		}
		d.compareCells(key, osc, nsc)
	}
	for _, osc := range oldRun.Scenarios {
		if _, ok := olds[scenarioKey(osc)]; ok {
			d.Scenarios = append(d.Scenarios, ScenarioChange{Scenario: scenarioKey(osc), Old: osc.Verdict, Cells: len(osc.Cells)})
		}
	}
	oneRun := func(s ScenarioChange) bool { return s.OnlyIn() != "" }
	slices.SortStableFunc(d.Scenarios, func(a, b ScenarioChange) int {
		switch {
		case oneRun(a) && !oneRun(b):
			return 1
		case !oneRun(a) && oneRun(b):
			return -1
		}
		return cmp.Compare(a.Scenario, b.Scenario)
	})
	slices.SortStableFunc(d.Cells, func(a, b CellChange) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Scenario, b.Scenario), capabilityOrder(a.Capability, b.Capability))
	})
	slices.SortStableFunc(d.Timing, func(a, b TimingShift) int {
		return cmp.Or(cmp.Compare(a.Scenario, b.Scenario), capabilityOrder(a.Capability, b.Capability), cmp.Compare(a.What, b.What))
	})
	return d
}

func header(j *Journal) RunHeader {
	return RunHeader{RunID: j.RunID, StartedAt: j.StartedAt, Verdict: j.Verdict, Scenarios: len(j.Scenarios), Target: j.Target}
}

// scenarioKey is a scenario's identity across runs: its component, and its name when that
// differs from the component (two scenarios of one component).
func scenarioKey(s ScenarioResult) string {
	if s.Name == "" || s.Name == s.Component {
		return s.Component
	}
	return s.Component + "/" + s.Name
}

// scenarioIndex maps each scenario's key to it; of two with one key, the first counts.
func scenarioIndex(j *Journal) map[string]*ScenarioResult {
	m := map[string]*ScenarioResult{}
	for i := range j.Scenarios {
		k := scenarioKey(j.Scenarios[i])
		if _, dup := m[k]; !dup {
			m[k] = &j.Scenarios[i]
		}
	}
	return m
}

func capabilityOrder(a, b scenario.Capability) int {
	all := scenario.Capabilities()
	ia, ib := slices.Index(all, a), slices.Index(all, b)
	if ia < 0 {
		ia = len(all)
	}
	if ib < 0 {
		ib = len(all)
	}
	return cmp.Or(cmp.Compare(ia, ib), cmp.Compare(a, b))
}

func (d *Diff) compareCells(key string, osc, nsc *ScenarioResult) {
	for _, nc := range nsc.Cells {
		oc, ok := osc.Cell(nc.Capability)
		if !ok {
			d.Cells = append(d.Cells, CellChange{Scenario: key, Capability: nc.Capability, Kind: CellAdded, New: side(nc)})
			continue
		}
		o, n := side(oc), side(nc)
		ch := CellChange{Scenario: key, Capability: nc.Capability, Old: o, New: n}
		switch {
		case o.Verdict == scenario.Pass && n.Verdict != scenario.Pass:
			ch.Kind = NewFailure
		case o.Verdict != scenario.Pass && n.Verdict == scenario.Pass:
			ch.Kind = VanishedFailure
		case o.Verdict != n.Verdict:
			ch.Kind = VerdictChanged
		case o.Expect != n.Expect:
			ch.Kind = ExpectChanged
		case !o.Outcome.same(n.Outcome):
			ch.Kind = BehaviourChanged
		default:
			d.compareTiming(key, nc.Capability, osc, oc, nsc, nc)
			continue
		}
		d.Cells = append(d.Cells, ch)
		d.compareTiming(key, nc.Capability, osc, oc, nsc, nc)
	}
	for _, oc := range osc.Cells {
		if _, ok := nsc.Cell(oc.Capability); !ok {
			d.Cells = append(d.Cells, CellChange{Scenario: key, Capability: oc.Capability, Kind: CellRemoved, Old: side(oc)})
		}
	}
}

func side(c Cell) CellSide {
	s := CellSide{Expect: c.Expect, Verdict: c.Verdict, Outcome: Outcome{
		Total: c.Outage.Counts.Total, Failed: c.Outage.Counts.Failed, Recovered: c.Recovery.Recovered,
	}}
	if c.Verdict != scenario.Pass {
		s.Reason = c.Reason
	}
	return s
}

func (d *Diff) compareTiming(key string, capability scenario.Capability, osc *ScenarioResult, oc Cell, nsc *ScenarioResult, nc Cell) {
	oi, ook := onsetInterval(osc, oc)
	ni, nok := onsetInterval(nsc, nc)
	if ook && nok && !oi.overlaps(ni) {
		d.Timing = append(d.Timing, TimingShift{Scenario: key, Capability: capability, What: "onset", Old: oi, New: ni})
	}
	oi, ook = recoveryInterval(osc, oc)
	ni, nok = recoveryInterval(nsc, nc)
	if ook && nok && !oi.overlaps(ni) {
		d.Timing = append(d.Timing, TimingShift{Scenario: key, Capability: capability, What: "recovery", Old: oi, New: ni})
	}
}

// samplesOf returns the capability's samples in time order (SetSamples sorted them), nil
// when the journal holds none.
func samplesOf(s *ScenarioResult, c scenario.Capability) []scenario.Sample {
	for _, ser := range s.Samples {
		if ser.Capability == c {
			return ser.Samples
		}
	}
	return nil
}

// onsetInterval is where the cell's onset lies (TimingShift); false when the cell did not
// fail in the window or the journal does not hold the failing sample.
func onsetInterval(s *ScenarioResult, c Cell) (Interval, bool) {
	if c.Outage.TimeToFail == nil || s.Window.Start.IsZero() {
		return Interval{}, false
	}
	start := s.Window.Start
	first := start.Add(time.Duration(*c.Outage.TimeToFail))
	samples := samplesOf(s, c.Capability)
	i := sampleAt(samples, first, false)
	if i < 0 {
		return Interval{}, false
	}
	iv := Interval{Hi: first.Sub(start)}
	for j := i - 1; j >= 0; j-- {
		if samples[j].OK {
			iv.Lo = max(0, samples[j].Time.Sub(start))
			break
		}
	}
	return iv, true
}

// recoveryInterval is where the cell's recovery lies (TimingShift); false when the cell
// did not recover or the journal does not hold the sample it recovered at.
func recoveryInterval(s *ScenarioResult, c Cell) (Interval, bool) {
	if c.Recovery.TimeToRecover == nil || s.Window.End.IsZero() {
		return Interval{}, false
	}
	restore := s.Window.End
	at := restore.Add(time.Duration(*c.Recovery.TimeToRecover))
	samples := samplesOf(s, c.Capability)
	i := sampleAt(samples, at, true)
	if i < 0 {
		return Interval{}, false
	}
	iv := Interval{Hi: at.Sub(restore)}
	for j := i - 1; j >= 0 && !samples[j].Time.Before(restore); j-- {
		if !samples[j].OK {
			iv.Lo = samples[j].Time.Sub(restore)
			break
		}
	}
	return iv, true
}

// sampleSlack is how far a sample's recorded time may be from the one a journal's time to
// fail or recover points at: those were measured on the monotonic clock, sample times are
// wall-clock, and the two drift apart by nanoseconds over a run. Samples are hundreds of
// milliseconds apart at the least.
const sampleSlack = time.Millisecond

// sampleAt returns the index of the sample with outcome ok nearest to t within sampleSlack,
// or -1.
func sampleAt(samples []scenario.Sample, t time.Time, ok bool) int {
	best := -1
	for i, x := range samples {
		d := x.Time.Sub(t).Abs()
		if x.OK == ok && d <= sampleSlack && (best < 0 || d < samples[best].Time.Sub(t).Abs()) {
			best = i
		}
	}
	return best
}
