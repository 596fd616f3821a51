package conformance

import (
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

// hostCall sends one request to a system-app container port with a Host, behind the router
// (X-Forwarded-Proto: https).
func hostCall(t *testing.T, port int, host, method, path string, form url.Values) response {
	t.Helper()
	var body io.Reader
	if method != "GET" && form != nil {
		body = strings.NewReader(form.Encode())
	} else if form != nil {
		path += "?" + form.Encode()
	}
	req, err := http.NewRequest(method, "http://127.0.0.1:"+strconv.Itoa(port)+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Host = host
	req.Header.Set("X-Forwarded-Proto", "https")
	resp, err := httpc.Do(req)
	if err != nil {
		t.Fatalf("%s %s on port %d: %v", method, path, port, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, body: string(b), header: resp.Header}
}

// The three system-app containers run one Rails application whose routes choose by Host
// (porta@3scale-2.16.4-GA:config/routes.rb; lib/routing_constraints.rb MasterDomainConstraint,
// ProviderDomainConstraint, BuyerDomainConstraint), so a Host decides the role, not the port a
// Service points at. The exception is the master container: the operator gives it
// TENANT_MODE=master (3scale-operator@3scale-2.16.3-GA:pkg/3scale/amp/component/system.go
// buildAppMasterContainerEnv), production settings have onpremises true
// (config/examples/settings.yml), so ThreeScale.master_on_premises? holds there and every Host
// is the master account (site_account_support.rb MasterDomainWildcard): a tenant's token is
// refused on it.
func TestPortaRolesByHost(t *testing.T) {
	p := values.Ports
	token := secret(t, "system-seed", "ADMIN_ACCESS_TOKEN")
	tok := url.Values{"access_token": {token}}
	devHost := values.TenantName + "." + values.Domain
	masterHost := "master." + values.Domain

	// The tenant's admin API on each container but the master one.
	for _, port := range []int{p.SystemProvider, p.SystemDeveloper} {
		if r := hostCall(t, port, adminHost(), "GET", "/admin/api/services.json", tok); r.status != 200 || !strings.Contains(r.body, `"services"`) {
			t.Errorf("admin API by the admin Host on port %d: %d %.200s, want 200 with services", port, r.status, r.body)
		}
	}
	if r := hostCall(t, p.SystemMaster, adminHost(), "GET", "/admin/api/services.json", tok); r.status != 403 {
		t.Errorf("tenant token on the master container (master_on_premises): %d %.200s, want 403", r.status, r.body)
	}

	// The developer portal on either tenant container, by its Host: the access-code page.
	for _, port := range []int{p.SystemProvider, p.SystemDeveloper} {
		if r := hostCall(t, port, devHost, "GET", "/", nil); r.status != 200 || !strings.Contains(r.body, "<title>Access Restricted</title>") {
			t.Errorf("developer portal by its Host on port %d: %d %.200s, want the access code page", port, r.status, r.body)
		}
	}
	// ...and the admin portal's sign-in page on either, by the admin Host.
	for _, port := range []int{p.SystemProvider, p.SystemDeveloper} {
		if r := hostCall(t, port, adminHost(), "GET", "/p/login", nil); r.status != 200 || !strings.Contains(r.body, `name="csrf-token"`) {
			t.Errorf("admin sign-in page by the admin Host on port %d: %d %.200s, want the login page", port, r.status, r.body)
		}
	}

	// Master routes by the master Host on a tenant container (MasterDomainConstraint matches
	// the master account's domains), with the master account as site account.
	for _, port := range []int{p.SystemProvider, p.SystemDeveloper, p.SystemMaster} {
		if r := hostCall(t, port, masterHost, "GET", "/status", nil); r.status != 200 || !strings.Contains(r.body, `"mysql_connection"`) {
			t.Errorf("GET /status by the master Host on port %d: %d %.200s, want 200 status JSON", port, r.status, r.body)
		}
	}
	mtok := url.Values{"access_token": {secret(t, "system-seed", "MASTER_ACCESS_TOKEN")}}
	if r := hostCall(t, p.SystemProvider, masterHost, "GET", "/admin/api/accounts.json", mtok); r.status != 200 || !strings.Contains(r.body, `"accounts"`) {
		t.Errorf("master's admin API by the master Host on the provider container: %d %.200s, want 200 with the tenants", r.status, r.body)
	}
	if r := hostCall(t, p.SystemProvider, masterHost, "GET", "/admin/api/services.json", tok); r.status != 403 {
		t.Errorf("tenant token on the master Host: %d %.200s, want 403", r.status, r.body)
	}

	// A Host no account has: the API refuses it (SiteAccountSupport force_provider_or_master_domain).
	if r := hostCall(t, p.SystemProvider, "nobody."+values.Domain, "GET", "/admin/api/services.json", tok); r.status != 403 {
		t.Errorf("admin API by an unknown Host: %d %.200s, want 403", r.status, r.body)
	}
}
