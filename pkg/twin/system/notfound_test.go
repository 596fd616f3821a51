package system

import (
	"net/http/httptest"
	"strings"
	"testing"
)

// The format of a routing error follows the path's suffix, else an Accept header that is not
// browser-like, else HTML (ActionDispatch::PublicExceptions).
func TestRoutingErrorFormat(t *testing.T) {
	a := &app{}
	h := a.handler(roleProvider)
	for _, c := range []struct{ method, path, accept, ctype, body string }{
		{"GET", "/admin/api/active_docs.json", "", "application/json", `{"status":404,"error":"Not Found"}`},
		{"POST", "/admin/api/features.xml", "", "application/xml", `<status type="integer">404</status>`},
		{"GET", "/admin/api/settings", "application/json", "application/json", `{"status":404,"error":"Not Found"}`},
		{"GET", "/admin/api/settings", "application/json, */*", "text/html", `<title>Not Found</title>`},
		{"GET", "/nowhere", "", "text/html", `<title>Not Found</title>`},
	} {
		req := httptest.NewRequest(c.method, "http://127.0.0.1"+c.path, nil)
		if c.accept != "" {
			req.Header.Set("Accept", c.accept)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 404 || !strings.HasPrefix(rec.Header().Get("Content-Type"), c.ctype) || !strings.Contains(rec.Body.String(), c.body) {
			t.Errorf("%s %s (Accept %q): %d %s %q, want 404 %s with %q", c.method, c.path, c.accept, rec.Code, rec.Header().Get("Content-Type"), rec.Body.String(), c.ctype, c.body)
		}
	}
}
