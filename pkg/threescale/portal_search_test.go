package threescale

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/threescale-chaos/harness/pkg/probe"
	"github.com/threescale-chaos/harness/pkg/scenario"
	"github.com/threescale-chaos/harness/pkg/threescale/target"
)

// fakeSearchPortal is an admin portal with porta 2.16's sign-in (the token in the csrf-token
// meta tag, a 302 with user_session) and the two search pages; rules and accounts answer
// with the given status and body.
func fakeSearchPortal(t *testing.T, accounts, rules func(q string) (int, string)) *Portal {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /p/login", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, `<meta name="csrf-token" content="tok" />`)
	})
	mux.HandleFunc("POST /p/sessions", func(w http.ResponseWriter, _ *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "user_session", Value: "s"})
		w.Header().Set("Location", "/p/admin")
		w.WriteHeader(http.StatusFound)
	})
	serve := func(f func(string) (int, string)) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if !strings.Contains(r.Header.Get("Cookie"), "user_session=s") {
				w.Header().Set("Location", "/p/login")
				w.WriteHeader(http.StatusFound)
				return
			}
			code, body := f(r.URL.Query().Get("search[query]"))
			w.WriteHeader(code)
			fmt.Fprint(w, body)
		}
	}
	mux.HandleFunc("GET /buyers/accounts", serve(accounts))
	mux.HandleFunc("GET /apiconfig/services/5/proxy_rules", serve(rules))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return NewPortal(target.Endpoint{URL: srv.URL}, "admin", "pw", hc)
}

func TestPortalSearchRun(t *testing.T) {
	q := PortalSearch{Org: "chaosorg", AccountID: 77, ServiceID: 5, RuleQuery: "tok", RuleID: 41}
	accountRowPage := func(q string) (int, string) {
		return 200, `<input value="` + q + `"><tr id="account_77" role="row"><td>chaosorg</td></tr>`
	}
	ruleRowPage := func(string) (int, string) {
		return 200, `<tr role="row"><td><a class="action edit" href="/apiconfig/services/5/proxy_rules/41/edit"></a></td></tr>`
	}
	echoOnly := func(q string) (int, string) { return 200, `<input value="` + q + `"><p>No results</p>` }
	offline := func(string) (int, string) {
		return 503, `<p class="mini_info">Search is temporarily offline. Please try again in few minutes.</p>`
	}
	unhandled := func(string) (int, string) { return 500, `We're sorry, but something went wrong.` }
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	// An answer other than 200 is an *APIError with its status (the sampler classifies it);
	// a 200 without the row is a wrong-body failure.
	for _, tc := range []struct {
		name            string
		accounts, rules func(string) (int, string)
		status          int
		wrongBody       bool
	}{
		{"both rows found", accountRowPage, ruleRowPage, 0, false},
		{"searchd down: the accounts list's SearchSupport page", offline, unhandled, 503, false},
		{"searchd down, the rules page only", accountRowPage, unhandled, 500, false},
		{"the account not found: the echoed query is no row", echoOnly, ruleRowPage, 0, true},
		{"the rule not found", accountRowPage, echoOnly, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := fakeSearchPortal(t, tc.accounts, tc.rules)
			err := q.Accounts(ctx, p)
			if err == nil {
				err = q.Rules(ctx, p)
			}
			var f *probe.Failure
			isWrongBody := errors.As(err, &f) && f.Class == scenario.ErrWrongBody && f.Status == 200
			if StatusOf(err) != tc.status || isWrongBody != tc.wrongBody || (err == nil) != (tc.status == 0 && !tc.wrongBody) {
				t.Errorf("Accounts, then Rules = %v; want status %d, wrong body %v", err, tc.status, tc.wrongBody)
			}
		})
	}
}

// The developer portal's search: the buyer signs in with the login form's authenticity_token
// (a hidden input, no meta tag) and the access_code cookie on every request, searches
// /search.json, and signs in again once when the session is gone. A result list without the
// page is a wrong-body failure; another status an *APIError.
func TestDevPortalSearchPages(t *testing.T) {
	var logins, searches int
	status, results := 200, `[{"title":"chaos <span class=\"match\">tok</span>","path":"/chaos-tok","content":"x"}]`
	mux := http.NewServeMux()
	access := func(r *http.Request) bool { return strings.Contains(r.Header.Get("Cookie"), "access_code=code") }
	mux.HandleFunc("GET /login", func(w http.ResponseWriter, r *http.Request) {
		if !access(r) {
			fmt.Fprint(w, `<form action="/access_code">`)
			return
		}
		http.SetCookie(w, &http.Cookie{Name: "_system_session", Value: "rails"})
		fmt.Fprint(w, `<form action="/session" id="new_session" method="post"><input type="hidden" name="authenticity_token" value="form+tok=" />`)
	})
	mux.HandleFunc("POST /session", func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		if !access(r) || r.PostForm.Get("authenticity_token") != "form+tok=" || r.PostForm.Get("username") != "buyer" || r.PostForm.Get("password") != "pw" ||
			!strings.Contains(r.Header.Get("Cookie"), "_system_session=rails") {
			w.WriteHeader(http.StatusForbidden)
			return
		}
		logins++
		http.SetCookie(w, &http.Cookie{Name: "user_session", Value: fmt.Sprint("s", logins)})
		w.Header().Set("Location", "/")
		w.WriteHeader(http.StatusFound)
	})
	mux.HandleFunc("GET /search.json", func(w http.ResponseWriter, r *http.Request) {
		searches++
		if !access(r) || !strings.Contains(r.Header.Get("Cookie"), fmt.Sprint("user_session=s", logins)) || r.URL.Query().Get("q") != "tok" {
			w.Header().Set("Location", "https://dev.example.test/login")
			w.WriteHeader(http.StatusFound)
			return
		}
		w.WriteHeader(status)
		fmt.Fprint(w, results)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	dp := NewDevPortal(target.Endpoint{URL: srv.URL}, "buyer", "pw", "code", nil)
	q := PortalSearch{PageQuery: "tok", PagePath: "/chaos-tok"}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := q.Pages(ctx, dp); err != nil || logins != 1 {
		t.Fatalf("search: %v after %d sign-ins", err, logins)
	}
	logins++ // the server forgets the session: one redirect to /login, one new sign-in
	if err := q.Pages(ctx, dp); err != nil || logins != 3 {
		t.Fatalf("search after the session was lost: %v, %d sign-ins", err, logins)
	}
	results = `[{"title":"other","path":"/other","content":""}]`
	var f *probe.Failure
	if err := q.Pages(ctx, dp); !errors.As(err, &f) || f.Class != scenario.ErrWrongBody {
		t.Errorf("the page not listed: %v", err)
	}
	status, results = 500, `We're sorry, but something went wrong.`
	if err := q.Pages(ctx, dp); StatusOf(err) != 500 {
		t.Errorf("searchd down: %v", err)
	}
	if searches != 5 { // the lost session cost one more
		t.Errorf("%d searches sent, want 5", searches)
	}
}

// A portal whose pods are gone behind kind's port mapping can accept a connection and never
// answer. Each of a sample's requests is bounded on its own, so the sample fails after one
// request's time, not after the whole sample's budget (CI's system-app run had only two
// developer-portal-search samples, each 20s, in a 70s window).
func TestPortalRequestTimeout(t *testing.T) {
	release := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /login", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, `<form><input type="hidden" name="authenticity_token" value="tok"></form>`)
	})
	mux.HandleFunc("POST /session", func(w http.ResponseWriter, _ *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "user_session", Value: "s"})
		w.Header().Set("Location", "/")
		w.WriteHeader(http.StatusFound)
	})
	mux.HandleFunc("GET /search.json", func(_ http.ResponseWriter, r *http.Request) {
		select { // hangs until the client gives up or the test ends
		case <-r.Context().Done():
		case <-release:
		}
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	dp := NewDevPortal(target.Endpoint{URL: srv.URL}, "buyer", "pw", "", nil)
	if dp.timeout != probe.DefaultTimeout {
		t.Fatalf("request bound %s, want probe.DefaultTimeout", dp.timeout)
	}
	dp.timeout = 100 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := PortalSearch{PageQuery: "tok", PagePath: "/chaos-tok"}.Pages(ctx, dp)
	if ctx.Err() != nil {
		t.Fatalf("the hanging search outlived the caller's whole budget: %v", err)
	}
	if c := probe.ClassifyError(err); c != scenario.ErrTimeout {
		t.Errorf("hanging search: class %q (%v), want %q", c, err, scenario.ErrTimeout)
	}
}
