package backend

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/threescale-chaos/harness/pkg/twin/reuseport"
)

// WorkerConfig configures backend-worker.
type WorkerConfig struct {
	// RedisURL is the storage DB the counters live in (CONFIG_REDIS_PROXY).
	RedisURL string
	// QueuesRedisURL is the Resque DB (CONFIG_QUEUES_MASTER_NAME); empty means RedisURL.
	QueuesRedisURL string
	// RedisTimeout bounds each Redis dial, read and write; zero means DefaultRedisTimeout.
	RedisTimeout time.Duration
	// PollTimeout is how long one BLPOP waits for a job, in whole seconds (BLPOP's unit).
	// apisonator waits 60 s (research/apicast-apisonator.md §5); the default here is 1 s.
	// A shutdown waits for the BLPOP in progress, so at most this long.
	PollTimeout time.Duration
	// EventsHookURL, when set, is POSTed (form field secret=EventsHookSecret) after a job
	// when events are pending, at most once a minute (CONFIG_EVENTS_HOOK, §6). The operator
	// points it at system-master's /master/events/import.
	EventsHookURL, EventsHookSecret string
	// MetricsAddr, when set, serves GET /metrics there (the operator probes the worker's
	// liveness on :9421/metrics, §8).
	MetricsAddr string
	// Logger receives job failures; nil means slog.Default().
	Logger *slog.Logger
}

// RunWorker processes report jobs until ctx ends; a job in progress is finished first.
//
// It pops jobs from resque:queue:priority, then main, then stats, applies each ReportJob to the
// stats counters in one MULTI/EXEC (so a job is counted entirely or not at all), writes
// first-traffic and alert events, and pushes a job it cannot apply to resque:failed in
// Resque's failure format. When Redis is unreachable it keeps retrying with back-off and
// resumes by itself once Redis answers. apisonator's worker may instead exit and be
// restarted by Kubernetes (§5, unverified there); either way no queued job is lost.
func RunWorker(ctx context.Context, cfg WorkerConfig) error {
	st, err := openStores(cfg.RedisURL, cfg.QueuesRedisURL, cfg.RedisTimeout)
	if err != nil {
		return fmt.Errorf("backend-worker: %w", err)
	}
	defer st.close()
	cfg.PollTimeout = max(cfg.PollTimeout.Round(time.Second), time.Second)
	host, _ := os.Hostname()
	w := &worker{
		cfg: cfg, st: st, log: loggerOr(cfg.Logger).With("component", "backend-worker"),
		id:   fmt.Sprintf("%s:%d:priority,main,stats", host, os.Getpid()),
		hook: &http.Client{Timeout: 2 * time.Second},
	}
	if cfg.MetricsAddr != "" {
		stop, err := w.serveMetrics(ctx)
		if err != nil {
			return err
		}
		defer stop()
	}
	w.run(ctx)
	return nil
}

type worker struct {
	cfg       WorkerConfig
	st        *stores
	log       *slog.Logger
	id        string
	hook      *http.Client
	processed atomic.Int64
	failed    atomic.Int64
}

func (w *worker) run(ctx context.Context) {
	// Registration in resque:workers is informational; failing it must not stop the loop.
	_ = w.st.queues.SAdd(ctx, workersSetKey, w.id).Err()
	defer func() {
		c, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		_ = w.st.queues.SRem(c, workersSetKey, w.id).Err()
	}()
	backoff, down := 100*time.Millisecond, false
	for ctx.Err() == nil {
		res, err := w.st.queues.BLPop(ctx, w.cfg.PollTimeout, workerQueues...).Result()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			if !down {
				w.log.Error("cannot fetch jobs, retrying", "err", err)
				down = true
			}
			sleepCtx(ctx, backoff)
			backoff = min(backoff*2, 2*time.Second)
			continue
		}
		if down {
			w.log.Info("fetching jobs again")
			down = false
		}
		backoff = 100 * time.Millisecond
		// The popped job is finished even if shutdown starts now: it exists nowhere else.
		w.perform(ctx, context.WithoutCancel(ctx), res[0], []byte(res[1]))
	}
}

// perform runs one job; a failure goes to resque:failed.
func (w *worker) perform(runCtx, ctx context.Context, queueKey string, raw []byte) {
	err := w.process(ctx, raw)
	if err == nil {
		w.processed.Add(1)
		_ = w.st.queues.Incr(ctx, statProcessed).Err()
		return
	}
	w.failed.Add(1)
	exception := rubyExceptionName(err)
	var je *jobError
	if errors.As(err, &je) {
		exception = je.exception
	}
	w.log.Warn("job failed", "queue", queueKey, "exception", exception, "err", err)
	rec, merr := newFailure(raw, queueKey, w.id, exception, err, time.Now())
	if merr != nil {
		w.log.Error("cannot encode failure; job dropped", "payload", string(raw), "err", merr)
		return
	}
	w.recordFailure(runCtx, ctx, rec, raw)
}

// recordFailure pushes to resque:failed, retrying while the queues Redis is down so the job is
// not lost (the research leaves that case unverified for apisonator, §5). After shutdown starts
// it tries for a few more seconds and then logs the payload.
func (w *worker) recordFailure(runCtx, ctx context.Context, rec, raw []byte) {
	backoff := 100 * time.Millisecond
	var giveUp time.Time
	for {
		_, err := w.st.queues.Pipelined(ctx, func(p redis.Pipeliner) error {
			p.RPush(ctx, FailedList, rec)
			p.Incr(ctx, statFailed)
			return nil
		})
		if err == nil {
			return
		}
		if runCtx.Err() != nil {
			if giveUp.IsZero() {
				giveUp = time.Now().Add(3 * time.Second)
			} else if time.Now().After(giveUp) {
				w.log.Error("cannot record failed job; job lost", "payload", string(raw), "err", err)
				return
			}
		}
		time.Sleep(backoff)
		backoff = min(backoff*2, 2*time.Second)
	}
}

func (w *worker) process(ctx context.Context, raw []byte) error {
	var job resqueJob
	if err := json.Unmarshal(raw, &job); err != nil {
		return &jobError{exception: "JSON::ParserError", err: err}
	}
	switch job.Class {
	case reportJobClass:
		return w.report(ctx, job.Args)
	case notifyJobClass:
		// Master-account usage notifications are only produced when CONFIG_MASTER_SERVICE_ID
		// is set (§5); the twin does not produce them and accepts any it is given.
		return nil
	}
	return &jobError{exception: "NameError", err: fmt.Errorf("uninitialized constant %s", job.Class)}
}

type rawTransaction struct {
	AppID     flexString            `json:"app_id"`
	UserKey   flexString            `json:"user_key"`
	Usage     map[string]flexString `json:"usage"`
	Log       map[string]flexString `json:"log"`
	Timestamp flexString            `json:"timestamp"`
}

// appliedTx is a transaction that passed the worker's checks.
type appliedTx struct {
	app   *application
	usage map[string]usageValue
	code  string
	at    time.Time
}

// report is ReportJob: args are [service_id, {"0": transaction, ...}, enqueued_at, context].
//
// It checks the whole job before counting any of it, in apisonator's order
// (apisonator@3scale-2.16.4-GA:lib/3scale/backend/transactor/report_job.rb:10-79,
// transactor/process_job.rb:14-27): first every transaction's application
// (group_by_application_id), then, application by application, every transaction's usage
// (compose_transaction), then every timestamp (Transaction#ensure_on_time!). The first
// ThreeScale::Backend::Error ends the job: nothing of it is counted, that one error goes to
// ErrorStorage, and the job is done, not failed (report_job.rb:19-21). 3scale-2.15.1-GA has
// the same code.
func (w *worker) report(ctx context.Context, args []json.RawMessage) error {
	if len(args) < 2 {
		return badJob("wrong number of arguments (given %d, expected 3..4)", len(args))
	}
	var sid flexString
	if err := json.Unmarshal(args[0], &sid); err != nil || sid == "" {
		return badJob("service id is missing or invalid: %s", args[0])
	}
	var txs map[string]rawTransaction
	if err := json.Unmarshal(args[1], &txs); err != nil {
		return badJob("transactions are invalid: %v", err)
	}
	rdb, s := w.st.storage, string(sid)
	now := time.Now().UTC()

	svc, err := loadService(ctx, rdb, s)
	if err != nil {
		return err
	}
	if svc == nil {
		w.log.Info("report for unknown service ignored", "service_id", s)
		return nil
	}
	ms, err := loadMetrics(ctx, rdb, s)
	if err != nil {
		return err
	}
	applied, err := w.checkJob(ctx, svc, ms, txs, now)
	var ae *apiError
	if errors.As(err, &ae) {
		// ErrorStorage.store gets the job's context, whose keys are strings once Resque has
		// decoded it, and looks up :request, a symbol: the entry's context_info is always {}
		// (apisonator@3scale-2.16.4-GA:lib/3scale/backend/error_storage.rb:10-18).
		return storeIntegrationError(ctx, rdb, s, ae, map[string]any{}, now)
	}
	if err != nil || len(applied) == 0 {
		return err
	}
	firsts, err := aggregate(ctx, rdb, s, applied)
	if err != nil {
		return err
	}
	// The counters are committed. Anything that fails from here on is logged, not failed:
	// rescheduling the job would count it twice.
	w.afterAggregation(ctx, svc, ms, applied, firsts, now)
	return nil
}

func sortedIndexes(txs map[string]rawTransaction) []string {
	idx := make([]string, 0, len(txs))
	for k := range txs {
		idx = append(idx, k)
	}
	sort.Slice(idx, func(i, j int) bool {
		a, ea := strconv.Atoi(idx[i])
		b, eb := strconv.Atoi(idx[j])
		if ea == nil && eb == nil {
			return a < b
		}
		return idx[i] < idx[j]
	})
	return idx
}

// checkJob resolves a job's transactions, or returns the first *apiError apisonator would
// raise for it. A transaction without usage is dropped once its application is known: it
// counts nothing, not even its response code (report_job.rb compose_transaction:66-79).
func (w *worker) checkJob(ctx context.Context, svc *service, ms *metricSet, txs map[string]rawTransaction, now time.Time) ([]appliedTx, error) {
	type group struct {
		app *application
		txs []rawTransaction
	}
	var groups []*group
	byApp := map[string]*group{}
	for _, idx := range sortedIndexes(txs) {
		tx := txs[idx]
		app, err := extractApplication(ctx, w.st.storage, string(svc.ID), string(tx.UserKey), string(tx.AppID))
		if err != nil {
			return nil, err
		}
		g := byApp[string(app.ID)]
		if g == nil {
			g = &group{app: app}
			byApp[string(app.ID)] = g
			groups = append(groups, g)
		}
		g.txs = append(g.txs, tx)
	}
	var out []appliedTx
	for _, g := range groups {
		for _, tx := range g.txs {
			if len(tx.Usage) == 0 {
				continue
			}
			// A job's usage arrives as a JSON object, whose order Go does not keep: by name,
			// then. apisonator keeps the job's order here, a Ruby Hash
			// (apisonator@3scale-2.16.4-GA:lib/3scale/backend/metric/collection.rb
			// parse_usage); the twin's listener writes usage sorted by name anyway, so only a
			// job pushed by someone else can report another of its bad entries first.
			raw := make([]usageParam, 0, len(tx.Usage))
			for k, v := range tx.Usage {
				raw = append(raw, usageParam{k, string(v)})
			}
			sort.Slice(raw, func(i, j int) bool { return raw[i].name < raw[j].name })
			usage, err := parseUsage(ms, raw)
			if err != nil {
				return nil, err
			}
			out = append(out, appliedTx{app: g.app, usage: usage, code: string(tx.Log["code"]), at: transactionTime(string(tx.Timestamp), now)})
		}
	}
	for _, tx := range out {
		if err := ensureOnTime(tx.at, now); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// extractApplication is Application.extract_id!, which the worker uses instead of the
// listener's load_by_id_or_user_key!: app_id and user_key together are an
// authentication_error; a user_key without a mapping is user_key_invalid; an application
// that does not exist, found by app_id or through the key's mapping, is application_not_found
// with the id it looked for; neither is application_not_found with an empty id
// (apisonator@3scale-2.16.4-GA:lib/3scale/backend/application.rb:87-96,152-163). A job's
// empty string counts as absent: the twin's listener never writes one.
func extractApplication(ctx context.Context, rdb *redis.Client, sid, userKey, appID string) (*application, error) {
	switch {
	case appID != "" && userKey != "":
		return nil, errBothCredentials
	case appID == "" && userKey == "":
		return nil, errApplicationNotFound("")
	case appID == "":
		id, err := getOpt(ctx, rdb, userKeyKey(sid, userKey))
		if err != nil {
			return nil, err
		}
		if id == "" {
			return nil, errUserKeyInvalid(userKey)
		}
		appID = id
	}
	app, err := loadApplication(ctx, rdb, sid, appID)
	if err != nil {
		return nil, err
	}
	if app == nil {
		return nil, errApplicationNotFound(appID)
	}
	return app, nil
}

// transactionTime is Transaction#timestamp=: the client's timestamp when it parses, else the
// processing time, so a backlog drained after a worker outage is counted in the current
// minute, hour and day (§5 "Timestamp"). A timestamp that does not parse is no error
// (apisonator@3scale-2.16.4-GA:lib/3scale/backend/transaction.rb:26-32,
// lib/3scale/backend/extensions/time.rb parse_to_utc).
func transactionTime(raw string, now time.Time) time.Time {
	if raw == "" {
		return now
	}
	t, ok := parseTimestamp(raw)
	if !ok {
		return now
	}
	return t.UTC()
}

// ensureOnTime is Transaction#ensure_on_time!: a transaction more than 24 h old or more than
// 1 h ahead, in whole seconds, ends the job
// (apisonator@3scale-2.16.4-GA:lib/3scale/backend/transaction.rb:4-14,49-59; errors.rb
// TransactionTimestampTooOld, TransactionTimestampTooNew).
func ensureOnTime(at, now time.Time) error {
	const past, future = 24 * 60 * 60, 60 * 60
	switch diff := at.Unix() - now.Unix(); {
	case diff < -past:
		return &apiError{http.StatusForbidden, "transaction_timestamp_too_old", fmt.Sprintf("reporting transactions older than %d seconds is not allowed", past)}
	case diff > future:
		return &apiError{http.StatusForbidden, "transaction_timestamp_too_new", fmt.Sprintf("reporting transactions more than %d seconds in the future is not allowed", future)}
	}
	return nil
}

func parseTimestamp(s string) (time.Time, bool) {
	for _, f := range []string{time.RFC3339, "2006-01-02 15:04:05 -0700", "2006-01-02 15:04:05 MST", "2006-01-02 15:04:05"} {
		if t, err := time.Parse(f, s); err == nil {
			return t, true
		}
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.Unix(n, 0), true
	}
	return time.Time{}, false
}

// firstTraffic holds the results of the first-traffic markers set in the aggregation.
type firstTraffic struct {
	ever  map[string]*redis.IntCmd
	daily map[string]*redis.BoolCmd
}

// aggregate applies every transaction's usage to the app and service counters of each
// granularity in a single MULTI/EXEC (research/apicast-apisonator.md §5 Stats::Aggregator,
// §7 key layout). apisonator pipelines without MULTI; the transaction here makes a job count
// exactly once even when Redis dies mid-job and cron reschedules it.
func aggregate(ctx context.Context, rdb *redis.Client, sid string, txs []appliedTx) (*firstTraffic, error) {
	ft := &firstTraffic{ever: map[string]*redis.IntCmd{}, daily: map[string]*redis.BoolCmd{}}
	_, err := rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		for _, tx := range txs {
			app := string(tx.app.ID)
			for mid, uv := range tx.usage {
				subject := "metric:" + mid
				for _, g := range appGranularities {
					applyCounter(ctx, p, appCounterKey(sid, app, subject, g, g.stamp(tx.at)), g, uv)
				}
				for _, g := range serviceGranularities {
					applyCounter(ctx, p, serviceCounterKey(sid, subject, g, g.stamp(tx.at)), g, uv)
				}
			}
			// Response codes are counted when log[code] is sent (Aggregators::ResponseCode),
			// both exact and by class.
			if c, err := strconv.Atoi(tx.code); err == nil && c >= 100 && c < 600 {
				for _, code := range []string{tx.code, strconv.Itoa(c/100) + "XX"} {
					subject := "response_code:" + code
					for _, g := range appGranularities {
						applyCounter(ctx, p, appCounterKey(sid, app, subject, g, g.stamp(tx.at)), g, usageValue{n: 1})
					}
					for _, g := range serviceGranularities {
						applyCounter(ctx, p, serviceCounterKey(sid, subject, g, g.stamp(tx.at)), g, usageValue{n: 1})
					}
				}
			}
			if _, ok := ft.ever[app]; !ok {
				ft.ever[app] = p.SAdd(ctx, cinstancesKey(sid), app)
				day := periodDay.stamp(tx.at)
				ft.daily[app] = p.SetNX(ctx, dailyTrafficKey(sid, app, day), "1", 48*time.Hour)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return ft, nil
}

// applyCounter increments, or sets for '#' values (a set to 0 deletes), and gives minute
// counters their 180 s expiry (§7).
func applyCounter(ctx context.Context, p redis.Pipeliner, key string, g period, uv usageValue) {
	switch {
	case uv.set && uv.n == 0:
		p.Del(ctx, key)
		return
	case uv.set:
		p.Set(ctx, key, uv.n, 0)
	default:
		p.IncrBy(ctx, key, uv.n)
	}
	if g == periodMinute {
		p.Expire(ctx, key, minuteKeyTTL)
	}
}

// afterAggregation writes first-traffic events and alerts and pings system's events hook.
func (w *worker) afterAggregation(ctx context.Context, svc *service, ms *metricSet, txs []appliedTx, ft *firstTraffic, now time.Time) {
	rdb, sid := w.st.storage, string(svc.ID)
	seen := map[string]bool{}
	for _, tx := range txs {
		app := string(tx.app.ID)
		if seen[app] {
			continue
		}
		seen[app] = true
		obj := map[string]any{"service_id": sid, "application_id": app, "timestamp": rubyTime(now)}
		if ft.ever[app].Val() == 1 {
			w.logErr("store first_traffic event", storeEvent(ctx, rdb, eventFirstTraffic, obj, now))
		}
		if ft.daily[app].Val() {
			w.logErr("store first_daily_traffic event", storeEvent(ctx, rdb, eventFirstDailyTraffic, obj, now))
		}
		w.logErr("update alerts", w.updateAlerts(ctx, sid, tx.app, ms, now))
	}
	w.logErr("ping events hook", w.pingHook(ctx))
}

func (w *worker) logErr(what string, err error) {
	if err != nil {
		w.log.Warn(what, "err", err)
	}
}

// discreteUtilization maps a utilization (1.0 = 100%) to the highest alert bin it reaches.
func discreteUtilization(u float64) int {
	pct := u * 100
	for i := len(alertBins) - 1; i >= 0; i-- {
		if pct >= float64(alertBins[i]) {
			return alertBins[i]
		}
	}
	return 0
}

// updateAlerts fires a utilization alert when the app's highest utilization over its limits
// reaches a level the service enabled (alerts/service_id:S/allowed_set), once per app and level
// per 24 h, stored as an event of type alert (research/apicast-apisonator.md §6).
func (w *worker) updateAlerts(ctx context.Context, sid string, app *application, ms *metricSet, now time.Time) error {
	rdb := w.st.storage
	reports, err := loadUsageReports(ctx, rdb, sid, app, ms, nil, now)
	if err != nil || len(reports) == 0 {
		return err
	}
	maxU, rec := -1.0, reports[0]
	for _, r := range reports {
		if r.max > 0 {
			if u := float64(r.current) / float64(r.max); u > maxU {
				maxU, rec = u, r
			}
		}
	}
	if maxU < 0 {
		maxU = 0
	}
	level := discreteUtilization(maxU)
	if level == 0 {
		return nil
	}
	allowed, err := rdb.SIsMember(ctx, alertsAllowedKey(sid), level).Result()
	if err != nil || !allowed {
		return err
	}
	first, err := rdb.SetNX(ctx, alertNotifiedKey(sid, string(app.ID), level), "1", 24*time.Hour).Result()
	if err != nil || !first {
		return err
	}
	id, err := rdb.Incr(ctx, alertsCurrentIDKey).Result()
	if err != nil {
		return err
	}
	alert := map[string]any{
		"id":              id,
		"utilization":     level,
		"max_utilization": maxU,
		"application_id":  string(app.ID),
		"service_id":      sid,
		"timestamp":       rubyTime(now),
		"limit":           fmt.Sprintf("%s per %s: %d/%d", rec.metric.Name, rec.period, rec.current, rec.max),
	}
	return storeEvent(ctx, rdb, eventAlert, alert, now)
}

// pingHook tells system there are events to fetch, at most once per 60 s (events/ping).
func (w *worker) pingHook(ctx context.Context) error {
	if w.cfg.EventsHookURL == "" {
		return nil
	}
	var size *redis.IntCmd
	var can *redis.BoolCmd
	_, err := w.st.storage.Pipelined(ctx, func(p redis.Pipeliner) error {
		size = p.ZCard(ctx, eventsQueueKey)
		can = p.SetNX(ctx, eventsPingKey, "1", 60*time.Second)
		return nil
	})
	if err != nil || !can.Val() || size.Val() == 0 {
		return err
	}
	form := url.Values{"secret": {w.cfg.EventsHookSecret}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.cfg.EventsHookURL, strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := w.hook.Do(req)
	if err != nil {
		return err
	}
	_ = resp.Body.Close()
	if resp.StatusCode >= 300 {
		return fmt.Errorf("events hook answered %s", resp.Status)
	}
	return nil
}

// serveMetrics serves a minimal Prometheus text endpoint for the liveness probe.
func (w *worker) serveMetrics(ctx context.Context) (func(), error) {
	ln, err := reuseport.Listen(ctx, w.cfg.MetricsAddr)
	if err != nil {
		return nil, fmt.Errorf("backend-worker: metrics listen on %s: %w", w.cfg.MetricsAddr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /metrics", func(rw http.ResponseWriter, _ *http.Request) {
		rw.Header().Set("Content-Type", "text/plain; version=0.0.4")
		fmt.Fprintf(rw, "# TYPE apisonator_worker_job_count counter\n")
		fmt.Fprintf(rw, "apisonator_worker_job_count{type=\"ReportJob\",result=\"processed\"} %d\n", w.processed.Load())
		fmt.Fprintf(rw, "apisonator_worker_job_count{type=\"ReportJob\",result=\"failed\"} %d\n", w.failed.Load())
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return func() {
		c, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(c)
	}, nil
}
