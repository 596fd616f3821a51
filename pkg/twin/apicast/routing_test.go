package apicast

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/threescale-chaos/harness/internal/testsupport"
	"github.com/threescale-chaos/harness/pkg/twin/echo"
)

// routingRule is one rule as porta's BackendApiLogic::RoutingPolicy writes it.
func routingRule(url string, owner int, path string) map[string]any {
	regex, r := "^(/.*)", map[string]any{"url": url, "owner_id": owner, "owner_type": "BackendApi"}
	if path != "/" {
		regex = "^(" + path + "/.*|" + path + "/?)"
		r["replace_path"] = "{{uri | remove_first: '" + path + "'}}"
	}
	r["condition"] = map[string]any{"operations": []any{map[string]any{"match": "path", "op": "matches", "value": regex}}}
	return r
}

// A product with backends at /v1 (owner 21) and / (owner 22): api_backend is null and the
// routing policy before apicast picks the upstream; the usage path is removed from the path
// of a sub-path backend, and the matched rules of other owners are taken out of the usage
// (APIcast@3scale-2.16.3-GA:gateway/src/apicast/policy/routing/).
func TestRoutingPolicySendsEachPathToItsBackend(t *testing.T) {
	w := newWorld(t, map[string]*fakeApp{"k1": {}})
	v1 := httptest.NewServer(echo.Handler(echo.Config{Name: "v1"}))
	t.Cleanup(v1.Close)
	spec := w.spec(prodHost)
	spec.rules = []map[string]any{
		{"http_method": "GET", "pattern": "/", "metric_system_name": "hits", "delta": 1, "owner_id": 5, "owner_type": "Proxy"},
		{"http_method": "GET", "pattern": "/v1/", "metric_system_name": "hits.21", "delta": 1, "owner_id": 21, "owner_type": "BackendApi"},
	}
	c := spec.content()
	proxy := c["proxy"].(map[string]any)
	proxy["api_backend"] = nil
	proxy["policy_chain"] = []map[string]any{
		{"name": "routing", "version": "builtin", "enabled": true, "configuration": map[string]any{"rules": []any{
			routingRule(v1.URL+"/base", 21, "/v1"), routingRule(w.upstream.URL, 22, "/")}}},
		{"name": "apicast", "version": "builtin", "configuration": map[string]any{}},
	}
	w.system.setServices(c)
	g := startGateway(t, w.config(EnvironmentProduction))

	for _, tc := range []struct{ path, upstream, want string }{
		{"/v1/words/a.json?user_key=k1&x=1", "v1", "/base/words/a.json"},
		{"/v1?user_key=k1", "v1", "/base"},
		{"/v1/?user_key=k1", "v1", "/base/"},
		// porta's ^(/v1/.*|/v1/?) is not anchored at the end and ngx.re.match finds a prefix:
		// /v10 goes to the /v1 backend too, with "/v1" removed.
		{"/v10/x?user_key=k1", "v1", "/base/0/x"},
		{"/other?user_key=k1", "echo", "/other"},
	} {
		a := g.get(t, prodHost, tc.path)
		e := decodeEcho(t, a)
		if a.status != 200 || !strings.Contains(a.body, `"server":"`+tc.upstream+`"`) || e.Path != tc.want {
			t.Errorf("GET %s: %d from %s, want %s with path %q", tc.path, a.status, a.body, tc.upstream, tc.want)
		}
		if strings.HasPrefix(tc.path, "/v1/words") && e.Query != "user_key=k1&x=1" {
			t.Errorf("GET %s: query %q", tc.path, e.Query)
		}
	}
	// Routed to backend 21: the product rule (owner 5) is taken back, hits.21 stays.
	a := g.get(t, prodHost, "/v1/z?user_key=k1")
	if a.status != 200 {
		t.Fatalf("GET /v1/z: %d %s", a.status, a.body)
	}
	testsupport.Eventually(t, 2*time.Second, "the sixth authrep", func(context.Context) (bool, string) {
		n := w.backend.authreps.Load()
		return n == 6, fmt.Sprint(n, " authreps")
	})
	q := w.backend.lastQuery()
	if !strings.Contains(q, "usage%5Bhits%5D=0") || !strings.Contains(q, "usage%5Bhits.21%5D=1") {
		t.Errorf("authrep usage after routing to owner 21: %s", q)
	}
}

func TestRouteTarget(t *testing.T) {
	rs, err := parseRoutes([]byte(`{"rules":[` + mustJSONString(routingRule("http://b:1/base/", 1, "/v1")) + `,` + mustJSONString(routingRule("http://c:2", 2, "/")) + `]}`))
	if err != nil || len(rs) != 2 {
		t.Fatalf("parseRoutes: %v %d", err, len(rs))
	}
	for _, tc := range []struct{ path, host, want string }{
		{"/v1/a/v1", "b:1", "/base/a/v1"},
		{"/v1", "b:1", "/base/"},
		{"/v1x", "b:1", "/base/x"},
		{"/w1", "c:2", "/w1"},
		{"/", "c:2", "/"},
	} {
		rt := selectRoute(rs, tc.path)
		if rt == nil || rt.url.Host != tc.host || rt.target(tc.path) != tc.want {
			t.Errorf("%s: got %+v", tc.path, rt)
			continue
		}
	}
	if _, err := parseRoutes([]byte(`{"rules":[{"url":"http://b","condition":{"operations":[{"match":"header","header_name":"X","op":"==","value":"1"}]}}]}`)); err == nil {
		t.Errorf("a header condition the twin does not model was accepted")
	}
}

func mustJSONString(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// A routed service whose rules do not match the path and that has no api_backend: the request
// is still authorized (the APIcast policy's access phase), then the APIcast policy's content
// phase finds no upstream and answers 404 with an empty body
// (APIcast@3scale-2.16.3-GA:gateway/src/apicast/policy/apicast/apicast.lua content,
// gateway/src/apicast/errors.lua upstream_not_found).
func TestRoutingWithoutMatchingRuleIsNotFound(t *testing.T) {
	w := newWorld(t, map[string]*fakeApp{"k1": {}})
	spec := w.spec(prodHost)
	spec.rules = []map[string]any{rule("GET", "/", "hits", 1)}
	c := spec.content()
	proxy := c["proxy"].(map[string]any)
	proxy["api_backend"] = nil
	proxy["policy_chain"] = []map[string]any{
		{"name": "routing", "version": "builtin", "configuration": map[string]any{"rules": []any{routingRule(w.upstream.URL, 21, "/v1")}}},
		{"name": "apicast", "version": "builtin", "configuration": map[string]any{}},
	}
	w.system.setServices(c)
	g := startGateway(t, w.config(EnvironmentProduction))
	expect(t, "GET /other", g.get(t, prodHost, "/other?user_key=k1"), 404, "")
	if n := w.backend.authreps.Load(); n != 1 {
		t.Errorf("authreps: %d, want 1 (authorized before the content phase)", n)
	}
	if a := g.get(t, prodHost, "/v1/x?user_key=k1"); a.status != 200 || decodeEcho(t, a).Path != "/x" {
		t.Errorf("GET /v1/x: %d %s", a.status, a.body)
	}
}
