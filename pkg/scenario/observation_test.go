package scenario

import (
	"strings"
	"testing"
	"time"

	"github.com/threescale-chaos/harness/pkg/catalog"
)

const refresh = "apicast-production-configuration-refresh"

func spanning(t *testing.T, timing string) Scenario {
	t.Helper()
	data := validFile(map[Capability]string{ProductionTraffic: "{expect: kept, spans: " + refresh + "}", UnauthorizedDenial: "{expect: kept, spans: " + refresh + "}"})
	if timing != "" {
		data = strings.Replace(data, "timing:\n  observe: 45s\n", "timing:\n  observe: 45s\n"+timing, 1)
	}
	s, err := Parse("f.yaml", []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// The operator's 300s refresh does not fit in 45s: the fault is held one period and the
// margin, and the reason names the claim, the process, the period and where it was read.
func TestObservationSpansThePeriod(t *testing.T) {
	s := spanning(t, "")
	if got, _ := s.Expectation(ProductionTraffic); got.Spans != refresh {
		t.Fatalf("spans = %q", got.Spans)
	}
	if got := s.Periods(); len(got) != 1 || got[0] != refresh {
		t.Fatalf("Periods() = %v, want the one period once", got)
	}
	env := map[string]catalog.EnvValue{
		"APICAST_CONFIGURATION_LOADER": {Value: "boot", Set: true},
		"APICAST_CONFIGURATION_CACHE":  {Value: "300", Set: true},
		"THREESCALE_DEPLOYMENT_ENV":    {Value: "production", Set: true},
	}
	r := catalog.ProductionConfigRefresh.Interpret(env, "", "Deployment/apicast-production")
	o := s.Observation(map[string]catalog.PeriodReading{refresh: r})
	if o.Planned != 45*time.Second || o.Effective != 5*time.Minute+10*time.Second || !o.Lengthened() || len(o.Unread) != 0 {
		t.Fatalf("observation %+v", o)
	}
	for _, want := range []string{
		"observe 45s → 5m10s: production-traffic (kept), unauthorized-denial (kept) rest on apicast-production's configuration refresh every 300s",
		"APICAST_CONFIGURATION_CACHE=300", "Deployment/apicast-production", "held 5m10s: one period and a 10s margin",
	} {
		if !strings.Contains(o.String(), want) {
			t.Errorf("%q lacks %q", o, want)
		}
	}

	// The twin's 10s refresh fits: the window stays, and says so.
	env["APICAST_CONFIGURATION_CACHE"] = catalog.EnvValue{Value: "10", Set: true}
	o = s.Observation(map[string]catalog.PeriodReading{refresh: catalog.ProductionConfigRefresh.Interpret(env, "", "Deployment/apicast-production")})
	if o.Effective != 45*time.Second || o.Lengthened() || !strings.Contains(o.String(), "45s already spans it") || strings.Contains(o.String(), "→") {
		t.Errorf("10s period: %+v %q", o, o)
	}

	// A negative cache never refreshes: nothing to span.
	env["APICAST_CONFIGURATION_CACHE"] = catalog.EnvValue{Value: "-1", Set: true}
	o = s.Observation(map[string]catalog.PeriodReading{refresh: catalog.ProductionConfigRefresh.Interpret(env, "", "Deployment/apicast-production")})
	if o.Effective != 45*time.Second || !strings.Contains(o.String(), "nothing to span") {
		t.Errorf("negative cache: %q", o)
	}
}

// A setting that could not be read is never a silent fallback: the reading carries why,
// the observation lists it, and the operator's 300s is used.
func TestObservationUnreadUsesTheDefaultAndSaysSo(t *testing.T) {
	s := spanning(t, "  periodMargin: 20s\n")
	o := s.Observation(map[string]catalog.PeriodReading{refresh: catalog.ProductionConfigRefresh.Unreadable("deployments.apps \"apicast-production\" is forbidden")})
	if o.Effective != 5*time.Minute+20*time.Second || len(o.Unread) != 1 || !strings.Contains(o.Unread[0], "forbidden") {
		t.Fatalf("observation %+v", o)
	}
	if !strings.Contains(o.String(), "could not be read") || !strings.Contains(o.String(), "assumed 300s, the operator's value") {
		t.Errorf("%q does not say the value was assumed", o)
	}
	// No reading at all (a caller that did not read) is the same.
	if o := s.Observation(nil); o.Effective != 5*time.Minute+20*time.Second || len(o.Unread) != 1 {
		t.Errorf("no reading: %+v", o)
	}
	// A scenario without spans keeps its observe.
	plain, err := Parse("f.yaml", []byte(validFile(nil)))
	if err != nil {
		t.Fatal(err)
	}
	if o := plain.Observation(nil); o.Effective != 45*time.Second || len(o.Reasons) != 0 || o.String() != "observe 45s" {
		t.Errorf("no spans: %+v %q", o, o)
	}
}

func TestParseRejectsBadSpans(t *testing.T) {
	for _, tt := range []struct{ name, data, want string }{
		{"unknown period", validFile(map[Capability]string{ProductionTraffic: "{expect: kept, spans: apicast-refresh}"}),
			`f.yaml: expectations.production-traffic.spans: unknown period "apicast-refresh": known periods are apicast-production-configuration-refresh`},
		{"on a lost claim", validFile(map[Capability]string{StagingTraffic: "{expect: lost, spans: " + refresh + "}"}),
			"f.yaml: expectations.staging-traffic.spans: applies only to kept or degraded expectations (a claim that must hold across the period), not lost"},
		{"not a string", validFile(map[Capability]string{ProductionTraffic: "{expect: kept, spans: [a, b]}"}),
			"f.yaml: expectations.production-traffic.spans: must be a string"},
		{"bad margin", strings.Replace(validFile(nil), "observe: 45s\n", "observe: 45s\n  periodMargin: 0s\n", 1),
			"f.yaml: timing.periodMargin: must be greater than zero"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("f.yaml", []byte(tt.data))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}
