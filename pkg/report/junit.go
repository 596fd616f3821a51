package report

import (
	"fmt"
	"strings"

	"github.com/threescale-chaos/harness/pkg/scenario"
)

// Exit codes of threescale-chaos run.
const (
	ExitPass    = 0
	ExitFail    = 1
	ExitInvalid = 2
	// ExitBadInput is for the CLI: flags, target or scenario files that do
	// not validate. No verdict maps to it.
	ExitBadInput = 3
)

// ExitCode maps an overall verdict to the process exit code: 0 PASS, 1 FAIL,
// 2 INVALID. Anything else (an empty or unknown verdict) is 2: a run that did
// not conclude proved nothing.
func ExitCode(v scenario.Verdict) int {
	switch v {
	case scenario.Pass:
		return ExitPass
	case scenario.Fail:
		return ExitFail
	default:
		return ExitInvalid
	}
}

// Property is one JUnit property (name and value).
type Property struct {
	Name, Value string
}

// JUnitProperties returns one property per matrix cell, named
// "cell.<capability>" with a value like "PASS lost ttf=1.2s ttr=3s ok=0/30", followed by
// the scenario's own: scenario.component, scenario.method, scenario.verdict and
// scenario.reason. Cells keep the scenario's order. The suite attaches them to
// the scenario's spec (Ginkgo's AddReportEntry), so a JUnit consumer sees every
// cell. Values are redacted with secrets.
func JUnitProperties(s ScenarioResult, secrets ...string) []Property {
	props := make([]Property, 0, len(s.Cells)+4)
	for _, c := range s.Cells {
		props = append(props, Property{Name: "cell." + string(c.Capability), Value: Redact(CellSummary(c), secrets...)})
	}
	props = append(props,
		Property{"scenario.component", s.Component},
		Property{"scenario.method", string(s.Method)},
		Property{"scenario.verdict", string(s.Verdict)},
		Property{"scenario.reason", Redact(s.Reason, secrets...)},
	)
	return props
}

// JUnitPropertyMap is JUnitProperties as a map.
func JUnitPropertyMap(s ScenarioResult, secrets ...string) map[string]string {
	m := map[string]string{}
	for _, p := range JUnitProperties(s, secrets...) {
		m[p.Name] = p.Value
	}
	return m
}

// CellSummary is a cell in one line: verdict, expectation, time to fail and
// time to recover when known, and, unless PASS, the reason.
func CellSummary(c Cell) string {
	parts := []string{string(c.Verdict), string(c.Expect)}
	if c.Outage.TimeToFail != nil {
		parts = append(parts, "ttf="+c.Outage.TimeToFail.String())
	}
	if c.Recovery.TimeToRecover != nil {
		parts = append(parts, "ttr="+c.Recovery.TimeToRecover.String())
	}
	parts = append(parts, fmt.Sprintf("ok=%d/%d", c.Outage.Counts.OK, c.Outage.Counts.Total))
	s := strings.Join(parts, " ")
	if c.Verdict != scenario.Pass && c.Reason != "" {
		s += ": " + c.Reason
	}
	return s
}
