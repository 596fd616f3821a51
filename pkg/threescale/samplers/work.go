package samplers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/threescale-chaos/harness/pkg/probe"
	"github.com/threescale-chaos/harness/pkg/scenario"
	"github.com/threescale-chaos/harness/pkg/threescale"
	"github.com/threescale-chaos/harness/pkg/threescale/fixture"
)

// WorkOptions tunes the work probes; zero values take the defaults.
type WorkOptions struct {
	// Units is how much work one Submit creates (hits, reports, accounts; default 10,
	// accounts 3).
	Units int
	// Settle bounds the wait in Check for the work to be applied (default 60s); Check
	// then confirms the count stays put for one more poll, so work applied twice shows.
	Settle time.Duration
	// MaxWait bounds a Check that waits for work scheduled later than Settle, such as
	// Sidekiq retries (default 5m).
	MaxWait time.Duration
	// Timeout bounds each request (default probe.DefaultTimeout).
	Timeout time.Duration
}

func (o WorkOptions) withDefaults() WorkOptions {
	if o.Units <= 0 {
		o.Units = 10
	}
	if o.Settle <= 0 {
		o.Settle = 60 * time.Second
	}
	if o.MaxWait <= 0 {
		o.MaxWait = 5 * time.Minute
	}
	if o.Timeout <= 0 {
		o.Timeout = probe.DefaultTimeout
	}
	return o
}

// within is o with Settle raised to a cell's recovery budget: work may take as long as the
// scenario gives the capability to recover (M6 of research/real-3scale-2.16-audit.md: a
// fixed settle was shorter than Sidekiq's back-off). Settle stays the floor, so a scenario
// file's short budget on a fast test bed does not make the check stricter than the probe.
func (o WorkOptions) within(budget time.Duration) WorkOptions {
	o.Settle = max(o.Settle, budget)
	return o
}

// WorkProbes returns the work probes with default options; see WorkProbesWith.
func WorkProbes(env *threescale.Env, f *fixture.Fixture) map[scenario.Capability]probe.WorkProbe {
	return WorkProbesWith(env, f, WorkOptions{})
}

// WorkProbesWith returns one work probe per capability whose work can be deferred or lost:
//
//   - analytics: hits through a gateway for the work application (production, else
//     staging: the one still up), counted in backend-redis's eternity counter;
//   - backend-report-queue: reports straight to backend-listener for the write
//     application, counted the same way, and the report queue drained;
//   - failed-job-rescheduling: canary failed report jobs for the zync application,
//     rescheduled by backend-cron and applied by backend-worker;
//   - alerts: one alert level crossed, and the alert shown in system;
//   - search-indexing: buyer accounts signed up, each indexed (Sidekiq's
//     SphinxAccountIndexationWorker → searchd);
//   - background-jobs: buyer accounts signed up, and the Sidekiq jobs they queued: still
//     waiting at the end of the outage, then drained;
//   - zync-sync: an application changed, and zync recording it;
//   - gateway-rollout: a new apicast-production pod deployed, Ready and in place;
//   - stats-purge: deleted services planted with statistics, purged by backend-cron;
//   - integration-errors: reports of unknown metrics, each listed as an integration error
//     in the admin portal.
func WorkProbesWith(env *threescale.Env, f *fixture.Fixture, opts WorkOptions) map[scenario.Capability]probe.WorkProbe {
	o := opts.withDefaults()
	s := &samplers{env: env, f: f, o: Options{Timeout: o.Timeout, AsyncBound: o.Settle, AlertBound: max(o.Settle, 90*time.Second)}.withDefaults()}
	accounts := o
	if opts.Units <= 0 {
		accounts.Units = 3
	}
	return map[scenario.Capability]probe.WorkProbe{
		scenario.Analytics:             &hitsProbe{c: scenario.Analytics, s: s, o: o, app: f.WorkApp, viaGateway: true},
		scenario.BackendReportQueue:    &hitsProbe{c: scenario.BackendReportQueue, s: s, o: o, app: f.WriteApp},
		scenario.FailedJobRescheduling: &hitsProbe{c: scenario.FailedJobRescheduling, s: s, o: o, app: f.ZyncApp, canaries: true},
		scenario.Alerts:                &alertProbe{s: s, o: o, a: &alertSampler{s: s, next: alertPoolSplit(f), end: len(fixture.AlertLevels) * len(f.AlertApps)}},
		scenario.BackgroundJobs:        &jobsProbe{s: s, o: accounts},
		scenario.SearchIndexing:        &indexProbe{c: scenario.SearchIndexing, s: s, o: accounts},
		scenario.ZyncSync:              &zyncProbe{s: s, o: o},
		scenario.GatewayRollout:        &rolloutProbe{s: s, o: o},
		scenario.StatsPurge:            &purgeProbe{s: s, o: accounts},
		scenario.IntegrationErrors:     &errorsProbe{s: s, o: accounts, seq: errorSeq{kind: "work"}},
	}
}

// hitsKey is apisonator's application-level eternity counter of the product's hits
// (research/apicast-apisonator.md §7): written by backend-worker only.
func hitsKey(f *fixture.Fixture, app fixture.Application) string {
	return fmt.Sprintf("stats/{service:%d}/cinstance:%s/metric:%d/eternity", f.ServiceID, app.BackendID, f.HitsMetricID)
}

func readCounter(ctx context.Context, env *threescale.Env, key string, timeout time.Duration) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	v, err := env.BackendStorage.Get(ctx, key).Int()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	return v, err
}

// hitsProbe submits hits for one application (through a gateway, straight to the
// listener, or as failed jobs for backend-cron to reschedule) and checks that its counter
// grew by exactly what was submitted.
type hitsProbe struct {
	c          scenario.Capability
	s          *samplers
	o          WorkOptions
	app        fixture.Application
	viaGateway bool
	canaries   bool

	mu        sync.Mutex
	base      int
	baseSet   bool
	submitted int
}

func (p *hitsProbe) Capability() scenario.Capability { return p.c }

func (p *hitsProbe) what() string {
	switch {
	case p.viaGateway:
		return "hits through a gateway"
	case p.canaries:
		return "failed report jobs"
	}
	return "reported hits"
}

func (p *hitsProbe) Baseline(ctx context.Context) error {
	v, err := readCounter(ctx, p.s.env, hitsKey(p.s.f, p.app), p.o.Timeout)
	if err != nil {
		return fmt.Errorf("%s baseline: backend-redis: %s", p.c, probe.ErrorDetail(err))
	}
	p.mu.Lock()
	p.base, p.baseSet, p.submitted = v, true, 0
	p.mu.Unlock()
	return nil
}

func (p *hitsProbe) Submit(ctx context.Context) error {
	n, err := p.submit(ctx)
	p.mu.Lock()
	p.submitted += n
	p.mu.Unlock()
	if err != nil {
		return fmt.Errorf("%s submit: %d of %d %s made: %w", p.c, n, p.o.Units, p.what(), err)
	}
	return nil
}

func (p *hitsProbe) submit(ctx context.Context) (int, error) {
	s, f := p.s, p.s.f
	done := 0
	switch {
	case p.canaries:
		for i := range p.o.Units {
			if err := plantCanary(ctx, s.env, f, p.app, i); err != nil {
				return done, fmt.Errorf("backend-redis: %s", probe.ErrorDetail(err))
			}
			done++
		}
	case p.viaGateway:
		// Each request through APIcast causes exactly one authrep (§1.1), whichever
		// gateway takes it; a 2xx from the upstream is one hit submitted.
		path := "/chaos/" + f.Token + "/work"
		var lastErr error
		for range p.o.Units {
			ok := false
			for _, g := range []struct {
				gw   *threescale.Gateway
				host string
			}{{s.env.Production, f.ProductionHost}, {s.env.Staging, f.StagingHost}} {
				smp := threescale.UpstreamCheck(g.gw, g.host, path, p.app.UserKey, p.o.Timeout, p.c).Sample(ctx)
				if smp.OK {
					ok = true
					break
				}
				lastErr = fmt.Errorf("%s gateway: %s", g.gw.Name, smp.String())
				if smp.Status != 0 {
					break // answered without reaching the upstream: not a hit, and no retry elsewhere
				}
			}
			if !ok {
				return done, lastErr
			}
			done++
		}
	default:
		if s.env.Listener == nil {
			return 0, errors.New("backend-listener is unknown (target backend:)")
		}
		for range p.o.Units {
			rctx, cancel := context.WithTimeout(ctx, p.o.Timeout)
			err := s.env.Listener.Report(rctx, f.ServiceID, f.ServiceToken, p.app.UserKey, map[string]int{"hits": 1})
			cancel()
			if err != nil {
				return done, err
			}
			done++
		}
	}
	return done, nil
}

// Check waits until the counter has grown by what was submitted and stays there for one
// more poll; Applied is the growth seen last.
func (p *hitsProbe) Check(ctx context.Context, budget time.Duration) (scenario.WorkCheck, error) {
	o := p.o.within(budget)
	p.mu.Lock()
	base, baseSet, submitted := p.base, p.baseSet, p.submitted
	p.mu.Unlock()
	wc := scenario.WorkCheck{Capability: p.c, What: p.what(), Submitted: submitted}
	if !baseSet {
		return wc, fmt.Errorf("%s check: no baseline was taken", p.c)
	}
	applied, stable := -1, 0
	var lastErr error
	wctx, cancel := context.WithTimeout(ctx, o.Settle)
	defer cancel()
	_ = wait.PollUntilContextCancel(wctx, 500*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		v, err := readCounter(ctx, p.s.env, hitsKey(p.s.f, p.app), o.Timeout)
		if err != nil {
			lastErr = err
			return false, nil
		}
		lastErr = nil
		if v-base == applied {
			stable++
		} else {
			applied, stable = v-base, 0
		}
		drained := true
		if p.c == scenario.BackendReportQueue {
			age, n, err := oldestReportJob(ctx, p.s.env)
			drained = err == nil && (n == 0 || age < time.Second*5)
		}
		return applied >= submitted && stable >= 1 && drained, nil
	})
	wc.CheckedAt = time.Now()
	if applied < 0 {
		return wc, fmt.Errorf("%s check: backend-redis: %s", p.c, probe.ErrorDetail(lastErr))
	}
	wc.Applied = applied
	wc.Detail = fmt.Sprintf("counter %s grew by %d", strings.SplitN(hitsKey(p.s.f, p.app), "/metric", 2)[0], applied)
	return wc, nil
}

// alertProbe crosses one alert level while the fault holds and checks, after recovery, that
// system shows the alert for that application and level. It uses the second half of the
// alert pool; the sampler uses the first.
type alertProbe struct {
	s *samplers
	o WorkOptions
	a *alertSampler

	mu      sync.Mutex
	crossed []crossing
}

func (p *alertProbe) Capability() scenario.Capability { return scenario.Alerts }

// Baseline checks the alerts list can be read (signed in).
func (p *alertProbe) Baseline(ctx context.Context) error {
	if p.s.env.Listener == nil || len(p.s.f.AlertApps) == 0 {
		return errors.New("alerts baseline: no backend-listener or no alert applications")
	}
	if _, err := alertLevelsShown(ctx, p.s, p.s.f.AlertApps[len(p.s.f.AlertApps)-1]); err != nil {
		return fmt.Errorf("alerts baseline: %w", err)
	}
	p.mu.Lock()
	p.crossed = nil
	p.mu.Unlock()
	return nil
}

func (p *alertProbe) Submit(ctx context.Context) error {
	c, ok, err := p.a.crossNext(ctx, p.o.Timeout)
	if err != nil {
		return fmt.Errorf("alerts submit: %w", err)
	}
	if !ok {
		return errors.New("alerts submit: alert pool used up")
	}
	p.mu.Lock()
	p.crossed = append(p.crossed, c)
	p.mu.Unlock()
	return nil
}

// Check waits, within AlertBound, until every crossed level shows as an alert of its
// application.
func (p *alertProbe) Check(ctx context.Context, budget time.Duration) (scenario.WorkCheck, error) {
	o := p.o.within(budget)
	p.mu.Lock()
	crossed := append([]crossing(nil), p.crossed...)
	p.mu.Unlock()
	wc := scenario.WorkCheck{Capability: scenario.Alerts, What: "alert levels crossed", Submitted: len(crossed)}
	shown := map[string]bool{}
	o.Settle = max(p.s.o.AlertBound, o.Settle)
	last := ""
	_, waited := waitApplied(ctx, p.s.env, o, eventImportJobs, func(ctx context.Context) bool {
		for _, c := range crossed {
			if !shown[c.String()] {
				p.s.pingEvents(ctx)
				break
			}
		}
		for _, c := range crossed {
			if shown[c.String()] {
				continue
			}
			levels, err := alertLevelsShown(ctx, p.s, c.app)
			if err != nil {
				last = err.Error()
				return false
			}
			shown[c.String()] = levels[c.level]
		}
		n := 0
		for _, ok := range shown {
			if ok {
				n++
			}
		}
		last = fmt.Sprintf("%d of %d alerts shown", n, len(crossed))
		return n == len(crossed)
	})
	last += waited
	wc.CheckedAt = time.Now()
	for _, ok := range shown {
		if ok {
			wc.Applied++
		}
	}
	if wc.Applied < len(crossed) {
		p.a.skipApp() // the next crossing must not build on an alert that never showed
	}
	var names []string
	for _, c := range crossed {
		names = append(names, c.String())
	}
	wc.Detail = fmt.Sprintf("%s (%s)", last, strings.Join(names, ", "))
	return wc, nil
}

// indexProbe signs up buyer accounts while the fault holds and checks, after recovery,
// how many became searchable: indexing is a Sidekiq job (SphinxAccountIndexationWorker,
// queue default) that writes to searchd (research/porta-zync.md §3.1, §4.4). An account
// counts as submitted when it exists after the signup call, even if the call failed. With
// system-redis down a signup with a password rolls back (approving the account queues a
// job inside the transaction, porta@3scale-2.16.4-GA:app/models/account/states.rb,
// app/lib/signup/account_manager.rb), so nothing is submitted and the cell is judged by its
// samples.
type indexProbe struct {
	c scenario.Capability
	s *samplers
	o WorkOptions

	mu   sync.Mutex
	orgs []string
	seq  int
}

func (p *indexProbe) Capability() scenario.Capability { return p.c }

func (p *indexProbe) Baseline(context.Context) error {
	p.mu.Lock()
	p.orgs = nil
	p.mu.Unlock()
	return nil
}

func (p *indexProbe) Submit(ctx context.Context) error {
	var errs []error
	for range p.o.Units {
		p.mu.Lock()
		p.seq++
		org := fmt.Sprintf("chaoswork%sn%d%s", p.s.f.Token, p.seq, randomHex(2))
		p.mu.Unlock()
		err := p.s.call(ctx, "POST", "/admin/api/signup.json", urlValues("org_name", org, "username", org,
			"email", org+"@chaos.example.com", "password", randomHex(12), "application_plan_id", strconv.FormatInt(p.s.f.PlanID, 10)), nil)
		if err != nil {
			errs = append(errs, err)
			// It may exist anyway (500 after commit).
			if p.s.call(ctx, "GET", "/admin/api/accounts/find.json", urlValues("username", org), nil) != nil {
				continue
			}
		}
		p.mu.Lock()
		p.orgs = append(p.orgs, org)
		p.mu.Unlock()
	}
	// Work exists when the account does: a signup that answered 500 after its commit
	// (system-redis down, §4.3 path A) still submitted an account whose index job was lost.
	p.mu.Lock()
	created := len(p.orgs)
	p.mu.Unlock()
	if created == 0 && len(errs) > 0 {
		return fmt.Errorf("%s submit: %d of %d signups failed: %w", p.c, len(errs), p.o.Units, errs[0])
	}
	return nil
}

// Check waits until every account is searchable. Indexing that failed while searchd was
// down waits in Sidekiq's retry set on Sidekiq's default back-off (porta@3scale-2.16.4-GA:
// app/workers/sphinx_account_indexation_worker.rb, an ActiveJob with no retry schedule of
// its own: about 20 s, 25 s, 45 s, 100 s, 290 s between tries), so the wait follows the
// latest pending retry (see waitApplied).
func (p *indexProbe) Check(ctx context.Context, budget time.Duration) (scenario.WorkCheck, error) {
	o := p.o.within(budget)
	p.mu.Lock()
	orgs := append([]string(nil), p.orgs...)
	p.mu.Unlock()
	wc := scenario.WorkCheck{Capability: p.c, What: "accounts created", Submitted: len(orgs)}
	found := map[string]bool{}
	var last string
	_, waited := waitApplied(ctx, p.s.env, o, []string{sphinxAccountIndexationWorker}, func(ctx context.Context) bool {
		for _, org := range orgs {
			if found[org] {
				continue
			}
			smp, body := threescale.SearchCheck(p.s.env, org, 0, p.o.Timeout, p.c).Do(ctx)
			if !smp.OK {
				last = smp.String()
				continue
			}
			if ids, _ := threescale.ApplicationIDs(body); len(ids) > 0 {
				found[org] = true
			}
		}
		return len(found) == len(orgs)
	})
	wc.CheckedAt, wc.Applied = time.Now(), len(found)
	wc.Detail = fmt.Sprintf("%d of %d searchable", len(found), len(orgs))
	if last != "" && len(found) < len(orgs) {
		wc.Detail += "; last search: " + last
	}
	wc.Detail += waited
	return wc, nil
}

// zyncProbe changes the zync work application while the fault holds and checks, after
// recovery, that zync recorded an entry with that change. zync deduplicates per model
// (research/porta-zync.md §5.2), so the unit is "the application's latest change".
//
// A ZyncWorker that failed while zync or its database was down waits in Sidekiq's retry
// set on porta's schedule (about 14 s, 24 s, 38 s, 69 s, 2.3 min after each failure;
// research/porta-zync.md §5.1), so Check waits until the latest such retry is due and
// then Settle more, up to MaxWait.
type zyncProbe struct {
	s *samplers
	o WorkOptions

	mu        sync.Mutex
	marker    string
	submitted int
}

func (p *zyncProbe) Capability() scenario.Capability { return scenario.ZyncSync }

func (p *zyncProbe) Baseline(ctx context.Context) error {
	if _, err := zyncEntriesWith(ctx, p.s.env, p.s.f.ZyncWorkApp.ID, "", p.o.Timeout); err != nil {
		return fmt.Errorf("zync-sync baseline: zync-database: %s", probe.ErrorDetail(err))
	}
	p.mu.Lock()
	p.marker, p.submitted = "", 0
	p.mu.Unlock()
	return nil
}

func (p *zyncProbe) Submit(ctx context.Context) error {
	marker := "chaos-zync-work-" + randomHex(6)
	if err := p.s.updateApp(ctx, p.s.f.ZyncWorkApp, marker); err != nil {
		return fmt.Errorf("zync-sync submit: %w", err)
	}
	p.mu.Lock()
	p.marker, p.submitted = marker, 1
	p.mu.Unlock()
	return nil
}

func (p *zyncProbe) Check(ctx context.Context, budget time.Duration) (scenario.WorkCheck, error) {
	o := p.o.within(budget)
	p.mu.Lock()
	marker, submitted := p.marker, p.submitted
	p.mu.Unlock()
	wc := scenario.WorkCheck{Capability: scenario.ZyncSync, What: "application changes", Submitted: submitted}
	if submitted == 0 {
		wc.CheckedAt = time.Now()
		return wc, nil
	}
	last := "no entry with the change"
	ok, waited := waitApplied(ctx, p.s.env, o, []string{zyncWorkerClass}, func(ctx context.Context) bool {
		n, err := zyncEntriesWith(ctx, p.s.env, p.s.f.ZyncWorkApp.ID, marker, p.o.Timeout)
		switch {
		case err != nil:
			last = "zync-database: " + probe.ErrorDetail(err)
		case n > 0:
			return true
		default:
			last = "no entry with the change"
		}
		return false
	})
	wc.CheckedAt = time.Now()
	if ok {
		wc.Applied = 1
		last = "entry with the change recorded"
	}
	wc.Detail = last + waited
	return wc, nil
}

// waitApplied polls applied until it holds, for Settle; while a job of one of the Sidekiq
// classes waits in system-redis's retry set, the wait runs until that retry is due plus
// Settle, never past MaxWait. It returns whether applied held, and a note of the retry it
// waited for ("" when none).
func waitApplied(ctx context.Context, env *threescale.Env, o WorkOptions, classes []string, applied func(ctx context.Context) bool) (bool, string) {
	start := time.Now()
	hardStop := start.Add(max(o.MaxWait, o.Settle))
	deadline := start.Add(o.Settle)
	var waited string
	err := wait.PollUntilContextCancel(ctx, 500*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		if applied(ctx) {
			return true, nil
		}
		qctx, cancel := context.WithTimeout(ctx, o.Timeout)
		defer cancel()
		if due, class, ok := latestRetryDue(qctx, env.SystemRedis, classes...); ok && due.Add(o.Settle).After(deadline) {
			deadline = due.Add(o.Settle)
			waited = fmt.Sprintf("; waited for a %s retry due %s after the check began", class, due.Sub(start).Round(time.Second))
		}
		if now := time.Now(); now.After(deadline) || now.After(hardStop) {
			return false, errWorkTimeout
		}
		return false, nil
	})
	return err == nil, waited
}

// eventImportJobs are porta's Sidekiq jobs between a backend event and an alert in system:
// EventsFetchWorker loads the events, queues a PersistEventWorker for each and deletes them
// from backend; PersistEventWorker saves a BackendEvent (in MySQL) and queues the
// EventImportWorker that runs AlertImporter (porta@3scale-2.16.4-GA:app/lib/events.rb
// fetch_backend_events!, app/workers/persist_event_worker.rb,
// app/workers/event_import_worker.rb). One that failed during an outage (system-mysql) waits
// for its retry on Sidekiq's default back-off, so the alert shows only then.
var eventImportJobs = []string{"EventsFetchWorker", "PersistEventWorker", "EventImportWorker"}

// zyncWorkerClass is porta's Sidekiq job that notifies zync (research/porta-zync.md §5.1).
const zyncWorkerClass = "ZyncWorker"

// sphinxAccountIndexationWorker indexes accounts in searchd; it is an ActiveJob, so in
// Sidekiq it is the "wrapped" class of Rails' JobWrapper (porta@3scale-2.16.4-GA:
// app/workers/sphinx_account_indexation_worker.rb < SphinxIndexationWorker < ApplicationJob).
const sphinxAccountIndexationWorker = "SphinxAccountIndexationWorker"

var errWorkTimeout = errors.New("work not applied in time")

// latestRetryDue is when the last job of one of the classes in Sidekiq's retry set is due
// again (research/porta-zync.md §4.1: the `retry` ZSET in system-redis, scored by due time),
// and its class. An ActiveJob job matches by its "wrapped" class.
func latestRetryDue(ctx context.Context, rdb *redis.Client, classes ...string) (time.Time, string, bool) {
	entries, err := rdb.ZRangeWithScores(ctx, "retry", 0, -1).Result()
	if err != nil {
		return time.Time{}, "", false
	}
	var latest float64
	var class string
	for _, e := range entries {
		raw, _ := e.Member.(string)
		var job struct {
			Class   string `json:"class"`
			Wrapped string `json:"wrapped"`
		}
		if json.Unmarshal([]byte(raw), &job) != nil || e.Score <= latest {
			continue
		}
		for _, c := range classes {
			if job.Class == c || job.Wrapped == c {
				latest, class = e.Score, c
			}
		}
	}
	if latest == 0 {
		return time.Time{}, "", false
	}
	return time.Unix(0, int64(latest*1e9)), class, true
}

func urlValues(kv ...string) map[string][]string {
	out := map[string][]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		out[kv[i]] = []string{kv[i+1]}
	}
	return out
}

// jobsProbe signs up buyer accounts while the fault holds and follows the Sidekiq jobs that
// were queued meanwhile in system-redis (their jids, from every queue:<name> listed in
// `queues`; Sidekiq LPUSHes each job there and adds the queue to `queues`,
// sidekiq@v7.3.2:lib/sidekiq/client.rb:263-267): at the end of the fault-held window
// (WindowEnd) it records the depth of those queues and which of the jobs still wait; after
// recovery it waits until they are gone from the queues, the retry and the schedule sets.
// A unit is one job queued by the signups: applied when it waited until the end of the
// outage and has run since (it is in no queue or set, and not in the dead set). So a job that
// ran during the outage counts as not applied: with Sidekiq down, none may. With system-redis
// down the signups save nothing (see indexProbe) and Submit fails.
type jobsProbe struct {
	s *samplers
	o WorkOptions

	mu      sync.Mutex
	seq     int
	jobs    map[string]sidekiqJob // the jobs queued during the signups, by jid
	waiting map[string]bool       // of those, the ones still queued at the end of the window; nil before WindowEnd
	depth   string                // the queues' depth at the end of the window
}

func (p *jobsProbe) Capability() scenario.Capability { return scenario.BackgroundJobs }

// Baseline checks Sidekiq's store can be read.
func (p *jobsProbe) Baseline(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, p.o.Timeout)
	defer cancel()
	if err := p.s.env.SystemRedis.SMembers(ctx, "queues").Err(); err != nil {
		return fmt.Errorf("background-jobs baseline: system-redis: %s", probe.ErrorDetail(err))
	}
	p.mu.Lock()
	p.jobs, p.waiting, p.depth = nil, nil, ""
	p.mu.Unlock()
	return nil
}

// Submit signs up Units buyer accounts. Their jobs are the ones queued after it that were not
// queued before it, by jid: a job's created_at is stamped by system-app's clock, which the
// harness's may differ from.
func (p *jobsProbe) Submit(ctx context.Context) error {
	bctx, cancel := context.WithTimeout(ctx, p.o.Timeout)
	before, _, berr := queuedJobs(bctx, p.s.env.SystemRedis)
	cancel()
	var errs []error
	created := 0
	for range p.o.Units {
		p.mu.Lock()
		p.seq++
		org := fmt.Sprintf("chaosjobs%sn%d%s", p.s.f.Token, p.seq, randomHex(2))
		p.mu.Unlock()
		// The account stays: Fixture.Delete removes it by the run's token at the end.
		id, err := p.s.signup(ctx, org)
		if err != nil {
			errs = append(errs, err)
		}
		if id != 0 {
			created++
		}
	}
	if created == 0 && len(errs) > 0 {
		return fmt.Errorf("background-jobs submit: %d of %d signups failed: %w", len(errs), p.o.Units, errs[0])
	}
	if berr != nil {
		return fmt.Errorf("background-jobs submit: system-redis, before the signups: %s", probe.ErrorDetail(berr))
	}
	qctx, cancel := context.WithTimeout(ctx, p.o.Timeout)
	defer cancel()
	queued, _, err := queuedJobs(qctx, p.s.env.SystemRedis)
	if err != nil {
		return fmt.Errorf("background-jobs submit: system-redis: %s", probe.ErrorDetail(err))
	}
	old := map[string]bool{}
	for _, j := range before {
		old[j.JID] = true
	}
	jobs := map[string]sidekiqJob{}
	for _, j := range queued {
		if !old[j.JID] {
			jobs[j.JID] = j
		}
	}
	if len(jobs) == 0 {
		return fmt.Errorf("background-jobs submit: %d accounts signed up, but no Sidekiq job queued since", created)
	}
	p.mu.Lock()
	p.jobs = jobs
	p.mu.Unlock()
	return nil
}

// WindowEnd records the depth of every queue and which of the signups' jobs still wait.
func (p *jobsProbe) WindowEnd(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, p.o.Timeout)
	defer cancel()
	queued, depth, err := queuedJobs(ctx, p.s.env.SystemRedis)
	if err != nil {
		return fmt.Errorf("system-redis: %s", probe.ErrorDetail(err))
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.waiting = map[string]bool{}
	for _, j := range queued {
		if _, ok := p.jobs[j.JID]; ok {
			p.waiting[j.JID] = true
		}
	}
	p.depth = depth
	return nil
}

// Check waits until every job that waited at the end of the window has run: gone from the
// queues and the retry and schedule sets (a retry is waited for, see waitApplied), and not
// dead.
func (p *jobsProbe) Check(ctx context.Context, budget time.Duration) (scenario.WorkCheck, error) {
	o := p.o.within(budget)
	p.mu.Lock()
	jobs, waiting, depth := p.jobs, p.waiting, p.depth
	p.mu.Unlock()
	wc := scenario.WorkCheck{Capability: scenario.BackgroundJobs, What: "Sidekiq jobs queued while the probe signed up", Submitted: len(jobs)}
	if waiting == nil {
		return wc, errors.New("background-jobs check: the queues were not read at the end of the outage")
	}
	classes := map[string]bool{}
	for _, j := range jobs {
		classes[j.name()] = true
	}
	var names []string
	for c := range classes {
		names = append(names, c)
	}
	slices.Sort(names)
	pending, dead := len(waiting), 0
	last := ""
	_, waited := waitApplied(ctx, p.s.env, o, names, func(ctx context.Context) bool {
		qctx, cancel := context.WithTimeout(ctx, p.o.Timeout)
		defer cancel()
		present, isDead, err := jobsPresent(qctx, p.s.env.SystemRedis, waiting)
		if err != nil {
			last = "; system-redis: " + probe.ErrorDetail(err)
			return false
		}
		pending, dead, last = len(present), len(isDead), ""
		return pending == 0
	})
	wc.CheckedAt = time.Now()
	wc.Applied = len(waiting) - pending - dead
	wc.Detail = fmt.Sprintf("at the end of the outage %s, %d of the %d still queued", depth, len(waiting), len(jobs))
	if pending > 0 {
		wc.Detail += fmt.Sprintf("; %d not run after recovery", pending)
	}
	if dead > 0 {
		wc.Detail += fmt.Sprintf("; %d dead", dead)
	}
	wc.Detail += last + waited
	return wc, nil
}

// queuedJobs reads every queue listed in `queues`: the jobs in them and a note of the depth of
// the non-empty ones ("queue:default held 12 jobs, queue:zync 3").
func queuedJobs(ctx context.Context, rdb *redis.Client) ([]sidekiqJob, string, error) {
	queues, err := rdb.SMembers(ctx, "queues").Result()
	if err != nil {
		return nil, "", err
	}
	slices.Sort(queues)
	var jobs []sidekiqJob
	var depth []string
	for _, q := range queues {
		raw, err := rdb.LRange(ctx, "queue:"+q, 0, -1).Result()
		if err != nil {
			return nil, "", err
		}
		if len(raw) > 0 {
			depth = append(depth, fmt.Sprintf("queue:%s %d", q, len(raw)))
		}
		for _, r := range raw {
			if j, ok := parseSidekiqJob(r); ok {
				jobs = append(jobs, j)
			}
		}
	}
	if len(depth) == 0 {
		return jobs, "every queue was empty", nil
	}
	return jobs, "the queues held " + strings.Join(depth, ", "), nil
}

// jobsPresent returns which of the jids are still queued, in the retry set or the schedule,
// and which are in the dead set.
func jobsPresent(ctx context.Context, rdb *redis.Client, jids map[string]bool) (present, dead map[string]bool, err error) {
	present, dead = map[string]bool{}, map[string]bool{}
	queued, _, err := queuedJobs(ctx, rdb)
	if err != nil {
		return nil, nil, err
	}
	for _, j := range queued {
		if jids[j.JID] {
			present[j.JID] = true
		}
	}
	for _, set := range []string{"retry", "schedule", "dead"} {
		raw, err := rdb.ZRange(ctx, set, 0, -1).Result()
		if err != nil {
			return nil, nil, err
		}
		for _, r := range raw {
			j, ok := parseSidekiqJob(r)
			if !ok || !jids[j.JID] {
				continue
			}
			if set == "dead" {
				dead[j.JID] = true
			} else {
				present[j.JID] = true
			}
		}
	}
	return present, dead, nil
}
