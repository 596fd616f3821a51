package zync

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
)

// QueConfig configures the zync-que worker process.
type QueConfig struct {
	// DatabaseURL is zync-database.
	DatabaseURL string
	// Workers is the number of jobs worked at once; 10 when 0, as zync-que runs
	// `que --worker-count 10` (research/porta-zync.md §5.3 "zync-que down").
	Workers int
	// PollInterval is how often an idle worker looks for a job; que's 5s when 0.
	PollInterval time.Duration
	// ConnectTimeout and StatementTimeout as in APIConfig; 5s each when 0.
	ConnectTimeout   time.Duration
	StatementTimeout time.Duration
	// SystemTimeout bounds one call to system; 10s when 0 (zync's receive timeout towards
	// system is not in the research; system's own towards zync is 10s, §5.1).
	SystemTimeout time.Duration
	// SystemProviderURL, when set, is where calls to system really go, with the tenant's host
	// in X-Forwarded-Host: zync does this when a system-provider Service is in its namespace
	// (research/porta-zync.md §5.2 "SYSTEM_PROVIDER_PORT").
	SystemProviderURL string
	// RESTConfig enables the Kubernetes integration: Routes for Proxy entities. Nil means
	// entities are only recorded, as with DISABLE_K8S_ROUTES_CREATION=1
	// (research/porta-zync.md §5.2 "On kind").
	RESTConfig *rest.Config
	// Namespace is where Routes are created; required with RESTConfig.
	Namespace string
	// RetryDelay is the back-off after the n-th failure of a job; QueRetryDelay when nil.
	RetryDelay func(errorCount int) time.Duration
	// MaxRetries is how many failures a job may have before it is expired;
	// QueMaximumRetryCount when 0.
	MaxRetries int
	// MetricsAddr, when set, serves GET /metrics there (zync-que's liveness probe target,
	// port 9394, research/3scale-operator.md §4.1). MetricsListener overrides it.
	MetricsAddr     string
	MetricsListener net.Listener
	// Logger receives job failures and database state changes; nil means slog.Default().
	Logger *slog.Logger
}

func (c *QueConfig) normalize() error {
	if c.DatabaseURL == "" {
		return errors.New("DatabaseURL is required")
	}
	if c.RESTConfig != nil && c.Namespace == "" {
		return errors.New("Namespace is required with RESTConfig")
	}
	if c.Workers <= 0 {
		c.Workers = 10
	}
	if c.PollInterval <= 0 {
		c.PollInterval = 5 * time.Second
	}
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = 5 * time.Second
	}
	if c.StatementTimeout <= 0 {
		c.StatementTimeout = 5 * time.Second
	}
	if c.SystemTimeout <= 0 {
		c.SystemTimeout = 10 * time.Second
	}
	if c.RetryDelay == nil {
		c.RetryDelay = QueRetryDelay
	}
	if c.MaxRetries <= 0 {
		c.MaxRetries = QueMaximumRetryCount
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// RunQue runs the zync-que worker until ctx ends.
//
// Each worker locks the next runnable job of queue "default" with SELECT … FOR UPDATE SKIP
// LOCKED, in priority, run_at, id order, works it inside that transaction and then deletes it
// (success) or records the failure: error_count + 1, last_error_message and
// last_error_backtrace, run_at pushed back by RetryDelay, and expired_at once error_count
// exceeds MaxRetries (research/porta-zync.md §5.2 "Retries"). Jobs:
//   - UpdateJob: fetch the model's entity from system with the tenant's endpoint and token
//     (Application, Proxy and Provider; Service is not fetched) and record it in entries
//     (§5.2 "UpdateJob"). With RESTConfig set it then enqueues a ProcessIntegrationEntryJob
//     for the tenant's Kubernetes integration.
//   - ProcessIntegrationEntryJob: for a Proxy entry, make the zync-3scale-api-* Routes match
//     the proxy's endpoints, and record the outcome in integration_states (§5.2
//     "ProcessIntegrationEntryJob").
//
// While it runs, a row in que_lockers announces the worker, as que's locker does, so
// `SELECT count(*) FROM que_lockers` is 0 when no zync-que is connected (§5.3); it is removed
// on a clean stop. RunQue needs no restart when PostgreSQL goes away and comes back: polls fail
// and are retried, the locker re-registers, and a job whose transaction was cut is simply
// locked again later (at least once, never lost). RunQue does not create the schema (zync does
// at its start, research/3scale-operator.md §4.2); until it exists polls fail and are retried.
func RunQue(ctx context.Context, cfg QueConfig) (err error) {
	defer func() {
		if err != nil && cfg.MetricsListener != nil {
			_ = cfg.MetricsListener.Close()
		}
	}()
	if err := cfg.normalize(); err != nil {
		return fmt.Errorf("zync-que: %w", err)
	}
	log := cfg.Logger.With("component", "zync-que")
	q := &que{cfg: cfg, log: log}
	if q.system, err = newSystemClient(cfg.SystemTimeout, cfg.SystemProviderURL); err != nil {
		return fmt.Errorf("zync-que: %w", err)
	}
	if cfg.RESTConfig != nil {
		rc := rest.CopyConfig(cfg.RESTConfig)
		if rc.Timeout == 0 {
			rc.Timeout = 10 * time.Second
		}
		dc, err := dynamic.NewForConfig(rc)
		if err != nil {
			return fmt.Errorf("zync-que: kubernetes client: %w", err)
		}
		q.routes = &routeSyncer{client: dc, namespace: cfg.Namespace}
	}
	// Each worker holds one connection for the length of a job; the locker dials its own.
	pool, err := newPool(ctx, cfg.DatabaseURL, cfg.ConnectTimeout, cfg.StatementTimeout, cfg.Workers+2)
	if err != nil {
		return fmt.Errorf("zync-que: %w", err)
	}
	defer pool.Close()
	q.pool = pool

	var wg sync.WaitGroup
	if cfg.MetricsAddr != "" || cfg.MetricsListener != nil {
		l := cfg.MetricsListener
		if l == nil {
			var lc net.ListenConfig
			if l, err = lc.Listen(ctx, "tcp", cfg.MetricsAddr); err != nil {
				return fmt.Errorf("zync-que: metrics listener: %w", err)
			}
		}
		srv := &http.Server{Handler: http.HandlerFunc(q.metrics), ReadHeaderTimeout: 5 * time.Second}
		wg.Go(func() { _ = srv.Serve(l) })
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			_ = srv.Shutdown(sctx)
		}()
	}
	wg.Go(func() { q.locker(ctx) })
	for i := 0; i < cfg.Workers; i++ {
		wg.Go(func() { q.work(ctx) })
	}
	log.Info("started", "workers", cfg.Workers, "routes", q.routes != nil)
	<-ctx.Done()
	wg.Wait()
	return nil
}

type que struct {
	cfg    QueConfig
	log    *slog.Logger
	pool   *pgxpool.Pool
	system *systemClient
	routes *routeSyncer
	// dbDown is set after a database failure and cleared on the next success, so an outage is
	// logged once rather than once per poll.
	dbDown atomic.Bool
}

func (q *que) dbFailed(err error) {
	if !q.dbDown.Swap(true) {
		q.log.Warn("database unavailable, retrying", "err", err)
	}
}

func (q *que) dbOK() {
	if q.dbDown.Swap(false) {
		q.log.Info("database available again")
	}
}

// sleep waits about d (jittered so workers spread out) or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	d = d/2 + rand.N(d/2+1)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

func (q *que) work(ctx context.Context) {
	for ctx.Err() == nil {
		worked, err := q.workOne(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			q.dbFailed(err)
			sleep(ctx, q.cfg.PollInterval)
		case err == nil:
			q.dbOK()
			if !worked {
				sleep(ctx, q.cfg.PollInterval)
			}
		}
	}
}

// queJob is a locked row of que_jobs.
type queJob struct {
	id         int64
	jobClass   string
	args       json.RawMessage
	errorCount int
}

// workOne locks and works one job. worked is false when none was runnable; err is a database
// error (a failing job is not an error here: it is recorded on its row).
func (q *que) workOne(ctx context.Context) (worked bool, err error) {
	tx, err := q.pool.Begin(ctx)
	if err != nil {
		return false, err
	}
	defer func() { _ = tx.Rollback(context.Background()) }()
	var j queJob
	err = tx.QueryRow(ctx, `
		SELECT id, job_class, args, error_count FROM que_jobs
		WHERE queue = $1 AND run_at <= now() AND finished_at IS NULL AND expired_at IS NULL
		ORDER BY priority, run_at, id
		LIMIT 1
		FOR UPDATE SKIP LOCKED`, defaultQueue).Scan(&j.id, &j.jobClass, &j.args, &j.errorCount)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, tx.Commit(ctx)
	}
	if err != nil {
		return false, err
	}
	jctx, cancel := context.WithTimeout(ctx, 2*q.cfg.SystemTimeout+2*q.cfg.StatementTimeout)
	perr := q.perform(jctx, tx, j)
	cancel()
	if perr == nil {
		if _, err := tx.Exec(ctx, `DELETE FROM que_jobs WHERE id = $1`, j.id); err != nil {
			return true, err
		}
		return true, tx.Commit(ctx)
	}
	if ctx.Err() != nil {
		return true, ctx.Err() // stopping: leave the job for the next worker
	}
	count := j.errorCount + 1
	q.log.Warn("job failed", "job_id", j.id, "error_count", count, "err", perr)
	msg := perr.Error()
	backtrace := fmt.Sprintf("zync-twin %s", msg)
	if count > q.cfg.MaxRetries {
		_, err = tx.Exec(ctx, `
			UPDATE que_jobs SET error_count = $2, last_error_message = $3, last_error_backtrace = $4,
				expired_at = now()
			WHERE id = $1`, j.id, count, msg, backtrace)
	} else {
		delay := q.cfg.RetryDelay(count)
		_, err = tx.Exec(ctx, `
			UPDATE que_jobs SET error_count = $2, last_error_message = $3, last_error_backtrace = $4,
				run_at = now() + make_interval(secs => $5)
			WHERE id = $1`, j.id, count, msg, backtrace, delay.Seconds())
	}
	if err != nil {
		return true, err
	}
	return true, tx.Commit(ctx)
}

// perform runs one job inside the transaction that locked it.
func (q *que) perform(ctx context.Context, tx pgx.Tx, j queJob) error {
	if j.jobClass != activeJobWrapper {
		return fmt.Errorf("unknown job class %s", j.jobClass)
	}
	var payloads []activeJobPayload
	if err := json.Unmarshal(j.args, &payloads); err != nil || len(payloads) == 0 {
		return fmt.Errorf("job %d: args are not an ActiveJob payload", j.id)
	}
	p := payloads[0]
	ids := make([]int64, 0, len(p.Arguments))
	for _, a := range p.Arguments {
		id, err := gidID(a)
		if err != nil {
			return fmt.Errorf("%s: %w", p.JobClass, err)
		}
		ids = append(ids, id)
	}
	switch {
	case p.JobClass == updateJob && len(ids) == 1:
		return q.update(ctx, tx, ids[0])
	case p.JobClass == processIntegrationEntryJob && len(ids) == 2:
		return q.processIntegrationEntry(ctx, tx, ids[0], ids[1])
	}
	return fmt.Errorf("unknown job %s with %d arguments", p.JobClass, len(ids))
}

// gidID takes the id out of {"_aj_globalid":"gid://zync/Class/ID"}.
func gidID(arg any) (int64, error) {
	m, ok := arg.(map[string]any)
	if !ok {
		return 0, fmt.Errorf("argument %v is not a record", arg)
	}
	gid, _ := m["_aj_globalid"].(string)
	i := strings.LastIndexByte(gid, '/')
	if i < 0 {
		return 0, fmt.Errorf("argument %v is not a global id", arg)
	}
	return strconv.ParseInt(gid[i+1:], 10, 64)
}

// modelInfo is a model with what is needed to fetch it.
type modelInfo struct {
	id, tenantID, recordID, serviceID int64
	recordType, endpoint, token       string
}

// update is UpdateJob: fetch, then record an entry (research/porta-zync.md §5.2).
func (q *que) update(ctx context.Context, tx pgx.Tx, modelID int64) error {
	var m modelInfo
	err := tx.QueryRow(ctx, `
		SELECT m.id, m.tenant_id, m.record_id, m.record_type, t.endpoint, t.access_token,
			COALESCE(a.service_id, p.service_id, 0)
		FROM models m
		JOIN tenants t ON t.id = m.tenant_id
		LEFT JOIN applications a ON m.record_type = 'Application' AND a.id = m.record_id
		LEFT JOIN proxies p ON m.record_type = 'Proxy' AND p.id = m.record_id
		WHERE m.id = $1`, modelID).Scan(&m.id, &m.tenantID, &m.recordID, &m.recordType,
		&m.endpoint, &m.token, &m.serviceID)
	if errors.Is(err, pgx.ErrNoRows) {
		q.log.Info("model gone, nothing to update", "model_id", modelID)
		return nil
	}
	if err != nil {
		return err
	}
	var data json.RawMessage
	if path, query, ok := entityPath(m.recordType, m.recordID, m.serviceID); ok {
		if data, err = q.system.fetch(ctx, m.endpoint, m.token, path, query); err != nil {
			return err
		}
	} else {
		data, _ = json.Marshal(map[string]any{"id": m.recordID, "type": m.recordType})
	}
	var dataArg any
	if data != nil {
		dataArg = string(data)
	}
	var entryID int64
	if err := tx.QueryRow(ctx, `
		INSERT INTO entries (tenant_id, model_id, data) VALUES ($1, $2, $3::jsonb) RETURNING id`,
		m.tenantID, m.id, dataArg).Scan(&entryID); err != nil {
		return err
	}
	if q.routes == nil || m.recordType != "Proxy" {
		return nil
	}
	// ProcessEntryJob's part: make sure the tenant has a Kubernetes integration and hand the
	// entry to it.
	var integrationID int64
	if err := tx.QueryRow(ctx, `
		INSERT INTO integrations (tenant_id, type) VALUES ($1, 'Integration::Kubernetes')
		ON CONFLICT (tenant_id, type) DO UPDATE SET updated_at = now()
		RETURNING id`, m.tenantID).Scan(&integrationID); err != nil {
		return err
	}
	_, err = enqueue(ctx, tx, processIntegrationEntryJob,
		[]any{globalID("Entry", entryID), globalID("Integration::Kubernetes", integrationID)}, true)
	return err
}

// processIntegrationEntry applies a Proxy entry to the Kubernetes integration and records the
// outcome in integration_states, success or not.
func (q *que) processIntegrationEntry(ctx context.Context, tx pgx.Tx, entryID, integrationID int64) error {
	if q.routes == nil {
		return errors.New("kubernetes integration is not configured in this worker")
	}
	var (
		modelID, recordID int64
		recordType        string
		data              []byte
	)
	err := tx.QueryRow(ctx, `
		SELECT e.model_id, m.record_id, m.record_type, e.data
		FROM entries e JOIN models m ON m.id = e.model_id WHERE e.id = $1`, entryID).
		Scan(&modelID, &recordID, &recordType, &data)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	if recordType != "Proxy" {
		return nil
	}
	started := time.Now()
	targets, rerr := proxyRouteTargets(data)
	if rerr == nil {
		rerr = q.routes.sync(ctx, recordLabel(recordType, recordID), targets)
	}
	if _, err := tx.Exec(ctx, `
		INSERT INTO integration_states (model_id, integration_id, entry_id, started_at, finished_at, success)
		VALUES ($1, $2, $3, $4, now(), $5)
		ON CONFLICT (model_id, integration_id) DO UPDATE SET entry_id = EXCLUDED.entry_id,
			started_at = EXCLUDED.started_at, finished_at = EXCLUDED.finished_at,
			success = EXCLUDED.success, updated_at = now()`,
		modelID, integrationID, entryID, started, rerr == nil); err != nil {
		return err
	}
	return rerr
}

// locker keeps this process's row in que_lockers while it runs, re-registering after the
// database comes back, and removes it on a clean stop. Rows of sessions that no longer exist
// are cleaned at registration, as que does.
func (q *que) locker(ctx context.Context) {
	var conn *pgx.Conn
	hostname, _ := os.Hostname()
	register := func() error {
		cctx, cancel := context.WithTimeout(ctx, q.cfg.ConnectTimeout+q.cfg.StatementTimeout)
		defer cancel()
		c, err := pgx.ConnectConfig(cctx, q.pool.Config().ConnConfig.Copy())
		if err != nil {
			return err
		}
		_, err = c.Exec(cctx, `DELETE FROM que_lockers WHERE pid NOT IN (SELECT pid FROM pg_stat_activity)`)
		if err == nil {
			_, err = c.Exec(cctx, `
				INSERT INTO que_lockers (pid, worker_count, worker_priorities, ruby_pid, ruby_hostname,
					queues, listening, job_schema_version)
				VALUES (pg_backend_pid(), $1, $2, $3, $4, $5, false, $6)`,
				q.cfg.Workers, make([]int32, q.cfg.Workers), os.Getpid(), hostname,
				[]string{defaultQueue}, queJobSchemaVersion)
		}
		if err != nil {
			_ = c.Close(context.Background())
			return err
		}
		conn = c
		return nil
	}
	beat := q.cfg.PollInterval
	if beat > 5*time.Second {
		beat = 5 * time.Second
	}
	for {
		if conn == nil {
			if err := register(); err != nil && ctx.Err() == nil {
				q.dbFailed(err)
			}
		} else {
			pctx, cancel := context.WithTimeout(ctx, q.cfg.StatementTimeout)
			err := conn.Ping(pctx)
			cancel()
			if err != nil && ctx.Err() == nil {
				_ = conn.Close(context.Background())
				conn = nil
				q.dbFailed(err)
				continue
			}
		}
		select {
		case <-ctx.Done():
			if conn != nil {
				dctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				_, _ = conn.Exec(dctx, `DELETE FROM que_lockers WHERE pid = pg_backend_pid()`)
				_ = conn.Close(dctx)
				cancel()
			}
			return
		case <-time.After(beat):
		}
	}
}

// metrics serves a few of que's Prometheus figures. It answers 200 even when the database is
// down (the figures are then missing), so the liveness probe on it does not restart zync-que
// for a database outage; UNVERIFIED whether zync-que's real exporter does the same.
func (q *que) metrics(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	ctx, cancel := context.WithTimeout(r.Context(), q.cfg.StatementTimeout)
	defer cancel()
	var pending, workers int64
	err := q.pool.QueryRow(ctx, `
		SELECT (SELECT count(*) FROM que_jobs WHERE finished_at IS NULL AND expired_at IS NULL),
		       (SELECT COALESCE(sum(worker_count), 0) FROM que_lockers)`).Scan(&pending, &workers)
	up := 1
	if err != nil {
		up = 0
	}
	fmt.Fprintf(w, "# TYPE zync_que_database_up gauge\nzync_que_database_up %d\n", up)
	if err == nil {
		fmt.Fprintf(w, "# TYPE que_jobs_scheduled_total gauge\nque_jobs_scheduled_total %d\n", pending)
		fmt.Fprintf(w, "# TYPE que_workers_total gauge\nque_workers_total %d\n", workers)
	}
}
