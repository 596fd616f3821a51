package zync

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// systemClient fetches entities back from system's Account Management API with a tenant's
// endpoint and access token, as zync's FetchService does (research/porta-zync.md §5.2
// "UpdateJob").
type systemClient struct {
	http *http.Client
	// override, when set, is where requests really go (zync's SYSTEM_PROVIDER_PORT case): the
	// tenant's host then travels in X-Forwarded-Host.
	override *url.URL
}

func newSystemClient(timeout time.Duration, override string) (*systemClient, error) {
	c := &systemClient{http: &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			DialContext:           (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			ResponseHeaderTimeout: timeout,
			MaxIdleConnsPerHost:   4,
			IdleConnTimeout:       30 * time.Second,
		},
	}}
	if override != "" {
		u, err := url.Parse(override)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("system provider URL %q is not an absolute URL", override)
		}
		c.override = u
	}
	return c, nil
}

// entityPath is the system path zync reads for each model type (research/porta-zync.md §5.2
// "FetchService"; paths in §2). Service has no fetch: ok is false.
func entityPath(recordType string, id, serviceID int64) (path string, query url.Values, ok bool) {
	switch recordType {
	case "Application":
		return "/admin/api/applications/find.json", url.Values{"application_id": {strconv.FormatInt(id, 10)}}, true
	case "Proxy":
		return fmt.Sprintf("/admin/api/services/%d/proxy.json", serviceID), url.Values{}, true
	case "Provider":
		return "/admin/api/provider.json", url.Values{}, true
	}
	return "", nil, false
}

// fetch GETs path from the tenant's system. A 404 means the entity is gone and returns nil
// data with no error (§5.2 "A 404 becomes nil data"); any other non-2xx is an error, so the
// job fails and que retries it.
func (c *systemClient) fetch(ctx context.Context, endpoint, token, path string, q url.Values) (json.RawMessage, error) {
	base, err := url.Parse(endpoint)
	if err != nil || base.Host == "" {
		return nil, fmt.Errorf("tenant endpoint %q is not an absolute URL", endpoint)
	}
	// The token goes as the access_token parameter, one of the forms system accepts
	// (research/porta-zync.md §1.4).
	q.Set("access_token", token)
	target := *base
	if c.override != nil {
		target = *c.override
	}
	target.Path = strings.TrimRight(target.Path, "/") + path
	target.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	if c.override != nil {
		req.Header.Set("X-Forwarded-Host", base.Host)
		req.Header.Set("X-Forwarded-Proto", base.Scheme)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, fmt.Errorf("GET %s: read body: %w", path, err)
	}
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return nil, nil
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		return nil, fmt.Errorf("GET %s: system answered %d", path, resp.StatusCode)
	}
	if !json.Valid(body) {
		return nil, fmt.Errorf("GET %s: system answered a body that is not JSON", path)
	}
	return body, nil
}
