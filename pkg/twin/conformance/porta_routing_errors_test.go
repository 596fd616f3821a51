package conformance

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// A path no route of the admin or master domain takes is porta 3scale-2.16.4-GA's
// ActionController::RoutingError, which production's ActionDispatch::PublicExceptions renders
// as 404 {"status":404,"error":"Not Found"} for .json, <hash><status type="integer">404</status>
// <error>Not Found</error></hash> for .xml and public/404.html otherwise; a known path with a
// method it has no route for is the same 404, not 405 (porta@3scale-2.16.4-GA:config/routes.rb
// has no catch-all on those domains; public/404.html). The M3 endpoints the twin does not
// model (active_docs, service_plans, settings, webhooks …) answer so.
func TestPortaRoutingErrors(t *testing.T) {
	cases := []struct {
		method, path, contentType, body string
	}{
		{"GET", "/admin/api/active_docs.json", "application/json", `{"status":404,"error":"Not Found"}`},
		{"GET", "/admin/api/service_plans.json", "application/json", `{"status":404,"error":"Not Found"}`},
		{"DELETE", "/admin/api/services.json", "application/json", `{"status":404,"error":"Not Found"}`},
		{"GET", "/admin/api/settings.xml", "application/xml", "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<hash>\n  <status type=\"integer\">404</status>\n  <error>Not Found</error>\n</hash>\n"},
		{"GET", "/admin/api/webhooks", "text/html", "<title>Not Found</title>"},
	}
	for _, c := range cases {
		r, err := admin(t, c.method, c.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		ct := r.header.Get("Content-Type")
		if r.status != 404 || !strings.HasPrefix(ct, c.contentType) || (c.contentType == "text/html" && !strings.Contains(r.body, c.body)) ||
			(c.contentType != "text/html" && r.body != c.body) {
			t.Errorf("%s %s: %d %s %q, want 404 %s %q", c.method, c.path, r.status, ct, r.body, c.contentType, c.body)
		}
	}
	req, _ := http.NewRequest("GET", "http://127.0.0.1:"+strconv.Itoa(values.Ports.SystemMaster)+"/master/api/unknown.json", nil)
	resp, err := httpc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body := readAll(resp)
	resp.Body.Close()
	if resp.StatusCode != 404 || body != `{"status":404,"error":"Not Found"}` {
		t.Errorf("GET /master/api/unknown.json: %d %q, want 404 {\"status\":404,\"error\":\"Not Found\"}", resp.StatusCode, body)
	}
}
