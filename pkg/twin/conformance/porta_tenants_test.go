package conformance

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// masterAPI calls master's API on the master listener with the master access token (none
// when token is "").
func masterAPI(t *testing.T, method, path, token string, form url.Values) response {
	t.Helper()
	if form == nil {
		form = url.Values{}
	}
	if token != "" {
		form.Set("access_token", token)
	}
	base := "http://127.0.0.1:" + strconv.Itoa(values.Ports.SystemMaster) + path
	if method == "GET" {
		base += "?" + form.Encode()
		form = nil
	}
	r, err := call(method, base, form, "", "")
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return r
}

// tenantAPI calls a tenant's Account Management API on its own admin host.
func tenantAPI(t *testing.T, adminHost, token, method, path string) response {
	t.Helper()
	req, err := http.NewRequest(method, adminBase()+path+"?access_token="+url.QueryEscape(token), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = adminHost
	req.Header.Set("X-Forwarded-Proto", "https")
	resp, err := httpc.Do(req)
	if err != nil {
		t.Fatalf("%s %s on %s: %v", method, path, adminHost, err)
	}
	defer resp.Body.Close()
	return response{status: resp.StatusCode, body: readAll(resp), header: resp.Header}
}

func decode(t *testing.T, r response) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(r.body), &m); err != nil {
		t.Fatalf("body %q: %v", r.body, err)
	}
	return m
}

var hex64 = regexp.MustCompile(`^[0-9a-f]{64}$`)

// Tenants on master as porta 3scale-2.16.4-GA manages them
// (porta@3scale-2.16.4-GA:app/controllers/master/api/providers_controller.rb;
// app/representers/signup_result_with_access_token_representer.rb, account_representer.rb,
// access_token_representer.rb; app/lib/signup/provider_account_manager.rb, domains_builder.rb,
// result_with_access_token.rb; app/models/account/states.rb):
//   - without credentials master's API answers 401 "unauthorized" in plain text;
//   - POST /master/api/providers.json answers 201 {"signup":{"account":{…},"access_token":{…}}}:
//     an approved provider with domains <subdomain>.<superdomain> and
//     <subdomain>-admin.<superdomain> (the subdomain from org_name, -2 when taken), no self link,
//     and the admin's token "Administration" (account_management, policy_registry, rw) with its
//     64-hex value;
//   - that token works on the new admin host, where the first product "API" is (and in
//     backend: Backend::ModelExtensions::Service's after_commit saves it), and a product
//     made there gets endpoints under the new subdomain (Proxy's provider_subdomain); the seeded
//     tenant's token does not;
//   - GET …/providers/{id}.json is the same account without access_token; PUT takes account[…]
//     and a form without it is 400 "Required parameter missing: account";
//   - DELETE schedules the tenant for deletion (200, empty): it is still shown, with state
//     scheduled_for_deletion and a deletion_date, a second DELETE is 404, and its admin API
//     answers 403 (ApiAuthentication::SuspendedAccount).
func TestPortaTenants(t *testing.T) {
	master := secret(t, "system-seed", "MASTER_ACCESS_TOKEN")
	if r := masterAPI(t, "GET", "/master/api/providers/1.json", "", nil); r.status != 401 || r.body != "unauthorized" {
		t.Errorf("without credentials: %d %q, want 401 \"unauthorized\"", r.status, r.body)
	}

	n := fmt.Sprintf("Tenant%d%d", time.Now().Unix()%100000, productSeq.Add(1))
	sub := strings.ToLower(n)
	signup := url.Values{"org_name": {n}, "username": {"admin" + sub}, "email": {"admin@" + sub + ".test"}, "password": {"secret-" + sub}}
	r := masterAPI(t, "POST", "/master/api/providers.json", master, signup)
	if r.status != 201 {
		t.Fatalf("create tenant: %d %s", r.status, r.body)
	}
	body := decode(t, r)
	acc, _ := field(body, "signup", "account").(map[string]any)
	tok, _ := field(body, "signup", "access_token").(map[string]any)
	adminHost := sub + "-admin." + values.Domain
	for k, want := range map[string]any{"org_name": n, "state": "approved", "admin_domain": adminHost, "domain": sub + "." + values.Domain,
		"admin_base_url": "https://" + adminHost, "base_url": "https://" + sub + "." + values.Domain} {
		if acc[k] != want {
			t.Errorf("created tenant's %s: %v, want %v (account %v)", k, acc[k], want, acc)
		}
	}
	for _, l := range acc["links"].([]any) {
		if l.(map[string]any)["rel"] == "self" {
			t.Errorf("created tenant has a self link: %v", acc["links"])
		}
	}
	value, _ := tok["value"].(string)
	if tok["name"] != "Administration" || tok["permission"] != "rw" || fmt.Sprint(tok["scopes"]) != "[account_management policy_registry]" || !hex64.MatchString(value) {
		t.Errorf("created tenant's access token: %v", tok)
	}
	tid := fmt.Sprint(int64(acc["id"].(float64)))

	services := tenantAPI(t, adminHost, value, "GET", "/admin/api/services.json")
	if services.status != 200 || !strings.Contains(services.body, `"system_name":"api"`) || strings.Count(services.body, `"service":`) != 1 {
		t.Errorf("new tenant's products: %d %s, want its one product API", services.status, services.body)
	}
	var list struct {
		Services []struct {
			Service struct {
				ID int64 `json:"id"`
			} `json:"service"`
		} `json:"services"`
	}
	if err := json.Unmarshal([]byte(services.body), &list); err == nil && len(list.Services) == 1 {
		if st := internalStatus(t, "GET", "/internal/services/"+strconv.FormatInt(list.Services[0].Service.ID, 10)); st != 200 {
			t.Errorf("new tenant's product API in backend: %d, want 200 (saved after the signup's commit)", st)
		}
	}
	if r := tenantAPI(t, adminHost, secret(t, "system-seed", "ADMIN_ACCESS_TOKEN"), "GET", "/admin/api/services.json"); r.status != 403 {
		t.Errorf("the seeded tenant's token on the new admin host: %d %s, want 403", r.status, r.body)
	}
	req, _ := http.NewRequest("POST", adminBase()+"/admin/api/services.json", strings.NewReader(url.Values{"access_token": {value}, "name": {"Own"}}.Encode()))
	req.Host = adminHost
	req.Header.Set("X-Forwarded-Proto", "https")
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := httpc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	own := readAll(resp)
	resp.Body.Close()
	if resp.StatusCode != 201 {
		t.Fatalf("new tenant's product: %d %s", resp.StatusCode, own)
	}
	var svc map[string]any
	_ = json.Unmarshal([]byte(own), &svc)
	proxy := tenantAPI(t, adminHost, value, "GET", "/admin/api/services/"+idOf(svc, "service")+"/proxy.json")
	if !strings.Contains(proxy.body, "own-"+sub+"-apicast-staging.") && !strings.Contains(proxy.body, "own-"+sub+".") {
		t.Errorf("new tenant's product endpoints: %s, want them under subdomain %s", proxy.body, sub)
	}

	again := masterAPI(t, "POST", "/master/api/providers.json", master, url.Values{"org_name": {n}, "username": {"admin" + sub}, "email": {"admin@" + sub + ".test"}})
	if again.status != 201 || field(decode(t, again), "signup", "account", "admin_domain") != sub+"-2-admin."+values.Domain {
		t.Errorf("second tenant with the same org_name: %d %s, want admin_domain %s", again.status, again.body, sub+"-2-admin."+values.Domain)
	}

	shown := masterAPI(t, "GET", "/master/api/providers/"+tid+".json", master, nil)
	sb := decode(t, shown)
	if shown.status != 200 || field(sb, "signup", "account", "id") != acc["id"] || field(sb, "signup", "access_token") != nil {
		t.Errorf("show tenant: %d %s, want the account without access_token", shown.status, shown.body)
	}
	upd := masterAPI(t, "PUT", "/master/api/providers/"+tid+".json", master, url.Values{"account[support_email]": {"help@" + sub + ".test"}})
	if upd.status != 200 || field(decode(t, upd), "signup", "account", "support_email") != "help@"+sub+".test" {
		t.Errorf("update tenant: %d %s, want support_email help@%s.test", upd.status, upd.body, sub)
	}
	if r := masterAPI(t, "PUT", "/master/api/providers/"+tid+".json", master, url.Values{"support_email": {"x@y.test"}}); r.status != 400 || r.body != "Required parameter missing: account" {
		t.Errorf("update without account[…]: %d %q, want 400", r.status, r.body)
	}

	if r := masterAPI(t, "DELETE", "/master/api/providers/"+tid+".json", master, nil); r.status != 200 || r.body != "" {
		t.Fatalf("delete tenant: %d %q, want 200 and no body", r.status, r.body)
	}
	gone := decode(t, masterAPI(t, "GET", "/master/api/providers/"+tid+".json", master, nil))
	if field(gone, "signup", "account", "state") != "scheduled_for_deletion" || field(gone, "signup", "account", "deletion_date") == nil {
		t.Errorf("deleted tenant: %v, want state scheduled_for_deletion with a deletion_date", gone)
	}
	if r := masterAPI(t, "DELETE", "/master/api/providers/"+tid+".json", master, nil); r.status != 404 || r.body != `{"status":"Not found"}` {
		t.Errorf("second delete: %d %s, want 404", r.status, r.body)
	}
	if r := tenantAPI(t, adminHost, value, "GET", "/admin/api/services.json"); r.status != 403 {
		t.Errorf("admin API of a tenant scheduled for deletion: %d %s, want 403", r.status, r.body)
	}
}
