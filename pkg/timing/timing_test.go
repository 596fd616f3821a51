package timing

import (
	"strings"
	"testing"
	"time"
)

func TestParseAndGet(t *testing.T) {
	tt, err := Parse(map[string]string{"provision": "7m", "ready": " 90s "})
	if err != nil {
		t.Fatal(err)
	}
	if tt.Get(Provision) != 7*time.Minute || tt.Get(Ready) != 90*time.Second || tt.Get(Steady) != 2*time.Minute {
		t.Fatalf("Get: %v %v %v", tt.Get(Provision), tt.Get(Ready), tt.Get(Steady))
	}
	m := tt.Merge(Timeouts{Ready: time.Minute, Settle: 5 * time.Second})
	if m.Get(Provision) != 7*time.Minute || m.Get(Ready) != time.Minute || m.Get(Settle) != 5*time.Second || tt.Get(Ready) != 90*time.Second {
		t.Fatalf("Merge: %v (and t changed: %v)", m, tt)
	}
}

func TestParseNamesEveryProblem(t *testing.T) {
	_, err := Parse(map[string]string{"provison": "5m", "ready": "soon", "gone": "-1s", "settle": "0s"})
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{`"provison" is not a timeout (known: provision,`, "ready: time: invalid duration", "gone: -1s is not positive", "settle: 0s is not positive"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

func TestDefaultsAreComplete(t *testing.T) {
	seen := map[Name]bool{}
	for _, d := range Defaults {
		if d.Value <= 0 || d.Bounds == "" || d.Twin == "" || d.Real == "" || seen[d.Name] {
			t.Errorf("default %+v: every timeout needs a positive value, what it bounds, a twin and a real value, once", d)
		}
		seen[d.Name] = true
	}
}

func TestParseScenarioRefusesRunTimeouts(t *testing.T) {
	if tt, err := ParseScenario(map[string]string{"ready": "10m", "spec": "30m"}); err != nil || tt.Get(Ready) != 10*time.Minute {
		t.Fatalf("ParseScenario: %v %v", tt, err)
	}
	_, err := ParseScenario(map[string]string{"provision": "10m", "cleanup": "1m", "settle": "1m"})
	if err == nil || !strings.Contains(err.Error(), "provision bounds the whole run") || !strings.Contains(err.Error(), "cleanup bounds the whole run") || !strings.Contains(err.Error(), "settle bounds the whole run") {
		t.Fatalf("err = %v", err)
	}
}
