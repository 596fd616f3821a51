package system

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/threescale-chaos/harness/internal/testsupport"
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
	// JSON requests are not protected (ACCEPTABLE_TYPES): the search's own login_required
	// answers, not the access code page.
	if r := e.devDo("GET", "/search.json?q=x", nil); r.code != 302 || r.loc != "https://"+devHost+"/login" {
		t.Errorf("JSON request without the code: %d %q %s", r.code, r.loc, r.body)
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

// testDevPortalSearch pins the CMS API's pages, the developer portal's sign-in and its search
// (cms.go, devportal_login.go): a visitor is sent to /login, a signed-in buyer finds a
// published page with Liquid off by a word of its content, with the match marked, and neither
// a draft, a Liquid page with tags nor a deleted page.
func testDevPortalSearch(t *testing.T, e *testEnv, planID int64) (user, access *http.Cookie) {
	var provider struct {
		Account map[string]any `json:"account"`
	}
	code, body := e.admin("GET", "/admin/api/provider.json", nil)
	mustJSON(t, 200, code, body, &provider)
	access = &http.Cookie{Name: "access_code", Value: provider.Account["site_access_code"].(string)}

	// A buyer who can sign in (a signup with a password activates the user).
	code, body = e.admin("POST", "/admin/api/signup.json", url.Values{"org_name": {"Reader Org"}, "username": {"reader"},
		"email": {"reader@x.test"}, "password": {"rpass"}, "application_plan_id": {fmt.Sprint(planID)}})
	if code != 201 {
		t.Fatalf("signup: %d %s", code, body)
	}

	// A page with Liquid off and one with a tag, both published; a draft.
	page := func(form url.Values) map[string]any {
		t.Helper()
		var p map[string]any
		code, body := e.admin("POST", "/admin/api/cms/templates.json", form)
		mustJSON(t, 201, code, body, &p)
		return p
	}
	plain := page(url.Values{"type": {"page"}, "title": {"Zebrafish Guide"}, "path": {"/zebra/"}, "liquid_enabled": {"false"},
		"draft": {"<p>All about the <b>zebrafish</b> reef.</p>"}})
	if plain["hidden"] != true || plain["published"] != nil || plain["path"] != "/zebra" || plain["system_name"] != "zebrafish-guide" || plain["type"] != "page" {
		t.Errorf("created page: %v", plain)
	}
	tagged := page(url.Values{"type": {"page"}, "title": {"Tagged"}, "path": {"/tagged"}, "liquid_enabled": {"true"},
		"draft": {"{% if current_user %}zebrafish{% endif %}"}})
	draft := page(url.Values{"type": {"page"}, "title": {"Draft"}, "path": {"/draft"}, "liquid_enabled": {"false"}, "draft": {"zebrafish draft"}})
	for _, p := range []map[string]any{plain, tagged} {
		var got map[string]any
		code, body := e.admin("PUT", fmt.Sprintf("/admin/api/cms/templates/%v/publish.json", p["id"]), nil)
		mustJSON(t, 200, code, body, &got)
		if got["hidden"] != false || got["draft"] != nil || got["published"] == nil {
			t.Errorf("published page: %v", got)
		}
	}
	if code, body := e.admin("POST", "/admin/api/cms/templates.json", url.Values{"type": {"page"}, "title": {"Again"}, "path": {"/zebra"}}); code != 422 || !strings.Contains(body, "has already been taken") {
		t.Errorf("a second page at /zebra: %d %s", code, body)
	}
	if code, body := e.admin("POST", "/admin/api/cms/templates.json", url.Values{"type": {"partial"}, "system_name": {"p"}}); code != 422 || !strings.Contains(body, "Unknown template type") {
		t.Errorf("a partial: %d %s", code, body)
	}
	var list struct {
		Collection []map[string]any `json:"collection"`
		Metadata   map[string]int   `json:"metadata"`
	}
	code, body = e.admin("GET", "/admin/api/cms/templates.json?per_page=2&page=2", nil)
	mustJSON(t, 200, code, body, &list)
	// The seeded homepage and docs page come first.
	if len(list.Collection) != 2 || list.Collection[0]["path"] != "/zebra" || list.Collection[0]["published"] != nil ||
		list.Metadata["total_entries"] < 5 || list.Metadata["current_page"] != 2 {
		t.Errorf("templates page 2 of 2 a page: %s", body)
	}
	code, body = e.admin("GET", "/admin/api/cms/templates.json?content=true&per_page=100", nil)
	list.Collection, list.Metadata = nil, nil
	mustJSON(t, 200, code, body, &list)
	if len(list.Collection) < 5 || list.Collection[2]["published"] == nil || list.Metadata != nil {
		t.Errorf("templates with content: %s", body)
	}
	if r := e.devDo("GET", "/zebra", nil, access); r.code != 200 || !strings.Contains(r.body, "<b>zebrafish</b> reef") {
		t.Errorf("the published page: %d %s", r.code, r.body)
	}
	if r := e.devDo("GET", "/draft", nil, access); r.code != 404 {
		t.Errorf("a draft page is hidden: %d", r.code)
	}

	// A visitor is sent to the sign-in, the search kept as return_to.
	visitor := e.devDo("GET", "/search.json?q=zebrafish", nil, access)
	if visitor.code != 302 || visitor.loc != "https://"+devHost+"/login" || visitor.cookies[railsSessionCookie] == nil {
		t.Fatalf("a visitor's search: %d %q", visitor.code, visitor.loc)
	}
	form := e.devDo("GET", "/login", nil, access, visitor.cookies[railsSessionCookie])
	token := regexp.MustCompile(`<form accept-charset="UTF-8" action="/session" class="formtastic session form-horizontal" id="new_session" method="post">.*name="authenticity_token" value="([^"]+)"`).FindStringSubmatch(form.body)
	if form.code != 200 || token == nil || !strings.Contains(form.body, `name="username"`) || !strings.Contains(form.body, `name="password"`) {
		t.Fatalf("the sign-in form: %d %s", form.code, form.body)
	}
	session := form.cookies[railsSessionCookie]
	if session == nil {
		session = visitor.cookies[railsSessionCookie]
	}
	if r := e.devDo("POST", "/session", url.Values{"username": {"reader"}, "password": {"rpass"}}, access, session); r.code != 403 {
		t.Errorf("sign-in without the form's token: %d", r.code)
	}
	if r := e.devDo("POST", "/session", url.Values{"username": {"reader"}, "password": {"wrong"}, "authenticity_token": {token[1]}}, access, session); r.code != 200 ||
		!strings.Contains(r.body, "Incorrect email or password. Please try again.") || r.cookies[userSessionCookie] != nil {
		t.Errorf("a wrong password: %d %s", r.code, r.body)
	}
	if r := e.devDo("POST", "/session", url.Values{"username": {"admin"}, "password": {"apass"}, "authenticity_token": {token[1]}}, access, session); r.code != 200 || r.cookies[userSessionCookie] != nil {
		t.Errorf("the provider's admin on the developer portal: %d", r.code)
	}
	in := e.devDo("POST", "/session", url.Values{"username": {"reader@x.test"}, "password": {"rpass"}, "authenticity_token": {token[1]}}, access, session)
	if in.code != 302 || in.loc != "https://"+devHost+"/search.json?q=zebrafish" || in.cookies[userSessionCookie] == nil {
		t.Fatalf("sign-in by e-mail: %d %q %v", in.code, in.loc, in.cookies)
	}
	user = in.cookies[userSessionCookie]
	if r := e.devDo("GET", "/login", nil, access, user); r.code != 302 || r.loc != "https://"+devHost+"/admin" {
		t.Errorf("/login when signed in: %d %q", r.code, r.loc)
	}

	type result struct{ Title, Path, Content string }
	search := func(q string) ([]result, int) {
		t.Helper()
		r := e.devDo("GET", "/search.json?q="+url.QueryEscape(q), nil, user)
		var out []result
		if r.code == 200 {
			if err := json.Unmarshal([]byte(r.body), &out); err != nil {
				t.Fatalf("search.json: %v: %s", err, r.body)
			}
		}
		return out, r.code
	}
	testsupport.Eventually(t, 20*time.Second, "the published page searchable", testsupport.NoError(func(context.Context) error {
		got, code := search("zebrafish")
		if code != 200 || len(got) != 1 {
			return fmt.Errorf("HTTP %d %v", code, got)
		}
		return nil
	}))
	got, _ := search("zebrafish")
	if got[0].Path != "/zebra" || !strings.Contains(got[0].Title, `<span class="match">Zebrafish</span>`) ||
		!strings.Contains(got[0].Content, `<span class="match">zebrafish</span>`) || strings.Contains(got[0].Content, "<p>") || strings.Contains(got[0].Content, "<b>") {
		t.Errorf("the result: %+v", got[0])
	}
	if r := e.devDo("GET", "/search?q=zebrafish", nil, access, user); r.code != 200 || !strings.Contains(r.body, `href="/zebra"`) || !strings.Contains(r.body, "Sign Out") {
		t.Errorf("the HTML search: %d %s", r.code, r.body)
	}
	_ = draft

	// Deleted: gone from the portal and, once its index job ran, from the search.
	if code, body := e.admin("DELETE", fmt.Sprintf("/admin/api/cms/templates/%v.json", plain["id"]), nil); code != 200 {
		t.Fatalf("delete: %d %s", code, body)
	}
	if r := e.devDo("GET", "/zebra", nil, access); r.code != 404 {
		t.Errorf("a deleted page: %d", r.code)
	}
	testsupport.Eventually(t, 20*time.Second, "the deleted page gone from the search", testsupport.NoError(func(context.Context) error {
		if got, code := search("zebrafish"); code != 200 || len(got) != 0 {
			return fmt.Errorf("HTTP %d %v", code, got)
		}
		return nil
	}))
	for _, p := range []map[string]any{tagged, draft} {
		if code, body := e.admin("DELETE", fmt.Sprintf("/admin/api/cms/templates/%v.json", p["id"]), nil); code != 200 {
			t.Errorf("delete: %d %s", code, body)
		}
	}
	return user, access
}
