package conformance

import (
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

// portalDo is one admin portal request on the tenant's admin host, as a browser sends it
// behind the router (X-Forwarded-Proto: https), without following redirects.
func portalDo(method, path string, form url.Values, cookies ...*http.Cookie) (*http.Response, string, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, adminBase()+path, body)
	if err != nil {
		return nil, "", err
	}
	req.Host = adminHost()
	req.Header.Set("X-Forwarded-Proto", "https")
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for _, c := range cookies {
		req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	}
	noFollow := &http.Client{Timeout: httpc.Timeout, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, string(b), err
}

// portalReq is portalDo that fails the test on a transport error.
func portalReq(t *testing.T, method, path string, form url.Values, cookies ...*http.Cookie) (*http.Response, string) {
	t.Helper()
	resp, body, err := portalDo(method, path, form, cookies...)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return resp, body
}

func cookieNamed(resp *http.Response, name string) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// signIn signs in as porta's React login form does: GET /p/login for the Rails session and
// the meta csrf-token, POST /p/sessions with the credentials and the token. It returns the
// POST's response and body and the user_session cookie it set (nil when it set none).
func signIn(user, pass string) (*http.Response, string, *http.Cookie, error) {
	resp, page, err := portalDo("GET", "/p/login", nil)
	if err != nil {
		return nil, "", nil, fmt.Errorf("GET /p/login: %w", err)
	}
	m := authenticityToken.FindStringSubmatch(page)
	session := cookieNamed(resp, "_system_session")
	if resp.StatusCode != http.StatusOK || m == nil || session == nil {
		return resp, page, nil, fmt.Errorf("GET /p/login: status %d, CSRF token found %v, Rails session found %v", resp.StatusCode, m != nil, session != nil)
	}
	form := url.Values{"username": {user}, "password": {pass}, "authenticity_token": {m[1]}}
	resp, body, err := portalDo("POST", "/p/sessions", form, session)
	if err != nil {
		return nil, "", nil, fmt.Errorf("POST /p/sessions: %w", err)
	}
	return resp, body, cookieNamed(resp, "user_session"), nil
}

// portaSignIn signs in with system-seed's ADMIN_USER and ADMIN_PASSWORD and returns the
// user_session cookie.
func portaSignIn(t *testing.T) *http.Cookie {
	t.Helper()
	resp, body, us, err := signIn(secret(t, "system-seed", "ADMIN_USER"), secret(t, "system-seed", "ADMIN_PASSWORD"))
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusFound || us == nil {
		t.Fatalf("POST /p/sessions: %d %v %s", resp.StatusCode, resp.Cookies(), body)
	}
	return us
}

var loginProps = regexp.MustCompile(`data-login-props="([^"]*)"`)

// The admin portal's sign-in as porta 3scale-2.16.4-GA serves it (and 2.15.1-GA):
//   - GET /p/login renders porta@3scale-2.16.4-GA:app/views/layouts/provider/login.html.slim
//     (csrf_meta_tag: <meta name="csrf-param" content="authenticity_token" /> and
//     <meta name="csrf-token" …/>) around app/views/provider/sessions/new.html.slim, which is
//     div#pf-login-page-container with HTML-escaped JSON in data-login-props; the form is
//     React's (app/javascript/src/Login/components/LoginForm.tsx), so the HTML has no <form>
//     and no authenticity_token input;
//   - POST /p/sessions is forgery-protected (app/controllers/application_controller.rb
//     protect_from_forgery with ExceptionAndResetStrategy): without the session's token it is
//     403 with the "Access Denied" page (app/controllers/concerns/error_handling.rb
//     handle_forgery_protection); a wrong password renders the page again (200) with porta's
//     flash error; a good sign-in is a 302 with the user_session cookie
//     (app/controllers/provider/sessions_controller.rb create,
//     app/lib/authenticated_system.rb create_user_session!);
//   - portal pages take that cookie.
func TestPortaAdminSignIn(t *testing.T) {
	resp, page := portalReq(t, "GET", "/p/login", nil)
	if resp.StatusCode != 200 {
		t.Fatalf("GET /p/login: %d", resp.StatusCode)
	}
	if !strings.Contains(page, `<meta name="csrf-param" content="authenticity_token" />`) || !authenticityToken.MatchString(page) {
		t.Fatalf("no csrf meta tags in the sign-in page:\n%s", page)
	}
	if strings.Contains(page, "<form") || strings.Contains(page, `name="authenticity_token"`) {
		t.Fatalf("the sign-in page has a server-side form, porta's has none:\n%s", page)
	}
	if !strings.Contains(page, `id="pf-login-page-container"`) {
		t.Fatalf("no React mount point in the sign-in page:\n%s", page)
	}
	m := loginProps.FindStringSubmatch(page)
	var props map[string]any
	if m == nil || json.Unmarshal([]byte(html.UnescapeString(m[1])), &props) != nil {
		t.Fatalf("data-login-props is not HTML-escaped JSON: %v", m)
	}
	for _, k := range []string{"redirectUrl", "authenticationProviders", "flashMessages", "show3scaleLoginForm",
		"providerRequestPasswordResetPath", "providerSessionsPath", "providerLoginPath", "providerAdminDashboardPath",
		"disablePasswordReset", "recaptcha", "session"} {
		if _, ok := props[k]; !ok {
			t.Errorf("data-login-props lacks %s: %v", k, props)
		}
	}
	if props["providerSessionsPath"] != "/p/sessions" {
		t.Errorf("providerSessionsPath %v", props["providerSessionsPath"])
	}
	session := cookieNamed(resp, "_system_session")
	if session == nil {
		t.Fatalf("GET /p/login sets no _system_session: %v", resp.Cookies())
	}
	token := authenticityToken.FindStringSubmatch(page)[1]
	user, pass := secret(t, "system-seed", "ADMIN_USER"), secret(t, "system-seed", "ADMIN_PASSWORD")

	resp, body := portalReq(t, "POST", "/p/sessions", url.Values{"username": {user}, "password": {pass}}, session)
	if resp.StatusCode != 403 || !strings.Contains(body, "Access Denied") || cookieNamed(resp, "user_session") != nil && cookieNamed(resp, "user_session").Value != "" {
		t.Errorf("sign-in without authenticity_token: want 403 Access Denied, got %d %s", resp.StatusCode, body)
	}
	resp, body = portalReq(t, "POST", "/p/sessions", url.Values{"username": {user}, "password": {pass + "x"}, "authenticity_token": {token}}, session)
	if resp.StatusCode != 200 || cookieNamed(resp, "user_session") != nil || !strings.Contains(body, "Incorrect email or password") {
		t.Errorf("wrong password: want 200, the page again with the flash error, got %d %s", resp.StatusCode, body)
	}
	resp, _ = portalReq(t, "POST", "/p/sessions", url.Values{"username": {user}, "password": {pass}, "authenticity_token": {token}}, session)
	us := cookieNamed(resp, "user_session")
	if resp.StatusCode != 302 || us == nil || resp.Header.Get("Location") != "https://"+adminHost()+"/p/admin" {
		t.Fatalf("sign-in: want 302 to https://%s/p/admin with user_session, got %d %q %v", adminHost(), resp.StatusCode, resp.Header.Get("Location"), resp.Cookies())
	}
	if resp, body := portalReq(t, "GET", "/apiconfig/alerts", nil, us); resp.StatusCode != 200 {
		t.Errorf("alerts page with user_session: %d %s", resp.StatusCode, body)
	}
	if resp, _ := portalReq(t, "GET", "/apiconfig/alerts", nil); resp.StatusCode != 302 {
		t.Errorf("alerts page without user_session: want 302 to the sign-in, got %d", resp.StatusCode)
	}
}
