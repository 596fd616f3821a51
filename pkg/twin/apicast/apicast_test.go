package apicast

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/threescale-chaos/harness/internal/testsupport"
	"github.com/threescale-chaos/harness/pkg/twin/echo"
)

const (
	masterToken  = "s3cr3t-master-token"
	serviceToken = "svc-token-1"
	serviceID    = "7"
	prodHost     = "api.example.test"
)

// runningGateway is one Run in a goroutine, with a client that keeps one connection open, as
// a sequential caller does.
type runningGateway struct {
	proxy, mgmt string
	client      *http.Client
	logs        *testsupport.SyncBuffer
	done        chan error
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// startGateway runs the gateway and waits until its management port answers.
func startGateway(t *testing.T, cfg Config) *runningGateway {
	t.Helper()
	g := startGatewayNoWait(t, cfg)
	testsupport.Eventually(t, 5*time.Second, "management /status/live", func(context.Context) (bool, string) {
		resp, err := g.client.Get(g.mgmt + "/status/live")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == 200, resp.Status
	})
	return g
}

// startGatewayNoWait starts Run and waits only until its management listener accepts
// connections, whatever its routes answer.
func startGatewayNoWait(t *testing.T, cfg Config) *runningGateway {
	t.Helper()
	pl, ml := listen(t), listen(t)
	cfg.Listener, cfg.ManagementListener = pl, ml
	logs := &testsupport.SyncBuffer{}
	cfg.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithCancel(context.Background())
	g := &runningGateway{
		proxy: "http://" + pl.Addr().String(),
		mgmt:  "http://" + ml.Addr().String(),
		// One connection: a request is read only after the previous handler, including its
		// after-response authrep, has returned, as on one nginx keep-alive connection.
		client: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxConnsPerHost: 1}},
		logs:   logs,
		done:   make(chan error, 1),
	}
	go func() { g.done <- Run(ctx, cfg) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-g.done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after cancel")
		}
		for _, secret := range []string{masterToken, serviceToken} {
			if strings.Contains(logs.String(), secret) {
				t.Errorf("logs contain the secret %q:\n%s", secret, logs.String())
			}
		}
	})
	testsupport.Eventually(t, 5*time.Second, "management listener", func(context.Context) (bool, string) {
		resp, err := g.client.Get(g.mgmt + "/")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return true, ""
	})
	return g
}

type answer struct {
	status int
	body   string
	header http.Header
}

func (g *runningGateway) do(t *testing.T, method, host, path string, hdr map[string]string) answer {
	t.Helper()
	req, err := http.NewRequest(method, g.proxy+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := g.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s%s: %v", method, host, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, string(b), resp.Header}
}

func (g *runningGateway) get(t *testing.T, host, path string) answer {
	t.Helper()
	return g.do(t, http.MethodGet, host, path, nil)
}

func (g *runningGateway) mgmtGet(t *testing.T, path string) answer {
	t.Helper()
	resp, err := g.client.Get(g.mgmt + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, string(b), resp.Header}
}

func expect(t *testing.T, what string, got answer, status int, body string) {
	t.Helper()
	if got.status != status || got.body != body {
		t.Fatalf("%s: got %d %q, want %d %q", what, got.status, got.body, status, body)
	}
}

func expectStatus(t *testing.T, what string, got answer, status int) {
	t.Helper()
	if got.status != status {
		t.Fatalf("%s: got %d %q, want %d", what, got.status, got.body, status)
	}
}

// echoed decodes what the echo upstream saw.
type echoed struct {
	Method  string              `json:"method"`
	Path    string              `json:"path"`
	Query   string              `json:"query"`
	Host    string              `json:"host"`
	Headers map[string][]string `json:"headers"`
}

func decodeEcho(t *testing.T, a answer) echoed {
	t.Helper()
	var e echoed
	if err := json.Unmarshal([]byte(a.body), &e); err != nil {
		t.Fatalf("upstream answer %q: %v", a.body, err)
	}
	return e
}

// world is one system, one backend and one echo upstream.
type world struct {
	system   *fakeSystem
	backend  *fakeBackend
	upstream *httptest.Server
}

func newWorld(t *testing.T, apps map[string]*fakeApp) *world {
	t.Helper()
	w := &world{
		backend:  newFakeBackend(serviceID, serviceToken, apps),
		upstream: httptest.NewServer(echo.Handler(echo.Config{Name: "echo"})),
		system:   newFakeSystem(masterToken),
	}
	t.Cleanup(w.system.srv.Close)
	t.Cleanup(w.backend.srv.Close)
	t.Cleanup(w.upstream.Close)
	return w
}

func (w *world) spec(host string) serviceSpec {
	return serviceSpec{
		id: 7, host: host, upstream: w.upstream.URL, backend: w.backend.srv.URL, token: serviceToken,
		rules: []map[string]any{rule("GET", "/v1", "hits", 1)},
	}
}

func (w *world) config(env string) Config {
	return Config{
		Environment:          env,
		PortalEndpoint:       w.system.endpoint(),
		ConfigurationCache:   time.Hour,
		ConfigurationTimeout: 20 * time.Millisecond,
		BackendTimeout:       2 * time.Second,
	}
}

func TestPassThroughReachesUpstreamWithOneAuthrepPerRequest(t *testing.T) {
	w := newWorld(t, map[string]*fakeApp{"k1": {}})
	spec := w.spec(prodHost)
	prefixed := w.spec("prefixed.example.test")
	prefixed.upstream = w.upstream.URL + "/base/"
	w.system.setServices(spec.content(), prefixed.content())
	g := startGateway(t, w.config(EnvironmentProduction))

	a := g.get(t, prodHost, "/v1/words/hello.json?user_key=k1&lang=en")
	if a.status != 200 {
		t.Fatalf("got %d %q", a.status, a.body)
	}
	e := decodeEcho(t, a)
	if e.Path != "/v1/words/hello.json" || e.Query != "user_key=k1&lang=en" || e.Method != "GET" {
		t.Errorf("upstream saw %s %s?%s", e.Method, e.Path, e.Query)
	}
	// Host is api_backend's host name, not the client's Host.
	if e.Host != "127.0.0.1" {
		t.Errorf("upstream Host = %q, want 127.0.0.1", e.Host)
	}
	if got := w.backend.authreps.Load(); got != 1 {
		t.Fatalf("authreps after a cache miss = %d, want 1", got)
	}
	q := w.backend.lastQuery()
	for _, want := range []string{"service_token=" + serviceToken, "service_id=" + serviceID, "user_key=k1", "usage%5Bhits%5D=1"} {
		if !strings.Contains(q, want) {
			t.Errorf("authrep query %q lacks %q", q, want)
		}
	}

	// A cache hit is proxied and still reported, after the response.
	a = g.get(t, prodHost, "/v1/other?user_key=k1")
	if a.status != 200 {
		t.Fatalf("second request: %d %q", a.status, a.body)
	}
	testsupport.Eventually(t, 2*time.Second, "authrep after the cached request", func(context.Context) (bool, string) {
		n := w.backend.authreps.Load()
		return n == 2, fmt.Sprint(n, " authreps")
	})

	a = g.get(t, "prefixed.example.test", "/v1/x?user_key=k1")
	if e := decodeEcho(t, a); a.status != 200 || e.Path != "/base/v1/x" {
		t.Errorf("api_backend path prefix: got %d, upstream path %q", a.status, e.Path)
	}
}

func TestErrorResponsesHaveAPIcastDefaults(t *testing.T) {
	w := newWorld(t, map[string]*fakeApp{
		"good": {}, "limited": {limit: 1}, "disabled": {disabled: true},
	})
	inHeaders := w.spec("headers.example.test")
	inHeaders.credsIn = "headers"
	w.system.setServices(w.spec(prodHost).content(), inHeaders.content())
	g := startGateway(t, w.config(EnvironmentProduction))

	expect(t, "unknown host", g.get(t, "nobody.example.test", "/v1?user_key=good"), 404, "")
	expect(t, "missing user_key", g.get(t, prodHost, "/v1"), 401, "Authentication parameters missing")
	// Credentials are checked before mapping rules.
	expect(t, "missing user_key, unmatched path", g.get(t, prodHost, "/nothing"), 401, "Authentication parameters missing")
	expect(t, "no mapping rule", g.get(t, prodHost, "/nothing?user_key=good"), 404, "No Mapping Rule matched")
	expect(t, "unknown key", g.get(t, prodHost, "/v1?user_key=nope"), 403, "Authentication failed")
	expectStatus(t, "first limited request", g.get(t, prodHost, "/v1?user_key=limited"), 200)
	// The key is now cached as authorized, so the next request is a hit and goes through; its
	// after-response authrep gets the 409 and the strict handler drops the key (§1.1 step 5-6).
	expectStatus(t, "over the limit, but a cache hit", g.get(t, prodHost, "/v1?user_key=limited"), 200)
	a := g.get(t, prodHost, "/v1?user_key=limited")
	expect(t, "over the limit", a, 429, "Limits exceeded")
	if a.header.Get("Retry-After") != "42" {
		t.Errorf("Retry-After = %q, want the backend's 3scale-limit-reset 42", a.header.Get("Retry-After"))
	}
	if ct := a.header.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
		t.Errorf("Content-Type = %q", ct)
	}
	// A limit of 0 is a disabled metric: 403, not 429.
	expect(t, "disabled metric", g.get(t, prodHost, "/v1?user_key=disabled"), 403, "Authentication failed")

	expect(t, "key in query where headers are configured", g.get(t, "headers.example.test", "/v1?user_key=good"), 401, "Authentication parameters missing")
	if a := g.do(t, "GET", "headers.example.test", "/v1", map[string]string{"user_key": "good"}); a.status != 200 {
		t.Errorf("key in header: %d %q", a.status, a.body)
	}
	if a := g.get(t, prodHost, "/_threescale/healthz"); a.status != 200 {
		t.Errorf("/_threescale/healthz: %d", a.status)
	}
}

// outage is how backend-listener stops answering: refused connections (scaled to zero) or 500s
// (its Redis is gone).
type outage int

const (
	refused outage = iota
	answers500
)

func TestCacheModesWhenBackendFails(t *testing.T) {
	strPtr := func(s string) *string { return &s }
	cases := []struct {
		name        string
		cachingType *string
		outage      outage
		cached      []int // a key authorized before the outage, three requests
		unseen      []int // a valid key first used during the outage, two requests
		denied      int   // a key denied before the outage
	}{
		// research/apicast-apisonator.md §1.3 table and t/apicast-policy-caching.t.
		{"default strict, listener gone", nil, refused, []int{200, 403, 403}, []int{403, 403}, 403},
		{"default strict, listener 500", nil, answers500, []int{200, 403, 403}, []int{403, 403}, 403},
		{"strict policy", strPtr("strict"), answers500, []int{200, 403, 403}, []int{403, 403}, 403},
		{"resilient", strPtr("resilient"), answers500, []int{200, 200, 200}, []int{403, 403}, 403},
		{"resilient, listener gone", strPtr("resilient"), refused, []int{200, 200, 200}, []int{403, 403}, 403},
		{"allow", strPtr("allow"), answers500, []int{200, 200, 200}, []int{200, 200}, 403},
		{"none", strPtr("none"), answers500, []int{403, 403, 403}, []int{403, 403}, 403},
		// A policy without a valid caching_type is none.
		{"invalid caching_type", strPtr("bogus"), answers500, []int{403, 403, 403}, []int{403, 403}, 403},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, map[string]*fakeApp{"cached": {}, "unseen": {}})
			spec := w.spec(prodHost)
			spec.cachingType = tc.cachingType
			w.system.setServices(spec.content())
			g := startGateway(t, w.config(EnvironmentProduction))

			expectStatus(t, "warm-up", g.get(t, prodHost, "/v1?user_key=cached"), 200)
			expect(t, "warm-up denial", g.get(t, prodHost, "/v1?user_key=denied"), 403, "Authentication failed")
			sent := w.backend.authreps.Load()

			switch tc.outage {
			case refused:
				w.backend.srv.Close()
			case answers500:
				w.backend.failing.Store(true)
			}
			check := func(key string, want int) {
				t.Helper()
				a := g.get(t, prodHost, "/v1?user_key="+key)
				body := ""
				if want == 403 {
					body = "Authentication failed"
				}
				if a.status != want || (body != "" && a.body != body) {
					t.Fatalf("%s during the outage: got %d %q, want %d %q", key, a.status, a.body, want, body)
				}
				sent++
			}
			for _, want := range tc.cached {
				check("cached", want)
			}
			for _, want := range tc.unseen {
				check("unseen", want)
			}
			check("denied", tc.denied)
			if tc.outage == answers500 {
				// Every request made exactly one authrep, hit or miss.
				if got := w.backend.authreps.Load(); got != sent {
					t.Errorf("authreps = %d, want one per request (%d)", got, sent)
				}
				// The listener recovers: everything is decided by the backend again.
				w.backend.failing.Store(false)
				check("cached", 200)
				check("unseen", 200)
				check("denied", 403)
			}
		})
	}
}

func TestStrictGraceIsPerCachedKey(t *testing.T) {
	w := newWorld(t, map[string]*fakeApp{"k": {}})
	spec := w.spec(prodHost)
	spec.rules = append(spec.rules, rule("GET", "/v2", "hits", 2))
	w.system.setServices(spec.content())
	g := startGateway(t, w.config(EnvironmentProduction))

	// Two usages give two cache keys for one user_key (§1.1 step 4).
	expectStatus(t, "warm /v1", g.get(t, prodHost, "/v1?user_key=k"), 200)
	if a := g.get(t, prodHost, "/v2?user_key=k"); a.status != 200 {
		t.Fatalf("warm /v2: %d", a.status)
	}
	w.backend.srv.Close()
	for _, path := range []string{"/v1", "/v2"} {
		if a := g.get(t, prodHost, path+"?user_key=k"); a.status != 200 {
			t.Fatalf("%s: the one grace request got %d %q", path, a.status, a.body)
		}
		expect(t, path+" after its grace", g.get(t, prodHost, path+"?user_key=k"), 403, "Authentication failed")
	}
}

func TestBootFailsWithoutSystem(t *testing.T) {
	t.Run("system unreachable", func(t *testing.T) {
		l := listen(t)
		addr := l.Addr().String()
		l.Close() // nothing listens there any more: connections are refused
		err := runToExit(t, Config{
			Environment:          EnvironmentProduction,
			PortalEndpoint:       "http://" + masterToken + "@" + addr + "/master/api/proxy/configs",
			ConfigurationCache:   time.Minute,
			ConfigurationTimeout: 50 * time.Millisecond,
		})
		if err == nil {
			t.Fatal("Run returned nil; a production gateway must exit when it cannot boot")
		}
	})
	t.Run("wrong token", func(t *testing.T) {
		w := newWorld(t, nil)
		w.system.setServices(w.spec(prodHost).content())
		cfg := w.config(EnvironmentProduction)
		cfg.PortalEndpoint = strings.Replace(cfg.PortalEndpoint, masterToken, "wrong", 1)
		if err := runToExit(t, cfg); err == nil || !strings.Contains(err.Error(), "401") {
			t.Fatalf("Run = %v, want a boot error naming status 401", err)
		}
	})
	t.Run("cache off", func(t *testing.T) {
		w := newWorld(t, nil)
		cfg := w.config(EnvironmentProduction)
		cfg.ConfigurationCache = 0
		// APIcast's boot loader cannot keep a configuration without a cache and exits 0.
		if err := runToExit(t, cfg); err != nil {
			t.Fatalf("Run = %v, want nil", err)
		}
	})
}

// runToExit runs a gateway that is expected to stop by itself, and checks that its error and
// logs do not carry the token.
func runToExit(t *testing.T, cfg Config) error {
	t.Helper()
	logs := &testsupport.SyncBuffer{}
	cfg.Logger = slog.New(slog.NewJSONHandler(logs, nil))
	cfg.Listener, cfg.ManagementListener = listen(t), listen(t)
	done := make(chan error, 1)
	go func() { done <- Run(context.Background(), cfg) }()
	select {
	case err := <-done:
		if err != nil && strings.Contains(err.Error(), masterToken) {
			t.Errorf("error carries the token: %v", err)
		}
		if strings.Contains(logs.String(), masterToken) {
			t.Errorf("logs carry the token:\n%s", logs.String())
		}
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return")
		return nil
	}
}

func TestProductionKeepsLastConfigWhenSystemGoes(t *testing.T) {
	w := newWorld(t, map[string]*fakeApp{"k": {}})
	w.system.setServices(w.spec(prodHost).content())
	cfg := w.config(EnvironmentProduction)
	cfg.ConfigurationCache = 30 * time.Millisecond
	g := startGateway(t, cfg)

	if a := g.get(t, prodHost, "/v1?user_key=k"); a.status != 200 {
		t.Fatalf("before: %d", a.status)
	}
	w.system.srv.Close()
	testsupport.Eventually(t, 5*time.Second, "a failed refresh", func(context.Context) (bool, string) {
		return strings.Contains(g.logs.String(), "auto updating configuration failed"), "no such log line"
	})
	if a := g.get(t, prodHost, "/v1?user_key=k"); a.status != 200 {
		t.Fatalf("after system went away: %d %q", a.status, a.body)
	}
	expect(t, "ready", g.mgmtGet(t, "/status/ready"), 200, `{"status":"ready","success":true}`+"\n")
}

func TestStagingFailsWhileSystemIsDown(t *testing.T) {
	w := newWorld(t, map[string]*fakeApp{"k": {}})
	w.system.setServices(w.spec(prodHost).content())
	cfg := w.config(EnvironmentStaging)
	cfg.ConfigurationCache = 0 // the staging default
	g := startGateway(t, cfg)

	// Lazy mode is configured from the start (§2.4).
	if a := g.mgmtGet(t, "/status/ready"); a.status != 200 {
		t.Fatalf("staging ready before any request: %d %s", a.status, a.body)
	}
	before := w.system.hits.Load()
	for range 2 {
		if a := g.get(t, prodHost, "/v1?user_key=k"); a.status != 200 {
			t.Fatalf("with system up: %d %q", a.status, a.body)
		}
	}
	// No cache: one configuration load per request, asking for the request's host.
	if got := w.system.hits.Load() - before; got != 2 {
		t.Errorf("proxy-configs calls for 2 requests = %d, want 2", got)
	}
	if hosts := w.system.seenHosts(); len(hosts) == 0 || hosts[len(hosts)-1] != prodHost {
		t.Errorf("host parameters seen by system: %q", hosts)
	}

	w.system.srv.Close()
	expect(t, "staging request with system down", g.get(t, prodHost, "/v1?user_key=k"), 404, "")
	if a := g.mgmtGet(t, "/status/ready"); a.status != 200 {
		t.Errorf("staging ready with system down: %d", a.status)
	}
}

func TestLazyCacheServesStaleConfigWhileSystemIsDown(t *testing.T) {
	w := newWorld(t, map[string]*fakeApp{"k": {}})
	w.system.setServices(w.spec(prodHost).content())
	cfg := w.config(EnvironmentStaging)
	cfg.ConfigurationCache = 20 * time.Millisecond
	g := startGateway(t, cfg)

	expectStatus(t, "with system up", g.get(t, prodHost, "/v1?user_key=k"), 200)
	w.system.srv.Close()
	// Once the entry has expired the reload fails, and the stale entry is served (§2.3).
	testsupport.Eventually(t, 5*time.Second, "a stale configuration to be used", func(context.Context) (bool, string) {
		a := g.get(t, prodHost, "/v1?user_key=k")
		if a.status != 200 {
			t.Fatalf("with a stale configuration: %d %q", a.status, a.body)
		}
		return strings.Contains(g.logs.String(), "using stale configuration for host"), "no such log line"
	})
}

func TestRefreshPicksUpNewMappingRule(t *testing.T) {
	w := newWorld(t, map[string]*fakeApp{"k": {}})
	spec := w.spec(prodHost)
	w.system.setServices(spec.content())
	cfg := w.config(EnvironmentProduction)
	cfg.ConfigurationCache = 30 * time.Millisecond
	g := startGateway(t, cfg)

	expect(t, "before the new rule", g.get(t, prodHost, "/v2?user_key=k"), 404, "No Mapping Rule matched")
	spec.rules = append(spec.rules, rule("GET", "/v2$", "hits", 1))
	w.system.setServices(spec.content())
	testsupport.Eventually(t, 5*time.Second, "the new rule to be in force", func(context.Context) (bool, string) {
		a := g.get(t, prodHost, "/v2?user_key=k")
		return a.status == 200, fmt.Sprint(a.status, " ", a.body)
	})
}

func TestManagementEndpoints(t *testing.T) {
	w := newWorld(t, nil)
	g := startGateway(t, w.config(EnvironmentProduction)) // system has no services
	expect(t, "live", g.mgmtGet(t, "/status/live"), 200, `{"status":"live","success":true}`+"\n")
	expect(t, "ready without services", g.mgmtGet(t, "/status/ready"), 200,
		`{"status":"warning","warning":"no services","success":true}`+"\n")
	if a := g.mgmtGet(t, "/status/live"); a.header.Get("Content-Type") != "application/json" {
		t.Errorf("Content-Type %q", a.header.Get("Content-Type"))
	}

	// Before a boot configuration is in force the gateway is not ready.
	gw := newGateway(Config{ConfigurationLoader: LoaderBoot}, portal{}, slog.New(slog.DiscardHandler))
	rec := httptest.NewRecorder()
	gw.managementHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/status/ready", nil))
	if rec.Code != 412 || rec.Body.String() != `{"status":"error","error":"not configured","success":false}`+"\n" {
		t.Errorf("not configured: %d %s", rec.Code, rec.Body.String())
	}
}

func TestPathlessPortalEndpointPages(t *testing.T) {
	w := newWorld(t, map[string]*fakeApp{"k": {}})
	w.system.setServices(w.spec(prodHost).content())
	cfg := w.config(EnvironmentProduction)
	cfg.PortalEndpoint = "http://" + masterToken + "@" + strings.TrimPrefix(w.system.srv.URL, "http://")
	g := startGateway(t, cfg)
	if a := g.get(t, prodHost, "/v1?user_key=k"); a.status != 200 {
		t.Fatalf("got %d %q", a.status, a.body)
	}
}

// The boot loader re-arms its refresh timer only after a refresh has finished
// (APIcast@3scale-2.16.3-GA configuration_loader.lua boot.init_worker: handler →
// refresh_configuration → schedule(interval, handler)), so with a slow system every refresh
// starts at least one load time plus one period after the previous one.
func TestRefreshWaitsAPeriodAfterEachLoad(t *testing.T) {
	const load, period = 100 * time.Millisecond, 300 * time.Millisecond
	w := newWorld(t, map[string]*fakeApp{"k": {}})
	w.system.setServices(w.spec(prodHost).content())
	cfg := w.config(EnvironmentProduction)
	cfg.ConfigurationCache = period
	w.system.delay.Store(int64(load))
	startGateway(t, cfg)
	testsupport.Eventually(t, 10*time.Second, "five refreshes after boot", func(context.Context) (bool, string) {
		n := len(w.system.arrivals())
		return n >= 6, fmt.Sprintf("%d loads", n)
	})
	at := w.system.arrivals()
	for i := 1; i < len(at); i++ {
		if gap := at[i].Sub(at[i-1]); gap < load+period {
			t.Fatalf("load %d started %s after load %d; want at least %s (load %s + period %s): the refresh did not wait a period after the previous load", i, gap, i-1, load+period, load, period)
		}
	}
}

// APICAST_MANAGEMENT_API picks the management routes (APIcast@3scale-2.16.3-GA
// gateway/src/apicast/management.lua _M.router): the operator's "status" serves the probes;
// "disabled" answers GET / with 403 and nothing else, so a readiness probe fails; an unknown
// mode serves nothing.
func TestManagementAPIModes(t *testing.T) {
	w := newWorld(t, nil)
	env := func(mode string) func(string) string {
		return func(k string) string {
			return map[string]string{"THREESCALE_DEPLOYMENT_ENV": "staging", "THREESCALE_PORTAL_ENDPOINT": w.system.endpoint(), "APICAST_MANAGEMENT_API": mode}[k]
		}
	}
	for _, tc := range []struct {
		mode            string
		root, ready     int
		readyBody       string
		invalidModeLogs bool
	}{
		{mode: "", root: 404, ready: 200, readyBody: bodyNoServices},
		{mode: "status", root: 404, ready: 200, readyBody: bodyNoServices},
		{mode: "disabled", root: 403, ready: 404},
		{mode: "statuz", root: 404, ready: 404, invalidModeLogs: true},
	} {
		cfg, err := ConfigFromEnv(env(tc.mode))
		if err != nil {
			t.Fatal(err)
		}
		g := startGatewayNoWait(t, cfg)
		if a := g.mgmtGet(t, "/"); a.status != tc.root {
			t.Errorf("mode %q: GET / = %d, want %d", tc.mode, a.status, tc.root)
		}
		a := g.mgmtGet(t, "/status/ready")
		if a.status != tc.ready || (tc.readyBody != "" && a.body != tc.readyBody) {
			t.Errorf("mode %q: GET /status/ready = %d %q, want %d %q", tc.mode, a.status, a.body, tc.ready, tc.readyBody)
		}
		if got := strings.Contains(g.logs.String(), "invalid management api setting"); got != tc.invalidModeLogs {
			t.Errorf("mode %q: logged an invalid setting = %v, want %v", tc.mode, got, tc.invalidModeLogs)
		}
	}
	for _, mode := range []string{"debug", "policies"} {
		cfg, err := ConfigFromEnv(env(mode))
		if err != nil {
			t.Fatal(err)
		}
		if err := cfg.normalize(); err == nil {
			t.Errorf("mode %q is not modelled but was accepted", mode)
		}
	}
}
