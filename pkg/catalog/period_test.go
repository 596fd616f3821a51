package catalog

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// Interpret reads a gateway container's environment as APIcast@3scale-2.16.3-GA does
// (gateway/src/apicast/configuration_loader.lua, gateway/config/production.lua and
// staging.lua, cli/command/start.lua).
func TestInterpretAPIcastConfigurationCache(t *testing.T) {
	lit := func(v string) EnvValue { return EnvValue{Value: v, Set: true} }
	operator := map[string]EnvValue{ // operator@3scale-2.16.3-GA apicast.go buildApicastProductionEnv
		"APICAST_CONFIGURATION_LOADER": lit("boot"), "APICAST_CONFIGURATION_CACHE": lit("300"), "THREESCALE_DEPLOYMENT_ENV": lit("production"),
	}
	with := func(k string, v EnvValue) map[string]EnvValue {
		m := map[string]EnvValue{}
		for kk, vv := range operator {
			m[kk] = vv
		}
		if v == (EnvValue{}) {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	tests := []struct {
		name     string
		env      map[string]EnvValue
		envFrom  string
		interval time.Duration
		unread   bool
		says     string
	}{
		{"the operator's", operator, "", 300 * time.Second, false, "every 300s"},
		{"the twin's", with("APICAST_CONFIGURATION_CACHE", lit("10")), "", 10 * time.Second, false, "APICAST_CONFIGURATION_CACHE=10"},
		{"fractional", with("APICAST_CONFIGURATION_CACHE", lit("2.5")), "", 2500 * time.Millisecond, false, "every 2.5s"},
		{"cache unset, production channel", with("APICAST_CONFIGURATION_CACHE", EnvValue{}), "", 300 * time.Second, false, "production channel's 300 (APIcast gateway/config/production.lua)"},
		{"nothing set: production channel, boot loader", map[string]EnvValue{}, "", 300 * time.Second, false, "the production channel's boot loader (THREESCALE_DEPLOYMENT_ENV unset)"},
		{"boot with the cache off exits", with("APICAST_CONFIGURATION_CACHE", lit("0")), "", 0, false, "APIcast exits at start"},
		{"negative never reloads", with("APICAST_CONFIGURATION_CACHE", lit("-1")), "", 0, false, "disables reloading"},
		{"lazy with a cache", with("APICAST_CONFIGURATION_LOADER", lit("lazy")), "", 300 * time.Second, false, "per host"},
		{"lazy without cache reloads per request", map[string]EnvValue{"APICAST_CONFIGURATION_LOADER": lit("lazy"), "APICAST_CONFIGURATION_CACHE": lit("0")}, "", 0, false, "on every request"},
		{"staging channel, nothing else: lazy, no cache", map[string]EnvValue{"THREESCALE_DEPLOYMENT_ENV": lit("staging")}, "", 0, false, "on every request"},
		{"from a Secret", with("APICAST_CONFIGURATION_CACHE", EnvValue{Indirect: "comes from key CACHE of Secret s"}), "", 300 * time.Second, true, "Secret s"},
		{"maybe from envFrom", with("APICAST_CONFIGURATION_CACHE", EnvValue{}), "ConfigMap apicast-env", 300 * time.Second, true, "envFrom (ConfigMap apicast-env)"},
		{"not a number", with("APICAST_CONFIGURATION_CACHE", lit("5m")), "", 300 * time.Second, true, `"5m" on Deployment/apicast-production is not a number`},
		{"unknown loader", with("APICAST_CONFIGURATION_LOADER", lit("eager")), "", 300 * time.Second, true, `loader "eager"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ProductionConfigRefresh.Interpret(tt.env, tt.envFrom, "Deployment/apicast-production")
			if r.Interval != tt.interval || (r.Unread != "") != tt.unread {
				t.Errorf("interval %s unread %q, want %s unread=%t", r.Interval, r.Unread, tt.interval, tt.unread)
			}
			if all := r.Meaning + " | " + r.Source; !strings.Contains(all, tt.says) {
				t.Errorf("%q lacks %q", all, tt.says)
			}
			if tt.unread && !strings.Contains(r.Source, "assumed 300s, the operator's value") {
				t.Errorf("an unread value must say the default is assumed: %q", r.Source)
			}
		})
	}
}

func TestLookupPeriod(t *testing.T) {
	p, err := LookupPeriod("apicast-production-configuration-refresh")
	if err != nil || p.Component != "apicast-production" || p.Env != "APICAST_CONFIGURATION_CACHE" || p.Default != 300*time.Second {
		t.Fatalf("%+v %v", p, err)
	}
	if _, err := Lookup(p.Component); err != nil {
		t.Errorf("the period's component is not in the catalog: %v", err)
	}
	if _, err := LookupPeriod("refresh"); !errors.Is(err, ErrUnknownPeriod) || !strings.Contains(err.Error(), "apicast-production-configuration-refresh") {
		t.Errorf("unknown period: %v", err)
	}
}
