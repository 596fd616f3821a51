package conformance

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"testing"
	"time"
)

// policyNames is the name of each entry of a policies_config or policy_chain list.
func policyNames(t *testing.T, list any) []string {
	t.Helper()
	var names []string
	items, _ := list.([]any)
	for _, x := range items {
		m, _ := x.(map[string]any)
		names = append(names, fmt.Sprint(m["name"]))
	}
	return names
}

// A product's policies as porta 3scale-2.16.4-GA keeps them and writes them into the APIcast
// configuration:
//   - they change only through PUT /admin/api/services/{id}/proxy/policies.json; the proxy
//     update does not permit policies_config
//     (porta@3scale-2.16.4-GA:app/controllers/admin/api/services/proxy/policies_controller.rb,
//     app/controllers/admin/api/services/proxies_controller.rb proxy_params);
//   - a list without the APIcast policy gets it appended (app/models/proxy.rb
//     PoliciesConfig#policies_normalize, PolicyConfig::DEFAULT_POLICY);
//   - the update deploys to the sandbox, whose policy_chain holds the enabled policies only,
//     each under the name it was stored with: "caching", not "apicast.policy.caching"
//     (PoliciesConfig#chain selects enabled, PolicyConfig#to_chain_value); APIcast loads a
//     builtin policy from its directory by that name
//     (APIcast@3scale-2.16.3-GA:gateway/src/apicast/policy_loader.lua load_path).
func TestPortaPolicyChainNames(t *testing.T) {
	n := fmt.Sprintf("policies%d%d", time.Now().Unix()%100000, productSeq.Add(1))
	sid := idOf(mustAdmin(t, "POST", "/admin/api/services.json", url.Values{"name": {n}, "system_name": {n}}, 201), "service")
	useEchoBackend(t, sid)
	base := "/admin/api/services/" + sid + "/proxy/policies.json"
	if got := policyNames(t, mustAdmin(t, "GET", base, nil, 200)["policies_config"]); !slices.Equal(got, []string{"apicast"}) {
		t.Errorf("a new product's policies: %v, want [apicast]", got)
	}

	chain := `[{"name":"caching","version":"builtin","configuration":{"caching_type":"resilient"},"enabled":true},` +
		`{"name":"headers","version":"builtin","configuration":{}}]`
	put := mustAdmin(t, "PUT", base, url.Values{"policies_config": {chain}}, 200)
	if got := policyNames(t, put["policies_config"]); !slices.Equal(got, []string{"caching", "headers", "apicast"}) {
		t.Errorf("policies after the update: %v, want [caching headers apicast] (the APIcast policy appended)", got)
	}

	// The proxy update ignores policies_config.
	mustAdmin(t, "PATCH", "/admin/api/services/"+sid+"/proxy.json", url.Values{"policies_config": {`[{"name":"cors","version":"builtin","configuration":{},"enabled":true}]`}}, 200)
	if got := policyNames(t, mustAdmin(t, "GET", base, nil, 200)["policies_config"]); !slices.Equal(got, []string{"caching", "headers", "apicast"}) {
		t.Errorf("policies after a proxy update with policies_config: %v, want them unchanged", got)
	}

	r, err := admin(t, "GET", "/admin/api/services/"+sid+"/proxy/configs/sandbox/latest.json", nil)
	if err != nil || r.status != 200 {
		t.Fatalf("sandbox config: %v %d %s", err, r.status, r.body)
	}
	var cfg map[string]any
	if err := json.Unmarshal([]byte(r.body), &cfg); err != nil {
		t.Fatal(err)
	}
	got := policyNames(t, field(cfg, "proxy_config", "content", "proxy", "policy_chain"))
	if !slices.Equal(got, []string{"caching", "apicast"}) {
		t.Errorf("sandbox policy_chain: %v, want [caching apicast] (enabled only, names as stored): %s", got, r.body)
	}
	mustAdmin(t, "DELETE", "/admin/api/services/"+sid+".json", nil, 200)
}
