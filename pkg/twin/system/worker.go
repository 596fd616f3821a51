package system

import (
	"bytes"
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/threescale-chaos/harness/pkg/twin/system/sidekiq"
)

// worker is system-sidekiq's job code: what each porta worker class does, against the same
// stores system-app uses (research/porta-zync.md §3.1, §4.2, §5.1).
type worker struct {
	cfg     SidekiqConfig
	db      *sql.DB
	rdb     *redis.Client
	backend *backendClient
	search  *searchd
	zync    *http.Client
	log     *slog.Logger
}

// RunSidekiq runs system-sidekiq until ctx ends: sidekiq.Run over system-redis with a handler
// per porta job class the twin enqueues and Zync's own retry schedule. EventsFetchWorker is
// queued only by backend's events hook (/master/events/import), as in porta: nothing in its
// Sidekiq cron schedule imports events (porta@3scale-2.16.4-GA:app/lib/events.rb
// async_fetch_backend_events!, called only from app/controllers/master/events/imports_controller.rb;
// openshift/system/config/sidekiq_schedule.yml, app/lib/three_scale/jobs.rb). So while system
// cannot answer the hook, alert events wait in backend.
func RunSidekiq(ctx context.Context, cfg SidekiqConfig) error {
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("system-sidekiq config: %w", err)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.RetryScale <= 0 {
		cfg.RetryScale = 1
	}
	dsn, dbName, err := mysqlDSN(cfg.DatabaseURL, 0)
	if err != nil {
		return err
	}
	db, err := sql.Open("mysql", dsn(dbName))
	if err != nil {
		return fmt.Errorf("system-mysql: %w", err)
	}
	defer db.Close()
	db.SetMaxOpenConns(10)
	rdb, err := redisClient(cfg.RedisURL)
	if err != nil {
		return fmt.Errorf("system-redis: %w", err)
	}
	defer rdb.Close()
	w := &worker{cfg: cfg, db: db, rdb: rdb, log: cfg.Logger.With("component", "system-sidekiq"),
		backend: newBackendClient(cfg.Stores, cmp.Or(cfg.BackendTimeout, sidekiqBackendTimeout), cmp.Or(cfg.BackendOpenTimeout, sidekiqBackendOpenTimeout)),
		// Zync timeouts: connect 5 s, send 5 s, receive 10 s (§5.1).
		zync: &http.Client{Timeout: 20 * time.Second},
	}
	if cfg.SearchdAddr != "" {
		if w.search, err = openSearchd(cfg.SearchdAddr); err != nil {
			return err
		}
		defer w.search.close()
	}
	scale := func(f func(int) time.Duration) sidekiq.RetryIn {
		return func(n int) time.Duration { return time.Duration(float64(f(n)) * cfg.RetryScale) }
	}
	return sidekiq.Run(ctx, sidekiq.ServerConfig{
		Redis:        rdb,
		Concurrency:  cfg.Concurrency,
		Heartbeat:    cfg.Heartbeat,
		PollInterval: cfg.PollInterval,
		Identity:     cfg.Identity,
		Logger:       w.log,
		Handlers: map[string]sidekiq.Handler{
			ClassSphinxIndexation:             w.sphinxIndexation,
			ClassSphinxAccountIndexation:      w.sphinxAccountIndexation,
			ClassBackendMetric:                w.backendMetric,
			ClassBackendUpdateApplicationPlan: w.updateApplicationPlan,
			ClassZync:                         w.zyncWorker,
			ClassBackendDeleteService:         w.backendDeleteService,
			ClassBackendDeleteApplication:     w.backendDeleteApplication,
			ClassDeleteObjectHierarchy:        w.deleteObjectHierarchy,
			ClassMailDelivery:                 w.mailDelivery,
			ClassEventsFetch:                  w.eventsFetch,
			ClassCreateServiceToken:           w.createServiceToken,
			ClassPersistEvent:                 w.persistEvent,
			ClassEventImport:                  w.eventImport,
			ClassSignup:                       w.signupWorker,
			ClassSampleData:                   w.sampleData,
			ClassImportSimpleLayout:           w.importSimpleLayout,
			ClassAudited:                      w.audited,
			ClassPublishEnabledChanged:        w.publishEnabledChanged,
			ClassProcessNotificationEvent:     w.processNotificationEvent,
			ClassUserNotification:             w.userNotification,
		},
		RetryIn: map[string]sidekiq.RetryIn{
			// ZyncWorker's own sidekiq_retry_in (§5.1); the rest keep Sidekiq's default
			// count⁴ + 15 + rand(10)·(count+1) (§3.2 "Writes"), scaled alike.
			ClassZync:                         scale(sidekiq.ZyncWorkerRetryIn),
			ClassSphinxIndexation:             scale(sidekiq.DefaultRetryIn),
			ClassSphinxAccountIndexation:      scale(sidekiq.DefaultRetryIn),
			ClassBackendMetric:                scale(sidekiq.DefaultRetryIn),
			ClassBackendUpdateApplicationPlan: scale(sidekiq.DefaultRetryIn),
			ClassBackendDeleteService:         scale(sidekiq.DefaultRetryIn),
			ClassBackendDeleteApplication:     scale(sidekiq.DefaultRetryIn),
			ClassDeleteObjectHierarchy:        scale(sidekiq.DefaultRetryIn),
			ClassMailDelivery:                 scale(sidekiq.DefaultRetryIn),
			ClassEventsFetch:                  scale(sidekiq.DefaultRetryIn),
			ClassCreateServiceToken:           scale(sidekiq.DefaultRetryIn),
			ClassPersistEvent:                 scale(sidekiq.DefaultRetryIn),
			ClassEventImport:                  scale(sidekiq.DefaultRetryIn),
			ClassSignup:                       scale(sidekiq.DefaultRetryIn),
			ClassSampleData:                   scale(sidekiq.DefaultRetryIn),
			ClassImportSimpleLayout:           scale(sidekiq.DefaultRetryIn),
			ClassAudited:                      scale(sidekiq.DefaultRetryIn),
			ClassPublishEnabledChanged:        scale(sidekiq.DefaultRetryIn),
			ClassProcessNotificationEvent:     scale(sidekiq.DefaultRetryIn),
			ClassUserNotification:             scale(sidekiq.DefaultRetryIn),
		},
	})
}

// --- argument decoding ---

func argInt(j sidekiq.Job, i int) (int64, error) {
	if i >= len(j.Args) {
		return 0, fmt.Errorf("%s: missing argument %d", j.Name(), i)
	}
	var n json.Number
	if err := json.Unmarshal(j.Args[i], &n); err != nil {
		var s string
		if json.Unmarshal(j.Args[i], &s) != nil {
			return 0, fmt.Errorf("%s: argument %d: %w", j.Name(), i, err)
		}
		n = json.Number(s)
	}
	return n.Int64()
}

func argString(j sidekiq.Job, i int) (string, error) {
	if i >= len(j.Args) {
		return "", fmt.Errorf("%s: missing argument %d", j.Name(), i)
	}
	var s string
	if err := json.Unmarshal(j.Args[i], &s); err == nil {
		return s, nil
	}
	var m struct {
		Value string `json:"value"`
	}
	if err := json.Unmarshal(j.Args[i], &m); err != nil || m.Value == "" {
		return "", fmt.Errorf("%s: argument %d is not a string", j.Name(), i)
	}
	return m.Value, nil
}

// --- search indexing (§3.1) ---

// sphinxIndexation is SphinxIndexationWorker(model, id): the record is written into its
// real-time index, or removed from it when it no longer exists (or is deleted).
func (w *worker) sphinxIndexation(ctx context.Context, j sidekiq.Job) error {
	model, err := argString(j, 0)
	if err != nil {
		return err
	}
	rid, err := argInt(j, 1)
	if err != nil {
		return err
	}
	if w.search == nil {
		return errors.New("searchd: not configured")
	}
	var index, q string
	switch model {
	case "Service":
		index, q = "service_core", `SELECT account_id, name, system_name, COALESCE(description,''), state FROM services WHERE id=? AND state<>'deleted'`
	case "BackendApi":
		index, q = "backend_api_core", `SELECT account_id, name, system_name, COALESCE(description,''), COALESCE(private_endpoint,'') FROM backend_apis WHERE id=? AND state<>'deleted'`
	case "Metric":
		index, q = "metric_core", `SELECT COALESCE(s.account_id, b.account_id), m.friendly_name, m.system_name, COALESCE(m.description,''), m.owner_id, m.owner_type
			FROM metrics m LEFT JOIN services s ON m.owner_type='Service' AND s.id=m.owner_id LEFT JOIN backend_apis b ON m.owner_type='BackendApi' AND b.id=m.owner_id WHERE m.id=?`
	case "Plan":
		index, q = "plan_core", `SELECT s.account_id, p.name, p.system_name, p.issuer_id FROM plans p JOIN services s ON s.id=p.issuer_id WHERE p.id=?`
	case "ProxyRule":
		index, q = "proxy_rule_core", `SELECT COALESCE(s.account_id, b.account_id), r.pattern, r.http_method, r.owner_id, r.owner_type
			FROM proxy_rules r LEFT JOIN proxies p ON r.owner_type='Proxy' AND p.id=r.owner_id LEFT JOIN services s ON s.id=p.service_id
			LEFT JOIN backend_apis b ON r.owner_type='BackendApi' AND b.id=r.owner_id WHERE r.id=?`
	case "CMS::Page":
		// The index's scope: searchable pages with published content (app/indices/cms_page_index.rb).
		index, q = "cms_page_core", `SELECT account_id, title, published FROM cms_pages WHERE id=? AND searchable=1 AND published IS NOT NULL`
	default:
		w.log.Info("no index for model, skipping", "model", model)
		return nil
	}
	row := w.db.QueryRowContext(ctx, q, rid)
	var tenant sql.NullInt64
	var vals map[string]any
	switch model {
	case "Service":
		var name, sys, desc, state string
		err = row.Scan(&tenant, &name, &sys, &desc, &state)
		vals = map[string]any{"name": name, "system_name": sys, "description": desc, "state": state}
	case "BackendApi":
		var name, sys, desc, ep string
		err = row.Scan(&tenant, &name, &sys, &desc, &ep)
		vals = map[string]any{"name": name, "system_name": sys, "description": desc, "private_endpoint": ep}
	case "Metric":
		var fn, sys, desc, otype string
		var owner int64
		err = row.Scan(&tenant, &fn, &sys, &desc, &owner, &otype)
		vals = map[string]any{"friendly_name": fn, "system_name": sys, "description": desc, "owner_id": owner, "owner_type": otype}
	case "Plan":
		var name, sys string
		var issuer int64
		err = row.Scan(&tenant, &name, &sys, &issuer)
		vals = map[string]any{"name": name, "system_name": sys, "issuer_id": issuer}
	case "CMS::Page":
		var title, published string
		err = row.Scan(&tenant, &title, &published)
		vals = map[string]any{"title": title, "published": published}
	case "ProxyRule":
		var pattern, method, otype string
		var owner int64
		err = row.Scan(&tenant, &pattern, &method, &owner, &otype)
		vals = map[string]any{"pattern": pattern, "http_method": method, "owner_id": owner, "owner_type": otype}
	}
	if errors.Is(err, sql.ErrNoRows) {
		return w.search.remove(ctx, index, rid)
	}
	if err != nil {
		return err
	}
	vals["tenant_id"] = tenant.Int64
	return w.search.replace(ctx, index, rid, vals)
}

// sphinxAccountIndexation is SphinxAccountIndexationWorker(account_id): the account with its
// users' names and e-mails and its applications' user keys.
func (w *worker) sphinxAccountIndexation(ctx context.Context, j sidekiq.Job) error {
	aid, err := argInt(j, 0)
	if err != nil {
		return err
	}
	if w.search == nil {
		return errors.New("searchd: not configured")
	}
	var org, state string
	var provider sql.NullInt64
	err = w.db.QueryRowContext(ctx, `SELECT org_name, state, provider_account_id FROM accounts WHERE id=?`, aid).Scan(&org, &state, &provider)
	if errors.Is(err, sql.ErrNoRows) {
		return w.search.remove(ctx, "account_core", aid)
	}
	if err != nil {
		return err
	}
	var usernames, emails, keys string
	if err := w.db.QueryRowContext(ctx, `SELECT COALESCE(GROUP_CONCAT(username SEPARATOR ' '),''), COALESCE(GROUP_CONCAT(email SEPARATOR ' '),'') FROM users WHERE account_id=?`, aid).
		Scan(&usernames, &emails); err != nil {
		return err
	}
	if err := w.db.QueryRowContext(ctx, `SELECT COALESCE(GROUP_CONCAT(COALESCE(user_key, application_id) SEPARATOR ' '),'') FROM cinstances WHERE user_account_id=?`, aid).
		Scan(&keys); err != nil {
		return err
	}
	return w.search.replace(ctx, "account_core", aid, map[string]any{"org_name": org, "usernames": usernames,
		"emails": emails, "user_keys": keys, "tenant_id": provider.Int64, "state": state})
}

// --- backend sync (§4.2 async table) ---

// backendMetric is BackendMetricWorker(service_id, metric_id): save the metric to the
// service's backend, or delete it there when it is gone.
func (w *worker) backendMetric(ctx context.Context, j sidekiq.Job) error {
	sid, err := argInt(j, 0)
	if err != nil {
		return err
	}
	mid, err := argInt(j, 1)
	if err != nil {
		return err
	}
	m, err := scanMetric(w.db.QueryRowContext(ctx, `SELECT `+metricCols+` FROM metrics WHERE id=?`, mid))
	if errors.Is(err, sql.ErrNoRows) {
		return w.backend.deleteMetric(ctx, id(sid), id(mid))
	}
	if err != nil {
		return err
	}
	parent := ""
	if m.ParentID.Valid {
		parent = id(m.ParentID.Int64)
	}
	return w.backend.saveMetric(ctx, id(sid), id(mid), m.backendName(), parent)
}

// updateApplicationPlan is BackendUpdateApplicationPlanJob(plan_id): re-save every application
// of a renamed plan so backend knows the new plan name.
func (w *worker) updateApplicationPlan(ctx context.Context, j sidekiq.Job) error {
	pid, err := argInt(j, 0)
	if err != nil {
		return err
	}
	rows, err := w.db.QueryContext(ctx, `SELECT c.service_id, c.application_id, c.state, p.name FROM cinstances c JOIN plans p ON p.id=c.plan_id WHERE c.plan_id=?`, pid)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var sid int64
		var appID, state, name string
		if err := rows.Scan(&sid, &appID, &state, &name); err != nil {
			return err
		}
		if err := w.backend.saveApplication(ctx, sid, appID, backendState(state), pid, name); err != nil {
			return err
		}
	}
	return rows.Err()
}

// argGlobalID reads an ActiveJob record argument ({"_aj_globalid":"gid://system/Model/id"}).
func argGlobalID(j sidekiq.Job, i int) (model string, oid int64, err error) {
	if i >= len(j.Args) {
		return "", 0, fmt.Errorf("%s: missing argument %d", j.Name(), i)
	}
	var g struct {
		GID string `json:"_aj_globalid"`
	}
	if err := json.Unmarshal(j.Args[i], &g); err != nil || !strings.HasPrefix(g.GID, "gid://system/") {
		return "", 0, fmt.Errorf("%s: argument %d is not a GlobalID", j.Name(), i)
	}
	model, idPart, _ := strings.Cut(strings.TrimPrefix(g.GID, "gid://system/"), "/")
	oid, err = strconv.ParseInt(idPart, 10, 64)
	return model, oid, err
}

// enqueue pushes jobs from a job, ActiveJob ones wrapped as Rails' adapter does.
func (w *worker) enqueue(ctx context.Context, jobs ...job) error {
	for _, j := range jobs {
		var err error
		if j.activeJob {
			_, err = sidekiq.EnqueueActiveJob(ctx, w.rdb, j.queue, j.class, j.args...)
		} else {
			_, err = sidekiq.Enqueue(ctx, w.rdb, j.queue, j.class, j.args...)
		}
		if err != nil {
			return fmt.Errorf("enqueue %s on %s: %w", j.class, j.queue, err)
		}
	}
	return nil
}

// deleteObjectHierarchy is DeleteObjectHierarchyWorker(record) for a product or a backend API
// marked deleted (porta@3scale-2.16.4-GA:app/workers/delete_object_hierarchy_worker.rb, which
// destroys the background_deletion associations in a Sidekiq batch and then the record itself
// with DeletePlainObjectWorker; the twin does it in one transaction).
//
// A product's applications go with it, each one's backend data by BackendDeleteApplicationWorker;
// destroying the Service row publishes Services::ServiceDeletedEvent, whose subscriber enqueues
// BackendDeleteServiceWorker (app/models/service.rb after_commit
// :create_and_publish_service_deleted_event; app/subscribers/service_deleted_subscriber.rb).
func (w *worker) deleteObjectHierarchy(ctx context.Context, j sidekiq.Job) error {
	model, oid, err := argGlobalID(j, 0)
	if err != nil {
		return err
	}
	switch model {
	case "Service":
		return w.deleteServiceHierarchy(ctx, oid)
	case "BackendApi":
		return w.deleteBackendAPIHierarchy(ctx, oid)
	}
	w.log.Info("DeleteObjectHierarchyWorker: nothing to do for model", "model", model)
	return nil
}

func (w *worker) deleteServiceHierarchy(ctx context.Context, oid int64) error {
	tx, err := w.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit
	// The job finds its record by id, whatever its state, as GlobalID does: porta enqueues
	// it inside the transaction that marks the record deleted, so the job may run before
	// that commit; its deletes then wait for the marking transaction's row lock. A record
	// already gone is a DeserializationError, logged and dropped
	// (porta@3scale-2.16.4-GA:app/workers/delete_object_hierarchy_worker.rb rescue_from).
	var tenant int64
	if err := tx.QueryRowContext(ctx, `SELECT account_id FROM services WHERE id=?`, oid).Scan(&tenant); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		return err
	}
	rows, err := tx.QueryContext(ctx, `SELECT id FROM cinstances WHERE service_id=?`, oid)
	if err != nil {
		return err
	}
	var apps []int64
	for rows.Next() {
		var cid int64
		if err := rows.Scan(&cid); err != nil {
			rows.Close()
			return err
		}
		apps = append(apps, cid)
	}
	rows.Close()
	var jobs []job
	for _, cid := range apps {
		js, err := deleteAppTx(ctx, tx, tenant, cid)
		if err != nil {
			return err
		}
		jobs = append(jobs, js[0]) // BackendDeleteApplicationWorker; no zync for a deleted service
	}
	stmts := []string{
		`DELETE r FROM proxy_rules r JOIN proxies p ON r.owner_type='Proxy' AND r.owner_id=p.id WHERE p.service_id=?`,
		`DELETE FROM proxy_configs WHERE service_id=?`,
		`DELETE FROM proxies WHERE service_id=?`,
		`DELETE l FROM usage_limits l JOIN plans p ON p.id=l.plan_id WHERE p.issuer_id=?`,
		`DELETE r FROM pricing_rules r JOIN plans p ON p.id=r.plan_id WHERE p.issuer_id=?`,
		`DELETE FROM plans WHERE issuer_id=?`,
		`DELETE FROM metrics WHERE owner_type='Service' AND owner_id=?`,
		`DELETE FROM backend_usages WHERE service_id=?`,
		`DELETE FROM service_tokens WHERE service_id=?`,
		`DELETE FROM services WHERE id=?`,
	}
	for _, s := range stmts {
		if _, err := tx.ExecContext(ctx, s, oid); err != nil {
			return err
		}
	}
	eventID := uuid.NewString()
	data, _ := json.Marshal(map[string]any{"service_id": oid, "provider_id": tenant})
	if _, err := tx.ExecContext(ctx, `INSERT INTO event_store_events (event_id, event_type, provider_id, data, created_at) VALUES (?,?,?,?,?)`,
		eventID, "Services::ServiceDeletedEvent", tenant, string(data), now()); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	return w.enqueue(ctx, append(jobs, job{false, "default", ClassBackendDeleteService, []any{eventID}})...)
}

// deleteBackendAPIHierarchy removes a backend API marked deleted with its metrics and mapping
// rules (BackendApi's background_deletion) and then the row.
func (w *worker) deleteBackendAPIHierarchy(ctx context.Context, oid int64) error {
	tx, err := w.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit
	// Found by id whatever its state, as for a product (deleteServiceHierarchy).
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM backend_apis WHERE id=?`, oid).Scan(&n); err != nil || n == 0 {
		return err
	}
	for _, s := range []string{
		`DELETE FROM proxy_rules WHERE owner_type='BackendApi' AND owner_id=?`,
		`DELETE FROM metrics WHERE owner_type='BackendApi' AND owner_id=?`,
		`DELETE FROM backend_usages WHERE backend_api_id=?`,
		`DELETE FROM backend_apis WHERE id=?`,
	} {
		if _, err := tx.ExecContext(ctx, s, oid); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// backendDeleteService is BackendDeleteServiceWorker(event_id): Core::Service.delete_stats,
// then Service#delete_backend_service, which deletes the product's alert limits and then the
// service (porta@3scale-2.16.4-GA:app/workers/backend_delete_service_worker.rb,
// app/lib/backend/model_extensions/service.rb delete_backend_service).
func (w *worker) backendDeleteService(ctx context.Context, j sidekiq.Job) error {
	var ev struct {
		ServiceID int64 `json:"service_id"`
	}
	if found, err := w.loadEvent(ctx, j, "BackendDeleteServiceWorker", &ev); err != nil || !found {
		return err
	}
	if err := w.backend.deleteServiceStats(ctx, id(ev.ServiceID)); err != nil {
		return err
	}
	limits, err := w.backend.alertLimits(ctx, ev.ServiceID)
	if err != nil {
		return err
	}
	for _, v := range limits {
		if err := w.backend.deleteAlertLimit(ctx, ev.ServiceID, v); err != nil {
			return err
		}
	}
	return w.backend.deleteService(ctx, id(ev.ServiceID))
}

// loadEvent decodes the data of the event store event whose id is the job's first argument
// (EventStore::Repository.find_event!). found is false when the event is gone, which the
// workers log and skip as porta's do (they rescue RecordNotFound).
func (w *worker) loadEvent(ctx context.Context, j sidekiq.Job, worker string, into any) (found bool, err error) {
	eventID, err := argString(j, 0)
	if err != nil {
		return false, err
	}
	var raw string
	err = w.db.QueryRowContext(ctx, `SELECT data FROM event_store_events WHERE event_id=?`, eventID).Scan(&raw)
	if errors.Is(err, sql.ErrNoRows) {
		w.log.Warn(worker+": event not found", "event_id", eventID)
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return true, json.Unmarshal([]byte(raw), into)
}

// backendDeleteApplication is BackendDeleteApplicationWorker(event_id): keys, user key
// mapping, then the application, from the ApplicationDeletedEvent's data (§4.2).
func (w *worker) backendDeleteApplication(ctx context.Context, j sidekiq.Job) error {
	var ev struct {
		ServiceID     int64    `json:"service_id"`
		ApplicationID string   `json:"application_id"`
		UserKey       string   `json:"user_key"`
		Keys          []string `json:"keys"`
	}
	if found, err := w.loadEvent(ctx, j, "BackendDeleteApplicationWorker", &ev); err != nil || !found {
		return err
	}
	sid := id(ev.ServiceID)
	for _, k := range ev.Keys {
		if err := w.backend.deleteAppKey(ctx, sid, ev.ApplicationID, k); err != nil {
			return err
		}
	}
	if ev.UserKey != "" {
		if err := w.backend.deleteUserKey(ctx, sid, ev.UserKey); err != nil {
			return err
		}
	}
	return w.backend.deleteApplication(ctx, sid, ev.ApplicationID)
}

// createServiceToken is CreateServiceTokenWorker(event_id): the product's first token, or a new
// one with the event's token_value (service_tokens.first_or_create!), then
// ServiceTokenService.update_backend (Core::ServiceToken.save!). A product deleted meanwhile is
// logged and skipped (porta@3scale-2.16.4-GA:app/workers/create_service_token_worker.rb rescue
// RecordNotFound); a backend failure raises, so Sidekiq retries the job.
func (w *worker) createServiceToken(ctx context.Context, j sidekiq.Job) error {
	var ev struct {
		ServiceID  int64  `json:"service_id"`
		TokenValue string `json:"token_value"`
	}
	if found, err := w.loadEvent(ctx, j, "CreateServiceTokenWorker", &ev); err != nil || !found {
		return err
	}
	var exists int
	if err := w.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM services WHERE id=?`, ev.ServiceID).Scan(&exists); err != nil {
		return err
	}
	if exists == 0 {
		w.log.Info("CreateServiceTokenWorker: Couldn't find Service", "service_id", ev.ServiceID)
		return nil
	}
	var token string
	err := w.db.QueryRowContext(ctx, `SELECT value FROM service_tokens WHERE service_id=? ORDER BY id LIMIT 1`, ev.ServiceID).Scan(&token)
	if errors.Is(err, sql.ErrNoRows) {
		token = ev.TokenValue
		_, err = w.db.ExecContext(ctx, `INSERT INTO service_tokens (service_id, value) VALUES (?,?)`, ev.ServiceID, token)
	}
	if err != nil {
		return err
	}
	return w.backend.saveServiceToken(ctx, token, ev.ServiceID)
}

// --- mail and events ---

// mailDelivery is ActionMailer::MailDeliveryJob(mailer, method, "deliver_now", {args}): the
// twin records the delivery in mail_deliveries instead of sending it.
func (w *worker) mailDelivery(ctx context.Context, j sidekiq.Job) error {
	mailer, err := argString(j, 0)
	if err != nil {
		return err
	}
	method, err := argString(j, 1)
	if err != nil {
		return err
	}
	rest, _ := json.Marshal(j.Args[2:])
	_, err = w.db.ExecContext(ctx, `INSERT IGNORE INTO mail_deliveries (job_id, mailer, mail_method, arguments, delivered_at) VALUES (?,?,?,?,?)`,
		j.JID, mailer, method, string(rest), now())
	return err
}

// processNotificationEvent is ProcessNotificationEventWorker#perform(event_id): the provider's
// active users each get a UserNotificationWorker(user_id, event_id, system_name) on queue
// default; an event or provider that is gone is logged and the job ends
// (porta@3scale-2.16.4-GA:app/workers/process_notification_event_worker.rb:13-17,37-55).
// Suspended providers and impersonation admins are not modelled.
func (w *worker) processNotificationEvent(ctx context.Context, j sidekiq.Job) error {
	eventID, err := argString(j, 0)
	if err != nil {
		return err
	}
	var providerID int64
	var raw string
	err = w.db.QueryRowContext(ctx, `SELECT provider_id, data FROM event_store_events WHERE event_id=? AND event_type='NotificationEvent'`, eventID).Scan(&providerID, &raw)
	if errors.Is(err, sql.ErrNoRows) {
		w.log.Error("ProcessNotificationEventWorker: event not found", "event_id", eventID)
		return nil
	}
	if err != nil {
		return err
	}
	var data struct {
		SystemName string `json:"system_name"`
	}
	if err := json.Unmarshal([]byte(raw), &data); err != nil {
		return err
	}
	rows, err := w.db.QueryContext(ctx, `SELECT id FROM users WHERE account_id=? AND state='active' ORDER BY id`, providerID)
	if err != nil {
		return err
	}
	var users []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return err
		}
		users = append(users, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, u := range users {
		if _, err := sidekiq.Enqueue(ctx, w.rdb, "default", ClassUserNotification, u, eventID, data.SystemName); err != nil {
			return err
		}
	}
	return nil
}

// userNotification is UserNotificationWorker#perform(user_id, event_id, system_name): it sends
// NotificationMailer#<system_name> to the user at once (app/workers/process_notification_event_worker.rb:22-26,
// app/services/notification_delivery_service.rb:54-63); the twin records the delivery in
// mail_deliveries. The user's notification preferences are not modelled: every mail is sent.
func (w *worker) userNotification(ctx context.Context, j sidekiq.Job) error {
	systemName, err := argString(j, 2)
	if err != nil {
		return err
	}
	rest, _ := json.Marshal(j.Args)
	_, err = w.db.ExecContext(ctx, `INSERT IGNORE INTO mail_deliveries (job_id, mailer, mail_method, arguments, delivered_at) VALUES (?,?,?,?,?)`,
		j.JID, "NotificationMailer", systemName, string(rest), now())
	return err
}

// eventsFetch is EventsFetchWorker (queue events), Events.fetch_backend_events!: every event
// backend holds becomes a PersistEventWorker job (queue default), then backend's events are
// deleted up to the last one (porta@3scale-2.16.4-GA:app/workers/events_fetch_worker.rb,
// app/lib/events.rb). A failed enqueue fails the job before the delete, so the events are
// fetched again on its retry.
func (w *worker) eventsFetch(ctx context.Context, _ sidekiq.Job) error {
	evs, err := w.backend.events(ctx)
	if err != nil {
		return err
	}
	if len(evs) == 0 {
		return nil
	}
	for _, ev := range evs {
		attrs := map[string]any{"id": ev.ID, "type": ev.Type, "timestamp": ev.Timestamp, "object": ev.Object}
		if _, err := sidekiq.Enqueue(ctx, w.rdb, "default", ClassPersistEvent, attrs); err != nil {
			return err
		}
	}
	return w.backend.deleteEventsUpTo(ctx, evs[len(evs)-1].ID)
}

// eventAttrs is one backend event as the event jobs carry it (event.attributes.as_json).
type eventAttrs struct {
	ID        int64           `json:"id"`
	Type      string          `json:"type"`
	Timestamp string          `json:"timestamp"`
	Object    json.RawMessage `json:"object"`
}

func argEvent(j sidekiq.Job) (eventAttrs, json.RawMessage, error) {
	var ev eventAttrs
	if len(j.Args) == 0 {
		return ev, nil, fmt.Errorf("%s: missing event", j.Name())
	}
	err := json.Unmarshal(j.Args[0], &ev)
	return ev, j.Args[0], err
}

// persistEvent is PersistEventWorker: the event is saved as a BackendEvent with backend's id,
// then EventImportWorker is enqueued; an event saved before (RecordNotUnique) is logged and
// dropped (porta@3scale-2.16.4-GA:app/workers/persist_event_worker.rb).
func (w *worker) persistEvent(ctx context.Context, j sidekiq.Job) error {
	ev, raw, err := argEvent(j)
	if err != nil {
		return err
	}
	_, err = w.db.ExecContext(ctx, `INSERT INTO backend_events (backend_event_id, event_type, data, created_at) VALUES (?,?,?,?)`,
		ev.ID, ev.Type, string(raw), now())
	if isDuplicate(err) {
		w.log.Warn("PersistEventWorker: duplicated event", "id", ev.ID)
		return nil
	}
	if err != nil {
		return err
	}
	_, err = sidekiq.Enqueue(ctx, w.rdb, "default", ClassEventImport, json.RawMessage(raw))
	return err
}

// eventImport is EventImportWorker, Events::Importer.import_event!: alerts go to the
// AlertImporter; first_traffic events are not modelled. Every error is reported and
// swallowed, never retried (import_event! rescues RecordNotFound and StandardError), so an
// event whose import fails is lost (porta@3scale-2.16.4-GA:app/workers/event_import_worker.rb,
// app/lib/events/importer.rb).
func (w *worker) eventImport(ctx context.Context, j sidekiq.Job) error {
	ev, _, err := argEvent(j)
	if err != nil {
		w.log.Error("EventImportWorker: unreadable event", "err", err)
		return nil
	}
	switch ev.Type {
	case "alert":
		if err := w.importAlert(ctx, ev); err != nil {
			w.log.Error("EventImportWorker: error when importing event", "id", ev.ID, "err", err)
		}
	case "first_traffic", "first_daily_traffic":
	default:
		w.log.Error("EventImportWorker: unknown event importer", "type", ev.Type)
	}
	return nil
}

// alertLevels is Alert::ALERT_LEVELS, the levels an Alert validates.
var alertLevels = []int{50, 80, 90, 100, 120, 150, 200, 300}

// importAlert is Events::Importers::AlertImporter#save!: the application is looked up by its
// backend id within the event's service (nothing happens without one); an Alert is saved for
// the provider only when the level is in the product's notification_settings[web_provider],
// and for the buyer only when it is in web_buyer. A new product has no settings, so its alerts
// are imported and dropped. An Alert is invalid (and the save raises, ending the import)
// unless its level is one of ALERT_LEVELS and its alert_id is new for the account
// (porta@3scale-2.16.4-GA:app/lib/events/importers/alert_importer.rb, app/models/alert.rb).
// The e-mail levels (email_provider, email_buyer) are not modelled.
func (w *worker) importAlert(ctx context.Context, ev eventAttrs) error {
	var obj struct {
		ID             json.Number `json:"id"`
		Utilization    json.Number `json:"utilization"`
		MaxUtilization json.Number `json:"max_utilization"`
		ApplicationID  string      `json:"application_id"`
		ServiceID      json.Number `json:"service_id"`
		Timestamp      string      `json:"timestamp"`
		Limit          string      `json:"limit"`
	}
	dec := json.NewDecoder(bytes.NewReader(ev.Object))
	dec.UseNumber()
	if err := dec.Decode(&obj); err != nil {
		return err
	}
	sid, _ := strconv.ParseInt(string(obj.ServiceID), 10, 64)
	var provider int64
	var rawSettings sql.NullString
	err := w.db.QueryRowContext(ctx, `SELECT account_id, notification_settings FROM services WHERE id=?`, sid).Scan(&provider, &rawSettings)
	if err != nil {
		return fmt.Errorf("service %d: %w", sid, err) // RecordNotFound: reported, ignored
	}
	var cid, buyer int64
	err = w.db.QueryRowContext(ctx, `SELECT id, user_account_id FROM cinstances WHERE service_id=? AND application_id=?`, sid, obj.ApplicationID).Scan(&cid, &buyer)
	if errors.Is(err, sql.ErrNoRows) {
		w.log.Warn("AlertImporter: missing cinstance", "application_id", obj.ApplicationID)
		return nil
	}
	if err != nil {
		return err
	}
	settings := notificationSettings{}
	if rawSettings.Valid {
		settings = decodeNotificationSettings(rawSettings.String)
	}
	level64, _ := obj.Utilization.Int64()
	level := int(level64)
	alertID, _ := obj.ID.Int64()
	utilization, _ := obj.MaxUtilization.Float64()
	for _, target := range []struct {
		key     string
		account int64
	}{{"web_provider", provider}, {"web_buyer", buyer}} {
		if !settings.includes(target.key, level) {
			continue
		}
		if !slices.Contains(alertLevels, level) {
			return fmt.Errorf("alert %d: level %d is not included in the list", alertID, level)
		}
		_, err := w.db.ExecContext(ctx, `INSERT INTO alerts (alert_id, backend_event_id, account_id, cinstance_id, service_id, level, utilization, message, timestamp, created_at)
			VALUES (?,?,?,?,?,?,?,?,?,?)`, alertID, ev.ID, target.account, cid, sid, level, utilization, obj.Limit, obj.Timestamp, now())
		if isDuplicate(err) {
			return fmt.Errorf("alert %d for account %d: alert_id has already been taken", alertID, target.account)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// --- zync (§5.1) ---

// zyncError is a non-2xx zync answer (porta's InvalidResponseError / UnprocessableEntityError).
type zyncError struct {
	status int
	path   string
}

func (e *zyncError) Error() string { return fmt.Sprintf("zync %s: HTTP %d", e.path, e.status) }

// ErrorClass names the exception porta's ZyncWorker raises, recorded as error_class.
func (e *zyncError) ErrorClass() string {
	if e.status == http.StatusUnprocessableEntity {
		return "ZyncWorker::UnprocessableEntityError"
	}
	return "ZyncWorker::InvalidResponseError"
}

// zyncWorker is ZyncWorker(event_id, data): skip when no endpoint is configured, else PUT
// /tenant then PUT /notification with the Token header and X-Event-Id. A 422 makes porta sync
// the event's dependencies first; the twin publishes the Service and Proxy events and retries.
// Any other failure goes to Sidekiq's retry with zyncRetryIn.
func (w *worker) zyncWorker(ctx context.Context, j sidekiq.Job) error {
	if w.cfg.ZyncEndpoint == "" {
		w.log.Info("Skipping Zync for event, URL not configured", "jid", j.JID)
		return nil
	}
	eventID, err := argString(j, 0)
	if err != nil {
		return err
	}
	if len(j.Args) < 2 {
		return errors.New("ZyncWorker: missing event data")
	}
	var data map[string]any
	dec := json.NewDecoder(bytes.NewReader(j.Args[1]))
	dec.UseNumber()
	if err := dec.Decode(&data); err != nil {
		return fmt.Errorf("ZyncWorker: event data: %w", err)
	}
	tenantID, _ := strconv.ParseInt(fmt.Sprint(data["tenant_id"]), 10, 64)
	var adminDomain string
	if err := w.db.QueryRowContext(ctx, `SELECT COALESCE(admin_domain,'') FROM accounts WHERE id=?`, tenantID).Scan(&adminDomain); err != nil {
		return err
	}
	token, err := w.oidcSyncToken(ctx, tenantID)
	if err != nil {
		return err
	}
	scheme := w.cfg.ProviderEndpointScheme
	if scheme == "" {
		scheme = "https"
	}
	tenant := map[string]any{"id": tenantID, "endpoint": scheme + "://" + adminDomain, "access_token": token}
	if err := w.zyncPut(ctx, "/tenant", eventID, tenant); err != nil {
		return err
	}
	err = w.zyncPut(ctx, "/notification", eventID, data)
	var ze *zyncError
	if errors.As(err, &ze) && ze.status == http.StatusUnprocessableEntity {
		if sid, _ := strconv.ParseInt(fmt.Sprint(data["service_id"]), 10, 64); sid != 0 {
			w.publishDependencies(ctx, tenantID, sid)
		}
	}
	return err
}

// publishDependencies enqueues ZyncWorker jobs for the service and proxy an event depends on.
func (w *worker) publishDependencies(ctx context.Context, tenantID, sid int64) {
	var proxyID int64
	_ = w.db.QueryRowContext(ctx, `SELECT id FROM proxies WHERE service_id=?`, sid).Scan(&proxyID)
	deps := []struct {
		typ string
		id  int64
	}{{"Service", sid}, {"Proxy", proxyID}}
	for _, d := range deps {
		if d.id == 0 {
			continue
		}
		tx, err := w.db.BeginTx(ctx, nil)
		if err != nil {
			return
		}
		j, err := zyncEvent(ctx, tx, d.typ, d.id, tenantID, "ZyncResyncEvent", map[string]any{"service_id": sid})
		if err != nil || tx.Commit() != nil {
			_ = tx.Rollback()
			return
		}
		if _, err := sidekiq.Enqueue(ctx, w.rdb, j.queue, j.class, j.args...); err != nil {
			w.log.Warn("cannot enqueue zync dependency", "err", err)
		}
	}
}

func (w *worker) zyncPut(ctx context.Context, path, eventID string, body any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, strings.TrimSuffix(w.cfg.ZyncEndpoint, "/")+path, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Event-Id", eventID)
	if w.cfg.ZyncToken != "" {
		req.Header.Set("Authorization", `Token token="`+w.cfg.ZyncToken+`"`)
	}
	resp, err := w.zync.Do(req)
	if err != nil {
		return sidekiq.WithErrorClass("HTTPClient::BadResponseError", fmt.Errorf("zync %s: %w", path, err))
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return &zyncError{resp.StatusCode, path}
	}
	return nil
}

// oidcSyncTokenName is AccessToken::OIDC_SYNC_TOKEN, the name the token is found by.
const oidcSyncTokenName = "OIDC Synchronization Token"

// impersonationAdmin is the username of the admin porta seeds into every tenant
// (ThreeScale.config.impersonation_admin[:username], IMPERSONATION_ADMIN_USERNAME, default
// 3scaleadmin; porta@3scale-2.16.4-GA:config/examples/settings.yml), as seed.go does.
const impersonationAdmin = "3scaleadmin"

// oidcSyncToken is the tenant token ZyncWorker sends zync: ZyncWorker.provider_access_token
// takes the tenant's impersonation admin, else its first admin, and
// user.access_tokens.oidc_sync, a find_or_create_by! on the token name with a read-only
// account_management scope. It is one lasting row per admin: no expiry, no cache, so memcache
// is not on ZyncWorker's path (porta@3scale-2.16.4-GA:app/workers/zync_worker.rb
// provider_access_token; app/models/access_token.rb:121-126 oidc_sync; the same at
// 3scale-2.15.1-GA:app/models/access_token.rb:117-121). Like find_or_create_by!, two first runs
// at once may each create one.
func (w *worker) oidcSyncToken(ctx context.Context, tenantID int64) (string, error) {
	var uid int64
	err := w.db.QueryRowContext(ctx, `SELECT id FROM users WHERE account_id=? AND role='admin' ORDER BY username<>?, id LIMIT 1`,
		tenantID, impersonationAdmin).Scan(&uid)
	if err != nil {
		return "", fmt.Errorf("oidc sync token for account %d: first admin: %w", tenantID, err)
	}
	var tok string
	err = w.db.QueryRowContext(ctx, `SELECT value FROM access_tokens WHERE owner_id=? AND name=? ORDER BY id LIMIT 1`, uid, oidcSyncTokenName).Scan(&tok)
	if err == nil {
		return tok, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("oidc sync token of user %d: %w", uid, err)
	}
	tok = randomHex(32)
	if _, err := w.db.ExecContext(ctx, `INSERT INTO access_tokens (owner_id, name, value, scopes, permission, expires_at, created_at) VALUES (?,?,?,?,?,NULL,?)`,
		uid, oidcSyncTokenName, tok, "account_management", "ro", now()); err != nil {
		return "", fmt.Errorf("create oidc sync token of user %d: %w", uid, err)
	}
	return tok, nil
}

// --- audits and account state changes ---

// audited is AuditedWorker(attributes): the audit the request built is saved
// (porta@3scale-2.16.4-GA:app/workers/audited_worker.rb).
func (w *worker) audited(ctx context.Context, j sidekiq.Job) error {
	if len(j.Args) < 1 {
		return errors.New("AuditedWorker: missing attributes")
	}
	var a struct {
		AuditableID    *int64          `json:"auditable_id"`
		AuditableType  string          `json:"auditable_type"`
		Action         string          `json:"action"`
		AuditedChanges json.RawMessage `json:"audited_changes"`
		Kind           string          `json:"kind"`
		ProviderID     *int64          `json:"provider_id"`
		UserID         *int64          `json:"user_id"`
		RequestUUID    string          `json:"request_uuid"`
	}
	if err := json.Unmarshal(j.Args[0], &a); err != nil {
		return fmt.Errorf("AuditedWorker: attributes: %w", err)
	}
	if a.Kind == "" || a.Action == "" {
		return fmt.Errorf("AuditedWorker: audit without kind or action: %s", j.Args[0])
	}
	_, err := w.db.ExecContext(ctx, `INSERT INTO audits (auditable_id, auditable_type, action, audited_changes, kind, provider_id, user_id, request_uuid, created_at)
		VALUES (?,?,?,?,?,?,?,?,?)`, a.AuditableID, a.AuditableType, a.Action, string(a.AuditedChanges), a.Kind, a.ProviderID, a.UserID, a.RequestUUID, now())
	return err
}

// publishEnabledChanged is PublishEnabledChangedEventForProviderApplicationsWorker(account,
// previous_state): it only acts when the account enters or leaves scheduled_for_deletion, which
// no write the twin serves does (porta@3scale-2.16.4-GA:
// app/workers/publish_enabled_changed_event_for_provider_applications_worker.rb).
func (w *worker) publishEnabledChanged(ctx context.Context, j sidekiq.Job) error {
	_, aid, err := argGlobalID(j, 0)
	if err != nil {
		return err
	}
	previous, err := argString(j, 1)
	if err != nil {
		return err
	}
	var state string
	err = w.db.QueryRowContext(ctx, `SELECT state FROM accounts WHERE id=?`, aid).Scan(&state)
	if errors.Is(err, sql.ErrNoRows) {
		// ActiveJob::DeserializationError, which the worker rescues and logs.
		w.log.Info("PublishEnabledChangedEventForProviderApplicationsWorker: account gone", "account_id", aid)
		return nil
	}
	if err != nil {
		return err
	}
	if state == "scheduled_for_deletion" || previous == "scheduled_for_deletion" {
		return fmt.Errorf("PublishEnabledChangedEventForProviderApplicationsWorker: account %d %s → %s: enabled-changed events are not modelled", aid, previous, state)
	}
	return nil
}
