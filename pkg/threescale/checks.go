package threescale

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/threescale-chaos/harness/pkg/probe"
	"github.com/threescale-chaos/harness/pkg/scenario"
)

// The checks below are shared by the fixture (waiting until its product is served and its
// account searchable), the samplers and the work probes: one definition of "served
// through a gateway" and "listed by search".

// UpstreamCheck is one authorized request through a gateway. Healthy: a 2xx whose body is
// the upstream's JSON echo of the request path, so a gateway's own answer never passes
// (research/apicast-apisonator.md §1.2 lists APIcast's plain-text ones).
func UpstreamCheck(g *Gateway, host, path, userKey string, timeout time.Duration, c scenario.Capability) *probe.HTTPCheck {
	return &probe.HTTPCheck{For: c, Client: g.Client, URL: g.RequestURL(path, userKey), Host: host, Timeout: timeout,
		WantBody: func(b []byte) error { return UpstreamEcho(b, path) }}
}

// UpstreamEcho checks the body is the upstream's echo of path (the target's upstream
// answers any path with a JSON object whose "path" is the request path).
func UpstreamEcho(b []byte, path string) error {
	var echo struct {
		Path string `json:"path"`
	}
	if err := json.Unmarshal(b, &echo); err != nil {
		return fmt.Errorf("not the upstream's JSON: %s", Snippet(b))
	}
	if echo.Path != path {
		return fmt.Errorf("upstream echoed path %q, want %q", echo.Path, path)
	}
	return nil
}

// SearchCheck is GET /admin/api/applications.json?account_query=<org>: searchd answers
// (research/porta-zync.md §3.2) and lists the application appID (any application when
// appID is 0). It goes through env.HTTP, the samples' client, with the admin token.
func SearchCheck(env *Env, org string, appID int64, timeout time.Duration, c scenario.Capability) *probe.HTTPCheck {
	a := env.Admin
	h := http.Header{}
	h.Set("X-Forwarded-Proto", "https")
	return &probe.HTTPCheck{For: c, Client: env.HTTP, Timeout: timeout, Host: a.host, Header: h,
		URL:        a.RequestURL("/admin/api/applications.json", url.Values{"account_query": {org}}),
		WantStatus: probe.StatusIn(http.StatusOK),
		WantBody: func(b []byte) error {
			ids, err := ApplicationIDs(b)
			if err != nil {
				return err
			}
			for _, id := range ids {
				if id == appID || appID == 0 {
					return nil
				}
			}
			return fmt.Errorf("account_query %s: %d applications, not the harness's", org, len(ids))
		}}
}

// ApplicationIDs are the ids in a GET /admin/api/applications.json answer.
func ApplicationIDs(b []byte) ([]int64, error) {
	var apps struct {
		Applications []struct {
			Application struct {
				ID int64 `json:"id"`
			} `json:"application"`
		} `json:"applications"`
	}
	if err := json.Unmarshal(b, &apps); err != nil {
		return nil, fmt.Errorf("not an applications list: %s", Snippet(b))
	}
	ids := make([]int64, 0, len(apps.Applications))
	for _, a := range apps.Applications {
		ids = append(ids, a.Application.ID)
	}
	return ids, nil
}
