package system

import (
	"net/http"
	"strings"
)

// routingError answers a request no route of the admin or master domain takes, whatever its
// method: porta has no catch-all there (the developer portal's '*path' is mounted for buyer
// domains only, porta@3scale-2.16.4-GA:config/routes.rb, lib/developer_portal/config/routes.rb),
// so Rails raises ActionController::RoutingError and production's exceptions app,
// ActionDispatch::PublicExceptions, renders {status: 404, error: "Not Found"} in the request's
// format: JSON for .json, Hash#to_xml for .xml, else public/404.html. A known path with another
// method is the same RoutingError (Rails has no 405).
func routingError(w http.ResponseWriter, r *http.Request) {
	format := requestFormat(r)
	if format == "" {
		accept := r.Header.Get("Accept")
		// Rails ignores browser-like Accept headers (a list with */*) and then renders HTML.
		if first, _, _ := strings.Cut(accept, ","); !strings.Contains(accept, "*/*") {
			switch strings.TrimSpace(strings.SplitN(first, ";", 2)[0]) {
			case "application/json":
				format = "json"
			case "application/xml", "text/xml":
				format = "xml"
			}
		}
	}
	switch format {
	case "json":
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"status":404,"error":"Not Found"}`))
	case "xml":
		w.Header().Set("Content-Type", "application/xml; charset=utf-8")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<hash>\n  <status type=\"integer\">404</status>\n  <error>Not Found</error>\n</hash>\n"))
	default:
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(page404))
	}
}

// page404 is porta's public/404.html, shortened to its title and message.
const page404 = `<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8" /><title>Not Found</title></head>
<body><div id="wrapper"><div id="content"><h1>Not Found</h1><p>Sorry. We can't find what you're looking for.</p></div></div></body>
</html>
`

// listPolicies is GET /admin/api/registry/policies: the tenant's custom APIcast policies
// (porta@3scale-2.16.4-GA:app/controllers/admin/api/registry/policies_controller.rb index,
// app/representers/policies_representer.rb). The twin cannot create one (create, update and
// delete are not modelled), so a tenant's list is always empty: {"policies":[]}. Master is no
// tenant, and the ability refuses it (config/abilities/provider_any.rb account.tenant?):
// CanCan's 403 {"status":"Forbidden"}.
func (a *app) listPolicies(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	if rc.tenant.Kind == "master" {
		return &httpError{http.StatusForbidden, map[string]string{"status": "Forbidden"}}
	}
	return ok(w, rc, map[string]any{"policies": []any{}})
}
