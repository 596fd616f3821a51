package conformance

import (
	"fmt"
	"html"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// devPortalGet GETs a developer portal page on the tenant's portal host behind the router.
func devPortalGet(t *testing.T, path string, cookies ...*http.Cookie) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest("GET", "http://127.0.0.1:"+strconv.Itoa(values.Ports.SystemDeveloper)+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = values.TenantName + "." + values.Domain
	req.Header.Set("X-Forwarded-Proto", "https")
	for _, c := range cookies {
		req.AddCookie(c)
	}
	noFollow := &http.Client{Timeout: httpc.Timeout, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// The developer portal behind porta 3scale-2.16.4-GA's access code: a provider is created with
// a random site_access_code (porta@3scale-2.16.4-GA:app/models/account.rb:100,584
// generate_site_access_code, SecureRandom.hex(5)), which the Account Management API shows in
// GET /admin/api/provider.json (app/representers/account_representer.rb site_access_code).
// Without the access_code cookie every portal page is the "Access Restricted" form
// (lib/developer_portal/lib/access_code_protection.rb protect_access,
// lib/developer_portal/app/views/developer_portal/access_codes/show.html.erb, 200, no layout);
// with it the CMS homepage, whose layout carries the provider's name as the navigation brand
// and a "Sign in" link for a visitor (main_layout.html.liquid, _submenu.html.liquid).
func TestPortaDeveloperPortalAccessCode(t *testing.T) {
	acc := mustAdmin(t, "GET", "/admin/api/provider.json", nil, 200)
	code, _ := field(acc, "account", "site_access_code").(string)
	if !regexp.MustCompile(`^[0-9a-f]{10}$`).MatchString(code) {
		t.Fatalf("provider.json account.site_access_code = %v, want 10 hex characters", field(acc, "account", "site_access_code"))
	}
	org := fmt.Sprint(field(acc, "account", "org_name"))

	resp, page := devPortalGet(t, "/")
	if resp.StatusCode != 200 || !strings.Contains(page, "<title>Access Restricted</title>") || !strings.Contains(page, `name="access_code"`) || strings.Contains(page, "navbar-brand") {
		t.Fatalf("portal without the access_code cookie: want the access code page, got %d %s", resp.StatusCode, page)
	}
	resp, page = devPortalGet(t, "/", &http.Cookie{Name: "access_code", Value: code})
	brand := `<a class="navbar-brand" href="/">` + html.EscapeString(org) + `</a>`
	if resp.StatusCode != 200 || !strings.Contains(page, brand) || !strings.Contains(page, `<a href="/login" title="Login">Sign in</a>`) {
		t.Fatalf("portal with the access_code cookie: want the CMS homepage with %s and Sign in, got %d %s", brand, resp.StatusCode, page)
	}
	if strings.Contains(page, "Access Restricted") {
		t.Errorf("the homepage still shows the access code page")
	}
}
