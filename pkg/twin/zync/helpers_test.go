package zync

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"k8s.io/client-go/rest"

	"github.com/threescale-chaos/harness/internal/testsupport"
)

const (
	testZyncToken   = "zync-secret"
	testSystemToken = "oidc-sync-token"
	testTenantID    = 2
)

// systemStandIn serves the few porta Account Management API endpoints zync-que calls
// (research/porta-zync.md §5.2 "FetchService", envelopes per §1.5). It is a stand-in until the
// twin's conformance suite runs zync against the real system twin.
type systemStandIn struct {
	srv *httptest.Server

	mu               sync.Mutex
	status           int // when non-zero, every entity request answers it
	deploymentOption string
	requests         int
}

var proxyPath = regexp.MustCompile(`^/admin/api/services/(\d+)/proxy\.json$`)

func newSystemStandIn(t *testing.T) *systemStandIn {
	s := &systemStandIn{deploymentOption: "hosted"}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *systemStandIn) setStatus(code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status = code
}

func (s *systemStandIn) setDeploymentOption(o string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deploymentOption = o
}

func (s *systemStandIn) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests++
	status, option := s.status, s.deploymentOption
	s.mu.Unlock()
	reply := func(code int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(v)
	}
	if r.URL.Query().Get("access_token") != testSystemToken {
		reply(http.StatusForbidden, map[string]string{"error": "Access denied"})
		return
	}
	if status != 0 {
		reply(status, map[string]any{"status": status, "error": http.StatusText(status)})
		return
	}
	switch {
	case r.URL.Path == "/admin/api/applications/find.json":
		id, _ := strconv.Atoi(r.URL.Query().Get("application_id"))
		if id >= 900 { // ids from 900 on stand for deleted applications
			reply(http.StatusNotFound, map[string]string{"status": "Not found"})
			return
		}
		reply(http.StatusOK, map[string]any{"application": map[string]any{
			"id": id, "state": "live", "service_id": 1, "application_id": fmt.Sprintf("app-%d", id)}})
	case proxyPath.MatchString(r.URL.Path):
		sid, _ := strconv.Atoi(proxyPath.FindStringSubmatch(r.URL.Path)[1])
		reply(http.StatusOK, map[string]any{"proxy": map[string]any{
			"service_id":        sid,
			"endpoint":          "https://api-3scale-apicast-production.example.test:443",
			"sandbox_endpoint":  "https://api-3scale-apicast-staging.example.test:443",
			"deployment_option": option,
		}})
	case r.URL.Path == "/admin/api/provider.json":
		reply(http.StatusOK, map[string]any{"account": map[string]any{"id": testTenantID, "org_name": "3scale"}})
	default:
		reply(http.StatusNotFound, map[string]string{"status": "Not found"})
	}
}

// testEnv is one PostgreSQL, one system stand-in, and zync processes started on demand.
type testEnv struct {
	t      *testing.T
	pg     *pgServer
	system *systemStandIn
	apiURL string
}

func quietLogger() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func newTestEnv(t *testing.T) *testEnv {
	t.Helper()
	return &testEnv{t: t, pg: startPostgres(t), system: newSystemStandIn(t)}
}

// startAPI runs RunAPI until the test ends and waits until /status/live answers 200.
func (e *testEnv) startAPI() {
	e.t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		e.t.Fatal(err)
	}
	e.apiURL = "http://" + l.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- RunAPI(ctx, APIConfig{Listener: l, DatabaseURL: e.pg.URL(), AuthToken: testZyncToken,
			ConnectTimeout: 2 * time.Second, SchemaRetry: 100 * time.Millisecond, Logger: quietLogger()})
	}()
	e.t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			e.t.Errorf("RunAPI: %v", err)
		}
	})
	testsupport.Eventually(e.t, 20*time.Second, "zync /status/live 200", func(context.Context) (bool, string) {
		code, body := e.get("/status/live")
		return code == http.StatusOK, fmt.Sprintf("%d %s", code, body)
	})
}

// startQue runs RunQue until the returned stop is called (or the test ends).
func (e *testEnv) startQue(rc *rest.Config, namespace string) (stop func()) {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- RunQue(ctx, QueConfig{DatabaseURL: e.pg.URL(), Workers: 2, PollInterval: 100 * time.Millisecond,
			ConnectTimeout: 2 * time.Second, SystemTimeout: 3 * time.Second,
			RESTConfig: rc, Namespace: namespace, Logger: quietLogger()})
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				e.t.Errorf("RunQue: %v", err)
			}
		})
	}
	e.t.Cleanup(stop)
	return stop
}

var httpClient = &http.Client{Timeout: 15 * time.Second}

func (e *testEnv) get(path string) (int, string) {
	resp, err := httpClient.Get(e.apiURL + path)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// put sends a PUT the way system's ZyncWorker does (research/porta-zync.md §5.1 "Headers").
func (e *testEnv) put(path, token string, body any) (int, string) {
	e.t.Helper()
	b, _ := json.Marshal(body)
	req, err := http.NewRequest(http.MethodPut, e.apiURL+path, bytes.NewReader(b))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Event-Id", "1")
	if token != "" {
		req.Header.Set("Authorization", fmt.Sprintf("Token token=%q", token))
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	rb, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(rb)
}

func (e *testEnv) putTenant() {
	e.t.Helper()
	code, body := e.put("/tenant", testZyncToken, map[string]any{
		"id": testTenantID, "endpoint": e.system.srv.URL, "access_token": testSystemToken})
	if code != http.StatusCreated && code != http.StatusOK {
		e.t.Fatalf("PUT /tenant: %d %s", code, body)
	}
}

func (e *testEnv) notify(typ string, id int, extra map[string]any) (int, string) {
	e.t.Helper()
	body := map[string]any{"type": typ, "id": id, "tenant_id": testTenantID,
		"parent_event_id": 1, "parent_event_type": "Applications::ApplicationUpdatedEvent"}
	for k, v := range extra {
		body[k] = v
	}
	return e.put("/notification", testZyncToken, body)
}

func (e *testEnv) mustNotify(typ string, id int, extra map[string]any) {
	e.t.Helper()
	if code, body := e.notify(typ, id, extra); code != http.StatusCreated {
		e.t.Fatalf("PUT /notification %s %d: %d %s", typ, id, code, body)
	}
}

// query runs one SQL statement on a fresh connection, so the test's own view of the database
// never depends on a pool surviving a restart.
func (e *testEnv) query(sql string, args ...any) (int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, e.pg.URL())
	if err != nil {
		return 0, err
	}
	defer c.Close(ctx)
	var n int64
	err = c.QueryRow(ctx, sql, args...).Scan(&n)
	return n, err
}

func (e *testEnv) mustQuery(sql string, args ...any) int64 {
	e.t.Helper()
	n, err := e.query(sql, args...)
	if err != nil {
		e.t.Fatalf("%s: %v", sql, err)
	}
	return n
}

func (e *testEnv) exec(sql string, args ...any) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, e.pg.URL())
	if err != nil {
		e.t.Fatal(err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, sql, args...); err != nil {
		e.t.Fatalf("%s: %v", sql, err)
	}
}

// waitCount waits until sql returns want.
func (e *testEnv) waitCount(timeout time.Duration, want int64, sql string, args ...any) {
	e.t.Helper()
	testsupport.Eventually(e.t, timeout, fmt.Sprintf("%q = %d", sql, want), func(context.Context) (bool, string) {
		n, err := e.query(sql, args...)
		if err != nil {
			return false, err.Error()
		}
		return n == want, fmt.Sprint(n)
	})
}

// pendingJobs is the harness's own zync-que check (research/porta-zync.md §5.3).
const pendingJobs = `SELECT count(*) FROM que_jobs WHERE finished_at IS NULL AND expired_at IS NULL`
