package threescale

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/threescale-chaos/harness/pkg/probe"
	"github.com/threescale-chaos/harness/pkg/threescale/target"
)

// Portal is a signed-in client of the provider's admin portal. Its pages are porta
// FrontendController pages: they take a login session, never an access token, and send a
// visitor without one to /p/login (research/porta-zync.md §1.3, §3.2). Portal signs in as a
// browser does: GET /p/login for the Rails session cookie (_system_session) and the CSRF
// token, then POST /p/sessions with the admin's username, password and that token as
// authenticity_token, which answers with a 302 and the user_session cookie
// (porta@3scale-2.16.4-GA:app/lib/authenticated_system.rb create_user_session!).
//
// The sign-in page is a React mount point: the server sends no <form>, and the only CSRF
// token is the layout's csrf_meta_tags, <meta name="csrf-token" content="…">
// (porta@3scale-2.16.4-GA:app/views/layouts/provider/login.html.slim,
// app/views/provider/sessions/new.html.slim; the same at 3scale-2.15.1-GA); the browser's
// LoginForm copies it into the form it draws. Cookies are kept by hand: they are Secure, and
// a cookie jar would not send them over an http:// URL to an in-cluster Service (§1.3).
//
// A page that redirects to the login form (the session expired, system-app's database was
// reset) signs in again once. Each request is bounded by probe.DefaultTimeout and by the
// caller's context. Errors never contain the password or the cookies.
type Portal struct {
	hc             *http.Client
	base, host     string
	user, password string
	paths          portalPaths
	// cookies go with every request (the developer portal's access_code).
	cookies string
	// timeout bounds each request, as a sampler's single request is bounded
	// (probe.DefaultTimeout): a sample of three requests whose first hangs fails after one
	// request's time, not the whole sample's. A portal whose pods are gone behind a NodePort
	// can hang a connection rather than refuse it (kind's port mapping accepts, then its dial
	// to the node goes unanswered).
	timeout time.Duration

	mu      sync.Mutex
	session string // "user_session=..." once signed in
}

// portalPaths are where a portal signs in: its sign-in page, the form's target, and the path
// a page that wants a session redirects to.
type portalPaths struct {
	login, sessions string
	// token finds the CSRF token on the sign-in page, and source names where it looks.
	token  func([]byte) (string, bool)
	source string
	// unavailable says why the harness cannot sign in with a password on the sign-in page
	// (bot protection, SSO only), or "" when it can.
	unavailable func([]byte) string
}

var (
	adminPortalPaths = portalPaths{login: "/p/login", sessions: "/p/sessions", token: CSRFToken, source: `<meta name="csrf-token">`,
		unavailable: adminSignInUnavailable}
	// The developer portal's sign-in: GET /login, POST /session (porta@3scale-2.16.4-GA:
	// lib/developer_portal/config/routes.rb:6,157, DeveloperPortal::LoginController).
	devPortalPaths = portalPaths{login: "/login", sessions: "/session", token: FormCSRFToken, source: "authenticity_token input",
		unavailable: devSignInUnavailable}
)

// ErrSignInUnavailable is a portal whose sign-in the harness cannot pass, whatever it waits
// for: bot protection asks for a reCAPTCHA token a browser gets from Google, or only SSO is
// accepted. Waiting does not help, so provisioning stops at once with the reason.
var ErrSignInUnavailable = errors.New("the portal's password sign-in is not available to the harness")

// loginPropsAttr is the admin portal sign-in page's data-login-props attribute.
var loginPropsAttr = regexp.MustCompile(`data-login-props="([^"]*)"`)

// adminSignInUnavailable reads the sign-in page's data-login-props
// (porta@3scale-2.16.4-GA: app/views/provider/sessions/new.html.slim):
//   - recaptcha.enabled is bot protection on the admin portal (Account Settings > Integrate >
//     Bot Protection, settings.admin_bot_protection_level, with reCAPTCHA keys configured):
//     Provider::SessionsController#authenticate_user refuses a POST whose reCAPTCHA token does
//     not verify;
//   - show3scaleLoginForm false is enforce_sso (app/presenters/provider/sessions_presenter.rb):
//     the same controller then ignores username and password.
//
// 3scale-2.15.1-GA's props have no recaptcha key; a page without the props (a proxy's page)
// says nothing here, and the sign-in's own error says what went wrong.
func adminSignInUnavailable(page []byte) string {
	m := loginPropsAttr.FindSubmatch(page)
	if m == nil {
		return ""
	}
	var props struct {
		Show3scaleLoginForm *bool `json:"show3scaleLoginForm"`
		Recaptcha           struct {
			Enabled bool `json:"enabled"`
		} `json:"recaptcha"`
	}
	if json.Unmarshal([]byte(html.UnescapeString(string(m[1]))), &props) != nil {
		return ""
	}
	switch {
	case props.Show3scaleLoginForm != nil && !*props.Show3scaleLoginForm:
		return "the admin portal takes only SSO sign-ins (Account Settings > Users > SSO Integrations enforces SSO), which a harness cannot pass"
	case props.Recaptcha.Enabled:
		return "bot protection is on for the admin portal's sign-in (Account Settings > Integrate > Bot Protection): it asks for a reCAPTCHA token, which a harness cannot get"
	}
	return ""
}

// devSignInUnavailable finds the reCAPTCHA input that the developer portal's login form
// carries when bot protection is on (porta@3scale-2.16.4-GA:
// lib/developer_portal/lib/liquid/forms/bot_protected.rb, recaptcha_v3's
// g-recaptcha-response-data input); DeveloperPortal::LoginController#create then refuses a
// sign-in whose token does not verify.
func devSignInUnavailable(page []byte) string {
	if bytes.Contains(page, []byte("g-recaptcha-response")) {
		return "bot protection is on for the developer portal's sign-in (Audience > Developer Portal > Settings > Bot Protection): it asks for a reCAPTCHA token, which a harness cannot get"
	}
	return ""
}

// NewPortal returns a portal client for the admin endpoint e. It uses hc's transport and
// timeout but never follows a redirect: the sign-in's 302 carries the session cookie.
func NewPortal(e target.Endpoint, user, password string, hc *http.Client) *Portal {
	if hc == nil {
		hc = probe.NewHTTPClient(probe.HTTPClientOptions{})
	}
	c := *hc
	c.Jar = nil
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &Portal{hc: &c, base: strings.TrimSuffix(e.URL, "/"), host: e.Host, user: user, password: password, paths: adminPortalPaths,
		timeout: probe.DefaultTimeout}
}

// NewDevPortal returns a client of the developer portal at e, signed in as a buyer user. The
// portal's default login template is a server-side form whose authenticity_token is a hidden
// input (lib/developer_portal/app/views/developer_portal/login/new.html.liquid,
// lib/developer_portal/lib/liquid/forms/base.rb metadata); it posts username and password to
// /session, which answers as the admin portal's sign-in does: 302 and the user_session cookie.
// accessCode, when not empty, goes with every request as the access_code cookie that opens
// the portal (lib/developer_portal/lib/access_code_protection.rb).
func NewDevPortal(e target.Endpoint, user, password, accessCode string, hc *http.Client) *Portal {
	p := NewPortal(e, user, password, hc)
	p.paths = devPortalPaths
	if accessCode != "" {
		p.cookies = "access_code=" + url.QueryEscape(accessCode)
	}
	return p
}

// SiteAccessCode is the provider's developer portal access code, GET /admin/api/provider.json
// account.site_access_code ("" when none; porta@3scale-2.16.4-GA:
// app/representers/account_representer.rb).
func SiteAccessCode(ctx context.Context, a *Admin) (string, error) {
	var p struct {
		Account struct {
			SiteAccessCode string `json:"site_access_code"`
		} `json:"account"`
	}
	err := a.JSON(ctx, http.MethodGet, "/admin/api/provider.json", nil, &p)
	return p.Account.SiteAccessCode, err
}

// csrfMetaTag is Rails' csrf_meta_tags token, attributes in either order.
var csrfMetaTag = regexp.MustCompile(`<meta\s[^>]*?(?:name="csrf-token"[^>]*?content="([^"]+)"|content="([^"]+)"[^>]*?name="csrf-token")`)

// csrfFormInput is a form's hidden authenticity_token input, attributes in any order.
var csrfFormInput = regexp.MustCompile(`<input\s[^>]*?(?:name="authenticity_token"[^>]*?value="([^"]+)"|value="([^"]+)"[^>]*?name="authenticity_token")`)

// CSRFToken is the page's csrf_meta_tags token, HTML entities decoded (Rails escapes + / = as
// is, but a proxy or a newer Rails may not): the admin portal's only token source.
func CSRFToken(page []byte) (string, bool) { return tokenFrom(csrfMetaTag, page) }

// FormCSRFToken is a form's authenticity_token input, entities decoded: the developer portal
// login form's token source.
func FormCSRFToken(page []byte) (string, bool) { return tokenFrom(csrfFormInput, page) }

func tokenFrom(re *regexp.Regexp, page []byte) (string, bool) {
	m := re.FindSubmatch(page)
	if m == nil {
		return "", false
	}
	return html.UnescapeString(string(m[1]) + string(m[2])), true
}

// ErrLoginRefused is a sign-in the portal did not accept (wrong credentials, CSRF).
var ErrLoginRefused = errors.New("the portal refused the sign-in")

// Page GETs path (with query) as the signed-in admin. It returns the status and body when the
// status is one of want (any 2xx when want is empty), else an *APIError.
func (p *Portal) Page(ctx context.Context, path string, query url.Values, want ...int) (int, []byte, error) {
	for attempt := 0; ; attempt++ {
		session, err := p.signIn(ctx, attempt > 0)
		if err != nil {
			return 0, nil, err
		}
		target := path
		if len(query) > 0 {
			target += "?" + query.Encode()
		}
		resp, body, err := p.send(ctx, http.MethodGet, target, nil, session)
		if err != nil {
			return 0, nil, err
		}
		if resp.StatusCode == http.StatusFound && isLoginRedirect(resp.Header.Get("Location"), p.paths.login) && attempt == 0 {
			continue // the session is gone: sign in again, once
		}
		ok := len(want) == 0 && resp.StatusCode/100 == 2
		for _, w := range want {
			ok = ok || resp.StatusCode == w
		}
		if !ok {
			return resp.StatusCode, body, &APIError{Method: http.MethodGet, Path: path, Status: resp.StatusCode, Body: Snippet(body)}
		}
		return resp.StatusCode, body, nil
	}
}

// signIn returns the session cookie, signing in when there is none or renew is set.
func (p *Portal) signIn(ctx context.Context, renew bool) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.session != "" && !renew {
		return p.session, nil
	}
	p.session = ""
	resp, page, err := p.send(ctx, http.MethodGet, p.paths.login, nil, "")
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", &APIError{Method: http.MethodGet, Path: p.paths.login, Status: resp.StatusCode, Body: Snippet(page)}
	}
	if why := p.paths.unavailable(page); why != "" {
		return "", fmt.Errorf("GET %s: %w: %s", p.paths.login, ErrSignInUnavailable, why)
	}
	rails := cookie(resp, "_system_session")
	token, ok := p.paths.token(page)
	if !ok {
		return "", fmt.Errorf("GET %s: no %s on the sign-in page: %s", p.paths.login, p.paths.source, Snippet(page))
	}
	form := url.Values{"username": {p.user}, "password": {p.password}, "authenticity_token": {token}}
	resp, body, err := p.send(ctx, http.MethodPost, p.paths.sessions, form, rails)
	if err != nil {
		return "", err
	}
	session := cookie(resp, "user_session")
	if resp.StatusCode != http.StatusFound || session == "" {
		return "", fmt.Errorf("POST %s: %w: status %d: %s", p.paths.sessions, ErrLoginRefused, resp.StatusCode, Snippet(body))
	}
	// The Rails session travels with the login, as a browser's would: the one the sign-in
	// answered with, else the login form's.
	if c := cookie(resp, "_system_session"); c != "" {
		rails = c
	}
	if rails != "" {
		session += "; " + rails
	}
	p.session = session
	return session, nil
}

func (p *Portal) send(ctx context.Context, method, path string, form url.Values, cookies string) (*http.Response, []byte, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, p.base+path, body)
	if err != nil {
		return nil, nil, err
	}
	if p.host != "" {
		req.Host = p.host
	}
	req.Header.Set("X-Forwarded-Proto", "https")
	req.Header.Set("Accept", "text/html")
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	switch {
	case cookies != "" && p.cookies != "":
		req.Header.Set("Cookie", cookies+"; "+p.cookies)
	case cookies != "" || p.cookies != "":
		req.Header.Set("Cookie", cookies+p.cookies)
	}
	bare, _, _ := strings.Cut(path, "?") // errors never show the query
	resp, err := p.hc.Do(req)
	if err != nil {
		return nil, nil, transportError(method, bare, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, nil, transportError(method, bare, err)
	}
	return resp, b, nil
}

// isLoginRedirect says whether a redirect's Location is the sign-in page at login (absolute or
// not, with or without a query).
func isLoginRedirect(location, login string) bool {
	if u, err := url.Parse(location); err == nil {
		return u.Path == login
	}
	return false
}

// cookie is "name=value" for the response's cookie name, or "".
func cookie(resp *http.Response, name string) string {
	for _, c := range resp.Cookies() {
		if c.Name == name && c.Value != "" {
			return c.Name + "=" + c.Value
		}
	}
	return ""
}
