package scenario

import (
	"fmt"
	"strings"
)

// ConcludeScenario decides a scenario's verdict from its cells and says why.
//
// invalid, when set, is why the experiment did not happen as planned (steady
// state unhealthy, fault reverted by the operator); the scenario is then
// INVALID with that reason whatever the cells say, because cells judged over a
// fault that did not hold say nothing about 3scale. Without it, no cells at all
// is INVALID, and otherwise the verdict is Worst of the cells' verdicts with a
// reason naming each cell that decided it, its expectation and its reason.
//
// Only each cell's Capability, Expect, Verdict and Reason are read, so a cell
// rebuilt from a journal concludes the same as one fresh from EvaluateCell.
func ConcludeScenario(invalid string, cells []CellResult) (Verdict, string) {
	switch {
	case invalid != "":
		return Invalid, invalid
	case len(cells) == 0:
		return Invalid, "no cell was judged"
	}
	vs := make([]Verdict, len(cells))
	for i, c := range cells {
		vs[i] = c.Verdict
	}
	v := Worst(vs...)
	if v == Pass {
		return v, fmt.Sprintf("all %d cells PASS", len(cells))
	}
	var names []string
	for _, c := range cells {
		if c.Verdict == v {
			names = append(names, fmt.Sprintf("%s (expected %s: %s)", c.Capability, c.Expect, c.Reason))
		}
	}
	return v, fmt.Sprintf("%d of %d cells %s: %s", len(names), len(cells), v, strings.Join(names, "; "))
}

// ScenarioVerdict is a scenario's name and verdict, as ConcludeRun reads them.
type ScenarioVerdict struct {
	Name    string
	Verdict Verdict
}

// ConcludeRun decides a run's verdict from its scenarios' verdicts: Worst of
// them, with a reason naming the scenarios that decided it. A run without
// scenarios is INVALID.
func ConcludeRun(scenarios []ScenarioVerdict) (Verdict, string) {
	if len(scenarios) == 0 {
		return Invalid, "no scenario ran"
	}
	vs := make([]Verdict, len(scenarios))
	for i, s := range scenarios {
		vs[i] = s.Verdict
	}
	v := Worst(vs...)
	if v == Pass {
		return v, fmt.Sprintf("all %d scenarios PASS", len(scenarios))
	}
	var names []string
	for _, s := range scenarios {
		if s.Verdict == v {
			names = append(names, s.Name)
		}
	}
	return v, fmt.Sprintf("%d of %d scenarios %s: %s", len(names), len(scenarios), v, strings.Join(names, ", "))
}
