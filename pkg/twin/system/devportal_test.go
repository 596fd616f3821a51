package system

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// testDevPortalAccessCode pins the developer portal's access code to porta 3scale-2.16.4-GA
// (lib/developer_portal/lib/access_code_protection.rb, access_codes_controller.rb,
// app/models/account.rb generate_site_access_code, app/representers/account_representer.rb):
// the provider's code is in GET /admin/api/provider.json; without the access_code cookie
// every portal page is the "Access Restricted" form (200); with it the CMS homepage with the
// portal's navigation; /access_code?access_code=… sets the cookie and redirects back.
func testDevPortalAccessCode(t *testing.T, e *testEnv) {
	var provider struct {
		Account map[string]any `json:"account"`
	}
	code, body := e.admin("GET", "/admin/api/provider.json", nil)
	mustJSON(t, 200, code, body, &provider)
	accessCode, _ := provider.Account["site_access_code"].(string)
	if !regexp.MustCompile(`^[0-9a-f]{10}$`).MatchString(accessCode) {
		t.Fatalf("provider.json site_access_code %v: want SecureRandom.hex(5)", provider.Account["site_access_code"])
	}
	restricted := func(r portalResp) bool {
		return r.code == 200 && strings.Contains(r.body, "<title>Access Restricted</title>") &&
			strings.Contains(r.body, `<form action="/access_code"`) && strings.Contains(r.body, `name="access_code"`) &&
			!strings.Contains(r.body, "navbar-brand")
	}
	closed := e.devDo("GET", "/", nil)
	if !restricted(closed) || closed.cookies[railsSessionCookie] == nil {
		t.Fatalf("portal without the cookie: want the access code page with a session, got %d %s", closed.code, closed.body)
	}
	if r := e.devDo("GET", "/", nil, &http.Cookie{Name: "access_code", Value: "wrong"}); !restricted(r) {
		t.Errorf("portal with a wrong code: %d %s", r.code, r.body)
	}
	if r := e.devDo("GET", "/docs", nil); !restricted(r) {
		t.Errorf("every portal page is protected: /docs %d", r.code)
	}
	good := &http.Cookie{Name: "access_code", Value: accessCode}
	home := e.devDo("GET", "/", nil, good)
	for _, want := range []string{`<a class="navbar-brand" href="/">Acme Inc</a>`, `<a href="/login" title="Login">Sign in</a>`, `<h1>Pick your plan</h1>`,
		`<strong>Basic</strong>`, `<strong>Unlimited</strong>`} {
		if home.code != 200 || !strings.Contains(home.body, want) {
			t.Errorf("portal home with the code lacks %s: %d %s", want, home.code, home.body)
		}
	}
	if r := e.devDo("GET", "/docs", nil, good); r.code != 200 || !strings.Contains(r.body, "Documentation") {
		t.Errorf("/docs with the code: %d", r.code)
	}
	if r := e.devDo("GET", "/nothing-here", nil, good); r.code != 404 {
		t.Errorf("unknown page with the code: %d", r.code)
	}
	// JSON requests are not protected (ACCEPTABLE_TYPES).
	if r := e.devDo("GET", "/search.json?q=x", nil); r.code != 200 {
		t.Errorf("JSON request without the code: %d %s", r.code, r.body)
	}
	// /access_code with the code: the cookie, and back to the page stored in the session.
	back := e.devDo("GET", "/access_code?access_code="+accessCode, nil, closed.cookies[railsSessionCookie])
	if back.code != 302 || back.loc != "https://"+devHost+"/" || back.cookies["access_code"] == nil || back.cookies["access_code"].Value != accessCode {
		t.Errorf("/access_code with the code: %d %q %v", back.code, back.loc, back.cookies)
	}
	if r := e.devDo("GET", "/access_code?access_code=wrong", nil); !restricted(r) {
		t.Errorf("/access_code with a wrong code: %d", r.code)
	}
	if r := e.devDo("POST", "/access_code", url.Values{"access_code": {accessCode}}, closed.cookies[railsSessionCookie]); r.code != 403 {
		t.Errorf("POST /access_code without the form's token: want 403, got %d", r.code)
	}
	token := regexp.MustCompile(`name="authenticity_token" value="([^"]+)"`).FindStringSubmatch(closed.body)
	if token == nil {
		t.Fatalf("the access code form carries no authenticity_token")
	}
	if r := e.devDo("POST", "/access_code", url.Values{"access_code": {accessCode}, "authenticity_token": {token[1]}}, closed.cookies[railsSessionCookie]); r.code != 302 || r.cookies["access_code"] == nil {
		t.Errorf("POST /access_code with the form's token: %d %v", r.code, r.cookies)
	}
}
