package samplers

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/threescale-chaos/harness/pkg/probe"
	"github.com/threescale-chaos/harness/pkg/threescale"
	"github.com/threescale-chaos/harness/pkg/threescale/fixture"
	"github.com/threescale-chaos/harness/pkg/threescale/target"
)

// The developer portal's samplers (the home page and the signed-in search) share one read of
// the provider's access code per run (Fixture.AccessCode), and each page carries it.
func TestDeveloperPortalSamplersReadTheAccessCodeOnce(t *testing.T) {
	var reads, withCookie, pages atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/admin/api/provider.json" {
			reads.Add(1)
			fmt.Fprint(w, `{"account":{"id":2,"site_access_code":"c0de"}}`)
			return
		}
		pages.Add(1)
		if c, err := r.Cookie("access_code"); err == nil && c.Value == "c0de" {
			withCookie.Add(1)
		}
		if r.URL.Path == "/" {
			fmt.Fprint(w, `<html><body>the portal</body></html>`)
			return
		}
		http.NotFound(w, r) // the sign-in: the search sample fails, after the code was read
	}))
	t.Cleanup(srv.Close)
	hc := probe.NewHTTPClient(probe.HTTPClientOptions{})
	env := &threescale.Env{HTTP: hc, Admin: threescale.NewAdmin(target.Endpoint{URL: srv.URL}, "tok", hc),
		Target: &target.Target{DeveloperPortal: target.Endpoint{URL: srv.URL}}}
	o := Options{Timeout: time.Second}.withDefaults()
	s := &samplers{env: env, f: &fixture.Fixture{Token: "t", OrgName: "chaos-t", BuyerPassword: "pw"}, o: o}

	ctx := context.Background()
	home := &devPortal{s: s}
	for range 2 {
		if err := home.sample(ctx); err != nil {
			t.Fatalf("home page sample: %v", err)
		}
	}
	if err := s.devPortalSearch(ctx); err == nil {
		t.Fatal("search sample passed against a portal that has no sign-in")
	}
	if n := reads.Load(); n != 1 {
		t.Errorf("the access code was read %d times, want once per run", n)
	}
	if p, c := pages.Load(), withCookie.Load(); p < 3 || c != p {
		t.Errorf("%d of %d portal requests carried the access code, want all of at least 3", c, p)
	}
}
