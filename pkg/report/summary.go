package report

import (
	"fmt"
	"io"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/threescale-chaos/harness/pkg/scenario"
)

// Summary condenses one or more journals into what a reader compares between runs: each
// scenario's verdict, length and harness cost, and how quickly each lost capability was
// seen failing once the component's last pod was gone.
type Summary struct {
	Runs      []RunSummary
	Scenarios []ScenarioSummary
	// Onset is, per capability expected lost, the delays between the fault-held mark (the
	// last pod gone) and the first failing sample, over every scenario that lost it.
	Onset []OnsetSummary
	// AllOnsets is the same over every lost cell of every scenario.
	AllOnsets OnsetSummary
	// NotPassing lists, in journal order, every scenario whose verdict is not PASS with the
	// cells that made it so: what a reader of a failed CI log needs first.
	NotPassing []NotPassing
}

// NotPassing is one scenario or cell that did not pass, with its reason. Capability is
// empty for a scenario-level verdict (an INVALID steady state, a restore that failed).
// Verdict is empty for the line that follows them: how the scenario's test bed fared
// (ScenarioResult.TestBed), so that a failed CI log says whether the cluster stalled.
type NotPassing struct {
	RunID, Scenario string
	Capability      scenario.Capability
	Expect          scenario.Expect
	Verdict         scenario.Verdict
	Reason          string
}

// RunSummary is one journal.
type RunSummary struct {
	RunID     string
	Verdict   scenario.Verdict
	Scenarios int
	Wall      time.Duration
	// Usage is the harness's cost over the run, when the journal recorded it.
	Usage *Usage
}

// ScenarioSummary is one scenario of a run.
type ScenarioSummary struct {
	// Scenario is the scenario's name: its component's, the name of a file of several
	// components, or a variant's file name (two variants of one component stay apart).
	RunID, Scenario string
	Verdict         scenario.Verdict
	Wall            time.Duration
	// Window is how long the fault held.
	Window time.Duration
	// Cells counts the matrix cells; Lost how many were expected lost.
	Cells, Lost int
	// SlowestRecovery is the longest time to recover of any cell (0 when none recorded).
	SlowestRecovery time.Duration
	Usage           *Usage
}

// OnsetSummary is a distribution of delays to failure.
type OnsetSummary struct {
	Capability scenario.Capability
	// Missing counts lost cells that never saw a failing sample in the window.
	N, Missing            int
	Median, Min, Max, P90 time.Duration
}

// Summarize builds the summary of the journals, in the order given.
func Summarize(journals ...*Journal) Summary {
	var s Summary
	onsets := map[scenario.Capability][]time.Duration{}
	missing := map[scenario.Capability]int{}
	var all []time.Duration
	allMissing := 0
	for _, j := range journals {
		r := RunSummary{RunID: j.RunID, Verdict: j.Verdict, Scenarios: len(j.Scenarios), Usage: j.Usage}
		if !j.FinishedAt.IsZero() {
			r.Wall = j.FinishedAt.Sub(j.StartedAt)
		}
		s.Runs = append(s.Runs, r)
		for _, sc := range j.Scenarios {
			name := sc.Name
			if name == "" {
				name = sc.Component
			}
			ss := ScenarioSummary{RunID: j.RunID, Scenario: name, Verdict: sc.Verdict, Cells: len(sc.Cells), Usage: sc.Usage}
			if !sc.FinishedAt.IsZero() {
				ss.Wall = sc.FinishedAt.Sub(sc.StartedAt)
			}
			if !sc.Window.Start.IsZero() && !sc.Window.End.IsZero() {
				ss.Window = sc.Window.End.Sub(sc.Window.Start)
			}
			for _, c := range sc.Cells {
				if c.Recovery.TimeToRecover != nil {
					ss.SlowestRecovery = max(ss.SlowestRecovery, time.Duration(*c.Recovery.TimeToRecover))
				}
				if c.Expect != scenario.Lost || sc.Window.Start.IsZero() {
					continue
				}
				ss.Lost++
				if c.Outage.TimeToFail == nil {
					missing[c.Capability]++
					allMissing++
					continue
				}
				d := time.Duration(*c.Outage.TimeToFail)
				onsets[c.Capability] = append(onsets[c.Capability], d)
				all = append(all, d)
			}
			s.Scenarios = append(s.Scenarios, ss)
			s.NotPassing = append(s.NotPassing, notPassing(j.RunID, name, sc)...)
		}
	}
	caps := make([]scenario.Capability, 0, len(onsets)+len(missing))
	for c := range onsets {
		caps = append(caps, c)
	}
	for c := range missing {
		if _, ok := onsets[c]; !ok {
			caps = append(caps, c)
		}
	}
	slices.Sort(caps)
	for _, c := range caps {
		s.Onset = append(s.Onset, distribution(c, onsets[c], missing[c]))
	}
	s.AllOnsets = distribution("", all, allMissing)
	return s
}

// notPassing is the scenario's cells that did not pass or, when none did not (the verdict
// came from the scenario itself), the scenario's own verdict and reason.
func notPassing(runID, name string, sc ScenarioResult) []NotPassing {
	if sc.Verdict == scenario.Pass || sc.Verdict == "" {
		return nil
	}
	var out []NotPassing
	for _, c := range sc.Cells {
		if c.Verdict != scenario.Pass && c.Verdict != "" {
			out = append(out, NotPassing{RunID: runID, Scenario: name, Capability: c.Capability, Expect: c.Expect, Verdict: c.Verdict, Reason: c.Reason})
		}
	}
	if len(out) == 0 {
		out = append(out, NotPassing{RunID: runID, Scenario: name, Verdict: sc.Verdict, Reason: sc.Reason})
	}
	if sc.TestBed != "" {
		out = append(out, NotPassing{RunID: runID, Scenario: name, Reason: "test bed: " + sc.TestBed})
	}
	return out
}

func distribution(c scenario.Capability, ds []time.Duration, missing int) OnsetSummary {
	o := OnsetSummary{Capability: c, N: len(ds), Missing: missing}
	if len(ds) == 0 {
		return o
	}
	ds = slices.Clone(ds)
	slices.Sort(ds)
	o.Min, o.Max = ds[0], ds[len(ds)-1]
	o.Median = percentile(ds, 50)
	o.P90 = percentile(ds, 90)
	return o
}

// percentile of sorted ds by linear interpolation between closest ranks.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 1 {
		return ds[0]
	}
	rank := p / 100 * float64(len(ds)-1)
	lo := int(rank)
	if lo >= len(ds)-1 {
		return ds[len(ds)-1]
	}
	frac := rank - float64(lo)
	return ds[lo] + time.Duration(frac*float64(ds[lo+1]-ds[lo]))
}

// WriteText writes the summary as aligned plain-text tables.
func (s Summary) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RUN\tVERDICT\tSCENARIOS\tWALL\tHARNESS CPU\tCPU %\tPEAK RSS")
	for _, r := range s.Runs {
		cpu, pct, rss := usageCols(r.Usage)
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\n", r.RunID, r.Verdict, r.Scenarios, round(r.Wall), cpu, pct, rss)
	}
	fmt.Fprintln(tw)
	fmt.Fprintln(tw, "SCENARIO\tVERDICT\tWALL\tFAULT HELD\tCELLS\tLOST\tSLOWEST RECOVERY\tHARNESS CPU %\tPEAK RSS")
	for _, sc := range s.Scenarios {
		_, pct, rss := usageCols(sc.Usage)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\t%s\n", sc.Scenario, sc.Verdict, round(sc.Wall), round(sc.Window), sc.Cells, sc.Lost, round(sc.SlowestRecovery), pct, rss)
	}
	fmt.Fprintln(tw)
	fmt.Fprintln(tw, "LOST CAPABILITY\tN\tMEDIAN ONSET\tMIN\tP90\tMAX\tNEVER FAILED")
	for _, o := range append(slices.Clone(s.Onset), s.AllOnsets) {
		name := string(o.Capability)
		if name == "" {
			name = "(every lost cell)"
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%d\n", name, o.N, round(o.Median), round(o.Min), round(o.P90), round(o.Max), o.Missing)
	}
	fmt.Fprintln(tw, "\nonset: from the fault-held mark (the component's last pod gone) to the first failing sample")
	if err := tw.Flush(); err != nil {
		return err
	}
	// Last, so that a CI log's tail shows it: one line each, reasons unabridged.
	if len(s.NotPassing) > 0 {
		fmt.Fprintln(w, "\nNOT PASSING")
		for _, n := range s.NotPassing {
			what := n.Scenario
			if n.Capability != "" {
				what += " " + string(n.Capability) + " (" + string(n.Expect) + ")"
			}
			if len(s.Runs) > 1 {
				what = n.RunID + " " + what
			}
			line := fmt.Sprintf("%s: %s: %s\n", what, n.Verdict, n.Reason)
			if n.Verdict == "" {
				line = fmt.Sprintf("%s: %s\n", what, n.Reason)
			}
			if _, err := io.WriteString(w, line); err != nil {
				return err
			}
		}
	}
	return nil
}

func usageCols(u *Usage) (cpu, pct, rss string) {
	if u == nil {
		return "-", "-", "-"
	}
	return round(time.Duration(u.CPU)), fmt.Sprintf("%.1f", u.CPUPercent), fmt.Sprintf("%.0f MiB", float64(u.MaxRSSBytes)/(1<<20))
}

func round(d time.Duration) string {
	switch {
	case d == 0:
		return "-"
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	default:
		return d.Round(100 * time.Millisecond).String()
	}
}
