package threescale

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/threescale-chaos/harness/pkg/threescale/target"
	"github.com/threescale-chaos/harness/pkg/timing"
)

// RequestURL is how a sample made without the client (a probe.HTTPCheck) carries the token:
// the caller's query, plus access_token, on the API's base URL; the caller's query is left
// as it was.
func TestAdminRequestURL(t *testing.T) {
	a := NewAdmin(target.Endpoint{URL: "http://127.0.0.1:3/", Host: "3scale-admin.example.test"}, "tok", nil)
	q := url.Values{"account_query": {"org 1"}}
	got := a.RequestURL("/admin/api/applications.json", q)
	if want := "http://127.0.0.1:3/admin/api/applications.json?access_token=tok&account_query=org+1"; got != want {
		t.Errorf("RequestURL = %s, want %s", got, want)
	}
	if len(q) != 1 {
		t.Errorf("the caller's query was changed: %v", q)
	}
}

// Each admin request is bounded on its own (admin-request), not only by its caller's
// context: one request that system-app never answers must not spend the whole of
// provisioning's or cleanup's budget, which the other requests need.
func TestAdminRequestTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	a := NewAdmin(target.Endpoint{URL: srv.URL}, "tok", nil)
	if want := (timing.Timeouts{}).Get(timing.AdminRequest); a.timeout != want {
		t.Errorf("a new client's request timeout is %s, want admin-request's default", a.timeout)
	}
	a.SetRequestTimeout(100 * time.Millisecond)
	// The caller's budget, as cleanup's: far longer than the request's own bound.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, _, err := a.Do(ctx, http.MethodDelete, "/admin/api/services/1.json", nil)
	var te *TransportError
	if !errors.As(err, &te) {
		t.Fatalf("Do = %v, want a TransportError", err)
	}
	if ctx.Err() != nil {
		t.Errorf("Do returned only when the caller's whole budget was spent: %v", err)
	}
	if strings.Contains(err.Error(), "tok") {
		t.Errorf("the error carries the token: %v", err)
	}
}
