package threescale

import (
	"net/http"
	"net/url"
	"strings"
)

// Gateway is one APIcast proxy endpoint (apicast-production or apicast-staging). APIcast
// finds the product by the request's Host (research/apicast-apisonator.md §1.1), so every
// request names the product's host; the URL is where the gateway is reached (a Service
// address, a port-forward, a route).
type Gateway struct {
	// Name is "production" or "staging", for errors and reports.
	Name string
	// URL is the gateway's base URL.
	URL string
	// Client performs requests; it never reuses connections or follows redirects.
	Client *http.Client
}

// RequestURL is the URL of path with the user_key credential in the query (APIcast's
// default credentials location, §1.1). It carries a secret: never log it.
func (g *Gateway) RequestURL(path, userKey string) string {
	q := url.Values{}
	if userKey != "" {
		q.Set("user_key", userKey)
	}
	return strings.TrimSuffix(g.URL, "/") + path + "?" + q.Encode()
}
