package zync

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// APIConfig configures the zync HTTP API process.
type APIConfig struct {
	// Addr is where the API listens; zync's port is 8080 (research/porta-zync.md §5.2
	// "Service"). Ignored when Listener is set.
	Addr string
	// Listener, when set, is used instead of listening on Addr; RunAPI closes it.
	Listener net.Listener
	// DatabaseURL is zync-database, e.g. postgres://user:pass@zync-database:5432/zync.
	DatabaseURL string
	// AuthToken is ZYNC_AUTHENTICATION_TOKEN. When empty every request is accepted, as zync
	// does without a configured token (research/porta-zync.md §5.2 "Auth").
	AuthToken string
	// ConnectTimeout bounds each new database connection; 5s when 0 (§5.3).
	ConnectTimeout time.Duration
	// StatementTimeout is PostgreSQL's statement_timeout; 5s when 0 (§5.3).
	StatementTimeout time.Duration
	// RequestTimeout bounds the work of one request; 10s when 0.
	RequestTimeout time.Duration
	// SchemaRetry is the wait between attempts to create the schema at start; 1s when 0.
	SchemaRetry time.Duration
	// Logger receives start-up and request failures; nil means slog.Default().
	Logger *slog.Logger
}

func (c *APIConfig) normalize() error {
	if c.DatabaseURL == "" {
		return errors.New("DatabaseURL is required")
	}
	if c.Addr == "" && c.Listener == nil {
		c.Addr = ":8080"
	}
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = 5 * time.Second
	}
	if c.StatementTimeout == 0 {
		c.StatementTimeout = 5 * time.Second
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = 10 * time.Second
	}
	if c.SchemaRetry == 0 {
		c.SchemaRetry = time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// RunAPI runs the zync API until ctx ends.
//
// Before serving it creates zync's schema when missing, retrying until PostgreSQL answers,
// which stands for zync's init container waiting on the database and the `db:setup ||
// db:migrate` run at start (research/3scale-operator.md §4.2). After that it never needs a
// restart: every request takes a connection from a pool that redials, so requests answer 500
// while PostgreSQL is down and succeed again once it is back.
//
// Endpoints (research/porta-zync.md §5.2, §9 "zync"):
//   - PUT|PATCH /tenant: upsert {id, endpoint, access_token}; 201 when new, 200 otherwise.
//   - PUT|PATCH /notification: record the model, the notification and an UpdateJob in
//     que_jobs in one transaction; 404 for an unknown tenant, 422 for a type other than
//     Application, Proxy, Service or Provider (or a missing service_id where one is needed).
//   - GET /status/live: queries the database for the schema version; 500 when PostgreSQL is
//     down or the schema is gone (§5.3).
//   - GET /status/ready: always 200 with {"database":bool,"ok":bool}; like ActiveRecord's
//     connected?, "database" says whether the pool holds a connection, not whether it works.
//
// /tenant and /notification need `Authorization: Token token="<AuthToken>"` when AuthToken is
// set and answer 401 otherwise; the status endpoints are open. A database failure answers 500
// {"status":500,"error":"Internal Server Error"} (§5.3). RunAPI returns nil once ctx ends.
func RunAPI(ctx context.Context, cfg APIConfig) (err error) {
	defer func() {
		if err != nil && cfg.Listener != nil {
			_ = cfg.Listener.Close()
		}
	}()
	if err := cfg.normalize(); err != nil {
		return fmt.Errorf("zync: %w", err)
	}
	log := cfg.Logger.With("component", "zync")
	pool, err := newPool(ctx, cfg.DatabaseURL, cfg.ConnectTimeout, cfg.StatementTimeout, 4)
	if err != nil {
		return fmt.Errorf("zync: %w", err)
	}
	defer pool.Close()

	err = retryUntil(ctx, cfg.SchemaRetry, func(ctx context.Context) error {
		sctx, cancel := context.WithTimeout(ctx, cfg.ConnectTimeout+cfg.StatementTimeout)
		defer cancel()
		return ensureSchema(sctx, pool)
	}, func(err error) { log.Warn("waiting for the database", "err", err) })
	if err != nil {
		if ctx.Err() != nil {
			// Stopped while waiting for the database: a clean stop, not a failure.
			if cfg.Listener != nil {
				_ = cfg.Listener.Close()
			}
			return nil
		}
		return fmt.Errorf("zync: create schema: %w", err)
	}

	l := cfg.Listener
	if l == nil {
		var lc net.ListenConfig
		if l, err = lc.Listen(ctx, "tcp", cfg.Addr); err != nil {
			return fmt.Errorf("zync: listen: %w", err)
		}
	}
	a := &api{pool: pool, token: cfg.AuthToken, timeout: cfg.RequestTimeout, log: log}
	srv := &http.Server{
		Handler:           a.routes(),
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	log.Info("listening", "addr", l.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	select {
	case err := <-errc:
		return fmt.Errorf("zync: serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	return nil
}

type api struct {
	pool    *pgxpool.Pool
	token   string
	timeout time.Duration
	log     *slog.Logger
}

func (a *api) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status/live", a.live)
	mux.HandleFunc("GET /status/ready", a.ready)
	for _, m := range []string{"PUT", "PATCH"} {
		mux.Handle(m+" /tenant", a.authenticated(a.tenant))
		mux.Handle(m+" /notification", a.authenticated(a.notification))
	}
	return mux
}

// authenticated applies zync's token check (research/porta-zync.md §5.2 "Auth"): the token
// from `Authorization: Token token="…"` is compared through SHA-256 in constant time.
func (a *api) authenticated(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a.token != "" {
			got, ok := tokenFromHeader(r.Header.Get("Authorization"))
			g, e := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(a.token))
			if !ok || subtle.ConstantTimeCompare(g[:], e[:]) != 1 {
				w.Header().Set("WWW-Authenticate", `Token realm="Application"`)
				w.Header().Set("Content-Type", "text/html; charset=utf-8")
				w.WriteHeader(http.StatusUnauthorized)
				_, _ = io.WriteString(w, "HTTP Token: Access denied.\n")
				return
			}
		}
		ctx, cancel := context.WithTimeout(r.Context(), a.timeout)
		defer cancel()
		h(w, r.WithContext(ctx))
	})
}

// tokenFromHeader parses `Token token="abc", other="x"`, `Token abc` and the Bearer forms
// that Rails' token authentication accepts.
func tokenFromHeader(h string) (string, bool) {
	scheme, rest, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !(strings.EqualFold(scheme, "Token") || strings.EqualFold(scheme, "Bearer")) {
		return "", false
	}
	rest = strings.TrimSpace(rest)
	if !strings.HasPrefix(rest, "token=") {
		return rest, rest != ""
	}
	v := strings.TrimPrefix(rest, "token=")
	if strings.HasPrefix(v, `"`) {
		end := strings.Index(v[1:], `"`)
		if end < 0 {
			return "", false
		}
		return v[1 : end+1], true
	}
	v, _, _ = strings.Cut(v, ",")
	return strings.TrimSpace(v), v != ""
}

func (a *api) live(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), a.timeout)
	defer cancel()
	if err := checkSchema(ctx, a.pool); err != nil {
		a.log.Warn("liveness check failed", "err", err)
		serverError(w)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"live": true})
}

func (a *api) ready(w http.ResponseWriter, _ *http.Request) {
	connected := a.pool.Stat().TotalConns() > 0
	writeJSON(w, http.StatusOK, map[string]any{"database": connected, "ok": connected})
}

// tenantParams is the body system sends to PUT /tenant (research/porta-zync.md §5.1 step 2);
// Rails' parameter wrapping lets it come flat or under "tenant".
type tenantParams struct {
	ID          flexInt `json:"id"`
	Endpoint    string  `json:"endpoint"`
	AccessToken string  `json:"access_token"`
}

func (a *api) tenant(w http.ResponseWriter, r *http.Request) {
	var p tenantParams
	if !decodeWrapped(w, r, "tenant", &p) {
		return
	}
	errs := map[string][]string{}
	if p.ID == 0 {
		errs["id"] = []string{"can't be blank"}
	}
	if p.Endpoint == "" {
		errs["endpoint"] = []string{"can't be blank"}
	}
	if p.AccessToken == "" {
		errs["access_token"] = []string{"can't be blank"}
	}
	if len(errs) > 0 {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"errors": errs})
		return
	}
	var inserted bool
	var created, updated time.Time
	err := a.pool.QueryRow(r.Context(), `
		INSERT INTO tenants (id, endpoint, access_token, created_at, updated_at)
		VALUES ($1, $2, $3, now(), now())
		ON CONFLICT (id) DO UPDATE
			SET endpoint = EXCLUDED.endpoint, access_token = EXCLUDED.access_token, updated_at = now()
		RETURNING (xmax = 0), created_at, updated_at`,
		int64(p.ID), p.Endpoint, p.AccessToken).Scan(&inserted, &created, &updated)
	if err != nil {
		a.log.Warn("PUT /tenant failed", "err", err)
		serverError(w)
		return
	}
	status := http.StatusOK
	if inserted {
		status = http.StatusCreated
	}
	writeJSON(w, status, map[string]any{
		"id": int64(p.ID), "endpoint": p.Endpoint, "created_at": created, "updated_at": updated,
	})
}

// notificationParams is the ZyncEvent data system sends to PUT /notification
// (research/porta-zync.md §5.1 "Building the ZyncEvent").
type notificationParams struct {
	Type     string  `json:"type"`
	ID       flexInt `json:"id"`
	TenantID flexInt `json:"tenant_id"`
	// ServiceID is the parent of an Application or a Proxy.
	ServiceID flexInt `json:"service_id"`
}

// allowedModels are the types zync accepts (research/porta-zync.md §5.2 "PUT /notification").
var allowedModels = map[string]string{
	"Application": "applications",
	"Proxy":       "proxies",
	"Service":     "services",
	"Provider":    "providers",
}

// errNotFound carries the 404 answer (unknown tenant) out of the transaction.
var errNotFound = errors.New("not found")

// invalidError carries a 422 answer, as field → messages, out of the transaction.
type invalidError map[string][]string

func (e invalidError) Error() string { return fmt.Sprintf("invalid: %v", map[string][]string(e)) }

func (a *api) notification(w http.ResponseWriter, r *http.Request) {
	raw, ok := readBody(w, r)
	if !ok {
		return
	}
	var p notificationParams
	data, err := unwrap(raw, "notification", &p)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"status": 400, "error": "Bad Request"})
		return
	}
	var notificationID, modelID int64
	err = pgx.BeginFunc(r.Context(), a.pool, func(tx pgx.Tx) error {
		var exists bool
		if err := tx.QueryRow(r.Context(),
			`SELECT EXISTS (SELECT 1 FROM tenants WHERE id = $1)`, int64(p.TenantID)).Scan(&exists); err != nil {
			return err
		}
		if !exists {
			return errNotFound
		}
		var err error
		modelID, err = recordModel(r.Context(), tx, p)
		if err != nil {
			return err
		}
		if err := tx.QueryRow(r.Context(), `
			INSERT INTO notifications (model_id, tenant_id, data) VALUES ($1, $2, $3::jsonb) RETURNING id`,
			modelID, int64(p.TenantID), string(data)).Scan(&notificationID); err != nil {
			return err
		}
		_, err = enqueue(r.Context(), tx, updateJob, []any{globalID("Model", modelID)}, true)
		return err
	})
	var invalid invalidError
	switch {
	case errors.Is(err, errNotFound):
		writeJSON(w, http.StatusNotFound, map[string]any{"status": 404, "error": "Not Found"})
	case errors.As(err, &invalid):
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"errors": invalid})
	case err != nil:
		a.log.Warn("PUT /notification failed", "err", err)
		serverError(w)
	default:
		writeJSON(w, http.StatusCreated, map[string]any{
			"id": notificationID, "model_id": modelID, "tenant_id": int64(p.TenantID),
			"data": json.RawMessage(data),
		})
	}
}

// recordModel upserts the notified record (and the Service it belongs to) and its row in
// models, returning the model id.
func recordModel(ctx context.Context, tx pgx.Tx, p notificationParams) (int64, error) {
	table, ok := allowedModels[p.Type]
	if !ok {
		return 0, invalidError{"type": {"is not included in the list"}}
	}
	if p.ID == 0 {
		return 0, invalidError{"id": {"can't be blank"}}
	}
	tenant := int64(p.TenantID)
	switch p.Type {
	case "Application", "Proxy":
		if p.ServiceID == 0 {
			return 0, invalidError{"service": {"must exist"}}
		}
		if _, err := tx.Exec(ctx, `
			INSERT INTO services (id, tenant_id) VALUES ($1, $2)
			ON CONFLICT (id) DO UPDATE SET updated_at = now()`, int64(p.ServiceID), tenant); err != nil {
			return 0, err
		}
		if _, err := tx.Exec(ctx, `
			INSERT INTO `+table+` (id, tenant_id, service_id) VALUES ($1, $2, $3)
			ON CONFLICT (id) DO UPDATE SET service_id = EXCLUDED.service_id, updated_at = now()`,
			int64(p.ID), tenant, int64(p.ServiceID)); err != nil {
			return 0, err
		}
	default:
		if _, err := tx.Exec(ctx, `
			INSERT INTO `+table+` (id, tenant_id) VALUES ($1, $2)
			ON CONFLICT (id) DO UPDATE SET updated_at = now()`, int64(p.ID), tenant); err != nil {
			return 0, err
		}
	}
	var id int64
	err := tx.QueryRow(ctx, `
		INSERT INTO models (tenant_id, record_type, record_id) VALUES ($1, $2, $3)
		ON CONFLICT (record_type, record_id) DO UPDATE SET updated_at = now()
		RETURNING id`, tenant, p.Type, int64(p.ID)).Scan(&id)
	return id, err
}

// flexInt decodes an id sent as a JSON number or a numeric string.
type flexInt int64

func (f *flexInt) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	if s == "" || s == "null" {
		*f = 0
		return nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return err
	}
	*f = flexInt(n)
	return nil
}

const maxBody = 1 << 20

func readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"status": 400, "error": "Bad Request"})
		return nil, false
	}
	return raw, true
}

// unwrap decodes raw into v, taking the object under key when the body is wrapped the Rails
// way ({"tenant":{...}}), and returns the JSON object that was decoded.
func unwrap(raw []byte, key string, v any) (json.RawMessage, error) {
	var outer map[string]json.RawMessage
	if err := json.Unmarshal(raw, &outer); err != nil {
		return nil, err
	}
	data := json.RawMessage(raw)
	if inner, ok := outer[key]; ok && len(inner) > 0 && inner[0] == '{' {
		data = inner
	}
	return data, json.Unmarshal(data, v)
}

func decodeWrapped(w http.ResponseWriter, r *http.Request, key string, v any) bool {
	raw, ok := readBody(w, r)
	if !ok {
		return false
	}
	if _, err := unwrap(raw, key, v); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]any{"status": 400, "error": "Bad Request"})
		return false
	}
	return true
}

// serverError is Rails' API answer to an unhandled exception (research/porta-zync.md §5.3).
func serverError(w http.ResponseWriter) {
	writeJSON(w, http.StatusInternalServerError, map[string]any{"status": 500, "error": "Internal Server Error"})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
