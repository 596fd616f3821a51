package apicast

// Stand-ins for system-app and backend-listener.
//
// The real twins of both are being written alongside this package, so these tests talk to
// small httptest servers that speak the same wire formats instead: system's proxy-configs
// endpoint (research/porta-zync.md §6, research/apicast-apisonator.md §2.2) and
// backend-listener's authrep (research/apicast-apisonator.md §4.2). They are deliberately
// minimal and are to be replaced by the real chain when the conformance suite runs it. The
// upstream is real: package echo's handler.

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// fakeSystem serves GET /master/api/proxy/configs/<env>.json[?host=] with the master token as
// Basic userinfo, and the path-less variant GET /admin/api/account/proxy_configs/<env>.json.
type fakeSystem struct {
	srv   *httptest.Server
	token string

	mu       sync.Mutex
	services []map[string]any // proxy config contents, served for every environment
	hosts    []string         // host query parameters seen, in order
	arrived  []time.Time      // when each proxy-configs request arrived
	hits     atomic.Int64
	delay    atomic.Int64 // nanoseconds to wait before answering, as a slow system-app
}

func newFakeSystem(token string, services ...map[string]any) *fakeSystem {
	fs := &fakeSystem{token: token, services: services}
	fs.srv = httptest.NewServer(http.HandlerFunc(fs.serve))
	return fs
}

// endpoint is THREESCALE_PORTAL_ENDPOINT as the operator builds it.
func (fs *fakeSystem) endpoint() string {
	return "http://" + fs.token + "@" + strings.TrimPrefix(fs.srv.URL, "http://") + "/master/api/proxy/configs"
}

func (fs *fakeSystem) setServices(services ...map[string]any) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.services = services
}

func (fs *fakeSystem) seenHosts() []string {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return append([]string(nil), fs.hosts...)
}

func (fs *fakeSystem) arrivals() []time.Time {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return append([]time.Time(nil), fs.arrived...)
}

func (fs *fakeSystem) serve(w http.ResponseWriter, r *http.Request) {
	fs.hits.Add(1)
	fs.mu.Lock()
	fs.arrived = append(fs.arrived, time.Now())
	fs.mu.Unlock()
	if d := time.Duration(fs.delay.Load()); d > 0 {
		time.Sleep(d)
	}
	user, pass, _ := r.BasicAuth()
	if user != fs.token && pass != fs.token {
		// porta's authenticate! answers 401 (porta-zync.md §6).
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, `{"status":"unauthorized"}`)
		return
	}
	var env string
	switch {
	case strings.HasPrefix(r.URL.Path, "/master/api/proxy/configs/"):
		env = strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/master/api/proxy/configs/"), ".json")
	case strings.HasPrefix(r.URL.Path, "/admin/api/account/proxy_configs/"):
		env = strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/admin/api/account/proxy_configs/"), ".json")
	default:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, `{"status":"Not found"}`)
		return
	}
	if env != "production" && env != "staging" && env != "sandbox" {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, `{"error":"invalid environment"}`)
		return
	}
	host := r.URL.Query().Get("host")
	fs.mu.Lock()
	fs.hosts = append(fs.hosts, host)
	var configs []map[string]any
	for i, content := range fs.services {
		if host != "" && !serviceHasHost(content, host) {
			continue
		}
		configs = append(configs, map[string]any{"proxy_config": map[string]any{
			"id": 100 + i, "version": 1, "environment": env, "content": content,
		}})
	}
	fs.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"proxy_configs": configs})
}

func serviceHasHost(content map[string]any, host string) bool {
	proxy, _ := content["proxy"].(map[string]any)
	hosts, _ := proxy["hosts"].([]string)
	for _, h := range hosts {
		if h == host {
			return true
		}
	}
	return false
}

// fakeApp is an application of the fake backend, found by user_key.
type fakeApp struct {
	limit    int64 // max hits per period; 0 means no limit
	disabled bool  // a limit of 0: every request is over it
	used     int64
}

// fakeBackend answers GET /transactions/authrep.xml with apisonator's status codes and headers:
// 200 authorized, 409 denied with 3scale-rejection-reason and limit headers when asked for them
// by 3scale-options, 403 with an XML error for an unknown user_key or a wrong service token,
// and, while failing is set, 500 "Internal Server Error\n" as the listener answers when its
// Redis is gone (research/apicast-apisonator.md §4.2). Unlike apisonator it counts usage at
// once instead of through a report job and the worker; the gateway cannot tell.
type fakeBackend struct {
	srv       *httptest.Server
	serviceID string
	token     string

	mu      sync.Mutex
	apps    map[string]*fakeApp
	queries []string

	failing  atomic.Bool
	authreps atomic.Int64
}

func newFakeBackend(serviceID, token string, apps map[string]*fakeApp) *fakeBackend {
	fb := &fakeBackend{serviceID: serviceID, token: token, apps: apps}
	fb.srv = httptest.NewServer(http.HandlerFunc(fb.serve))
	return fb
}

func (fb *fakeBackend) lastQuery() string {
	fb.mu.Lock()
	defer fb.mu.Unlock()
	if len(fb.queries) == 0 {
		return ""
	}
	return fb.queries[len(fb.queries)-1]
}

func xmlError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/vnd.3scale-v2.0+xml")
	w.WriteHeader(status)
	_, _ = fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><error code="%s">%s</error>`, code, msg)
}

func (fb *fakeBackend) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/transactions/authrep.xml" || r.Method != http.MethodGet {
		w.Header().Set("Content-Type", "application/vnd.3scale-v2.0+xml")
		w.WriteHeader(http.StatusNotFound)
		return
	}
	fb.authreps.Add(1)
	fb.mu.Lock()
	fb.queries = append(fb.queries, r.URL.RawQuery)
	fb.mu.Unlock()
	if fb.failing.Load() {
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = io.WriteString(w, "Internal Server Error\n")
		return
	}
	q := r.URL.Query()
	if q.Get("service_id") != fb.serviceID || q.Get("service_token") != fb.token {
		xmlError(w, http.StatusForbidden, "service_token_invalid", fmt.Sprintf("service token %q is invalid", q.Get("service_token")))
		return
	}
	key := q.Get("user_key")
	hits, _ := strconv.ParseInt(q.Get("usage[hits]"), 10, 64)
	opts := r.Header.Get("3scale-options")

	fb.mu.Lock()
	defer fb.mu.Unlock()
	app, ok := fb.apps[key]
	if !ok {
		xmlError(w, http.StatusForbidden, "user_key_invalid", fmt.Sprintf("user key %q is invalid", key))
		return
	}
	limitHeaders := func(remaining int64) {
		if !strings.Contains(opts, "limit_headers=1") {
			return
		}
		max := app.limit
		if app.disabled {
			max = 0
		}
		w.Header().Set("3scale-limit-remaining", strconv.FormatInt(remaining, 10))
		w.Header().Set("3scale-limit-reset", "42")
		w.Header().Set("3scale-limit-max-value", strconv.FormatInt(max, 10))
	}
	if app.disabled || app.limit > 0 && app.used+hits > app.limit {
		if strings.Contains(opts, "rejection_reason_header=1") {
			w.Header().Set("3scale-rejection-reason", "limits_exceeded")
		}
		limitHeaders(0)
		w.Header().Set("Content-Type", "application/vnd.3scale-v2.0+xml")
		w.WriteHeader(http.StatusConflict)
		if !strings.Contains(opts, "no_body=1") {
			_, _ = io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><status><authorized>false</authorized><reason>usage limits are exceeded</reason><plan>Basic</plan></status>`)
		}
		return
	}
	app.used += hits
	if app.limit > 0 {
		limitHeaders(app.limit - app.used)
	} else {
		// No limit: apisonator reports -1 for both (§4.2).
		if strings.Contains(opts, "limit_headers=1") {
			w.Header().Set("3scale-limit-remaining", "-1")
			w.Header().Set("3scale-limit-reset", "-1")
		}
	}
	w.Header().Set("Content-Type", "application/vnd.3scale-v2.0+xml")
	w.WriteHeader(http.StatusOK)
	if !strings.Contains(opts, "no_body=1") {
		_, _ = io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><status><authorized>true</authorized><plan>Basic</plan></status>`)
	}
}

// serviceContent is one service's APIcast configuration as system renders it into a proxy
// config's content.
type serviceSpec struct {
	id          int
	host        string
	upstream    string
	backend     string
	token       string
	rules       []map[string]any
	cachingType *string // nil: no caching policy in the chain
	credsIn     string  // credentials_location; empty means the default (query)
}

func (s serviceSpec) content() map[string]any {
	chain := []map[string]any{}
	if s.cachingType != nil {
		chain = append(chain, map[string]any{
			"name": "caching", "version": "builtin",
			"configuration": map[string]any{"caching_type": *s.cachingType},
		})
	}
	chain = append(chain, map[string]any{"name": "apicast", "version": "builtin", "configuration": map[string]any{}})
	proxy := map[string]any{
		"api_backend":      s.upstream,
		"hosts":            []string{s.host},
		"endpoint":         "http://" + s.host + ":80",
		"sandbox_endpoint": "http://" + s.host + ":80",
		"auth_user_key":    "user_key",
		"proxy_rules":      s.rules,
		"policy_chain":     chain,
		"backend":          map[string]any{"endpoint": s.backend, "host": "backend-listener"},
	}
	if s.credsIn != "" {
		proxy["credentials_location"] = s.credsIn
	}
	return map[string]any{
		"id":                           s.id,
		"backend_version":              "1",
		"backend_authentication_type":  "service_token",
		"backend_authentication_value": s.token,
		"proxy":                        proxy,
	}
}

func rule(method, pattern, metric string, delta int) map[string]any {
	return map[string]any{"http_method": method, "pattern": pattern, "metric_system_name": metric, "delta": delta, "last": false}
}
