package conformance

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"testing"
	"time"
)

// echoURL is the twin's echo API with a path, the private endpoint of a test backend.
func echoURL(path string) string {
	return "http://127.0.0.1:" + strconv.Itoa(values.Ports.EchoAPI) + path
}

// useEchoBackend gives a product made through the API a backend, as a client does: setting
// the proxy's api_backend makes a backend API used at "/" (see TestPortaAPIBackendFromUsage).
// Without one porta deploys no configuration.
func useEchoBackend(t *testing.T, sid string) {
	t.Helper()
	mustAdmin(t, "PATCH", "/admin/api/services/"+sid+"/proxy.json", url.Values{"api_backend": {echoURL("")}}, 200)
}

func proxyAPIBackend(t *testing.T, sid string) any {
	t.Helper()
	return field(mustAdmin(t, "GET", "/admin/api/services/"+sid+"/proxy.json", nil, 200), "proxy", "api_backend")
}

// A product's api_backend as porta 3scale-2.16.4-GA keeps it: not on the proxy but on the
// backend API of the product's first backend usage (lowest id), as its private_endpoint
// (porta@3scale-2.16.4-GA:app/lib/backend_api_logic/proxy_extension.rb delegates api_backend
// to the service, app/lib/backend_api_logic/service_extension.rb BackendApiProxy#backend_api
// takes backend_api_configs.first, app/models/backend_api_config.rb orders by id,
// app/models/backend_api.rb aliases api_backend to private_endpoint):
//   - a product made through the API has no usage, so its api_backend is null, and a deploy
//     answers 201 but writes no configuration: ProxyConfig validates api_backend_exists on
//     create and ProxyDeploymentService's result is ignored
//     (app/models/proxy_config.rb:29,132-137; app/controllers/admin/api/services/proxies_controller.rb deploy);
//   - after a usage it is that backend API's private endpoint, and a deploy writes a config;
//   - setting api_backend through the proxy rewrites that backend API's private endpoint
//     (ProxyExtension before_save save_backend_api → BackendApiProxy#update!);
//   - on a product without a usage it makes a backend API "<name> Backend" with the product's
//     system_name and description "Backend of <name>", used at "/" (BackendApiProxy#backend_api
//     builds it, #backend_api_config builds the usage at '/').
//
// The old twin gave every new product https://echo-api.3scale.net:443 and kept it after a
// usage was added.
func TestPortaAPIBackendFromUsage(t *testing.T) {
	n := fmt.Sprintf("apibe%d%d", time.Now().Unix()%100000, productSeq.Add(1))
	sid := idOf(mustAdmin(t, "POST", "/admin/api/services.json", url.Values{"name": {n}, "system_name": {n}}, 201), "service")
	t.Cleanup(func() { _, _ = admin(t, "DELETE", "/admin/api/services/"+sid+".json", nil) })
	if got := proxyAPIBackend(t, sid); got != nil {
		t.Errorf("api_backend of a product made through the API: %v, want null", got)
	}
	mustAdmin(t, "POST", "/admin/api/services/"+sid+"/proxy/deploy.json", nil, 201)
	if r, err := admin(t, "GET", "/admin/api/services/"+sid+"/proxy/configs/sandbox/latest.json", nil); err != nil || r.status != 404 {
		t.Errorf("sandbox config after a deploy without api_backend: %v %d %s, want 404 (none written)", err, r.status, r.body)
	}

	be := idOf(mustAdmin(t, "POST", "/admin/api/backend_apis.json", url.Values{"name": {n + " first"}, "system_name": {n + "_first"},
		"private_endpoint": {echoURL("/first")}}, 201), "backend_api")
	mustAdmin(t, "POST", "/admin/api/services/"+sid+"/backend_usages.json", url.Values{"backend_api_id": {be}, "path": {"/"}}, 201)
	if got := proxyAPIBackend(t, sid); got != echoURL("/first") {
		t.Errorf("api_backend after a usage: %v, want the backend API's private endpoint %s", got, echoURL("/first"))
	}
	mustAdmin(t, "PATCH", "/admin/api/services/"+sid+"/proxy.json", url.Values{"api_backend": {echoURL("/moved")}}, 200)
	if got := field(mustAdmin(t, "GET", "/admin/api/backend_apis/"+be+".json", nil, 200), "backend_api", "private_endpoint"); got != echoURL("/moved") {
		t.Errorf("the backend API's private endpoint after api_backend was set on the proxy: %v, want %s", got, echoURL("/moved"))
	}
	latest := mustAdmin(t, "GET", "/admin/api/services/"+sid+"/proxy/configs/sandbox/latest.json", nil, 200)
	if got := field(latest, "proxy_config", "content", "proxy", "api_backend"); got != echoURL("/moved") {
		t.Errorf("sandbox config api_backend: %v, want %s", got, echoURL("/moved"))
	}

	n2 := n + "b"
	sid2 := idOf(mustAdmin(t, "POST", "/admin/api/services.json", url.Values{"name": {n2}, "system_name": {n2}}, 201), "service")
	t.Cleanup(func() { _, _ = admin(t, "DELETE", "/admin/api/services/"+sid2+".json", nil) })
	mustAdmin(t, "PATCH", "/admin/api/services/"+sid2+"/proxy.json", url.Values{"api_backend": {echoURL("/made")}}, 200)
	r, err := admin(t, "GET", "/admin/api/services/"+sid2+"/backend_usages.json", nil)
	var usages []map[string]map[string]any
	if err != nil || r.status != 200 || json.Unmarshal([]byte(r.body), &usages) != nil || len(usages) != 1 || usages[0]["backend_usage"]["path"] != "/" {
		t.Fatalf("usages after api_backend on a product without one: %v %d %s, want one at /", err, r.status, r.body)
	}
	made := fmt.Sprint(int64(usages[0]["backend_usage"]["backend_api_id"].(float64)))
	b := mustAdmin(t, "GET", "/admin/api/backend_apis/"+made+".json", nil, 200)
	if field(b, "backend_api", "name") != n2+" Backend" || field(b, "backend_api", "system_name") != n2 ||
		field(b, "backend_api", "description") != "Backend of "+n2 || field(b, "backend_api", "private_endpoint") != echoURL("/made") {
		t.Errorf("backend API made by api_backend: %v", b)
	}
	if got := proxyAPIBackend(t, sid2); got != echoURL("/made") {
		t.Errorf("api_backend: %v, want %s", got, echoURL("/made"))
	}
}

// A product with a backend usage at a sub-path, as porta 3scale-2.16.4-GA deploys it: the
// sandbox config has api_backend null (ApicastV2DeploymentService#json_source, when
// Proxy#with_subpaths?) and a "routing" policy before "apicast" (BackendApiLogic::RoutingPolicy
// #policy_chain) with one rule per usage, longest path first (sorted_for_proxy_config), each
// sending paths matching ^(<path>/.*|<path>/?) (^(/.*) at "/") to the backend API's private
// endpoint with the backend API as owner, and, for a sub-path, a replace_path removing it
// (porta@3scale-2.16.4-GA:app/services/apicast_v2_deployment_service.rb:27,
// app/lib/backend_api_logic/routing_policy.rb Builder, Rule#as_json, #replace_path;
// app/models/config_path.rb to_regex). The chain keeps the names as porta stores them
// (TestPortaPolicyChainNames).
//
// The old twin kept api_backend, prefixed the rule patterns only, and had no routing policy.
func TestPortaSubpathUsageRoutingPolicy(t *testing.T) {
	n := fmt.Sprintf("subpath%d%d", time.Now().Unix()%100000, productSeq.Add(1))
	sid := idOf(mustAdmin(t, "POST", "/admin/api/services.json", url.Values{"name": {n}, "system_name": {n}}, 201), "service")
	t.Cleanup(func() { _, _ = admin(t, "DELETE", "/admin/api/services/"+sid+".json", nil) })
	root := idOf(mustAdmin(t, "POST", "/admin/api/backend_apis.json", url.Values{"name": {n + " root"}, "system_name": {n + "_root"},
		"private_endpoint": {echoURL("/root")}}, 201), "backend_api")
	v1 := idOf(mustAdmin(t, "POST", "/admin/api/backend_apis.json", url.Values{"name": {n + " v1"}, "system_name": {n + "_v1"},
		"private_endpoint": {echoURL("/one")}}, 201), "backend_api")
	mustAdmin(t, "POST", "/admin/api/services/"+sid+"/backend_usages.json", url.Values{"backend_api_id": {root}, "path": {"/"}}, 201)
	mustAdmin(t, "POST", "/admin/api/services/"+sid+"/backend_usages.json", url.Values{"backend_api_id": {v1}, "path": {"/v1"}}, 201)
	if got := proxyAPIBackend(t, sid); got != echoURL("/root") {
		t.Errorf("proxy api_backend: %v, want the first usage's %s", got, echoURL("/root"))
	}
	mustAdmin(t, "POST", "/admin/api/services/"+sid+"/proxy/deploy.json", nil, 201)
	latest := mustAdmin(t, "GET", "/admin/api/services/"+sid+"/proxy/configs/sandbox/latest.json", nil, 200)
	proxy, _ := field(latest, "proxy_config", "content", "proxy").(map[string]any)
	if v, ok := proxy["api_backend"]; !ok || v != nil {
		t.Errorf("sandbox config api_backend: %v (present %v), want null", v, ok)
	}
	chain, _ := proxy["policy_chain"].([]any)
	if got := policyNames(t, proxy["policy_chain"]); !slices.Equal(got, []string{"routing", "apicast"}) {
		t.Fatalf("policy_chain: %v, want [routing apicast]", got)
	}
	rules, _ := field(chain[0].(map[string]any), "configuration", "rules").([]any)
	want := []map[string]any{
		{"url": echoURL("/one"), "owner_id": v1, "owner_type": "BackendApi", "value": "^(/v1/.*|/v1/?)", "replace_path": "{{uri | remove_first: '/v1'}}"},
		{"url": echoURL("/root"), "owner_id": root, "owner_type": "BackendApi", "value": "^(/.*)", "replace_path": nil},
	}
	if len(rules) != len(want) {
		t.Fatalf("routing rules: %v, want %d", rules, len(want))
	}
	for i, w := range want {
		r := rules[i].(map[string]any)
		ops, _ := field(r, "condition", "operations").([]any)
		if len(ops) != 1 {
			t.Errorf("rule %d operations: %v", i, ops)
			continue
		}
		op := ops[0].(map[string]any)
		if r["url"] != w["url"] || fmt.Sprint(r["owner_id"]) != w["owner_id"] || r["owner_type"] != w["owner_type"] ||
			op["match"] != "path" || op["op"] != "matches" || op["value"] != w["value"] || r["replace_path"] != w["replace_path"] {
			t.Errorf("routing rule %d: %v, want %v", i, r, w)
		}
	}
}

// Traffic through the staging gateway to a product with backends at "/" and "/v1": APIcast
// 3scale-2.16.3-GA's routing policy sends each request to the first rule whose path condition
// matches, and for the sub-path backend joins the path without "/v1" to the private
// endpoint's path, keeping the query (APIcast@3scale-2.16.3-GA:gateway/src/apicast/policy/routing/
// upstream_selector.lua, gateway/src/apicast/upstream.lua append_path, rewrite_request). The
// old twin sent everything to api_backend with the path unchanged.
func TestPortaSubpathUsageTraffic(t *testing.T) {
	p := provisionProduct(t) // its api_backend makes a backend at "/" on the echo API's root
	v1 := idOf(mustAdmin(t, "POST", "/admin/api/backend_apis.json", url.Values{"name": {p.systemName + " v1"}, "system_name": {p.systemName + "_v1"},
		"private_endpoint": {echoURL("/one")}}, 201), "backend_api")
	mustAdmin(t, "POST", "/admin/api/services/"+p.id+"/backend_usages.json", url.Values{"backend_api_id": {v1}, "path": {"/v1"}}, 201)
	mustAdmin(t, "POST", "/admin/api/services/"+p.id+"/proxy/deploy.json", nil, 201)
	get := func(path string) (int, map[string]any) {
		req, err := http.NewRequest("GET", "http://127.0.0.1:"+strconv.Itoa(values.Ports.ApicastStaging)+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = p.stagingHost
		resp, err := httpc.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		var seen map[string]any
		_ = json.Unmarshal([]byte(readAll(resp)), &seen)
		return resp.StatusCode, seen
	}
	key := "user_key=" + url.QueryEscape(p.userKey)
	for _, tc := range []struct{ path, want string }{
		{"/v1/words/hello.json?" + key, "/one/words/hello.json"},
		{"/v1?" + key, "/one"},
		{"/other?" + key, "/other"},
	} {
		code, seen := get(tc.path)
		if code != 200 || seen["path"] != tc.want || seen["query"] != key {
			t.Errorf("GET %s through staging: %d, upstream saw path %v query %v, want 200 %s %s", tc.path, code, seen["path"], seen["query"], tc.want, key)
		}
	}
}
