package apicast

import (
	"encoding/json"
	"log/slog"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestMappingRules(t *testing.T) {
	rules := func(rs ...ruleJSON) []mappingRule {
		t.Helper()
		var out []mappingRule
		for _, r := range rs {
			m, err := compileRule(r)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, m)
		}
		return out
	}
	r := func(method, pattern, metric string, delta int64, last bool) ruleJSON {
		return ruleJSON{HTTPMethod: method, Pattern: pattern, MetricSystemName: metric, Delta: flexInt(delta), Last: last}
	}
	cases := []struct {
		name   string
		rules  []mappingRule
		method string
		target string
		want   string
	}{
		{"slash matches everything", rules(r("GET", "/", "hits", 1, false)), "GET", "/a/b?c=d", "usage%5Bhits%5D=1"},
		{"method must match", rules(r("POST", "/", "hits", 1, false)), "GET", "/a", ""},
		{"prefix", rules(r("GET", "/v1", "hits", 1, false)), "GET", "/v1/words", "usage%5Bhits%5D=1"},
		{"anchored", rules(r("GET", "/v1$", "hits", 1, false)), "GET", "/v1/words", ""},
		{"anchored exact", rules(r("GET", "/v1$", "hits", 1, false)), "GET", "/v1", "usage%5Bhits%5D=1"},
		{"placeholder is one segment", rules(r("GET", "/words/{word}.json", "w", 1, false)), "GET", "/words/hi.json", "usage%5Bw%5D=1"},
		{"placeholder does not cross /", rules(r("GET", "/words/{word}.json", "w", 1, false)), "GET", "/words/a/b.json", ""},
		{"dot is literal", rules(r("GET", "/a.json", "w", 1, false)), "GET", "/aXjson", ""},
		{"query literal", rules(r("GET", "/s?lang=en", "w", 1, false)), "GET", "/s?lang=en&x=1", "usage%5Bw%5D=1"},
		{"query literal mismatch", rules(r("GET", "/s?lang=en", "w", 1, false)), "GET", "/s?lang=fr", ""},
		{"query placeholder", rules(r("GET", "/s?lang={l}", "w", 1, false)), "GET", "/s?lang=fr", "usage%5Bw%5D=1"},
		{"query placeholder needs the parameter", rules(r("GET", "/s?lang={l}", "w", 1, false)), "GET", "/s", ""},
		{"deltas add up across rules and metrics",
			rules(r("GET", "/", "hits", 1, false), r("GET", "/v1", "hits", 2, false), r("GET", "/v1", "search", 5, false)),
			"GET", "/v1/x", "usage%5Bhits%5D=3&usage%5Bsearch%5D=5"},
		{"last stops evaluation",
			rules(r("GET", "/v1", "a", 1, true), r("GET", "/", "b", 1, false)),
			"GET", "/v1", "usage%5Ba%5D=1"},
		{"last only stops when it matched",
			rules(r("GET", "/v2", "a", 1, true), r("GET", "/", "b", 1, false)),
			"GET", "/v1", "usage%5Bb%5D=1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u, err := url.Parse(tc.target)
			if err != nil {
				t.Fatal(err)
			}
			got := usageFor(tc.rules, tc.method, u.EscapedPath(), u.Query()).encoded()
			if got != tc.want {
				t.Errorf("usage = %q, want %q", got, tc.want)
			}
		})
	}
	if _, err := compileRule(r("GET", "v1", "hits", 1, false)); err == nil {
		t.Error("a pattern without a leading / was accepted")
	}
}

func TestParseServiceReadsProxyConfigFields(t *testing.T) {
	raw := `{
	  "id": 42, "backend_version": 2,
	  "backend_authentication_type": "provider_key", "backend_authentication_value": "pk",
	  "proxy": {
	    "api_backend": "http://echo-api:8080/base",
	    "endpoint": "https://api-3scale-apicast-production.example.test:443",
	    "sandbox_endpoint": "https://api-3scale-apicast-staging.example.test:443",
	    "hostname_rewrite": "echo.internal",
	    "auth_app_id": "id", "auth_app_key": "key", "credentials_location": "headers",
	    "error_auth_failed": "nope", "error_status_auth_failed": "401", "error_headers_auth_failed": "application/json",
	    "error_limits_exceeded": "slow down", "error_status_limits_exceeded": 503,
	    "backend": {"endpoint": "http://backend-listener:3000", "host": "backend-listener"},
	    "proxy_rules": [{"http_method": "GET", "pattern": "/", "metric_system_name": "hits", "delta": "1"}],
	    "policy_chain": [
	      {"name": "caching", "version": "builtin", "configuration": {"caching_type": "allow"}},
	      {"name": "apicast", "version": "builtin", "configuration": {}}
	    ]
	  }
	}`
	log := slog.New(slog.DiscardHandler)
	for _, tc := range []struct{ env, host string }{
		{EnvironmentProduction, "api-3scale-apicast-production.example.test"},
		{EnvironmentStaging, "api-3scale-apicast-staging.example.test"},
	} {
		s, err := parseService(json.RawMessage(raw), tc.env, "", log)
		if err != nil {
			t.Fatal(err)
		}
		if len(s.hosts) != 1 || s.hosts[0] != tc.host {
			t.Errorf("%s: hosts from the endpoint = %q, want %q", tc.env, s.hosts, tc.host)
		}
	}
	s, err := parseService(json.RawMessage(raw), EnvironmentProduction, "http://override:3001", log)
	if err != nil {
		t.Fatal(err)
	}
	checks := map[string][2]string{
		"id":            {s.id, "42"},
		"version":       {s.backendVersion, "2"},
		"auth type":     {s.authType, "provider_key"},
		"upstream":      {s.upstream.String(), "http://echo-api:8080/base"},
		"host rewrite":  {s.hostRewrite, "echo.internal"},
		"app id param":  {s.appIDParam, "id"},
		"location":      {s.credsLocation, "headers"},
		"backend":       {s.backend.String(), "http://override:3001"},
		"cache":         {string(s.cache), "allow"},
		"auth failed":   {s.errAuthFailed.body + " " + s.errAuthFailed.contentType, "nope application/json"},
		"auth missing":  {s.errAuthMissing.body + " " + s.errAuthMissing.contentType, "Authentication parameters missing text/plain; charset=utf-8"},
		"limits body":   {s.errLimits.body, "slow down"},
		"no match body": {s.errNoMatch.body, "No Mapping Rule matched"},
	}
	for name, c := range checks {
		if c[0] != c[1] {
			t.Errorf("%s = %q, want %q", name, c[0], c[1])
		}
	}
	if s.errAuthFailed.status != 401 || s.errLimits.status != 503 || s.errNoMatch.status != 404 {
		t.Errorf("statuses: auth failed %d, limits %d, no match %d", s.errAuthFailed.status, s.errLimits.status, s.errNoMatch.status)
	}
}

// A policy chain names builtin policies as porta writes them, by directory: "caching" sets the
// caching mode; "apicast.policy.caching" (what an older twin system wrote) is no policy
// APIcast can load, so the service keeps the default handler
// (APIcast@3scale-2.16.3-GA:gateway/src/apicast/policy_loader.lua load_path,
// gateway/src/apicast/configuration.lua build_policy_chain).
func TestPolicyChainNamesAsPortaWritesThem(t *testing.T) {
	svc := func(name string) string {
		return `{"id": 7, "backend_version": "1", "proxy": {"endpoint": "https://p.example.test", "sandbox_endpoint": "https://s.example.test",
		  "api_backend": "http://echo:8080", "proxy_rules": [], "policy_chain": [
		    {"name": "` + name + `", "version": "builtin", "configuration": {"caching_type": "resilient"}},
		    {"name": "apicast", "version": "builtin", "configuration": {}}]}}`
	}
	log := slog.New(slog.DiscardHandler)
	for name, want := range map[string]cacheMode{"caching": cacheResilient, "apicast.policy.caching": cacheStrictDefault} {
		s, err := parseService(json.RawMessage(svc(name)), EnvironmentProduction, "", log)
		if err != nil {
			t.Fatal(err)
		}
		if s.cache != want {
			t.Errorf("policy %q: cache %q, want %q", name, s.cache, want)
		}
	}
}

func TestCacheHandlers(t *testing.T) {
	// Each row: what is cached before, the backend status, what is cached after (0 = absent).
	cases := []struct {
		mode          cacheMode
		before, after int
		status        int
	}{
		{cacheStrictDefault, 200, 0, 0},
		{cacheStrictDefault, 0, 200, 200},
		{cacheStrictDefault, 200, 0, 409},
		{cacheStrict, 200, 0, 500},
		{cacheResilient, 200, 200, 0},
		{cacheResilient, 200, 200, 502},
		{cacheResilient, 200, 409, 409},
		{cacheResilient, 0, 403, 403},
		{cacheAllow, 0, 200, 0},
		{cacheAllow, 403, 403, 503},
		{cacheAllow, 200, 409, 409},
		{cacheNone, 200, 0, 200},
		{cacheNone, 0, 0, 0},
	}
	for _, tc := range cases {
		c := newAuthCache(10)
		if tc.before != 0 {
			c.set("k", tc.before)
		}
		tc.mode.handle(c, "k", tc.status)
		got, _ := c.get("k")
		if got != tc.after {
			t.Errorf("%s: cached %d, backend %d: now %d, want %d", tc.mode, tc.before, tc.status, got, tc.after)
		}
	}
	c := newAuthCache(2)
	c.set("a", 200)
	c.set("b", 200)
	c.get("a")
	c.set("c", 200)
	if _, ok := c.get("b"); ok || c.len() != 2 {
		t.Errorf("least recently used entry not evicted: len %d", c.len())
	}
}

func TestConfigFromEnv(t *testing.T) {
	env := func(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }
	prod, err := ConfigFromEnv(env(map[string]string{"THREESCALE_PORTAL_ENDPOINT": "http://t@system-master:3000/master/api/proxy/configs"}))
	if err != nil {
		t.Fatal(err)
	}
	if err := prod.normalize(); err != nil {
		t.Fatal(err)
	}
	if prod.Environment != "production" || prod.ConfigurationLoader != "boot" || prod.ConfigurationCache != 300*time.Second ||
		prod.ConfigurationTimeout != 3*time.Second || prod.Addr != ":8080" || prod.ManagementAddr != ":8090" {
		t.Errorf("production defaults: %+v", prod)
	}
	stg, err := ConfigFromEnv(env(map[string]string{
		"THREESCALE_DEPLOYMENT_ENV": "staging", "THREESCALE_PORTAL_ENDPOINT": "http://t@s:3000/p",
		"BACKEND_ENDPOINT_OVERRIDE": "http://backend-listener:3000", "APICAST_RESPONSE_CODES": "true",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if err := stg.normalize(); err != nil {
		t.Fatal(err)
	}
	if stg.ConfigurationLoader != "lazy" || stg.ConfigurationCache != 0 || stg.BackendEndpoint != "http://backend-listener:3000" || !stg.ResponseCodes {
		t.Errorf("staging defaults: %+v", stg)
	}
	over, err := ConfigFromEnv(env(map[string]string{
		"THREESCALE_PORTAL_ENDPOINT": "http://t@s/p", "APICAST_CONFIGURATION_LOADER": "lazy", "APICAST_CONFIGURATION_CACHE": "-1",
	}))
	if err != nil || over.ConfigurationLoader != "lazy" || over.ConfigurationCache != -time.Second {
		t.Errorf("overrides: %+v, %v", over, err)
	}
	if _, err := ConfigFromEnv(env(map[string]string{"APICAST_CONFIGURATION_CACHE": "soon"})); err == nil {
		t.Error("a non-numeric cache was accepted")
	}
	bad := Config{Environment: "qa", PortalEndpoint: "http://x", Addr: ":1", ManagementAddr: ":2"}
	if err := bad.normalize(); err == nil {
		t.Error("environment qa was accepted")
	}
}

func TestPortalTokenIsNeverShown(t *testing.T) {
	p, err := parsePortal("http://tok3n@system-master:3000/master/api/proxy/configs")
	if err != nil {
		t.Fatal(err)
	}
	if p.user != "tok3n" || p.base.User != nil || strings.Contains(p.base.String(), "tok3n") {
		t.Errorf("token not split off: %+v", p)
	}
	if got := p.redacted(); got != "http://REDACTED@system-master:3000/master/api/proxy/configs" {
		t.Errorf("redacted = %q", got)
	}
	if got := redactEndpoint("http://tok3n@host:%zz/x"); strings.Contains(got, "tok3n") {
		t.Errorf("redactEndpoint = %q", got)
	}
	if _, err := parsePortal("http://tok3n@host:%zz/x"); err == nil || strings.Contains(err.Error(), "tok3n") {
		t.Errorf("parse error %v", err)
	}
}
