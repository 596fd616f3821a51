package system

import (
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// portalResp is one admin portal answer with what a browser would keep.
type portalResp struct {
	code    int
	body    string
	loc     string
	cookies map[string]*http.Cookie
}

// portalDo sends one admin portal request on the tenant's admin host over "https", with the
// given cookies, without following redirects.
func (e *testEnv) portalDo(method, path string, form url.Values, cookies ...*http.Cookie) portalResp {
	e.t.Helper()
	return e.hostDo(e.provider, adminHost, method, path, form, cookies...)
}

// devDo sends one developer portal request on the tenant's portal host over "https".
func (e *testEnv) devDo(method, path string, form url.Values, cookies ...*http.Cookie) portalResp {
	e.t.Helper()
	return e.hostDo(e.dev, devHost, method, path, form, cookies...)
}

// hostDo sends one request to base with the given Host, as the router forwards a browser's
// https request, with the given cookies, without following redirects.
func (e *testEnv) hostDo(base, host, method, path string, form url.Values, cookies ...*http.Cookie) portalResp {
	e.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, base+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Host = host
	req.Header.Set("X-Forwarded-Proto", "https")
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for _, c := range cookies {
		if c != nil {
			req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
		}
	}
	resp, err := e.client.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	out := portalResp{code: resp.StatusCode, body: string(b), loc: resp.Header.Get("Location"), cookies: map[string]*http.Cookie{}}
	for _, c := range resp.Cookies() {
		out.cookies[c.Name] = c
	}
	return out
}

var loginPropsAttr = regexp.MustCompile(`<div data-login-props="([^"]*)" id="pf-login-page-container">`)

// loginPropsOf decodes the React mount point's props from a sign-in page.
func loginPropsOf(t *testing.T, page string) map[string]any {
	t.Helper()
	m := loginPropsAttr.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no div#pf-login-page-container with data-login-props in:\n%s", page)
	}
	var props map[string]any
	if err := json.Unmarshal([]byte(html.UnescapeString(m[1])), &props); err != nil {
		t.Fatalf("data-login-props is not HTML-escaped JSON: %v\n%s", err, m[1])
	}
	return props
}

// testAdminLogin pins the admin portal sign-in to porta 3scale-2.16.4-GA: the server-side page
// is the login layout with csrf_meta_tag around the React mount point only
// (app/views/layouts/provider/login.html.slim, app/views/provider/sessions/new.html.slim);
// POST /p/sessions checks the token against the _system_session's CSRF secret and answers a
// bad token with 403 "Access Denied" (ApplicationController protect_from_forgery with
// ExceptionAndResetStrategy, ErrorHandling#handle_forgery_protection), a bad password with
// the page again (200, flash error), and a good sign-in with 302 and user_session.
func testAdminLogin(t *testing.T, e *testEnv) {
	page := e.portalDo("GET", "/p/login", nil)
	if page.code != 200 {
		t.Fatalf("GET /p/login: %d %s", page.code, page.body)
	}
	for _, want := range []string{`<meta name="csrf-param" content="authenticity_token" />`, `<meta name="csrf-token" content="`,
		`<title>3scale Login</title>`, `id="pf-login-page-container"`} {
		if !strings.Contains(page.body, want) {
			t.Errorf("sign-in page lacks %s:\n%s", want, page.body)
		}
	}
	for _, never := range []string{"<form", `name="authenticity_token"`, `type="password"`} {
		if strings.Contains(page.body, never) {
			t.Errorf("sign-in page has %s, which porta renders only in the browser", never)
		}
	}
	props := loginPropsOf(t, page.body)
	wantProps := map[string]any{"redirectUrl": "null", "providerSessionsPath": "/p/sessions", "providerLoginPath": "/p/login",
		"providerAdminDashboardPath": "/p/admin/dashboard", "providerRequestPasswordResetPath": "/p/password/reset",
		"show3scaleLoginForm": true, "disablePasswordReset": false}
	for k, v := range wantProps {
		if props[k] != v {
			t.Errorf("props[%s] = %v, want %v", k, props[k], v)
		}
	}
	keys := []string{"redirectUrl", "authenticationProviders", "flashMessages", "show3scaleLoginForm", "providerRequestPasswordResetPath",
		"providerSessionsPath", "providerLoginPath", "providerAdminDashboardPath", "disablePasswordReset", "recaptcha", "session"}
	if len(props) != len(keys) {
		t.Errorf("props has %d keys, porta's view %d: %v", len(props), len(keys), props)
	}
	for _, k := range keys {
		if _, ok := props[k]; !ok {
			t.Errorf("props lack %s", k)
		}
	}
	session := page.cookies[railsSessionCookie]
	if session == nil || !session.HttpOnly || !session.Secure {
		t.Fatalf("GET /p/login must set an HttpOnly, Secure _system_session: %+v", page.cookies)
	}
	token := csrfMeta.FindStringSubmatch(page.body)[1]

	// A second view of the page masks the same secret differently; both tokens are valid.
	again := e.portalDo("GET", "/p/login", nil, session)
	token2 := csrfMeta.FindStringSubmatch(again.body)[1]
	if token2 == token {
		t.Errorf("two page views gave the same masked token %q", token)
	}
	if _, set := again.cookies[railsSessionCookie]; set {
		t.Errorf("an existing session with its CSRF secret is not rewritten")
	}

	creds := url.Values{"username": {"admin"}, "password": {"apass"}}
	// No token, a token of another session, a forged token: 403 and a reset session.
	other := e.portalDo("GET", "/p/login", nil)
	otherToken := csrfMeta.FindStringSubmatch(other.body)[1]
	for name, tok := range map[string]string{"missing": "", "other session": otherToken, "garbage": "abc"} {
		form := url.Values{"username": creds["username"], "password": creds["password"]}
		if tok != "" {
			form.Set("authenticity_token", tok)
		}
		r := e.portalDo("POST", "/p/sessions", form, session)
		if r.code != 403 || !strings.Contains(r.body, "<h1>Access Denied</h1>") {
			t.Errorf("%s token: want 403 Access Denied, got %d %s", name, r.code, r.body)
		}
		if r.cookies[userSessionCookie] != nil && r.cookies[userSessionCookie].Value != "" {
			t.Errorf("%s token: a user_session was issued", name)
		}
		if r.cookies[railsSessionCookie] == nil {
			t.Errorf("%s token: the session is not reset", name)
		}
	}

	// A wrong password: the page again with 200 and porta's flash error, no user_session.
	bad := e.portalDo("POST", "/p/sessions", url.Values{"username": {"admin"}, "password": {"nope"}, "authenticity_token": {token}}, session)
	if bad.code != 200 || bad.cookies[userSessionCookie] != nil {
		t.Fatalf("wrong password: want 200 without user_session, got %d %v", bad.code, bad.cookies)
	}
	props = loginPropsOf(t, bad.body)
	flash, _ := props["flashMessages"].([]any)
	if len(flash) != 1 || flash[0].(map[string]any)["type"] != "error" ||
		flash[0].(map[string]any)["message"] != "Incorrect email or password. Please try again." {
		t.Errorf("wrong password flash: %v", props["flashMessages"])
	}
	if props["session"].(map[string]any)["username"] != "admin" {
		t.Errorf("wrong password: the username is not kept: %v", props["session"])
	}

	// Good credentials with the second token of the same session: 302 to /p/admin, user_session.
	good := e.portalDo("POST", "/p/sessions", url.Values{"username": {"admin"}, "password": {"apass"}, "authenticity_token": {token2}}, session)
	us := good.cookies[userSessionCookie]
	if good.code != 302 || good.loc != "https://"+adminHost+"/p/admin" || us == nil || us.Value == "" {
		t.Fatalf("sign-in: want 302 to https://%s/p/admin with user_session, got %d %q %v", adminHost, good.code, good.loc, good.cookies)
	}
	if r := e.portalDo("GET", "/p/admin", nil, us); r.code != 302 || r.loc != "https://"+adminHost+"/p/admin/dashboard" {
		t.Errorf("/p/admin signed in: %d %q", r.code, r.loc)
	}
	if r := e.portalDo("GET", "/p/admin/dashboard", nil, us); r.code != 200 {
		t.Errorf("dashboard signed in: %d", r.code)
	}
	if r := e.portalDo("GET", "/p/login", nil, us); r.code != 302 || r.loc != "https://"+adminHost+"/p/admin/dashboard" {
		t.Errorf("/p/login signed in: want 302 to the dashboard, got %d %q", r.code, r.loc)
	}
	if r := e.portalDo("GET", "/p/admin/dashboard", nil, &http.Cookie{Name: userSessionCookie, Value: "forged--x"}); r.code != 302 {
		t.Errorf("a forged user_session is not a login: %d", r.code)
	}

	// A page visited signed out is where the sign-in lands (store_location, return_to).
	bounced := e.portalDo("GET", "/apiconfig/alerts?page=1", nil)
	if bounced.code != 302 || bounced.loc != "https://"+adminHost+"/p/login" || bounced.cookies[railsSessionCookie] == nil {
		t.Fatalf("signed-out page: want 302 to /p/login with a session, got %d %q", bounced.code, bounced.loc)
	}
	session = bounced.cookies[railsSessionCookie]
	page = e.portalDo("GET", "/p/login", nil, session)
	if got := loginPropsOf(t, page.body)["redirectUrl"]; got != "https://"+adminHost+"/apiconfig/alerts?page=1" {
		t.Errorf("redirectUrl after a bounce: %v", got)
	}
	if c := page.cookies[railsSessionCookie]; c != nil {
		session = c
	}
	token = csrfMeta.FindStringSubmatch(page.body)[1]
	back := e.portalDo("POST", "/p/sessions", url.Values{"username": {"admin@acme.test"}, "password": {"apass"}, "authenticity_token": {token}}, session)
	if back.code != 302 || back.loc != "https://"+adminHost+"/apiconfig/alerts?page=1" {
		t.Errorf("sign-in after a bounce (by e-mail): want 302 back to the page, got %d %q", back.code, back.loc)
	}
}

// TestCSRFTokenMasking pins Rails 7.0's token scheme: each masked token is 86 URL-safe
// base64 characters (64 bytes: pad and secret XOR pad), differs per view, unmasks to the
// session's secret, and the unmasked secret itself is accepted too.
func TestCSRFTokenMasking(t *testing.T) {
	s := &railsSession{SessionID: "x"}
	secret, changed := csrfSecret(s)
	if !changed || len(secret) != 32 {
		t.Fatalf("new secret: changed=%v len=%d", changed, len(secret))
	}
	if again, changed := csrfSecret(s); changed || string(again) != string(secret) {
		t.Fatal("the secret of a session is stable")
	}
	a, b := maskedCSRFToken(secret), maskedCSRFToken(secret)
	if a == b || len(a) != 86 || strings.ContainsAny(a, "+/=") {
		t.Fatalf("masked tokens %q %q", a, b)
	}
	if !validCSRFToken(secret, a) || !validCSRFToken(secret, b) {
		t.Fatal("masked tokens of the session's secret must be valid")
	}
	other, _ := csrfSecret(&railsSession{SessionID: "y"})
	for name, tok := range map[string]string{"other session": maskedCSRFToken(other), "truncated": a[:40], "empty": "", "not base64": "!!!"} {
		if validCSRFToken(secret, tok) {
			t.Errorf("%s token accepted", name)
		}
	}
	if !validCSRFToken(secret, s.CSRF) {
		t.Error("the unmasked secret (32 bytes) is accepted, as Rails compares it directly")
	}
}
