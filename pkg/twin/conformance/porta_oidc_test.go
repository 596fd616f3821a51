package conformance

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// A product's OIDC configuration as porta 3scale-2.16.4-GA keeps it: GET
// /admin/api/services/{id}/proxy/oidc_configuration.json first answers the unsaved default,
// standard_flow_enabled alone true and no id (Proxy#oidc_configuration builds it;
// representable leaves out a nil id); PATCH casts each flow it is given as ActiveModel's
// Boolean ("0"/"false" false, other values true), leaves the others alone, saves the row and
// answers it with its id; a JSON body may give the flows unwrapped (wrap_parameters); a form
// without oidc_configuration[…] is 400 "Required parameter missing: oidc_configuration"
// (porta@3scale-2.16.4-GA:app/controllers/admin/api/services/proxy/oidc_configurations_controller.rb;
// app/models/oidc_configuration.rb; app/models/proxy.rb:149-151;
// app/representers/oidc_configuration_representer.rb; config/routes.rb:713).
// The operator's OIDC products read and write it (3scale-porta-go-client oidc.go).
func TestPortaOIDCConfiguration(t *testing.T) {
	p := newPortaApp(t, "oidc")
	path := "/admin/api/services/" + p.sid + "/proxy/oidc_configuration.json"
	flows := func(m map[string]any) map[string]any {
		c, _ := m["oidc_configuration"].(map[string]any)
		return c
	}
	def := flows(mustAdmin(t, "GET", path, nil, 200))
	want := map[string]any{"standard_flow_enabled": true, "implicit_flow_enabled": false, "service_accounts_enabled": false, "direct_access_grants_enabled": false}
	if !sameJSON(def, want) {
		t.Fatalf("default OIDC configuration: %v, want %v", def, want)
	}
	got := flows(mustAdmin(t, "PATCH", path, url.Values{"oidc_configuration[implicit_flow_enabled]": {"1"}, "oidc_configuration[standard_flow_enabled]": {"false"}}, 200))
	id, _ := got["id"].(float64)
	if id == 0 {
		t.Errorf("updated OIDC configuration has no id: %v", got)
	}
	delete(got, "id")
	want = map[string]any{"standard_flow_enabled": false, "implicit_flow_enabled": true, "service_accounts_enabled": false, "direct_access_grants_enabled": false}
	if !sameJSON(got, want) {
		t.Errorf("updated OIDC configuration: %v, want %v", got, want)
	}

	// The porta-go-client's PATCH: a JSON body, here unwrapped.
	req, _ := http.NewRequest("PATCH", adminBase()+path+"?access_token="+url.QueryEscape(secret(t, "system-seed", "ADMIN_ACCESS_TOKEN")),
		bytes.NewReader([]byte(`{"direct_access_grants_enabled":true}`)))
	req.Host = adminHost()
	req.Header.Set("X-Forwarded-Proto", "https")
	req.Header.Set("Content-Type", "application/json")
	resp, err := httpc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body := readAll(resp)
	resp.Body.Close()
	var m map[string]any
	_ = json.Unmarshal([]byte(body), &m)
	want = map[string]any{"id": id, "standard_flow_enabled": false, "implicit_flow_enabled": true, "service_accounts_enabled": false, "direct_access_grants_enabled": true}
	if resp.StatusCode != 200 || !sameJSON(flows(m), want) {
		t.Errorf("JSON PATCH: %d %s, want 200 %v", resp.StatusCode, body, want)
	}
	if shown := flows(mustAdmin(t, "GET", path, nil, 200)); !sameJSON(shown, want) {
		t.Errorf("OIDC configuration after the updates: %v, want %v", shown, want)
	}

	r, err := admin(t, "PATCH", path, url.Values{"implicit_flow_enabled": {"0"}})
	if err != nil || r.status != 400 || r.body != "Required parameter missing: oidc_configuration" {
		t.Errorf("form PATCH without oidc_configuration[…]: %v %d %q, want 400", err, r.status, r.body)
	}
	r, err = admin(t, "GET", "/admin/api/services/0/proxy/oidc_configuration.json", nil)
	if err != nil || r.status != 404 || strings.TrimSpace(r.body) != `{"status":"Not found"}` {
		t.Errorf("unknown product: %v %d %s, want 404", err, r.status, r.body)
	}
}

func sameJSON(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}
