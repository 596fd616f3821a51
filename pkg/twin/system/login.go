package system

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// The admin portal's sign-in, as porta 3scale-2.16.4-GA serves it. Two cookies are involved:
//
//   - _system_session is Rails' cookie-store session (porta@3scale-2.16.4-GA:
//     config/initializers/session_store.rb, key '_system_session', secure with force_ssl). It
//     holds the CSRF secret (_csrf_token), the location a visitor was bounced from
//     (return_to, AuthenticatedSystem#store_location) and nothing else the twin needs. The
//     twin signs it with a per-process key instead of encrypting it; a client treats it as
//     opaque either way.
//   - user_session is the signed cookie create_user_session! sets after a good sign-in
//     (porta@3scale-2.16.4-GA:app/lib/authenticated_system.rb create_user_session!), naming a
//     row of user_sessions.
//
// Every portal page (FrontendController, login_required) takes user_session; an access token
// is never looked at.
const (
	railsSessionCookie = "_system_session"
	userSessionCookie  = "user_session"
)

// railsSession is the content of the _system_session cookie.
type railsSession struct {
	SessionID string `json:"session_id"`
	// CSRF is the session's CSRF secret, 32 random bytes in base64, as Rails stores
	// session[:_csrf_token] (actionpack 7.0 RequestForgeryProtection#real_csrf_token).
	CSRF string `json:"_csrf_token,omitempty"`
	// ReturnTo is session[:return_to]: where a visitor bounced to /p/login came from.
	ReturnTo string `json:"return_to,omitempty"`
}

// sign and verify protect the cookies the twin issues (Rails signs or encrypts them with
// secret_key_base).
func (a *app) sign(payload []byte) string {
	m := hmac.New(sha256.New, a.sessionKey)
	m.Write(payload)
	return base64.RawURLEncoding.EncodeToString(payload) + "--" + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (a *app) verify(value string) ([]byte, bool) {
	data, mac, ok := strings.Cut(value, "--")
	if !ok {
		return nil, false
	}
	payload, err := base64.RawURLEncoding.DecodeString(data)
	if err != nil {
		return nil, false
	}
	got, err := base64.RawURLEncoding.DecodeString(mac)
	if err != nil {
		return nil, false
	}
	m := hmac.New(sha256.New, a.sessionKey)
	m.Write(payload)
	return payload, hmac.Equal(got, m.Sum(nil))
}

// readSession is the request's Rails session; a missing or forged cookie is a new, empty one
// (as Rails discards a cookie it cannot decrypt).
func (a *app) readSession(r *http.Request) *railsSession {
	if ck, err := r.Cookie(railsSessionCookie); err == nil {
		if payload, ok := a.verify(ck.Value); ok {
			var s railsSession
			if json.Unmarshal(payload, &s) == nil && s.SessionID != "" {
				return &s
			}
		}
	}
	return &railsSession{SessionID: randomHex(16)}
}

// writeSession sets the _system_session cookie with Rails 7.0's defaults for porta: path /,
// HttpOnly, Secure (force_ssl in production) and SameSite=Lax (load_defaults 7.0).
func (a *app) writeSession(w http.ResponseWriter, s *railsSession) {
	b, _ := json.Marshal(s)
	http.SetCookie(w, &http.Cookie{Name: railsSessionCookie, Value: a.sign(b), Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode})
}

// csrfSecret returns the session's CSRF secret, creating it when absent (Rails creates it on
// the first form_authenticity_token call); changed reports a new secret, so the cookie must be
// written.
func csrfSecret(s *railsSession) (secret []byte, changed bool) {
	if b, err := base64.StdEncoding.DecodeString(s.CSRF); err == nil && len(b) == 32 {
		return b, false
	}
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	s.CSRF = base64.StdEncoding.EncodeToString(b)
	return b, true
}

// maskedCSRFToken is what csrf_meta_tags puts in <meta name="csrf-token">: a one-time pad
// followed by the secret XOR the pad, URL-safe base64 without padding (actionpack 7.0
// RequestForgeryProtection#masked_authenticity_token and encode_csrf_token, urlsafe with
// load_defaults 6.1+; porta@3scale-2.16.4-GA:config/application.rb load_defaults 7.0). Each
// page view gets a different value, all valid for the session.
func maskedCSRFToken(secret []byte) string {
	pad := make([]byte, len(secret))
	_, _ = rand.Read(pad)
	out := make([]byte, 0, 2*len(secret))
	out = append(out, pad...)
	for i := range secret {
		out = append(out, secret[i]^pad[i])
	}
	return base64.RawURLEncoding.EncodeToString(out)
}

// validCSRFToken is Rails' valid_authenticity_token?: a 64-byte masked token is unmasked, a
// 32-byte token is compared as is; anything else is invalid.
func validCSRFToken(secret []byte, given string) bool {
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(given, "="))
	if err != nil {
		if raw, err = base64.StdEncoding.DecodeString(given); err != nil {
			return false
		}
	}
	switch len(raw) {
	case len(secret):
		return subtle.ConstantTimeCompare(raw, secret) == 1
	case 2 * len(secret):
		pad, enc := raw[:len(secret)], raw[len(secret):]
		plain := make([]byte, len(secret))
		for i := range plain {
			plain[i] = enc[i] ^ pad[i]
		}
		return subtle.ConstantTimeCompare(plain, secret) == 1
	}
	return false
}

// baseURL is request.protocol + request.host_with_port: what Rails prefixes a path with when it
// redirects (redirect_to "/p/login" answers an absolute Location).
func baseURL(r *http.Request) string {
	scheme := "http"
	if strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") || r.TLS != nil {
		scheme = "https"
	}
	host := r.Host
	if fh := r.Header.Get("X-Forwarded-Host"); fh != "" {
		host, _, _ = strings.Cut(fh, ",")
		host = strings.TrimSpace(host)
	}
	return scheme + "://" + host
}

func redirectTo(w http.ResponseWriter, r *http.Request, path string) {
	w.Header().Set("Location", baseURL(r)+path)
	w.WriteHeader(http.StatusFound)
}

// userSessionKey is the user_sessions key a valid user_session cookie names.
func (a *app) userSessionKey(r *http.Request) (string, bool) {
	ck, err := r.Cookie(userSessionCookie)
	if err != nil || ck.Value == "" {
		return "", false
	}
	key, ok := a.verify(ck.Value)
	return string(key), ok && len(key) > 0
}

// portalUser resolves the admin portal viewer from the user_session cookie: the tenant the
// host names, and whether the session belongs to one of its users
// (porta@3scale-2.16.4-GA:app/lib/authenticated_system.rb login_from_user_session).
func (a *app) portalUser(r *http.Request) (*account, bool, error) {
	ctx := r.Context()
	tenant, err := a.tenantFor(ctx, roleProvider, requestHost(r))
	if err != nil || tenant == nil {
		return nil, false, err
	}
	key, ok := a.userSessionKey(r)
	if !ok {
		return tenant, false, nil
	}
	var acc int64
	err = a.db.QueryRowContext(ctx, `SELECT u.account_id FROM user_sessions s JOIN users u ON u.id=s.user_id WHERE s.session_key=?`, key).Scan(&acc)
	if errors.Is(err, sql.ErrNoRows) {
		return tenant, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return tenant, acc == tenant.ID, nil
}

type portalHandler func(w http.ResponseWriter, r *http.Request, tenant *account) error

// portal wraps a FrontendController page: without a signed-in user the visitor is sent to
// /p/login with the page stored as the session's return_to, so the sign-in lands back on it
// (porta@3scale-2.16.4-GA:app/lib/authenticated_system.rb login_required → request_login →
// store_location, redirect_to_login_for_providers).
func (a *app) portal(h portalHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tenant, okUser, err := a.portalUser(r)
		switch {
		case err != nil:
			a.fail(w, r, "", err)
			return
		case tenant == nil:
			writeBody(w, "json", http.StatusForbidden, errAccessDenied.body)
			return
		case !okUser:
			s := a.readSession(r)
			s.ReturnTo = r.URL.RequestURI()
			a.writeSession(w, s)
			redirectTo(w, r, "/p/login")
			return
		}
		if err := h(w, r, tenant); err != nil {
			a.fail(w, r, "", err)
		}
	}
}

// loginProps is the data-login-props JSON of porta@3scale-2.16.4-GA:
// app/views/provider/sessions/new.html.slim, in its key order. 3scale-2.15.1-GA has the same
// keys except recaptcha.
type loginProps struct {
	RedirectURL                      string         `json:"redirectUrl"`
	AuthenticationProviders          []any          `json:"authenticationProviders"`
	FlashMessages                    []flashMessage `json:"flashMessages"`
	Show3scaleLoginForm              bool           `json:"show3scaleLoginForm"`
	ProviderRequestPasswordResetPath string         `json:"providerRequestPasswordResetPath"`
	ProviderSessionsPath             string         `json:"providerSessionsPath"`
	ProviderLoginPath                string         `json:"providerLoginPath"`
	ProviderAdminDashboardPath       string         `json:"providerAdminDashboardPath"`
	DisablePasswordReset             bool           `json:"disablePasswordReset"`
	Recaptcha                        struct {
		Enabled bool   `json:"enabled"`
		SiteKey string `json:"siteKey"`
		Action  string `json:"action"`
	} `json:"recaptcha"`
	Session struct {
		Username *string `json:"username"`
	} `json:"session"`
}

type flashMessage struct {
	Type    string `json:"type"`
	Message string `json:"message"`
}

// attrEscape is Slim's attribute escaping under Rails (ERB::Util.html_escape): & < > " '.
var attrEscape = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&#39;")

// renderLogin writes the sign-in page as porta renders it server-side: the
// layouts/provider/login layout (csrf_meta_tag, then the JS packs) around
// provider/sessions/new, which is only the React mount point div#pf-login-page-container with
// its props (porta@3scale-2.16.4-GA:app/views/layouts/provider/login.html.slim,
// app/views/provider/sessions/new.html.slim). The form itself is drawn in the browser
// (app/javascript/src/Login/components/LoginForm.tsx), so the HTML has no <form> and no
// authenticity_token input: a client takes the token from <meta name="csrf-token">.
func (a *app) renderLogin(w http.ResponseWriter, r *http.Request, tenant *account, s *railsSession, flash []flashMessage, username *string) {
	secret, changed := csrfSecret(s)
	if changed || s.SessionID == "" {
		a.writeSession(w, s)
	}
	p := loginProps{
		RedirectURL:                      "null", // the view writes the string "null" when there is no return_to
		AuthenticationProviders:          []any{},
		FlashMessages:                    flash,
		Show3scaleLoginForm:              true,
		ProviderRequestPasswordResetPath: "/p/password/reset",
		ProviderSessionsPath:             "/p/sessions",
		ProviderLoginPath:                "/p/login",
		ProviderAdminDashboardPath:       "/p/admin/dashboard",
		DisablePasswordReset:             tenant.Kind == "master",
	}
	if p.FlashMessages == nil {
		p.FlashMessages = []flashMessage{}
	}
	if s.ReturnTo != "" {
		p.RedirectURL = baseURL(r) + s.ReturnTo
	}
	p.Recaptcha.SiteKey = a.cfg.RecaptchaPublicKey
	p.Recaptcha.Action = "provider/sessions"
	p.Session.Username = username
	props, _ := json.Marshal(p)
	var b bytes.Buffer
	b.WriteString("<!DOCTYPE html>\n<html class=\"pf-m-redhat-font\" lang=\"en\"><head><meta content=\"text/html; charset=utf-8\" http-equiv=\"Content-Type\" /><title>3scale Login</title>")
	b.WriteString("<meta name=\"csrf-param\" content=\"authenticity_token\" />\n")
	fmt.Fprintf(&b, "<meta name=\"csrf-token\" content=\"%s\" />", maskedCSRFToken(secret))
	b.WriteString(`<link rel="stylesheet" href="/packs/patternfly_base.css" /><script src="/packs/login.js"></script><script src="/packs/login_page.js"></script></head>`)
	fmt.Fprintf(&b, "<body class=\"login-layout\"><div data-login-props=\"%s\" id=\"pf-login-page-container\"></div></body></html>", attrEscape.Replace(string(props)))
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b.Bytes())
}

// loginPage is GET /p/login (Provider::SessionsController#new): a signed-in user is sent to the
// dashboard (redirect_if_logged_in), anyone else gets the sign-in page.
func (a *app) loginPage(w http.ResponseWriter, r *http.Request) {
	tenant, okUser, err := a.portalUser(r)
	if err != nil {
		a.fail(w, r, "", err)
		return
	}
	if tenant == nil {
		writeBody(w, "json", http.StatusForbidden, errAccessDenied.body)
		return
	}
	if okUser {
		redirectTo(w, r, "/p/admin/dashboard")
		return
	}
	a.renderLogin(w, r, tenant, a.readSession(r), nil, nil)
}

// accessDeniedPage is porta's errors/provider/forbidden template in the error layout, what
// ErrorHandling#handle_error renders with 403 for an HTML request on an admin domain.
const accessDeniedPage = `<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <title>Access Denied</title>
  </head>
  <body>
    <div id="wrapper">
      <div id="content">
        <h1>Access Denied</h1>
<p>You may not access this page.</p>
      </div>
    </div>
  </body>
</html>
`

// login is POST /p/sessions (Provider::SessionsController#create).
//
// Forgery protection first: porta's ApplicationController uses
// protect_from_forgery with: ExceptionAndResetStrategy and skips it only for API controllers
// (porta@3scale-2.16.4-GA:app/controllers/application_controller.rb:15-18). A missing or wrong
// authenticity_token (param, or the X-CSRF-Token header) resets the session, destroying any
// user_session (app/lib/action_controller/request_forgery_protection/exception_and_reset_strategy.rb,
// AuthenticatedSystem#reset_session), and raises InvalidAuthenticityToken, which
// rescue_from … handle_forgery_protection answers with 403 and the provider "Access Denied"
// page (app/controllers/concerns/error_handling.rb handle_forgery_protection → handle_error
// :forbidden → handle_provider_side). 3scale-2.15.1-GA is the same.
//
// Then the credentials (Authentication::Strategy::Internal, username or e-mail): a wrong pair
// renders the sign-in page again with 200 and the flash error "Incorrect email or password.
// Please try again." and the username in the props (render :action => :new); a good one
// creates the user session, sets the user_session cookie and redirects (302) to the stored
// return_to, else /p/admin (redirect_back_or_default provider_admin_path).
func (a *app) login(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	tenant, err := a.tenantFor(ctx, roleProvider, requestHost(r))
	if err != nil {
		a.fail(w, r, "", err)
		return
	}
	if tenant == nil {
		writeBody(w, "json", http.StatusForbidden, errAccessDenied.body)
		return
	}
	s := a.readSession(r)
	if !a.forgeryChecked(w, r, s) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write([]byte(accessDeniedPage))
		return
	}
	username := r.PostFormValue("username")
	var uid int64
	err = a.db.QueryRowContext(ctx, `SELECT id FROM users WHERE account_id=? AND (username=? OR email=?) AND password=? AND password<>'' AND state='active'`,
		tenant.ID, username, username, r.PostFormValue("password")).Scan(&uid)
	if errors.Is(err, sql.ErrNoRows) {
		a.renderLogin(w, r, tenant, s, []flashMessage{{"error", "Incorrect email or password. Please try again."}}, &username)
		return
	}
	if err != nil {
		a.fail(w, r, "", err)
		return
	}
	a.signedIn(w, r, s, uid, "/p/admin")
}

// forgeryChecked is protect_from_forgery with ExceptionAndResetStrategy on a sign-in form: a
// missing or wrong authenticity_token (the param, or the X-CSRF-Token header) resets the
// session, destroying any user_session, and the caller answers 403. It reports whether the
// token was good.
func (a *app) forgeryChecked(w http.ResponseWriter, r *http.Request, s *railsSession) bool {
	secret, fresh := csrfSecret(s)
	given := r.PostFormValue("authenticity_token")
	if given == "" {
		given = r.Header.Get("X-CSRF-Token")
	}
	if !fresh && validCSRFToken(secret, given) {
		return true
	}
	if key, ok := a.userSessionKey(r); ok {
		if _, err := a.db.ExecContext(r.Context(), `DELETE FROM user_sessions WHERE session_key=?`, key); err != nil {
			a.log.Warn("cannot revoke user session", "err", err)
		}
	}
	http.SetCookie(w, &http.Cookie{Name: userSessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true})
	a.writeSession(w, &railsSession{SessionID: randomHex(16)})
	return false
}

// signedIn is create_user_session! and redirect_back_or_default(fallback): a user_sessions row,
// the user_session cookie naming it, and a 302 to the session's return_to, else fallback.
func (a *app) signedIn(w http.ResponseWriter, r *http.Request, s *railsSession, uid int64, fallback string) {
	key := randomHex(32)
	if _, err := a.db.ExecContext(r.Context(), `INSERT INTO user_sessions (user_id, session_key, created_at) VALUES (?,?,?)`, uid, key, now()); err != nil {
		a.fail(w, r, "", err)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: userSessionCookie, Value: a.sign([]byte(key)), Path: "/", Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	target := fallback
	if s.ReturnTo != "" {
		target = s.ReturnTo
	}
	s.ReturnTo = ""
	a.writeSession(w, s)
	redirectTo(w, r, target)
}

// adminRoot is GET /p/admin (Provider::AdminController#show): a signed-in admin goes on to the
// dashboard (the onboarding wizard is not modelled).
func (a *app) adminRoot(w http.ResponseWriter, r *http.Request, _ *account) error {
	redirectTo(w, r, "/p/admin/dashboard")
	return nil
}
