package chaos_test

import (
	"github.com/threescale-chaos/harness/pkg/report"
	"github.com/threescale-chaos/harness/pkg/scenario"
)

func cellVerdicts(cells []report.Cell) map[scenario.Capability]scenario.Verdict {
	m := map[scenario.Capability]scenario.Verdict{}
	for _, c := range cells {
		m[c.Capability] = c.Verdict
	}
	return m
}
