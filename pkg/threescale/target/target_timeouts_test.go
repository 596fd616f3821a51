package target

import (
	"strings"
	"testing"
	"time"

	"github.com/threescale-chaos/harness/pkg/timing"
)

// A target file may override the run's timeouts for its install; a wrong name or duration is
// named in the error, as every other field.
func TestLoadTargetTimeouts(t *testing.T) {
	tg, err := Load(writeTarget(t, validTarget+"timeouts: {provision: 10m, ready: 8m}\n"))
	if err != nil {
		t.Fatal(err)
	}
	o := tg.TimeoutOverrides()
	if o.Get(timing.Provision) != 10*time.Minute || o.Get(timing.Ready) != 8*time.Minute || o.Get(timing.Steady) != 2*time.Minute {
		t.Fatalf("overrides %v", o)
	}
	_, err = Load(writeTarget(t, validTarget+"timeouts: {provison: 10m, ready: later}\n"))
	if err == nil || !strings.Contains(err.Error(), `"provison" is not a timeout`) || !strings.Contains(err.Error(), "ready: time: invalid duration") {
		t.Fatalf("err = %v", err)
	}
}
