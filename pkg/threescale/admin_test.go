package threescale

import (
	"net/url"
	"testing"

	"github.com/threescale-chaos/harness/pkg/threescale/target"
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
