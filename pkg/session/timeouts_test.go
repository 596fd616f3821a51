package session

import (
	"testing"
	"time"

	"github.com/threescale-chaos/harness/pkg/scenario"
	"github.com/threescale-chaos/harness/pkg/threescale/target"
	"github.com/threescale-chaos/harness/pkg/timing"
)

// The layers, lowest first: defaults, the target file, the scenario file, the flags.
func TestScenarioTimeoutsLayers(t *testing.T) {
	tg := &target.Target{Timeouts: map[string]string{"ready": "8m", "steady": "3m", "gone": "90s"}}
	sc := scenario.Scenario{Timeouts: timing.Timeouts{timing.Ready: 15 * time.Minute, timing.Gone: time.Minute}}
	flags := timing.Timeouts{timing.Gone: 30 * time.Second}
	tm := ScenarioTimeouts(tg, sc, flags)
	for n, want := range map[timing.Name]time.Duration{
		timing.Ready: 15 * time.Minute, timing.Steady: 3 * time.Minute, timing.Gone: 30 * time.Second, timing.Spec: 20 * time.Minute,
	} {
		if got := tm.Get(n); got != want {
			t.Errorf("%s = %s, want %s", n, got, want)
		}
	}
	if got := ScenarioTimeouts(nil, sc, nil).Get(timing.Ready); got != 15*time.Minute {
		t.Errorf("without a target: ready %s", got)
	}
}
