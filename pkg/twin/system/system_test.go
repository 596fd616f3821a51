package system

import (
	"context"
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/threescale-chaos/harness/internal/testsupport"
	"github.com/threescale-chaos/harness/pkg/twin/system/sidekiq"
)

// TestMain silences go-redis's reconnect logging unless -v: tests stop Redis on purpose.
func TestMain(m *testing.M) {
	flag.Parse()
	testsupport.QuietRedisLogs()
	testsupport.QuietMySQLLogs()
	os.Exit(m.Run())
}

const (
	tenant      = "acme"
	superdomain = "example.test"
	adminToken  = "admin-token-123"
	masterToken = "master-token-456"
	apicastTok  = "apicast-token-789"
	internalPwd = "internal-secret"
	zyncToken   = "zync-token"
	adminHost   = tenant + "-admin." + superdomain
	devHost     = tenant + "." + superdomain
)

// testEnv is one system twin with its real datastores and the backend/zync stand-ins.
type testEnv struct {
	t                        *testing.T
	mysql, sysRedis, beRedis *testsupport.Server
	memcached, searchd       *testsupport.Server
	backend, zync            *recorder
	master, provider, dev    string // base URLs
	rdb, brdb                *redis.Client
	appCfg                   AppConfig
	sidekiqCfg               SidekiqConfig
	log                      *slog.Logger
	logged                   testsupport.SyncBuffer // e.log's warnings and errors
	stopSidekiq              context.CancelFunc
	sidekiqDone              chan error
	client                   *http.Client
	db                       *sql.DB
	zyncDown                 atomic.Bool // the zync stand-in answers 500 while set
	backendDown              atomic.Bool // the backend stand-in answers 503 while set
	// standInMu guards the backend stand-in's state: the events it hands out and the alert
	// limits per service it keeps.
	standInMu     sync.Mutex
	backendEvents []any
	alertLimits   map[string]map[string]bool
}

func newEnv(t *testing.T) *testEnv {
	e := &testEnv{t: t, client: &http.Client{Timeout: 20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	lvl := slog.LevelError
	if testing.Verbose() {
		lvl = slog.LevelInfo
	}
	// Warnings and errors are also kept, for the tests of what the twin logs.
	e.log = slog.New(slog.NewMultiHandler(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}),
		slog.NewTextHandler(&e.logged, &slog.HandlerOptions{Level: slog.LevelWarn})))
	e.mysql = startMariaDB(t)
	e.sysRedis = testsupport.StartRedis(t)
	e.beRedis = testsupport.StartRedis(t)
	e.memcached = startMemcached(t)
	e.searchd = startSearchd(t)

	// Stand-in for backend-listener's internal API (apicast-apisonator.md §4.3) until the
	// conformance suite runs pkg/twin/backend: it checks Basic auth and answers like apisonator.
	e.backendEvents = []any{map[string]any{"id": 7, "type": "alert", "timestamp": "2026-01-01 00:00:00 UTC",
		"object": map[string]any{"id": 1, "utilization": 90, "max_utilization": 91.0, "application_id": "nope", "service_id": "1",
			"limit": "hits per day: 91/100", "timestamp": "2026-01-01 00:00:00 UTC"}}}
	e.alertLimits = map[string]map[string]bool{}
	e.backend = newRecorder(t, func(r *http.Request, body []byte) (int, any) {
		if u, p, ok := r.BasicAuth(); !ok || u != "3scale_api_user" || p != internalPwd {
			return http.StatusUnauthorized, nil
		}
		if e.backendDown.Load() {
			return http.StatusServiceUnavailable, map[string]any{"error": "stand-in down"}
		}
		e.standInMu.Lock()
		defer e.standInMu.Unlock()
		if m := alertLimitPath.FindStringSubmatch(r.URL.Path); m != nil {
			return e.alertLimitStandIn(r, m[1], m[2], body)
		}
		switch {
		case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/internal/events"):
			return 200, map[string]any{"status": "found", "events": e.backendEvents}
		case r.Method == http.MethodDelete && strings.HasPrefix(r.URL.Path, "/internal/events"):
			e.backendEvents = nil
			return 200, map[string]any{"status": "deleted"}
		case r.Method == http.MethodPost:
			return 201, map[string]any{"status": "created"}
		case r.Method == http.MethodDelete:
			return 200, map[string]any{"status": "deleted"}
		}
		return 200, map[string]any{"status": "modified"}
	})
	// Stand-in for zync (porta-zync.md §5.2): token auth, PUT /tenant and /notification.
	e.zync = newRecorder(t, func(r *http.Request, _ []byte) (int, any) {
		if r.Header.Get("Authorization") != `Token token="`+zyncToken+`"` {
			return http.StatusUnauthorized, nil
		}
		if r.Method != http.MethodPut {
			return http.StatusNotFound, nil
		}
		if e.zyncDown.Load() {
			return http.StatusInternalServerError, map[string]any{"status": 500, "error": "Internal Server Error"}
		}
		return 200, map[string]any{}
	})

	ports := []int{testsupport.FreePort(t), testsupport.FreePort(t), testsupport.FreePort(t)}
	stores := Stores{
		DatabaseURL:     "mysql2://root:any@" + e.mysql.Addr() + "/system_twin",
		RedisURL:        "redis://" + e.sysRedis.Addr() + "/1",
		BackendRedisURL: "redis://" + e.beRedis.Addr() + "/0",
		MemcacheServers: []string{e.memcached.Addr()},
		SearchdAddr:     e.searchd.Addr(),
		BackendURL:      e.backend.srv.URL, BackendUser: "3scale_api_user", BackendPassword: internalPwd,
	}
	e.appCfg = AppConfig{
		Stores: stores,
		Seed: Seed{Superdomain: superdomain, MasterDomain: "master", MasterName: "Master", MasterUser: "master",
			MasterPassword: "mpass", MasterAccessToken: masterToken, ApicastAccessToken: apicastTok,
			TenantName: tenant, ProviderName: "Acme Inc", AdminUser: "admin", AdminPassword: "apass",
			AdminEmail: "admin@acme.test", AdminAccessToken: adminToken},
		MasterAddr:         fmt.Sprintf("127.0.0.1:%d", ports[0]),
		ProviderAddr:       fmt.Sprintf("127.0.0.1:%d", ports[1]),
		DeveloperAddr:      fmt.Sprintf("127.0.0.1:%d", ports[2]),
		BackendPublicURL:   "http://backend-listener:3000",
		EventsSharedSecret: "hook-secret",
		ForceSSL:           true,
		Logger:             e.log,
	}
	e.master = fmt.Sprintf("http://127.0.0.1:%d", ports[0])
	e.provider = fmt.Sprintf("http://127.0.0.1:%d", ports[1])
	e.dev = fmt.Sprintf("http://127.0.0.1:%d", ports[2])
	e.sidekiqCfg = SidekiqConfig{Stores: stores, ZyncEndpoint: e.zync.srv.URL, ZyncToken: zyncToken,
		Concurrency: 3, Heartbeat: time.Second, PollInterval: 200 * time.Millisecond,
		RetryScale: 0.01, Logger: e.log}

	ctx, cancel := context.WithCancel(context.Background())
	appDone := make(chan error, 1)
	go func() { appDone <- RunApp(ctx, e.appCfg) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-appDone:
		case <-time.After(10 * time.Second):
			t.Error("RunApp did not return")
		}
	})
	e.rdb = redis.NewClient(&redis.Options{Addr: e.sysRedis.Addr(), DB: 1, MaxRetries: -1})
	e.brdb = redis.NewClient(&redis.Options{Addr: e.beRedis.Addr(), MaxRetries: -1})
	t.Cleanup(func() { _ = e.rdb.Close(); _ = e.brdb.Close() })
	testsupport.Eventually(t, 30*time.Second, "system-app serves the admin API", testsupport.NoError(func(context.Context) error {
		code, body := e.do("GET", e.provider, adminHost, "/admin/api/services.json?access_token="+adminToken, nil)
		if code != 200 {
			return fmt.Errorf("HTTP %d %s", code, body)
		}
		return nil
	}))
	return e
}

func (e *testEnv) startSidekiq() {
	ctx, cancel := context.WithCancel(context.Background())
	e.stopSidekiq = cancel
	e.sidekiqDone = make(chan error, 1)
	go func() { e.sidekiqDone <- RunSidekiq(ctx, e.sidekiqCfg) }()
	e.t.Cleanup(func() {
		cancel()
		select {
		case <-e.sidekiqDone:
		case <-time.After(30 * time.Second):
			e.t.Error("RunSidekiq did not return")
		}
	})
}

// do sends a request with Host and X-Forwarded-Proto: https (porta-zync.md §1.3) and returns
// status and body. form, when set, is sent urlencoded.
func (e *testEnv) do(method, base, host, path string, form url.Values) (int, string) {
	e.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, base+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Host = host
	req.Header.Set("X-Forwarded-Proto", "https")
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := e.client.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// admin calls the provider's Account Management API with ADMIN_ACCESS_TOKEN.
func (e *testEnv) admin(method, path string, form url.Values) (int, string) {
	e.t.Helper()
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	return e.do(method, e.provider, adminHost, path+sep+"access_token="+adminToken, form)
}

// csrfMeta is the CSRF token porta's login layout carries: csrf_meta_tag renders
// <meta name="csrf-token" content="…" /> and the page has no form input for it
// (porta@3scale-2.16.4-GA:app/views/layouts/provider/login.html.slim).
var csrfMeta = regexp.MustCompile(`<meta name="csrf-token" content="([^"]+)" />`)

// login signs the admin in as porta's React login form does: GET /p/login for the Rails
// session (_system_session) and the CSRF token from the page's meta tag, then POST
// /p/sessions with username, password and authenticity_token. It returns the Cookie header
// value that carries the login (user_session) and the POST's status.
func (e *testEnv) login(user, password string) (string, int) {
	e.t.Helper()
	send := func(req *http.Request) (*http.Response, string) {
		req.Host = adminHost
		req.Header.Set("X-Forwarded-Proto", "https")
		resp, err := e.client.Do(req)
		if err != nil {
			e.t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	req, _ := http.NewRequest("GET", e.provider+"/p/login", nil)
	resp, page := send(req)
	m := csrfMeta.FindStringSubmatch(page)
	var rails *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "_system_session" {
			rails = c
		}
	}
	if resp.StatusCode != 200 || m == nil || rails == nil {
		e.t.Fatalf("login page: %d, token %v, cookies %v", resp.StatusCode, m, resp.Cookies())
	}
	form := url.Values{"username": {user}, "password": {password}, "authenticity_token": {m[1]}}
	req, _ = http.NewRequest("POST", e.provider+"/p/sessions", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Cookie", rails.Name+"="+rails.Value)
	resp, _ = send(req)
	for _, c := range resp.Cookies() {
		if c.Name == "user_session" {
			return c.Name + "=" + c.Value, resp.StatusCode
		}
	}
	return "", resp.StatusCode
}

// page GETs an admin portal page with a login cookie.
func (e *testEnv) page(path, cookie string) (int, string) {
	e.t.Helper()
	req, _ := http.NewRequest("GET", e.provider+path, nil)
	req.Host = adminHost
	req.Header.Set("X-Forwarded-Proto", "https")
	req.Header.Set("Cookie", cookie)
	resp, err := e.client.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// mustJSON checks the status and decodes the body.
func mustJSON(t *testing.T, wantCode, code int, body string, v any) {
	t.Helper()
	if code != wantCode {
		t.Fatalf("want HTTP %d, got %d: %s", wantCode, code, body)
	}
	if v != nil {
		if err := json.Unmarshal([]byte(body), v); err != nil {
			t.Fatalf("decode %q: %v", body, err)
		}
	}
}

func queueLen(t *testing.T, rdb *redis.Client, q string) int64 {
	t.Helper()
	n, err := rdb.LLen(context.Background(), sidekiq.QueueKey(q)).Result()
	if err != nil {
		t.Fatalf("LLEN queue:%s: %v", q, err)
	}
	return n
}

// proxyZyncJobs counts the ZyncWorker jobs queued for a Proxy event of product sid.
func proxyZyncJobs(t *testing.T, rdb *redis.Client, sid int64) int {
	t.Helper()
	jobs, err := sidekiq.QueuedJobs(context.Background(), rdb, "zync")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, j := range jobs {
		var ev struct {
			Type      string `json:"type"`
			ServiceID int64  `json:"service_id"`
		}
		if j.Name() == ClassZync && len(j.Args) == 2 && json.Unmarshal(j.Args[1], &ev) == nil && ev.Type == "Proxy" && ev.ServiceID == sid {
			n++
		}
	}
	return n
}

func queuedNames(t *testing.T, rdb *redis.Client, q string) []string {
	t.Helper()
	jobs, err := sidekiq.QueuedJobs(context.Background(), rdb, q)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, j := range jobs {
		out = append(out, j.Name())
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestSystemTwin drives one system twin through the harness's journeys and the outages of its
// dependencies, in order: each step leaves the environment healthy for the next.
func TestSystemTwin(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()

	t.Run("health and https", func(t *testing.T) {
		for _, base := range []string{e.master, e.provider, e.dev} {
			code, body := e.do("GET", base, "anything", "/check.txt", nil)
			if code != 200 || body != "ok" {
				t.Fatalf("check.txt on %s: %d %q", base, code, body)
			}
		}
		req, _ := http.NewRequest("GET", e.provider+"/admin/api/services.json", nil)
		req.Host = adminHost
		resp, err := e.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMovedPermanently || !strings.HasPrefix(resp.Header.Get("Location"), "https://"+adminHost) {
			t.Fatalf("plain http: want 301 to https, got %d %s", resp.StatusCode, resp.Header.Get("Location"))
		}
		// The internal service hosts skip the redirect (§1.3).
		req, _ = http.NewRequest("GET", e.master+"/status", nil)
		req.Host = "system-master:3000"
		resp, err = e.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var st map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&st)
		resp.Body.Close()
		if resp.StatusCode != 200 || st["redis_connection"] != true || st["mysql_connection"] != true || st["status"] != true {
			t.Fatalf("/status: %d %v", resp.StatusCode, st)
		}
	})

	t.Run("token auth", func(t *testing.T) {
		denied := `{"error":"Access denied"}`
		cases := []struct {
			name, host, path string
			basic            [2]string
			bearer           string
		}{
			{name: "no token", host: adminHost, path: "/admin/api/services.json"},
			{name: "bad token", host: adminHost, path: "/admin/api/services.json?access_token=nope"},
			{name: "unknown admin host", host: "other-admin." + superdomain, path: "/admin/api/services.json?access_token=" + adminToken},
			{name: "master token on provider", host: adminHost, path: "/admin/api/services.json?access_token=" + masterToken},
			{name: "bearer is ignored", host: adminHost, path: "/admin/api/services.json", bearer: adminToken},
		}
		for _, c := range cases {
			req, _ := http.NewRequest("GET", e.provider+c.path, nil)
			req.Host = c.host
			req.Header.Set("X-Forwarded-Proto", "https")
			if c.bearer != "" {
				req.Header.Set("Authorization", "Bearer "+c.bearer)
			}
			resp, err := e.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 403 || string(b) != denied {
				t.Errorf("%s: want 403 %s, got %d %s", c.name, denied, resp.StatusCode, b)
			}
		}
		// Basic auth: the token in the user or the password field (§1.4).
		for _, up := range [][2]string{{adminToken, ""}, {"", adminToken}} {
			req, _ := http.NewRequest("GET", e.provider+"/admin/api/services.json", nil)
			req.Host = adminHost
			req.Header.Set("X-Forwarded-Proto", "https")
			req.SetBasicAuth(up[0], up[1])
			resp, err := e.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Errorf("basic %q/%q: %d", up[0], up[1], resp.StatusCode)
			}
		}
		// Products are refused on master (deny_on_premises_for_master, §1.2).
		if code, _ := e.do("GET", e.master, "master."+superdomain, "/admin/api/services.json?access_token="+masterToken, nil); code != 403 {
			t.Errorf("services on master: want 403, got %d", code)
		}
		// A read-only token cannot write (§1.4).
		code, body := e.do("POST", e.master, "x", "/admin/api/signup.json?access_token="+apicastTok, url.Values{"org_name": {"x"}})
		if code != 403 || !strings.Contains(body, "correct permissions") {
			t.Errorf("ro token write: %d %s", code, body)
		}
		// XML is the default format under /admin/api (§1.5).
		code, body = e.admin("GET", "/admin/api/services", nil)
		if code != 200 || !strings.HasPrefix(body, "<?xml") {
			t.Errorf("no suffix: want XML, got %d %.80s", code, body)
		}
	})

	var sid, hitsID, metricID, planID, appID, accountID, ruleID int64
	var userKey string
	const org = "Zebracorp"

	t.Run("product, plan, signup, sync", func(t *testing.T) {
		var svc struct {
			Service struct {
				ID int64 `json:"id"`
			} `json:"service"`
		}
		code, body := e.admin("POST", "/admin/api/services.json", url.Values{"name": {"Echo API"}})
		mustJSON(t, 201, code, body, &svc)
		sid = svc.Service.ID
		if got := e.backend.find("PUT", fmt.Sprintf("/internal/services/%d", sid)); len(got) != 1 || !strings.Contains(got[0].Body, `"backend_version":"1"`) {
			t.Fatalf("backend did not receive the service sync: %+v", e.backend.all())
		}
		// The token comes later from CreateServiceTokenWorker (no sidekiq yet).
		if got := e.backend.find("POST", "/internal/service_tokens"); len(got) != 0 {
			t.Fatalf("a service token reached backend inside the create: %+v", got)
		}
		if names := queuedNames(t, e.rdb, "default"); !contains(names, ClassCreateServiceToken) {
			t.Fatalf("CreateServiceTokenWorker not queued on default: %v", names)
		}
		if code, _ := e.admin("POST", "/admin/api/services.json", url.Values{"name": {"Echo API"}}); code != 422 {
			t.Errorf("duplicate system_name: want 422, got %d", code)
		}
		code, body = e.admin("POST", "/admin/api/services.json", url.Values{})
		if code != 422 || !strings.Contains(body, `"errors":{"name":["can't be blank"]}`) {
			t.Errorf("blank name: %d %s", code, body)
		}

		var metrics struct {
			Metrics []struct {
				Metric struct {
					ID         int64  `json:"id"`
					SystemName string `json:"system_name"`
				} `json:"metric"`
			} `json:"metrics"`
		}
		code, body = e.admin("GET", fmt.Sprintf("/admin/api/services/%d/metrics.json", sid), nil)
		mustJSON(t, 200, code, body, &metrics)
		if len(metrics.Metrics) != 1 || metrics.Metrics[0].Metric.SystemName != "hits" {
			t.Fatalf("default metric: %s", body)
		}
		hitsID = metrics.Metrics[0].Metric.ID
		var m struct {
			Metric struct {
				ID int64 `json:"id"`
			} `json:"metric"`
		}
		code, body = e.admin("POST", fmt.Sprintf("/admin/api/services/%d/metrics.json", sid), url.Values{"friendly_name": {"Widgets"}, "unit": {"widget"}})
		mustJSON(t, 201, code, body, &m)
		metricID = m.Metric.ID
		code, body = e.admin("POST", fmt.Sprintf("/admin/api/services/%d/proxy/mapping_rules.json", sid),
			url.Values{"http_method": {"GET"}, "pattern": {"/widgets"}, "metric_id": {strconv.FormatInt(metricID, 10)}, "delta": {"2"}})
		var rule struct {
			MappingRule struct {
				ID int64 `json:"id"`
			} `json:"mapping_rule"`
		}
		mustJSON(t, 201, code, body, &rule)
		if ruleID = rule.MappingRule.ID; ruleID == 0 {
			t.Fatalf("mapping rule envelope: %s", body)
		}
		if code, _ := e.admin("POST", fmt.Sprintf("/admin/api/services/%d/proxy/mapping_rules.json", sid),
			url.Values{"http_method": {"GET"}, "pattern": {"nope"}, "metric_id": {strconv.FormatInt(metricID, 10)}}); code != 422 {
			t.Errorf("bad pattern: want 422, got %d", code)
		}

		var plan struct {
			Plan struct {
				ID    int64  `json:"id"`
				State string `json:"state"`
			} `json:"application_plan"`
		}
		code, body = e.admin("POST", fmt.Sprintf("/admin/api/services/%d/application_plans.json", sid), url.Values{"name": {"Basic"}, "state_event": {"publish"}})
		mustJSON(t, 201, code, body, &plan)
		planID = plan.Plan.ID
		if plan.Plan.State != "published" {
			t.Errorf("plan state %q", plan.Plan.State)
		}
		code, body = e.admin("POST", fmt.Sprintf("/admin/api/application_plans/%d/metrics/%d/limits.json", planID, hitsID), url.Values{"period": {"day"}, "value": {"100"}})
		mustJSON(t, 201, code, body, nil)
		if got := e.backend.find("PUT", fmt.Sprintf("/internal/services/%d/plans/%d/usagelimits/%d/day", sid, planID, hitsID)); len(got) != 1 || !strings.Contains(got[0].Body, `"day":100`) {
			t.Fatalf("backend did not receive the usage limit: %+v", got)
		}
		code, body = e.admin("PUT", fmt.Sprintf("/admin/api/services/%d/application_plans/%d/default.json", sid, planID), url.Values{})
		mustJSON(t, 200, code, body, nil)

		var acc struct {
			Account struct {
				ID int64 `json:"id"`
			} `json:"account"`
		}
		code, body = e.admin("POST", "/admin/api/signup.json", url.Values{"org_name": {org}, "username": {"zed"}, "email": {"zed@zebra.test"}, "password": {"pw"}})
		mustJSON(t, 201, code, body, &acc)
		accountID = acc.Account.ID
		var apps struct {
			Applications []struct {
				Application struct {
					ID      int64  `json:"id"`
					UserKey string `json:"user_key"`
					AppID   string `json:"application_id"`
				} `json:"application"`
			} `json:"applications"`
		}
		code, body = e.admin("GET", fmt.Sprintf("/admin/api/accounts/%d/applications.json", accountID), nil)
		mustJSON(t, 200, code, body, &apps)
		if len(apps.Applications) != 1 || apps.Applications[0].Application.UserKey == "" {
			t.Fatalf("signup with a default plan creates one application with a user_key: %s", body)
		}
		// An explicit application with a chosen user_key.
		var app struct {
			Application struct {
				ID      int64  `json:"id"`
				UserKey string `json:"user_key"`
				AppID   string `json:"application_id"`
			} `json:"application"`
		}
		code, body = e.admin("POST", fmt.Sprintf("/admin/api/accounts/%d/applications.json", accountID),
			url.Values{"plan_id": {strconv.FormatInt(planID, 10)}, "name": {"Second"}, "user_key": {"zebra-key-1"}})
		mustJSON(t, 201, code, body, &app)
		appID, userKey = app.Application.ID, app.Application.UserKey
		if userKey != "zebra-key-1" {
			t.Fatalf("user_key %q", userKey)
		}
		// A user_key product's application JSON has no application_id (porta's cinstance
		// representer); the id backend knows it by is in the database.
		if app.Application.AppID != "" {
			t.Errorf("application_id rendered for a backend_version 1 product: %s", body)
		}
		app.Application.AppID = e.backendAppID(appID)
		if got := e.backend.find("PUT", fmt.Sprintf("/internal/services/%d/applications/%s/key/zebra-key-1", sid, app.Application.AppID)); len(got) != 1 {
			t.Fatalf("backend did not receive the user_key mapping: %+v", e.backend.find("PUT", "/internal/services"))
		}
		if got := e.backend.find("PUT", fmt.Sprintf("/internal/services/%d/applications/%s", sid, app.Application.AppID)); len(got) < 1 || !strings.Contains(got[0].Body, `"state":"active"`) {
			t.Fatalf("backend did not receive the application: %+v", got)
		}
		code, body = e.admin("GET", "/admin/api/applications/find.json?user_key=zebra-key-1", nil)
		if code != 200 || !strings.Contains(body, `"name":"Second"`) {
			t.Errorf("applications/find: %d %s", code, body)
		}
		t.Run("application representations", func(t *testing.T) { testApplicationRepresentation(t, e, sid, planID, accountID, appID) })
		t.Run("application key limit", func(t *testing.T) { testApplicationKeyLimit(t, e, sid, accountID, appID) })
		if code, body := e.admin("GET", "/admin/api/accounts/find.json?username=zed", nil); code != 200 || !strings.Contains(body, org) {
			t.Errorf("accounts/find: %d %s", code, body)
		}
		if code, body := e.admin("GET", "/admin/api/accounts/find.json?username=nobody", nil); code != 404 || body != `{"status":"Not found"}` {
			t.Errorf("accounts/find unknown: %d %s", code, body)
		}

		// Jobs porta enqueues after these commits (§4.2) wait in system-redis: no sidekiq yet.
		if n := queueLen(t, e.rdb, "backend_sync"); n < 2 {
			t.Errorf("queue:backend_sync has %d jobs, want the hits and Widgets BackendMetricWorker", n)
		}
		if names := queuedNames(t, e.rdb, "default"); !contains(names, ClassSphinxIndexation) || !contains(names, ClassSphinxAccountIndexation) || !contains(names, ClassProcessNotificationEvent) {
			t.Errorf("queue:default: %v", names)
		}
		// The signup's mail: the account_created notification's native job, args [event_id],
		// and no deliver_later of its own (notificationEvent).
		defJobs, _ := sidekiq.QueuedJobs(ctx, e.rdb, "default")
		for _, j := range defJobs {
			switch j.Name() {
			case ClassMailDelivery:
				t.Errorf("an API signup queued %s %s: porta's minimal signup sends no mail of its own", j.Name(), j.Args)
			case ClassProcessNotificationEvent:
				if j.Class != ClassProcessNotificationEvent || j.Wrapped != "" || j.Queue != "default" || len(j.Args) != 1 || j.CreatedAt == 0 || j.EnqueuedAt == 0 {
					t.Errorf("ProcessNotificationEventWorker payload: %+v", j)
				}
			}
		}
		if names := queuedNames(t, e.rdb, "zync"); !contains(names, ClassZync) {
			t.Errorf("queue:zync: %v", names)
		}
		jobs, _ := sidekiq.QueuedJobs(ctx, e.rdb, "backend_sync")
		if len(jobs) == 0 || jobs[0].Class != sidekiq.ActiveJobWrapper {
			t.Errorf("BackendMetricWorker is an ActiveJob job: %+v", jobs)
		}
	})

	t.Run("deploy, promote, APIcast proxy configs", func(t *testing.T) {
		// A product made through the API has no backend: its api_backend is set here, which
		// gives it a backend API used at "/" (BackendApiProxy#update!).
		zyncJobs := proxyZyncJobs(t, e.rdb, sid)
		code, body := e.admin("PATCH", fmt.Sprintf("/admin/api/services/%d/proxy.json", sid), url.Values{"api_backend": {"http://echo-api:8080"}})
		mustJSON(t, 200, code, body, nil)
		if n := proxyZyncJobs(t, e.rdb, sid); n != zyncJobs+1 {
			t.Errorf("a proxy update queued %d ZyncWorker jobs for the Proxy event, want 1", n-zyncJobs)
		}
		code, body = e.admin("POST", fmt.Sprintf("/admin/api/services/%d/proxy/deploy.json", sid), url.Values{})
		mustJSON(t, 201, code, body, nil)
		var latest struct {
			ProxyConfig struct {
				Version     int             `json:"version"`
				Environment string          `json:"environment"`
				Content     json.RawMessage `json:"content"`
			} `json:"proxy_config"`
		}
		code, body = e.admin("GET", fmt.Sprintf("/admin/api/services/%d/proxy/configs/staging/latest.json", sid), nil)
		mustJSON(t, 200, code, body, &latest)
		if latest.ProxyConfig.Environment != "sandbox" || latest.ProxyConfig.Version != 1 {
			t.Fatalf("latest sandbox config: %s", body)
		}
		if code, body := e.admin("GET", fmt.Sprintf("/admin/api/services/%d/proxy/configs/nowhere.json", sid), nil); code != 400 || body != `{"error":"invalid environment"}` {
			t.Errorf("bad testEnv: %d %s", code, body)
		}
		if code, _ := e.admin("POST", fmt.Sprintf("/admin/api/services/%d/proxy/configs/sandbox/1/promote.json", sid), url.Values{}); code != 400 {
			t.Errorf("promote without to: want 400, got %d", code)
		}
		code, body = e.admin("POST", fmt.Sprintf("/admin/api/services/%d/proxy/configs/sandbox/1/promote.json?to=production", sid), url.Values{})
		mustJSON(t, 201, code, body, nil)

		// APIcast's view: THREESCALE_PORTAL_ENDPOINT=http://<APICAST_ACCESS_TOKEN>@system-master:3000/master/api/proxy/configs (§6).
		get := func(path string, tok string) (int, string) {
			req, _ := http.NewRequest("GET", e.master+path, nil)
			req.Host = "system-master"
			req.SetBasicAuth(tok, "")
			resp, err := e.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, string(b)
		}
		var doc struct {
			ProxyConfigs []struct {
				ProxyConfig struct {
					Version int `json:"version"`
					Content struct {
						ID                         int64   `json:"id"`
						BackendVersion             string  `json:"backend_version"`
						BackendAuthenticationValue *string `json:"backend_authentication_value"`
						Proxy                      struct {
							Hosts      []string `json:"hosts"`
							APIBackend string   `json:"api_backend"`
							ProxyRules []struct {
								Pattern          string `json:"pattern"`
								MetricSystemName string `json:"metric_system_name"`
								Delta            int    `json:"delta"`
							} `json:"proxy_rules"`
							PolicyChain []struct {
								Name string `json:"name"`
							} `json:"policy_chain"`
						} `json:"proxy"`
					} `json:"content"`
				} `json:"proxy_config"`
			} `json:"proxy_configs"`
		}
		code, body = get("/master/api/proxy/configs/production.json", apicastTok)
		mustJSON(t, 200, code, body, &doc)
		if len(doc.ProxyConfigs) != 1 {
			t.Fatalf("production configs: %s", body)
		}
		c := doc.ProxyConfigs[0].ProxyConfig.Content
		found := false
		for _, r := range c.Proxy.ProxyRules {
			if r.Pattern == "/widgets" && r.MetricSystemName == "widgets" && r.Delta == 2 {
				found = true
			}
		}
		// Deployed before CreateServiceTokenWorker ran (sidekiq starts later): no token yet.
		if c.BackendAuthenticationValue != nil {
			t.Errorf("backend_authentication_value before the token job: %q, want null", *c.BackendAuthenticationValue)
		}
		if !found || c.ID != sid || c.Proxy.APIBackend != "http://echo-api:8080" || len(c.Proxy.Hosts) != 2 {
			t.Fatalf("config content lacks the mapping rule or service fields: %s", body)
		}
		if len(c.Proxy.PolicyChain) != 1 || c.Proxy.PolicyChain[0].Name != "apicast" {
			t.Errorf("policy chain: %+v", c.Proxy.PolicyChain)
		}
		// Lazy loader: ?host= filters (staging host is in the sandbox config).
		code, body = get("/master/api/proxy/configs/staging.json?host="+url.QueryEscape(c.Proxy.Hosts[1]), apicastTok)
		mustJSON(t, 200, code, body, &doc)
		if len(doc.ProxyConfigs) != 1 {
			t.Errorf("staging by host: %s", body)
		}
		code, body = get("/master/api/proxy/configs/staging.json?host=unknown.example", apicastTok)
		if code != 200 || body != `{"proxy_configs":[]}` {
			t.Errorf("unknown host: %d %s", code, body)
		}
		if code, _ := get("/master/api/proxy/configs/production.json", "wrong"); code != 401 {
			t.Errorf("bad token: want 401, got %d", code)
		}
		if code, _ := get("/master/api/proxy/configs/qa.json", apicastTok); code != 400 {
			t.Errorf("bad testEnv: want 400, got %d", code)
		}
		// A policies update deploys a new sandbox version (§2 "Proxy read / update"), its chain
		// naming each enabled policy as stored.
		code, body = e.admin("PUT", fmt.Sprintf("/admin/api/services/%d/proxy/policies.json", sid),
			url.Values{"policies_config": {`[{"name":"caching","version":"builtin","configuration":{"caching_type":"resilient"},"enabled":true},{"name":"apicast","version":"builtin","configuration":{},"enabled":true}]`}})
		mustJSON(t, 200, code, body, nil)
		code, body = e.admin("GET", fmt.Sprintf("/admin/api/services/%d/proxy/configs/sandbox/latest.json", sid), nil)
		if code != 200 || !strings.Contains(body, `"version":2`) || !strings.Contains(body, `"name":"caching"`) {
			t.Errorf("after policies update: %d %s", code, body)
		}
		if n := proxyZyncJobs(t, e.rdb, sid); n != zyncJobs+2 {
			t.Errorf("a proxy update and a policies update queued %d ZyncWorker jobs for the Proxy event, want 2", n-zyncJobs)
		}
	})

	t.Run("sidekiq processes the queues", func(t *testing.T) {
		e.startSidekiq()
		testsupport.Eventually(t, 30*time.Second, "queues drained", testsupport.NoError(func(context.Context) error {
			lens, err := sidekiq.QueueLengths(ctx, e.rdb)
			if err != nil {
				return err
			}
			for q, n := range lens {
				if n > 0 {
					return fmt.Errorf("queue:%s has %d", q, n)
				}
			}
			return nil
		}))
		t.Run("service token job", func(t *testing.T) { testServiceTokenJob(t, e, sid) })
		t.Run("seed", func(t *testing.T) { testSeed(t, e) })
		testsupport.Eventually(t, 30*time.Second, "account_query finds the signed-up account", testsupport.NoError(func(context.Context) error {
			code, body := e.admin("GET", "/admin/api/applications.json?account_query="+org, nil)
			if code != 200 || !strings.Contains(body, "zebra-key-1") {
				return fmt.Errorf("HTTP %d %s", code, body)
			}
			return nil
		}))
		testsupport.Eventually(t, 30*time.Second, "backend got the metrics", testsupport.NoError(func(context.Context) error {
			if len(e.backend.find("PUT", fmt.Sprintf("/internal/services/%d/metrics/%d", sid, metricID))) == 0 {
				return fmt.Errorf("no metric sync yet")
			}
			return nil
		}))
		testsupport.Eventually(t, 30*time.Second, "zync got tenant and notification", testsupport.NoError(func(context.Context) error {
			ten, not := e.zync.find("PUT", "/tenant"), e.zync.find("PUT", "/notification")
			if len(ten) == 0 || len(not) == 0 {
				return fmt.Errorf("tenant %d notification %d", len(ten), len(not))
			}
			if not[0].Header.Get("X-Event-Id") == "" || !strings.Contains(ten[0].Body, `"endpoint":"https://`+adminHost+`"`) {
				return fmt.Errorf("headers/body: %+v / %s", not[0].Header, ten[0].Body)
			}
			return nil
		}))
		var n int
		if err := e.sqlDB().QueryRowContext(ctx, `SELECT COUNT(*) FROM mail_deliveries WHERE mailer='NotificationMailer' AND mail_method='account_created'`).Scan(&n); err != nil || n == 0 {
			t.Errorf("mail delivery recorded: n=%d err=%v", n, err)
		}
		// Search pages read searchd (admin portal, logged in).
		cookie, _ := e.login("admin", "apass")
		code, body := e.page("/buyers/accounts?search%5Bquery%5D="+org, cookie)
		if code != 200 || !strings.Contains(body, org) || !strings.Contains(body, fmt.Sprintf(`<tr id="account_%d" role="row">`, accountID)) {
			t.Errorf("accounts search page: want 200 with the row <tr id=\"account_%d\" role=\"row\">, got %d %s", accountID, code, body)
		}
		// The mapping rules search: the rule's row carries its edit link
		// (porta@3scale-2.16.4-GA:app/views/shared/proxy_rules/_body_section.html.slim:47).
		rules := fmt.Sprintf("/apiconfig/services/%d/proxy_rules", sid)
		edit := fmt.Sprintf(`href="/apiconfig/services/%d/proxy_rules/%d/edit"`, sid, ruleID)
		testsupport.Eventually(t, 30*time.Second, "the /widgets rule searchable", func(context.Context) (bool, string) {
			code, body := e.page(rules+"?search%5Bquery%5D=widgets", cookie)
			return code == 200 && strings.Contains(body, edit), fmt.Sprintf("%d %s", code, body)
		})
		if code, body := e.page(rules+"?search%5Bquery%5D=zzznomatch", cookie); code != 200 || strings.Contains(body, edit) {
			t.Errorf("mapping rules search for another pattern: want 200 without rule %d, got %d %s", ruleID, code, body)
		}
		// Alerts: EventsFetchWorker imports backend's events. This one names no known
		// application, so it is stored as a BackendEvent and no Alert is kept.
		if _, err := sidekiq.Enqueue(ctx, e.rdb, "events", ClassEventsFetch); err != nil {
			t.Fatal(err)
		}
		testsupport.Eventually(t, 30*time.Second, "event imported", testsupport.NoError(func(context.Context) error {
			var n int
			if err := e.sqlDB().QueryRowContext(ctx, `SELECT COUNT(*) FROM backend_events WHERE backend_event_id=7`).Scan(&n); err != nil || n != 1 {
				return fmt.Errorf("backend_events=%d err=%v", n, err)
			}
			if len(e.backend.find("DELETE", "/internal/events")) == 0 {
				return fmt.Errorf("events not acknowledged")
			}
			return nil
		}))
		t.Run("notification settings and alerts", func(t *testing.T) { testNotificationSettingsAndAlerts(t, e, sid, appID, cookie) })
	})

	t.Run("analytics reads backend-redis", func(t *testing.T) {
		now := time.Now().UTC()
		hour := now.Truncate(time.Hour)
		key := fmt.Sprintf("stats/{service:%d}/metric:%d/hour:%s", sid, hitsID, compactTS(hour))
		if err := e.brdb.Set(ctx, key, 42, 0).Err(); err != nil {
			t.Fatal(err)
		}
		var out struct {
			Total  int64   `json:"total"`
			Values []int64 `json:"values"`
			Metric struct {
				SystemName string `json:"system_name"`
			} `json:"metric"`
		}
		code, body := e.admin("GET", fmt.Sprintf("/stats/services/%d/usage.json?metric_name=hits&period=day&skip_change=true", sid), nil)
		mustJSON(t, 200, code, body, &out)
		if out.Total != 42 || len(out.Values) != 24 || out.Values[now.Hour()] != 42 || out.Metric.SystemName != "hits" {
			t.Fatalf("service usage: %s", body)
		}
		var app struct {
			AppID string `json:"application_id"`
		}
		_ = e.sqlDB().QueryRowContext(ctx, `SELECT application_id FROM cinstances WHERE id=?`, appID).Scan(&app.AppID)
		akey := fmt.Sprintf("stats/{service:%d}/cinstance:%s/metric:%d/day:%s", sid, app.AppID, hitsID, compactTS(now.Truncate(24*time.Hour)))
		_ = e.brdb.Set(ctx, akey, 5, 0).Err()
		code, body = e.admin("GET", fmt.Sprintf("/stats/applications/%d/usage.json?metric_name=hits&granularity=day&since=%s&until=%s", appID,
			now.Format("2006-01-02"), now.AddDate(0, 0, 1).Format("2006-01-02")), nil)
		mustJSON(t, 200, code, body, &out)
		if out.Total != 5 {
			t.Fatalf("application usage: %s", body)
		}
		if code, _ := e.admin("GET", fmt.Sprintf("/stats/services/%d/usage.json?metric_name=hits", sid), nil); code != 400 {
			t.Errorf("no period: want 400, got %d", code)
		}
		e.beRedis.Stop()
		if code, _ := e.admin("GET", fmt.Sprintf("/stats/services/%d/usage.json?metric_name=hits&period=day", sid), nil); code != 500 {
			t.Errorf("backend-redis down: want 500, got %d", code)
		}
		e.beRedis.Restart()
	})

	var devUser, devAccess *http.Cookie
	t.Run("portals", func(t *testing.T) {
		t.Run("developer portal access code", func(t *testing.T) { testDevPortalAccessCode(t, e) })
		t.Run("developer portal sign-in and search", func(t *testing.T) { devUser, devAccess = testDevPortalSearch(t, e, planID) })
		if code, _ := e.do("GET", e.dev, "unknown."+superdomain, "/", nil); code != 404 {
			t.Errorf("unknown dev portal host: want 404, got %d", code)
		}
		code, _ := e.do("GET", e.provider, adminHost, "/p/admin/dashboard", nil)
		if code != 302 {
			t.Errorf("dashboard without a session: want 302, got %d", code)
		}
		// Portal pages take a login session, not an access token (FrontendController).
		if code, _ := e.do("GET", e.provider, adminHost, "/p/admin/dashboard?access_token="+adminToken, nil); code != 302 {
			t.Errorf("dashboard with an access token: want 302 to the login, got %d", code)
		}
		t.Run("admin portal sign-in", func(t *testing.T) { testAdminLogin(t, e) })
		cookie, code := e.login("admin", "apass")
		if code != 302 || cookie == "" {
			t.Fatalf("login: %d, cookie %q", code, cookie)
		}
		code, b := e.page("/p/admin/dashboard", cookie)
		// The seeded "API" product (db/seeds.rb create_first_service) and Echo API.
		if code != 200 || !strings.Contains(b, "2 products") {
			t.Errorf("dashboard: %d %s", code, b)
		}
	})

	t.Run("deletions and zync retries", func(t *testing.T) {
		t.Run("product delete", func(t *testing.T) { testProductDelete(t, e) })
		t.Run("deletion job before the commit", func(t *testing.T) { testDeletionJobBeforeCommit(t, e) })
		t.Run("buyer delete", func(t *testing.T) { testBuyerDelete(t, e, planID) })
		var svc struct {
			Service struct {
				ID int64 `json:"id"`
			} `json:"service"`
		}
		code, body := e.admin("POST", "/admin/api/services.json", url.Values{"name": {"Doomed"}})
		mustJSON(t, 201, code, body, &svc)
		doomed := svc.Service.ID
		code, body = e.admin("DELETE", fmt.Sprintf("/admin/api/services/%d.json", doomed), nil)
		if code != 200 || body != "" {
			t.Fatalf("service delete: want 200 with an empty body, got %d %q", code, body)
		}
		if code, _ := e.admin("GET", fmt.Sprintf("/admin/api/services/%d.json", doomed), nil); code != 404 {
			t.Errorf("deleted service: want 404, got %d", code)
		}
		testsupport.Eventually(t, 30*time.Second, "backend service deleted by BackendDeleteServiceWorker", testsupport.NoError(func(context.Context) error {
			if len(e.backend.find("DELETE", fmt.Sprintf("/internal/services/%d/stats", doomed))) == 0 ||
				len(e.backend.find("DELETE", fmt.Sprintf("/internal/services/%d", doomed))) < 2 {
				return fmt.Errorf("backend calls: %+v", e.backend.find("DELETE", "/internal/services"))
			}
			var n int
			if err := e.sqlDB().QueryRowContext(ctx, `SELECT COUNT(*) FROM services WHERE id=?`, doomed).Scan(&n); err != nil || n != 0 {
				return fmt.Errorf("services rows %d err %v", n, err)
			}
			return nil
		}))

		var app struct {
			Application struct {
				ID    int64  `json:"id"`
				AppID string `json:"application_id"`
			} `json:"application"`
		}
		code, body = e.admin("POST", fmt.Sprintf("/admin/api/accounts/%d/applications.json", accountID),
			url.Values{"plan_id": {strconv.FormatInt(planID, 10)}, "name": {"Short-lived"}})
		mustJSON(t, 201, code, body, &app)
		app.Application.AppID = e.backendAppID(app.Application.ID)
		if code, _ := e.admin("DELETE", fmt.Sprintf("/admin/api/accounts/%d/applications/%d.json", accountID, app.Application.ID), nil); code != 200 {
			t.Fatalf("application delete: %d", code)
		}
		testsupport.Eventually(t, 30*time.Second, "backend application deleted by BackendDeleteApplicationWorker", testsupport.NoError(func(context.Context) error {
			if len(e.backend.find("DELETE", fmt.Sprintf("/internal/services/%d/applications/%s", sid, app.Application.AppID))) == 0 {
				return fmt.Errorf("no DELETE yet")
			}
			return nil
		}))

		// zync failing: ZyncWorker jobs go to the retry set with porta's error class (§5.1, §5.3).
		e.zyncDown.Store(true)
		defer e.zyncDown.Store(false)
		if code, _ := e.admin("PUT", fmt.Sprintf("/admin/api/accounts/%d/applications/%d.json", accountID, appID), url.Values{"name": {"Renamed"}}); code != 200 {
			t.Fatalf("application update: %d", code)
		}
		testsupport.Eventually(t, 20*time.Second, "ZyncWorker in retry", testsupport.NoError(func(context.Context) error {
			entries, err := sidekiq.RetrySet(ctx, e.rdb)
			if err != nil {
				return err
			}
			for _, en := range entries {
				if en.Job.Name() == ClassZync && en.Job.ErrorClass == "ZyncWorker::InvalidResponseError" && en.Job.Queue == "zync" {
					return nil
				}
			}
			return fmt.Errorf("retry set has %d entries", len(entries))
		}))
	})

	// system-app keeps its searchd connections, as ThinkingSphinx's pool does: a second burst
	// of concurrent searches opens none. (searchd is held for the bursts, so that every search
	// of one holds a connection at once.)
	t.Run("searchd connections kept", func(t *testing.T) {
		const burst = 6
		search := func() {
			if code, body := e.admin("GET", "/admin/api/applications.json?account_query="+org, nil); code != 200 {
				t.Errorf("account_query: %d %s", code, body)
			}
		}
		heldBurst(t, e.searchd, burst, search)
		before := statusCounter(t, e.searchd.Addr(), "connections")
		heldBurst(t, e.searchd, burst, search)
		if opened := statusCounter(t, e.searchd.Addr(), "connections") - before - 1; opened != 0 { // -1: the count's own
			t.Errorf("a second burst of %d searches opened %d searchd connections, want 0", burst, opened)
		}
	})

	// Likewise its system-mysql connections, as ActiveRecord's pool keeps them. (The other
	// clients of this MariaDB, system-sidekiq and the test, keep theirs: idle pools.)
	t.Run("system-mysql connections kept", func(t *testing.T) {
		const burst = 8
		read := func() {
			if code, body := e.admin("GET", "/admin/api/accounts.json", nil); code != 200 {
				t.Errorf("accounts.json: %d %s", code, body)
			}
		}
		heldBurst(t, e.mysql, burst, read)
		before := statusCounter(t, e.mysql.Addr(), "Connections")
		heldBurst(t, e.mysql, burst, read)
		if opened := statusCounter(t, e.mysql.Addr(), "Connections") - before - 1; opened != 0 {
			t.Errorf("a second burst of %d admin API reads opened %d system-mysql connections, want 0", burst, opened)
		}
	})

	// A search that searchd holds (a frozen searchd: connections accepted, nothing
	// answered) fails after the driver's read timeout, and system-app logs it as a slow
	// request after its error, which says the query, not the connection, waited.
	t.Run("searchd frozen", func(t *testing.T) {
		e.searchd.Pause()
		defer e.searchd.Resume()
		start := time.Now()
		code, _ := e.admin("GET", "/admin/api/applications.json?account_query="+org, nil)
		if took := time.Since(start); code != 500 || took < time.Second {
			t.Errorf("account_query with searchd frozen: want a 500 after a second or more, got %d after %s", code, took)
		}
		logged := e.logged.String()
		slow := regexp.MustCompile(`(?m)^.*msg="request failed".*path=/admin/api/applications.*searchd account_core: (query|connection) after [0-9.]+s.*\n.*msg="slow request".*path=/admin/api/applications.json took=[0-9.]+s$`)
		if !slow.MatchString(logged) {
			t.Errorf("system-app's log has no slow search with its error; it has:\n%s", logged)
		}
	})

	t.Run("searchd down", func(t *testing.T) {
		e.searchd.Stop()
		defer e.searchd.Restart()
		code, body := e.admin("GET", "/admin/api/applications.json?account_query="+org, nil)
		if code != 500 || body != `{"status":500,"error":"Internal Server Error"}` {
			t.Errorf("account_query: want 500, got %d %s", code, body)
		}
		if code, _ := e.admin("GET", "/admin/api/accounts.json", nil); code != 200 {
			t.Errorf("accounts.json: want 200, got %d", code)
		}
		if code, _ := e.admin("GET", "/admin/api/applications.json", nil); code != 200 {
			t.Errorf("applications.json without account_query: want 200, got %d", code)
		}
		cookie, _ := e.login("admin", "apass")
		code, body = e.page("/buyers/accounts?search%5Bquery%5D=x", cookie)
		if code != 503 || !strings.Contains(body, "Search is temporarily offline") {
			t.Errorf("search page: want 503, got %d %s", code, body)
		}
		// Nor has DeveloperPortal::SearchController.
		if devUser == nil {
			t.Error("no developer portal session (see the portals test)")
		} else if r := e.devDo("GET", "/search.json?q=zebrafish", nil, devUser, devAccess); r.code != 500 {
			t.Errorf("developer portal search: want 500, got %d %s", r.code, r.body)
		}
		// Api::ProxyRulesController has no SearchSupport: the searchd error is unhandled.
		rules := fmt.Sprintf("/apiconfig/services/%d/proxy_rules", sid)
		if code, body := e.page(rules+"?search%5Bquery%5D=widgets", cookie); code != 500 {
			t.Errorf("mapping rules search: want 500, got %d %s", code, body)
		}
		if code, body := e.page(rules, cookie); code != 200 || !strings.Contains(body, fmt.Sprintf("/proxy_rules/%d/edit", ruleID)) {
			t.Errorf("mapping rules without a search: want 200 with rule %d, got %d %s", ruleID, code, body)
		}
		// Writes still succeed; their index jobs fail into the retry set (§3.2).
		if code, body := e.admin("POST", "/admin/api/signup.json", url.Values{"org_name": {"Offline Org"}, "username": {"off"}, "email": {"off@x.test"}}); code != 201 {
			t.Fatalf("signup with searchd down: %d %s", code, body)
		}
		testsupport.Eventually(t, 20*time.Second, "index job in retry", testsupport.NoError(func(context.Context) error {
			entries, err := sidekiq.RetrySet(ctx, e.rdb)
			if err != nil {
				return err
			}
			for _, en := range entries {
				if en.Job.Name() == ClassSphinxAccountIndexation {
					return nil
				}
			}
			return fmt.Errorf("retry set: %d entries", len(entries))
		}))
	})

	t.Run("searchd back: deferred indexing applied", func(t *testing.T) {
		testsupport.Eventually(t, 40*time.Second, "Offline Org searchable", testsupport.NoError(func(context.Context) error {
			code, body := e.admin("GET", "/admin/api/applications.json?account_query=Offline", nil)
			if code != 200 || !strings.Contains(body, `"application"`) {
				return fmt.Errorf("HTTP %d %s", code, body)
			}
			return nil
		}))
	})

	t.Run("memcached down", func(t *testing.T) {
		e.memcached.Stop()
		defer e.memcached.Restart()
		for range 3 {
			if code, body := e.admin("GET", "/admin/api/services.json", nil); code != 200 {
				t.Fatalf("services with memcached down: %d %s", code, body)
			}
		}
		if code, _ := e.admin("POST", fmt.Sprintf("/admin/api/services/%d/metrics.json", sid), url.Values{"friendly_name": {"Gadgets"}}); code != 201 {
			t.Errorf("write with memcached down: %d", code)
		}
	})

	t.Run("system-redis down", func(t *testing.T) {
		aid, cid := testSystemRedisWrites(t, e, sid, planID)
		t.Run("subscribers run after a failed callback", func(t *testing.T) { testSubscribersAfterAFailedCallback(t, e, aid, planID) })
		t.Run("zync's OIDC sync token", func(t *testing.T) { testOIDCSyncToken(t, e, aid, cid) })
	})

	t.Run("mysql down", func(t *testing.T) {
		e.mysql.Stop()
		defer e.mysql.Restart()
		code, body := e.admin("GET", "/admin/api/services.json", nil)
		if code != 500 || body != `{"status":500,"error":"Internal Server Error"}` {
			t.Errorf("services with mysql down: want 500, got %d %s", code, body)
		}
		if code, _ := e.do("GET", e.dev, devHost, "/", nil); code != 500 {
			t.Errorf("dev portal with mysql down: want 500, got %d", code)
		}
		req, _ := http.NewRequest("GET", e.master+"/master/api/proxy/configs/production.json", nil)
		req.Host = "system-master"
		req.SetBasicAuth(apicastTok, "")
		resp, err := e.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 500 {
			t.Errorf("proxy configs with mysql down: want 500, got %d", resp.StatusCode)
		}
		if code, body := e.do("GET", e.provider, adminHost, "/check.txt", nil); code != 200 || body != "ok" {
			t.Errorf("check.txt with mysql down: %d %s", code, body)
		}
		// backend's events hook is routed behind MasterOrProviderDomainConstraint, which asks
		// the database first (porta@3scale-2.16.4-GA:lib/routing_constraints.rb): 500, so
		// the events stay in backend.
		if code, _ := e.do("POST", e.master, "system-master", "/master/events/import", url.Values{"secret": {"hook-secret"}}); code != 500 {
			t.Errorf("events hook with mysql down: want 500, got %d", code)
		}
		code, body = e.do("GET", e.master, "system-master", "/status", nil)
		if code != 200 || !strings.Contains(body, `"mysql_connection":false`) {
			t.Errorf("/status with mysql down: %d %s", code, body)
		}
	})
}

// backendAppID is the application_id porta generated for an application: the id backend knows
// it by, which the API does not render for backend_version 1 products.
func (e *testEnv) backendAppID(cid int64) string {
	e.t.Helper()
	var id string
	if err := e.sqlDB().QueryRowContext(context.Background(), `SELECT application_id FROM cinstances WHERE id=?`, cid).Scan(&id); err != nil {
		e.t.Fatalf("application_id of cinstance %d: %v", cid, err)
	}
	return id
}

// sqlDB is a direct connection to system-mysql for checks the API does not expose.
func (e *testEnv) sqlDB() *sql.DB {
	e.t.Helper()
	if e.db == nil {
		dsn, name, err := mysqlDSN(e.appCfg.DatabaseURL, 0)
		if err != nil {
			e.t.Fatal(err)
		}
		if e.db, err = sql.Open("mysql", dsn(name)); err != nil {
			e.t.Fatal(err)
		}
		e.t.Cleanup(func() { _ = e.db.Close() })
	}
	return e.db
}
