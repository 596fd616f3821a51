package conformance

import (
	"fmt"
	"net/url"
	"testing"
)

// The tenant's proxy configs by host, porta 3scale-2.16.4-GA's index_by_host: GET
// /admin/api/services/proxy/configs/{environment}.json?host= answers {"proxy_configs":[…]}
// with the current version of each of the tenant's configs in that environment whose hosts
// include host ("staging" is sandbox); an unknown environment is 400 {"error":"invalid
// environment"}; a request without host is 400 "Required parameter missing: host" in plain
// text (porta@3scale-2.16.4-GA:config/routes.rb the collection route under services/proxy;
// app/controllers/admin/api/services/proxy/configs_controller.rb:23-25,60-67,13-15;
// app/models/proxy_config.rb by_host, current_versions; app/controllers/application_controller.rb:51-53).
// APIcast calls it when THREESCALE_PORTAL_ENDPOINT carries the path
// (APIcast@3scale-2.16.3-GA:gateway/src/apicast/configuration_loader/remote_v2.lua index_custom_path).
func TestPortaProxyConfigsByHost(t *testing.T) {
	p := provisionProduct(t)
	const path = "/admin/api/services/proxy/configs/"
	for _, c := range []struct{ env, host, want string }{
		{"production", p.prodHost, "production"},
		{"staging", p.stagingHost, "sandbox"},
		{"sandbox", p.stagingHost, "sandbox"},
	} {
		latest := mustAdmin(t, "GET", "/admin/api/services/"+p.id+"/proxy/configs/"+c.want+"/latest.json", nil, 200)
		body := mustAdmin(t, "GET", path+c.env+".json", url.Values{"host": {c.host}}, 200)
		list, _ := body["proxy_configs"].([]any)
		if len(list) != 1 {
			t.Fatalf("%s configs for host %s: %v, want the one of product %s", c.env, c.host, body, p.id)
		}
		pc, _ := list[0].(map[string]any)
		if field(pc, "proxy_config", "environment") != c.want || field(pc, "proxy_config", "id") != field(latest, "proxy_config", "id") ||
			fmt.Sprint(field(pc, "proxy_config", "content", "id")) != p.id {
			t.Errorf("%s config for host %s: %v, want the latest %s config of product %s: %v", c.env, c.host, pc, c.want, p.id, latest)
		}
	}
	if body := mustAdmin(t, "GET", path+"production.json", url.Values{"host": {"unknown-" + p.prodHost}}, 200); len(body["proxy_configs"].([]any)) != 0 {
		t.Errorf("configs for an unknown host: %v, want none", body)
	}
	r, err := admin(t, "GET", path+"bogus.json", url.Values{"host": {p.prodHost}})
	if err != nil || r.status != 400 || r.body != `{"error":"invalid environment"}` {
		t.Errorf("unknown environment: %v %d %s, want 400 {\"error\":\"invalid environment\"}", err, r.status, r.body)
	}
	r, err = admin(t, "GET", path+"production.json", nil)
	if err != nil || r.status != 400 || r.body != "Required parameter missing: host" {
		t.Errorf("no host: %v %d %q, want 400 \"Required parameter missing: host\"", err, r.status, r.body)
	}
}
