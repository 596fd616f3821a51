package scenario

import (
	"strings"
	"testing"
	"time"

	"github.com/threescale-chaos/harness/pkg/timing"
)

const timeoutsBase = `component: system-app
doc: {section: system-app, summary: test}
timing: {observe: 10s, recoveryBudget: 30s}
expectations:
`

func timeoutsFile(extra string) []byte {
	var b strings.Builder
	b.WriteString(timeoutsBase)
	for _, c := range Capabilities() {
		b.WriteString("  " + string(c) + ": {expect: kept}\n")
	}
	b.WriteString(extra)
	return []byte(b.String())
}

// A scenario file may set the timeouts of its own scenario; the run's own (provision,
// clean-up) and unknown names are refused with the field named.
func TestScenarioTimeouts(t *testing.T) {
	sc, err := Parse("system-app.yaml", timeoutsFile("timeouts: {ready: 10m, spec: 40m}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if sc.Timeouts.Get(timing.Ready) != 10*time.Minute || sc.Timeouts.Get(timing.Spec) != 40*time.Minute || sc.Timeouts.Get(timing.Gone) != 2*time.Minute {
		t.Fatalf("timeouts %v", sc.Timeouts)
	}
	for extra, want := range map[string]string{
		"timeouts: {provision: 10m}\n": "provision bounds the whole run",
		"timeouts: {redy: 10m}\n":      `"redy" is not a timeout`,
		"timeouts: [ready]\n":          "want name: duration pairs",
	} {
		_, err := Parse("system-app.yaml", timeoutsFile(extra))
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "timeouts") {
			t.Errorf("%q: err = %v, want %q", extra, err, want)
		}
	}
}
