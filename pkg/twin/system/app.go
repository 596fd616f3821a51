package system

import (
	"cmp"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// role is which of the three system-app containers a listener stands for (research/porta-zync.md §1.1).
type role int

const (
	roleMaster role = iota
	roleProvider
	roleDeveloper
)

func (r role) String() string {
	return [...]string{"master", "provider", "developer"}[r]
}

// app is one system-app pod: shared state of the three listeners.
type app struct {
	cfg     AppConfig
	db      *sql.DB
	rdb     *redis.Client // system-redis: Sidekiq's store (§4.1)
	brdb    *redis.Client // backend-redis storage: analytics (§2)
	cache   *cache
	backend *backendClient
	search  *searchd
	log     *slog.Logger
	// sessionKey signs the _system_session and user_session cookies (Rails uses
	// secret_key_base).
	sessionKey []byte
	// ready is set once the schema exists and the seed ran; until then (MySQL not reachable at
	// start) requests that need the database answer 500 like any MySQL failure.
	ready atomic.Bool
}

// RunApp serves system-app until ctx ends: the master, provider and developer listeners of
// research/porta-zync.md §1.1 on one process, with MySQL as the state (schema created and
// seeded at start, retried in the background while MySQL does not answer), memcached as a
// cache it can live without, system-redis for Sidekiq jobs, backend-redis for analytics,
// searchd for search and backend-listener's internal API for synchronous syncs (§4.2).
func RunApp(ctx context.Context, cfg AppConfig) error {
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("system-app config: %w", err)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.BackendPublicURL == "" {
		cfg.BackendPublicURL = cfg.BackendURL
	}
	dsn, dbName, err := mysqlDSN(cfg.DatabaseURL, cfg.DBTimeout)
	if err != nil {
		return err
	}
	db, err := sql.Open("mysql", dsn(dbName))
	if err != nil {
		return fmt.Errorf("system-mysql: %w", err)
	}
	defer db.Close()
	// Connections are kept as ActiveRecord's pool keeps them (porta@3scale-2.16.4-GA:
	// config/examples/database.yml, copied into the image by openshift/system/Dockerfile:10:
	// pool RAILS_MAX_THREADS; activerecord 7.0.8.7's idle_timeout, 300 s by default, reaps a
	// connection idle that long), not opened and closed around most requests: a new
	// connection costs a DNS lookup, a TCP and a MySQL handshake, whose tail on a loaded node
	// is hundreds of milliseconds.
	db.SetMaxOpenConns(20)
	db.SetMaxIdleConns(20)
	db.SetConnMaxIdleTime(5 * time.Minute)
	rdb, err := redisClient(cfg.RedisURL)
	if err != nil {
		return fmt.Errorf("system-redis: %w", err)
	}
	defer rdb.Close()
	sessionKey := make([]byte, 32)
	if _, err := rand.Read(sessionKey); err != nil {
		return err
	}
	a := &app{cfg: cfg, db: db, rdb: rdb, log: cfg.Logger.With("component", "system-app"), sessionKey: sessionKey,
		cache:   newCache(cfg.MemcacheServers, cfg.Logger),
		backend: newBackendClient(cfg.Stores, cmp.Or(cfg.BackendTimeout, webBackendTimeout), cmp.Or(cfg.BackendOpenTimeout, webBackendOpenTimeout)),
	}
	if cfg.BackendRedisURL != "" {
		if a.brdb, err = redisClient(cfg.BackendRedisURL); err != nil {
			return fmt.Errorf("backend-redis: %w", err)
		}
		defer a.brdb.Close()
	}
	if cfg.SearchdAddr != "" {
		if a.search, err = openSearchd(cfg.SearchdAddr); err != nil {
			return err
		}
		defer a.search.close()
	}

	listeners := map[role]string{roleMaster: cfg.MasterAddr, roleProvider: cfg.ProviderAddr, roleDeveloper: cfg.DeveloperAddr}
	servers := make([]*http.Server, 0, 3)
	errc := make(chan error, 3)
	for _, rl := range []role{roleMaster, roleProvider, roleDeveloper} {
		ln, err := net.Listen("tcp", listeners[rl])
		if err != nil {
			for _, s := range servers {
				_ = s.Close()
			}
			return fmt.Errorf("system-%s listen %s: %w", rl, listeners[rl], err)
		}
		srv := &http.Server{Handler: a.handler(rl), ReadHeaderTimeout: 10 * time.Second}
		servers = append(servers, srv)
		go func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("system-%s: %w", rl, err)
			}
		}()
		a.log.Info("listening", "role", rl.String(), "addr", ln.Addr().String())
	}
	go a.bootstrap(ctx, dbName)

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
	}
	shCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, s := range servers {
		_ = s.Shutdown(shCtx)
	}
	return runErr
}

// bootstrap creates the schema and seeds, retrying until MySQL answers.
func (a *app) bootstrap(ctx context.Context, dbName string) {
	delay := 500 * time.Millisecond
	for ctx.Err() == nil {
		db, err := openDB(ctx, a.cfg.DatabaseURL, a.cfg.DBTimeout)
		if err == nil {
			err = a.seed(ctx, db)
			_ = db.Close()
		}
		if err == nil {
			a.ready.Store(true)
			a.log.Info("database ready", "database", dbName)
			return
		}
		a.log.Warn("database not ready, retrying", "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(delay):
		}
		delay = min(delay*2, 5*time.Second)
	}
}

// redisClient opens a go-redis client that fails fast when the server is gone: porta does not
// buffer enqueues (§4.3), so a refused connection must surface in the request. porta's client
// (redis-client under Sidekiq 7 at 3scale-2.16.4-GA; config/examples/redis.yml sets no
// reconnect or timeout options) tries one connect and raises CannotConnectError, so a
// refused dial is not retried here either: go-redis would otherwise dial five times with
// back-off for every pooled connection, and a write would take seconds to answer 500.
func redisClient(u string) (*redis.Client, error) {
	opt, err := redis.ParseURL(u)
	if err != nil {
		return nil, err
	}
	opt.DialTimeout = 2 * time.Second
	opt.ReadTimeout = 3 * time.Second
	opt.WriteTimeout = 3 * time.Second
	opt.MaxRetries = 0
	opt.DialerRetries = 1
	return redis.NewClient(opt), nil
}

// internalHost is porta's apicast_internal_host_regexp: these Hosts skip the https redirect (§1.3).
var internalHost = regexp.MustCompile(`\Asystem-(master|provider|developer)\z`)

// isInternalHost reports whether a Host skips the https redirect: porta's in-cluster Service
// names, and on the twin's host network their equivalent, a loopback address, which is how
// APIcast and sidekiq's check-svc reach system here. Tenant domains still need
// X-Forwarded-Proto: https, as on a real cluster.
func isInternalHost(h string) bool {
	if internalHost.MatchString(h) {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback() || h == "localhost"
}

// requestHost is the Host Rails sees: X-Forwarded-Host when present (§1.2), without the port.
func requestHost(r *http.Request) string {
	h := r.Host
	if fh := r.Header.Get("X-Forwarded-Host"); fh != "" {
		h, _, _ = strings.Cut(fh, ",")
		h = strings.TrimSpace(h)
	}
	if host, _, err := net.SplitHostPort(h); err == nil {
		h = host
	}
	return strings.ToLower(strings.TrimSuffix(h, "."))
}

type ctxKey int

const formatKey ctxKey = 0

// requestFormat is the suffix the path carried ("json", "xml"), or "" for none.
func requestFormat(r *http.Request) string {
	f, _ := r.Context().Value(formatKey).(string)
	return f
}

// roleMux is one role's routes.
func (a *app) roleMux(rl role) *http.ServeMux {
	mux := http.NewServeMux()
	a.routes(rl, mux)
	return mux
}

// routesFor is what a listener routes by. The three system-app containers run the same Rails
// application, and its routes choose by Host (porta@3scale-2.16.4-GA:config/routes.rb with
// lib/routing_constraints.rb), except where the container's TENANT_MODE says otherwise
// (3scale-operator@3scale-2.16.3-GA:pkg/3scale/amp/component/system.go: master has
// TENANT_MODE=master, provider TENANT_MODE=provider, developer none):
//   - system-master: production settings have onpremises true (config/examples/settings.yml), so
//     with tenant_mode master ThreeScale.master_on_premises? holds, MasterDomainConstraint
//     matches every Host, BuyerDomainConstraint none, and the site account is the master
//     account whatever the Host (lib/developer_portal/lib/site_account_support.rb
//     MasterDomainWildcard). Its listener serves the master routes only.
//   - system-provider and system-developer: a master domain is served as master, a tenant's
//     admin domain (self_domain) as that provider's admin portal and API, a tenant's developer
//     portal domain as its developer portal — on either container, so a Service per container
//     and any Route to it behave as in a real install. A Host no account has, a Service name
//     or loopback, keeps the container's own routes, whose answers are then porta's for an
//     unknown domain (403 Access denied on the API, 404 on the portals).
func (a *app) routesFor(rl role) http.Handler {
	if rl == roleMaster {
		return a.roleMux(rl)
	}
	byRole := map[role]http.Handler{roleMaster: a.roleMux(roleMaster), roleProvider: a.roleMux(roleProvider), roleDeveloper: a.roleMux(roleDeveloper)}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		byRole[a.hostRole(r.Context(), requestHost(r), rl)].ServeHTTP(w, r)
	})
}

// hostRole is the role a Host asks for on a provider or developer listener: the constraints of
// porta@3scale-2.16.4-GA:lib/routing_constraints.rb, each an uncached MySQL lookup there too.
// MasterDomainConstraint (the master account's admin domain or domain) comes first, then
// ProviderDomainConstraint (a tenant's self_domain, not scheduled for deletion), then
// BuyerDomainConstraint (an account's domain). With MySQL unreachable the listener's own routes
// answer, and fail there as porta's constraint queries would.
func (a *app) hostRole(ctx context.Context, host string, fallback role) role {
	if a.needDB() != nil || host == "" {
		return fallback
	}
	var kind string
	var admin bool
	err := a.db.QueryRowContext(ctx, `SELECT kind, admin_domain=? FROM accounts
		WHERE (admin_domain=? OR domain=?) AND kind IN ('master','provider') AND state<>'scheduled_for_deletion'
		ORDER BY kind='master' DESC, admin_domain=? DESC LIMIT 1`, host, host, host, host).Scan(&kind, &admin)
	switch {
	case err != nil:
		return fallback
	case kind == "master":
		return roleMaster
	case admin:
		return roleProvider
	default:
		return roleDeveloper
	}
}

// slowRequest is the duration from which a request is logged as slow (a fifth of the
// harness's default sample timeout).
const slowRequest = time.Second

// handler is one listener's stack: panic guard, the https redirect (§1.3), format suffix
// stripping (§1.5: every API path takes .json/.xml), then the routes (routesFor).
func (a *app) handler(rl role) http.Handler {
	mux := a.routesFor(rl)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		defer func() {
			// A slow answer is logged whatever its status: a harness sample that timed out
			// finds here whether the twin saw the request and how long it took.
			if d := time.Since(start); d >= slowRequest {
				a.log.Warn("slow request", "method", r.Method, "path", r.URL.Path, "took", d.Round(time.Millisecond))
			}
		}()
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				a.log.Error("panic serving request", "path", r.URL.Path, "panic", p)
				http.Error(w, "Internal Server Error", http.StatusInternalServerError)
			}
		}()
		if a.cfg.ForceSSL && !strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") && !isInternalHost(requestHost(r)) {
			target := "https://" + r.Host + r.URL.RequestURI()
			if fh := r.Header.Get("X-Forwarded-Host"); fh != "" {
				target = "https://" + fh + r.URL.RequestURI()
			}
			http.Redirect(w, r, target, http.StatusMovedPermanently)
			return
		}
		format := ""
		p := r.URL.Path
		for _, ext := range []string{".json", ".xml"} {
			if strings.HasSuffix(p, ext) {
				format = ext[1:]
				p = strings.TrimSuffix(p, ext)
				break
			}
		}
		r2 := r.WithContext(context.WithValue(r.Context(), formatKey, format))
		if format != "" {
			u := *r.URL
			u.Path, u.RawPath = p, ""
			r2.URL = &u
		}
		parseBodyOfAnyMethod(r2)
		mux.ServeHTTP(w, r2)
	})
}

// parseBodyOfAnyMethod makes a form-encoded body part of the parameters whatever the method,
// as Rack does (Rack::Request#form_data? looks at the media type, not the method), so a
// DELETE with access_token in its body authenticates as in porta. net/http reads the body of
// POST, PUT and PATCH only.
func parseBodyOfAnyMethod(r *http.Request) {
	switch r.Method {
	case http.MethodPost, http.MethodPut, http.MethodPatch:
		return
	}
	if r.Body == nil || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		return
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, 10<<20))
	if err != nil {
		return
	}
	vals, err := url.ParseQuery(string(raw))
	if err != nil {
		return
	}
	_ = r.ParseForm()
	r.PostForm = vals
	for k, vs := range vals {
		r.Form[k] = append(r.Form[k], vs...)
	}
}

// httpError is an answer decided by a handler: a status with a body rendered in the request's
// format (§1.5).
type httpError struct {
	status int
	body   any
}

func (e *httpError) Error() string { return fmt.Sprintf("HTTP %d", e.status) }

var (
	errAccessDenied    = &httpError{http.StatusForbidden, map[string]string{"error": "Access denied"}}
	errWrongScope      = &httpError{http.StatusForbidden, map[string]string{"error": "Your access token does not have the correct permissions"}}
	errNotFound        = &httpError{http.StatusNotFound, map[string]string{"status": "Not found"}}
	errConflict        = &httpError{http.StatusConflict, nil}
	errInvalidEnv      = &httpError{http.StatusBadRequest, map[string]string{"error": "invalid environment"}}
	errMasterOnPremise = &httpError{http.StatusForbidden, map[string]string{"error": "Access denied"}}
)

// invalid is a validation failure: 422 {"errors":{"field":["msg"]}} (§1.5).
func invalid(field, msg string) error {
	return &httpError{http.StatusUnprocessableEntity, map[string]any{"errors": map[string][]string{field: {msg}}}}
}

func badRequest(msg string) error {
	return &httpError{http.StatusBadRequest, map[string]string{"error": msg}}
}

// writeBody renders body as JSON or XML. A nil body writes the status alone.
func writeBody(w http.ResponseWriter, format string, status int, body any) {
	if body == nil {
		w.WriteHeader(status)
		return
	}
	if format == "xml" {
		if status == http.StatusNotFound {
			// ErrorHandling#handle_error answers XML with head :not_found
			// (porta@3scale-2.16.4-GA:app/controllers/concerns/error_handling.rb:61).
			w.WriteHeader(status)
			return
		}
		w.Header().Set("Content-Type", "application/xml; charset=utf-8")
		w.WriteHeader(status)
		_, _ = w.Write(toXML(body))
		return
	}
	b, err := json.Marshal(body)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"status":500,"error":"Internal Server Error"}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// internalError is Rails' PublicExceptions answer to an unhandled exception: JSON for .json
// requests, the static 500 page otherwise (§1.5).
func internalError(w http.ResponseWriter, format string) {
	body := struct {
		Status int    `json:"status"`
		Error  string `json:"error"`
	}{500, "Internal Server Error"}
	switch format {
	case "json", "xml":
		writeBody(w, format, http.StatusInternalServerError, body)
	default:
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte(page500))
	}
}

const page500 = `<!DOCTYPE html>
<html><head><title>We're sorry, but something went wrong (500)</title></head>
<body><div class="dialog"><h1>We're sorry, but something went wrong.</h1></div></body></html>
`

// fail writes err: an httpError as decided, anything else as a 500 (a dependency failed).
func (a *app) fail(w http.ResponseWriter, r *http.Request, format string, err error) {
	var he *httpError
	if errors.As(err, &he) {
		writeBody(w, format, he.status, he.body)
		return
	}
	a.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	internalError(w, format)
}
