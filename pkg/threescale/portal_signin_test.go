package threescale

import (
	"context"
	"errors"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/threescale-chaos/harness/pkg/threescale/target"
)

// adminLoginPage is porta 2.16's admin sign-in page: the csrf meta tag and the React mount
// point whose data-login-props is HTML-escaped JSON (app/views/provider/sessions/new.html.slim).
func adminLoginPage(props string) string {
	return `<meta name="csrf-token" content="tok" /><div data-login-props="` + html.EscapeString(props) + `" id="pf-login-page-container"></div>`
}

// devLoginPage is the developer portal's login form; extra goes inside it.
func devLoginPage(extra string) string {
	return `<form action="/session" method="post"><input type="hidden" name="authenticity_token" value="tok" />` + extra + `<input name="username"></form>`
}

// A portal whose password sign-in the harness cannot pass (bot protection asks for a
// reCAPTCHA token; the admin portal enforces SSO) is told from its sign-in page, before any
// password is posted, as ErrSignInUnavailable with the setting to change: provisioning stops
// at once instead of waiting out its timeout on refusals. A sign-in page without either lets
// the sign-in go on, 2.15's props (no recaptcha key) included.
func TestPortalSignInUnavailable(t *testing.T) {
	const recaptchaInput = `<input type="hidden" name="g-recaptcha-response-data[developer_portal/login]" id="g-recaptcha-response-data-developer_portal-login" data-sitekey="6Lc" class="g-recaptcha g-recaptcha-response "/>`
	for _, tc := range []struct {
		name, page string
		dev        bool
		want       string // "" when the sign-in goes on
	}{
		{"admin, bot protection", adminLoginPage(`{"show3scaleLoginForm":true,"recaptcha":{"enabled":true,"siteKey":"6Lc","action":"provider/sessions"}}`), false, "Account Settings > Integrate > Bot Protection"},
		{"admin, SSO enforced", adminLoginPage(`{"show3scaleLoginForm":false,"recaptcha":{"enabled":false,"siteKey":"","action":"provider/sessions"}}`), false, "enforces SSO"},
		{"admin, 2.16 password sign-in", adminLoginPage(`{"show3scaleLoginForm":true,"recaptcha":{"enabled":false,"siteKey":"6Lc","action":"provider/sessions"}}`), false, ""},
		{"admin, 2.15 props", adminLoginPage(`{"show3scaleLoginForm":true,"authenticationProviders":[]}`), false, ""},
		{"developer portal, bot protection", devLoginPage(recaptchaInput), true, "Audience > Developer Portal > Settings > Bot Protection"},
		{"developer portal, password sign-in", devLoginPage(""), true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var posts atomic.Int32
			login, sessions := "/p/login", "/p/sessions"
			if tc.dev {
				login, sessions = "/login", "/session"
			}
			mux := http.NewServeMux()
			mux.HandleFunc("GET "+login, func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, tc.page) })
			mux.HandleFunc("POST "+sessions, func(w http.ResponseWriter, _ *http.Request) {
				posts.Add(1)
				http.SetCookie(w, &http.Cookie{Name: "user_session", Value: "s"})
				w.Header().Set("Location", "/")
				w.WriteHeader(http.StatusFound)
			})
			mux.HandleFunc("GET /page", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "ok") })
			srv := httptest.NewServer(mux)
			t.Cleanup(srv.Close)
			e := target.Endpoint{URL: srv.URL}
			p := NewPortal(e, "admin", "pw", nil)
			if tc.dev {
				p = NewDevPortal(e, "buyer", "pw", "", nil)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, _, err := p.Page(ctx, "/page", nil)
			if tc.want == "" {
				if err != nil || posts.Load() != 1 {
					t.Fatalf("Page = %v after %d sign-ins, want the page after one", err, posts.Load())
				}
				return
			}
			if !errors.Is(err, ErrSignInUnavailable) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Page = %v, want ErrSignInUnavailable naming %q", err, tc.want)
			}
			if posts.Load() != 0 {
				t.Errorf("the password was posted %d times to a sign-in that cannot pass", posts.Load())
			}
			if strings.Contains(err.Error(), "pw") {
				t.Errorf("the error carries the password: %v", err)
			}
		})
	}
}
