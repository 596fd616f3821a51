package samplers

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
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
	"github.com/threescale-chaos/harness/pkg/threescale/target"
)

// Options tunes the samplers; zero values take the defaults, which suit the twin.
// The samplers that wait for an asynchronous effect (search-indexing, zync-sync) or make
// several requests (admin-api-write, alerts) carry their own per-sample bound
// (probe.Tuning), so the runner's default timeout need not cover them.
type Options struct {
	// Timeout bounds each HTTP request and store command (default probe.DefaultTimeout).
	Timeout time.Duration
	// AsyncBound bounds the wait for an asynchronous effect: a new account becoming
	// searchable, a zync entry, an alert (default 20s).
	AsyncBound time.Duration
	// PollInterval is how often such an effect is looked for (default 250ms).
	PollInterval time.Duration
	// RateLimitMargin is how many requests past the limit the rate-limiting sample sends
	// before it gives up (default 5), spaced by PollInterval: the worker applies counts
	// asynchronously (research/apicast-apisonator.md §5).
	RateLimitMargin int
	// AlertBound bounds how long a backend alert event may wait for system to import it
	// (default 150s): backend pings system's
	// events hook at most once a minute (SET events/ping EX 60 NX, §6).
	AlertBound time.Duration
	// HeartbeatMaxAge is the oldest Sidekiq heartbeat that counts as alive (default 60s,
	// the identity hash's TTL, research/porta-zync.md §4.1).
	HeartbeatMaxAge time.Duration
	// QueueMaxAge is the oldest queued Sidekiq job (background-jobs) or Resque report job
	// (backend-report-queue) that counts as healthy (default 60s).
	QueueMaxAge time.Duration
	// FailedJobMaxAge is the oldest failed backend job that counts as healthy: the
	// reschedule period plus a margin (default 360s: RESCHEDULE_JOBS_FREQ 300s + 60s,
	// research/apicast-apisonator.md §5).
	FailedJobMaxAge time.Duration
	// WriteInterval bounds how often a sampler that writes to 3scale runs (default 5s):
	// admin-api-write (a product update and a key created and deleted), search-indexing and
	// mail-queue (a buyer account signed up, then deleted), zync-sync (an application update),
	// integration-errors (a usage report backend rejects) and alerts
	// (reads of the signed-in alerts page; a usage report once a minute). On a real install
	// each write is audited, indexed and synced; a write every second would be a load test.
	WriteInterval time.Duration
	// GatewayStartBound is how long a new apicast-production pod may take to be Ready
	// before gateway-rollout fails (default DefaultGatewayStartBound).
	GatewayStartBound time.Duration
}

func (o Options) withDefaults() Options {
	if o.Timeout <= 0 {
		o.Timeout = probe.DefaultTimeout
	}
	if o.AsyncBound <= 0 {
		o.AsyncBound = 20 * time.Second
	}
	if o.PollInterval <= 0 {
		o.PollInterval = 250 * time.Millisecond
	}
	if o.AlertBound <= 0 {
		o.AlertBound = 150 * time.Second
	}
	if o.RateLimitMargin <= 0 {
		o.RateLimitMargin = 5
	}
	if o.HeartbeatMaxAge <= 0 {
		o.HeartbeatMaxAge = 60 * time.Second
	}
	if o.QueueMaxAge <= 0 {
		o.QueueMaxAge = 60 * time.Second
	}
	if o.FailedJobMaxAge <= 0 {
		o.FailedJobMaxAge = 360 * time.Second
	}
	if o.WriteInterval <= 0 {
		o.WriteInterval = DefaultWriteInterval
	}
	if o.GatewayStartBound <= 0 {
		o.GatewayStartBound = DefaultGatewayStartBound
	}
	return o
}

// DefaultWriteInterval is Options.WriteInterval's default.
const DefaultWriteInterval = 5 * time.Second

// For returns one sampler per capability in scenario.Capabilities(), each doing what
// the capability's doc comment says: one attempt per request, a per-request timeout, no
// retries, and the error class of the first thing that went wrong.
func For(env *threescale.Env, f *fixture.Fixture, opts Options) map[scenario.Capability]probe.Sampler {
	o := opts.withDefaults()
	s := &samplers{env: env, f: f, o: o}
	return map[scenario.Capability]probe.Sampler{
		scenario.ProductionTraffic:      threescale.UpstreamCheck(env.Production, f.ProductionHost, "/chaos/"+f.Token+"/production", f.UserKey, o.Timeout, scenario.ProductionTraffic),
		scenario.StagingTraffic:         threescale.UpstreamCheck(env.Staging, f.StagingHost, "/chaos/"+f.Token+"/staging", f.UserKey, o.Timeout, scenario.StagingTraffic),
		scenario.UnauthorizedDenial:     probe.Func(scenario.UnauthorizedDenial, s.unauthorizedDenial),
		scenario.GatewayConfigRetrieval: s.gatewayConfig(),
		scenario.GatewayRollout:         probe.Check(scenario.GatewayRollout, s.gatewayRollout(o.GatewayStartBound)),
		scenario.RateLimiting:           probe.Func(scenario.RateLimiting, s.rateLimiting),
		scenario.Analytics:              s.analytics(),
		scenario.Alerts:                 probe.Tune(probe.Check(scenario.Alerts, (&alertSampler{s: s, next: 0, end: alertPoolSplit(f)}).sample), probe.Tuning{MinInterval: o.WriteInterval, Timeout: 4 * o.Timeout}),
		scenario.AdminAPIRead:           probe.Check(scenario.AdminAPIRead, s.adminRead),
		scenario.AdminAPIWrite:          probe.Tune(probe.Check(scenario.AdminAPIWrite, s.adminWrite), probe.Tuning{MinInterval: o.WriteInterval, Timeout: 4 * o.Timeout}),
		scenario.AdminPortal:            s.portal(scenario.AdminPortal, env.Target.Admin, "/p/login", loginPage),
		scenario.DeveloperPortal:        probe.Check(scenario.DeveloperPortal, (&devPortal{s: s}).sample),
		scenario.Search:                 threescale.SearchCheck(env, f.OrgName, f.App.ID, o.Timeout, scenario.Search),
		scenario.AdminAccountSearch:     probe.Tune(probe.Check(scenario.AdminAccountSearch, s.portalSearch(f.PortalSearch().Accounts)), probe.Tuning{Timeout: 3 * o.Timeout}),
		scenario.AdminRuleSearch:        probe.Tune(probe.Check(scenario.AdminRuleSearch, s.portalSearch(f.PortalSearch().Rules)), probe.Tuning{Timeout: 3 * o.Timeout}),
		scenario.DeveloperPortalSearch:  probe.Tune(probe.Check(scenario.DeveloperPortalSearch, s.devPortalSearch), probe.Tuning{Timeout: 4 * o.Timeout}),
		scenario.SearchIndexing:         probe.Tune(probe.Check(scenario.SearchIndexing, (&indexSampler{s: s}).sample), probe.Tuning{MinInterval: o.WriteInterval, Timeout: o.AsyncBound + o.Timeout}),
		scenario.BackgroundJobs:         probe.Check(scenario.BackgroundJobs, s.backgroundJobs),
		scenario.MailQueue:              probe.Tune(probe.Check(scenario.MailQueue, (&mailSampler{s: s}).sample), probe.Tuning{MinInterval: o.WriteInterval, Timeout: o.AsyncBound + 3*o.Timeout}),
		scenario.IntegrationErrors:      probe.Tune(probe.Check(scenario.IntegrationErrors, (&errorSampler{s: s, seq: errorSeq{kind: "err"}}).sample), probe.Tuning{MinInterval: o.WriteInterval, Timeout: o.AsyncBound + 4*o.Timeout}),
		scenario.ZyncSync:               probe.Tune(probe.Check(scenario.ZyncSync, s.zyncSync), probe.Tuning{MinInterval: o.WriteInterval, Timeout: o.AsyncBound + 2*o.Timeout}),
		scenario.BackendReportQueue:     probe.Check(scenario.BackendReportQueue, s.reportQueue),
		scenario.FailedJobRescheduling:  probe.Check(scenario.FailedJobRescheduling, s.failedJobs),
		scenario.StatsPurge:             probe.Check(scenario.StatsPurge, (&purgeSampler{s: s}).sample),
	}
}

type samplers struct {
	env *threescale.Env
	f   *fixture.Fixture
	o   Options
}

// unauthorizedDenial sends the unknown key through both gateways. A request that got no
// answer, or any non-2xx that is not the upstream's echo, was denied; a 2xx, or the echo
// under any status, means the gateway failed open.
func (s *samplers) unauthorizedDenial(ctx context.Context) scenario.Sample {
	out := scenario.Sample{OK: true}
	var details []string
	for _, g := range []struct {
		gw   *threescale.Gateway
		host string
	}{{s.env.Production, s.f.ProductionHost}, {s.env.Staging, s.f.StagingHost}} {
		path := "/chaos/" + s.f.Token + "/denial"
		c := &probe.HTTPCheck{For: scenario.UnauthorizedDenial, Client: g.gw.Client, URL: g.gw.RequestURL(path, s.f.UnknownKey), Host: g.host,
			Timeout: s.o.Timeout, WantStatus: func(int) bool { return true }}
		got, body := c.Do(ctx)
		if out.Status == 0 {
			out.Status = got.Status
		}
		switch {
		case got.Status == 0:
			details = append(details, fmt.Sprintf("%s: no answer (%s)", g.gw.Name, got.ErrorClass))
		case probe.Is2xx(got.Status) || threescale.UpstreamEcho(body, path) == nil:
			out.OK, out.Status, out.ErrorClass = false, got.Status, scenario.ErrWrongStatus
			details = append(details, fmt.Sprintf("%s: status %d: the unknown key reached the upstream (fail-open)", g.gw.Name, got.Status))
		default:
			details = append(details, fmt.Sprintf("%s: denied %d", g.gw.Name, got.Status))
		}
	}
	out.Detail = strings.Join(details, "; ")
	return out
}

// gatewayConfig fetches the production configuration the way a booting apicast-production
// does: the master endpoint with APIcast's token as Basic userinfo (research/porta-zync.md
// §6), filtered by the product's host.
func (s *samplers) gatewayConfig() *probe.HTTPCheck {
	m := s.env.Target.Master
	h := http.Header{}
	h.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(s.env.APIcastConfigs.Token()+":")))
	h.Set("X-Forwarded-Proto", "https")
	q := url.Values{"host": {s.f.ProductionHost}}
	sid := s.f.ServiceID
	return &probe.HTTPCheck{For: scenario.GatewayConfigRetrieval, Client: s.env.HTTP, Timeout: s.o.Timeout, Header: h, Host: m.Host,
		URL:        strings.TrimSuffix(m.URL, "/") + "/master/api/proxy/configs/production.json?" + q.Encode(),
		WantStatus: probe.StatusIn(http.StatusOK),
		WantBody: func(b []byte) error {
			var cfg struct {
				ProxyConfigs []struct {
					ProxyConfig struct {
						Content struct {
							ID int64 `json:"id"`
						} `json:"content"`
					} `json:"proxy_config"`
				} `json:"proxy_configs"`
			}
			if err := json.Unmarshal(b, &cfg); err != nil {
				return fmt.Errorf("not a proxy_configs document: %s", threescale.Snippet(b))
			}
			for _, pc := range cfg.ProxyConfigs {
				if pc.ProxyConfig.Content.ID == sid {
					return nil
				}
			}
			return fmt.Errorf("product %d not in the %d production configs", sid, len(cfg.ProxyConfigs))
		}}
}

// rateLimiting spends the limited application's per-minute limit through
// apicast-production: healthy when a 429 comes within the limit plus the margin.
func (s *samplers) rateLimiting(ctx context.Context) scenario.Sample {
	start := time.Now()
	n := s.f.Limit + s.o.RateLimitMargin
	path := "/chaos/" + s.f.Token + "/limited"
	var last scenario.Sample
	for i := 0; i < n; i++ {
		c := &probe.HTTPCheck{For: scenario.RateLimiting, Client: s.env.Production.Client, URL: s.env.Production.RequestURL(path, s.f.LimitedUserKey),
			Host: s.f.ProductionHost, Timeout: s.o.Timeout, WantStatus: probe.StatusIn(http.StatusTooManyRequests)}
		got, body := c.Do(ctx)
		got.Time, got.Latency = start, time.Since(start)
		switch {
		case got.OK:
			got.Detail = fmt.Sprintf("429 after %d requests", i+1)
			return got
		case got.Status == 0 || !probe.Is2xx(got.Status):
			return got // the gateway itself failed, or denied otherwise
		case threescale.UpstreamEcho(body, path) != nil:
			got.ErrorClass, got.Detail = scenario.ErrWrongBody, "2xx that is not the upstream's"
			return got
		}
		last = got
		if i+1 >= s.f.Limit {
			select {
			case <-ctx.Done():
			case <-time.After(s.o.PollInterval):
			}
		}
	}
	last.OK, last.ErrorClass = false, scenario.ErrNotApplied
	last.Detail = fmt.Sprintf("no 429 after %d requests (limit %d per minute): usage is not being counted", n, s.f.Limit)
	return last
}

// analytics reads the product's hits today through the Analytics API (stats scope).
func (s *samplers) analytics() *probe.HTTPCheck {
	a := s.env.Admin
	q := url.Values{"metric_name": {"hits"}, "period": {"day"}}
	h := http.Header{}
	h.Set("X-Forwarded-Proto", "https")
	return &probe.HTTPCheck{For: scenario.Analytics, Client: s.env.HTTP, Timeout: s.o.Timeout, Host: a.Host(), Header: h,
		URL:        a.RequestURL(fmt.Sprintf("/stats/services/%d/usage.json", s.f.ServiceID), q),
		WantStatus: probe.StatusIn(http.StatusOK),
		WantBody: func(b []byte) error {
			var u struct {
				Total *json.Number `json:"total"`
			}
			if err := json.Unmarshal(b, &u); err != nil || u.Total == nil {
				return fmt.Errorf("no usage total: %s", threescale.Snippet(b))
			}
			return nil
		}}
}

// adminFailure turns an Admin error into a classified failure.
func adminFailure(err error) error {
	if err == nil {
		return nil
	}
	var f *probe.Failure
	if errors.As(err, &f) {
		return f // classified where it was made (a wrong body: PortalSearch)
	}
	var ae *threescale.APIError
	if errors.As(err, &ae) {
		return &probe.Failure{Class: probe.ClassifyStatus(ae.Status), Status: ae.Status, Detail: ae.Error()}
	}
	return &probe.Failure{Class: probe.ClassifyError(err), Detail: probe.ErrorDetail(err)}
}

func (s *samplers) call(ctx context.Context, method, path string, params url.Values, out any) error {
	ctx, cancel := context.WithTimeout(ctx, s.o.Timeout)
	defer cancel()
	return adminFailure(s.env.Admin.JSON(ctx, method, path, params, out))
}

// adminRead lists the products and finds the buyer account.
func (s *samplers) adminRead(ctx context.Context) error {
	var svcs struct {
		Services []struct {
			Service struct {
				ID int64 `json:"id"`
			} `json:"service"`
		} `json:"services"`
	}
	if err := s.call(ctx, http.MethodGet, "/admin/api/services.json", url.Values{"per_page": {"500"}}, &svcs); err != nil {
		return err
	}
	found := false
	for _, x := range svcs.Services {
		found = found || x.Service.ID == s.f.ServiceID
	}
	if !found {
		return probe.Failf(scenario.ErrWrongBody, "product %d not listed among %d", s.f.ServiceID, len(svcs.Services))
	}
	var acc struct {
		Account struct {
			ID int64 `json:"id"`
		} `json:"account"`
	}
	if err := s.call(ctx, http.MethodGet, "/admin/api/accounts/find.json", url.Values{"username": {s.f.OrgName}}, &acc); err != nil {
		return err
	}
	if acc.Account.ID != s.f.AccountID {
		return probe.Failf(scenario.ErrWrongBody, "accounts/find returned account %d, want %d", acc.Account.ID, s.f.AccountID)
	}
	return nil
}

// adminWrite updates the product's description, creates and deletes a key of the write
// application, and reads each change back.
func (s *samplers) adminWrite(ctx context.Context) error {
	stamp := randomHex(6)
	sp := fmt.Sprintf("/admin/api/services/%d.json", s.f.ServiceID)
	desc := "threescale-chaos " + s.f.RunID + " write " + stamp
	if err := s.call(ctx, http.MethodPut, sp, url.Values{"description": {desc}}, nil); err != nil {
		return err
	}
	var svc struct {
		Service struct {
			Description string `json:"description"`
		} `json:"service"`
	}
	if err := s.call(ctx, http.MethodGet, sp, nil, &svc); err != nil {
		return err
	}
	if svc.Service.Description != desc {
		return probe.Failf(scenario.ErrWrongBody, "product description did not read back")
	}
	kp := fmt.Sprintf("/admin/api/accounts/%d/applications/%d/keys", s.f.AccountID, s.f.WriteApp.ID)
	// An application holds at most 5 keys (porta@3scale-2.16.4-GA:app/models/application_key.rb
	// KEYS_LIMIT, keys_limit_reached), and a create whose backend sync fails after the
	// commit answers 500 with the key saved (after_commit update_backend_value): keys an
	// earlier sample could not delete are removed first, or a backend outage would use up
	// the limit and admin-api-write could never recover.
	keys, err := s.writeAppKeys(ctx, kp)
	if err != nil {
		return err
	}
	for _, k := range keys {
		if strings.HasPrefix(k, "chaos") {
			if err := s.call(ctx, http.MethodDelete, kp+"/"+url.PathEscape(k)+".json", nil, nil); err != nil {
				return err
			}
		}
	}
	key := "chaos" + stamp
	if err := s.call(ctx, http.MethodPost, kp+".json", url.Values{"key": {key}}, nil); err != nil {
		return err
	}
	if keys, err = s.writeAppKeys(ctx, kp); err != nil {
		return err
	}
	if !slices.Contains(keys, key) {
		return probe.Failf(scenario.ErrWrongBody, "created key did not read back")
	}
	return s.call(ctx, http.MethodDelete, kp+"/"+key+".json", nil, nil)
}

// writeAppKeys lists an application's keys (GET …/keys.json: {"keys":[{"key":{"value":…}}]},
// porta@3scale-2.16.4-GA:app/representers/application_keys_representer.rb).
func (s *samplers) writeAppKeys(ctx context.Context, kp string) ([]string, error) {
	var keys struct {
		Keys []struct {
			Key struct {
				Value string `json:"value"`
			} `json:"key"`
		} `json:"keys"`
	}
	if err := s.call(ctx, http.MethodGet, kp+".json", nil, &keys); err != nil {
		return nil, err
	}
	var out []string
	for _, k := range keys.Keys {
		out = append(out, k.Key.Value)
	}
	return out, nil
}

// devPortal loads the developer portal's home page as a visitor who has the portal's
// access code. A provider's portal is closed behind an access code from its creation
// (porta@3scale-2.16.4-GA:app/models/account.rb before_create :generate_site_access_code);
// without the access_code cookie every page is the access-code form, rendered without
// the portal's CMS (lib/developer_portal/lib/access_code_protection.rb), so a sample that
// stopped there would prove little. The code is read once per run from the provider account
// (Fixture.AccessCode: GET /admin/api/provider.json site_access_code,
// app/representers/account_representer.rb).
// Healthy: a 200 HTML page that is not the access-code form.
type devPortal struct {
	s *samplers
}

// accessCode is the fixture's access code, its one read bounded as a single request is.
func (s *samplers) accessCode(ctx context.Context) (string, error) {
	rctx, cancel := context.WithTimeout(ctx, s.o.Timeout)
	defer cancel()
	code, err := s.f.AccessCode(rctx, s.env)
	return code, adminFailure(err)
}

func (d *devPortal) sample(ctx context.Context) error {
	code, err := d.s.accessCode(ctx)
	if err != nil {
		return err
	}
	e := d.s.env.Target.DeveloperPortal
	h := http.Header{}
	h.Set("X-Forwarded-Proto", "https")
	if code != "" {
		h.Set("Cookie", "access_code="+url.QueryEscape(code))
	}
	c := &probe.HTTPCheck{For: scenario.DeveloperPortal, Client: d.s.env.HTTP, Timeout: d.s.o.Timeout, Host: e.Host, Header: h,
		URL: strings.TrimSuffix(e.URL, "/") + "/", WantStatus: probe.StatusIn(http.StatusOK), WantBody: portalHome}
	smp, _ := c.Do(ctx)
	if !smp.OK {
		return &probe.Failure{Class: smp.ErrorClass, Status: smp.Status, Detail: smp.Detail}
	}
	return nil
}

// portalHome accepts a developer portal page that is not the access-code form
// (porta@3scale-2.16.4-GA:lib/developer_portal/app/views/developer_portal/access_codes/show.html.erb
// posts to /access_code).
func portalHome(b []byte) error {
	if err := bodyHas(b, "<html"); err != nil {
		return err
	}
	if bytes.Contains(bytes.ToLower(b), []byte(`action="/access_code"`)) {
		return errors.New("the access-code form, not the portal: the access_code cookie was not accepted")
	}
	return nil
}

// portal loads one page of a portal with the https header porta wants on tenant hosts.
func (s *samplers) portal(c scenario.Capability, e target.Endpoint, path string, want func([]byte) error) *probe.HTTPCheck {
	h := http.Header{}
	h.Set("X-Forwarded-Proto", "https")
	return &probe.HTTPCheck{For: c, Client: s.env.HTTP, Timeout: s.o.Timeout, Host: e.Host, Header: h,
		URL: strings.TrimSuffix(e.URL, "/") + path, WantStatus: probe.StatusIn(http.StatusOK), WantBody: want}
}

// loginPage judges /p/login as porta renders it: the React mount point with its props and the
// layout's CSRF token (porta@3scale-2.16.4-GA:app/views/provider/sessions/new.html.slim
// div#pf-login-page-container data-login-props; app/views/layouts/provider/login.html.slim
// csrf_meta_tags). There is no server-side <form>: the browser draws it.
func loginPage(b []byte) error {
	if err := bodyHas(b, `id="pf-login-page-container"`, "data-login-props"); err != nil {
		return err
	}
	if _, ok := threescale.CSRFToken(b); !ok {
		return errors.New(`page has no <meta name="csrf-token">`)
	}
	return nil
}

func bodyHas(b []byte, markers ...string) error {
	lower := bytes.ToLower(b)
	for _, m := range markers {
		if !bytes.Contains(lower, []byte(m)) {
			return fmt.Errorf("page has no %q", m)
		}
	}
	return nil
}

// indexSampler creates one buyer account per sample (with an application, signup's
// application_plan_id) and waits for account_query to find it.
type indexSampler struct {
	s   *samplers
	mu  sync.Mutex
	seq int
}

func (x *indexSampler) sample(ctx context.Context) error {
	x.mu.Lock()
	x.seq++
	org := fmt.Sprintf("chaosidx%sn%d%s", x.s.f.Token, x.seq, randomHex(2))
	x.mu.Unlock()
	return x.s.createAndFind(ctx, org)
}

// createAndFind signs up org with an application on the plain plan, then polls search. The
// account is deleted once it was found (it is only a probe of indexing); one the delete
// misses (an outage) carries the run's token, and Fixture.Delete removes it at the end.
//
// A signup that failed may have saved everything (s.signup looks the account up). It answers
// 500 after its commit when the application's backend sync raises with backend-listener or
// backend-redis down: the signup's transaction commits, and its after-commit callbacks queue
// the account's index jobs before the sync raises (porta@3scale-2.16.4-GA:
// app/lib/signup/account_manager.rb create; app/models/account.rb:48,50 and
// app/models/cinstance.rb:54,59,88; app/lib/backend/model_extensions/service.rb:25,29-31
// re-raises the failed sync). And it can outlast the harness's request timeout, committed,
// while that sync waits on a listener pod that is going away: porta gives each backend call
// an open timeout of 3 s and a read timeout of 5 s (config/initializers/core.rb:12-13), and
// sends an idempotent one again once after a read timeout (see the twin's netHTTPRetries).
// An account that was saved is searched for as usual: whether it becomes searchable is what
// search-indexing judges; admin-api-write judges the failed write.
func (s *samplers) createAndFind(ctx context.Context, org string) error {
	id, err := s.signup(ctx, org)
	if id == 0 {
		return err
	}
	defer func() {
		_ = s.call(context.WithoutCancel(ctx), http.MethodDelete, fmt.Sprintf("/admin/api/accounts/%d.json", id), nil, nil)
	}()
	return s.waitFor(ctx, "account "+org+" searchable", func(ctx context.Context) (bool, string) {
		got := threescale.SearchCheck(s.env, org, 0, s.o.Timeout, scenario.SearchIndexing)
		smp, body := got.Do(ctx)
		if !smp.OK {
			return false, smp.String()
		}
		ids, _ := threescale.ApplicationIDs(body)
		return len(ids) > 0, fmt.Sprintf("%d applications found", len(ids))
	})
}

// waitFor polls cond within AsyncBound; a miss is ErrNotApplied with the last state seen.
func (s *samplers) waitFor(ctx context.Context, what string, cond func(ctx context.Context) (bool, string)) error {
	wctx, cancel := context.WithTimeout(ctx, s.o.AsyncBound)
	defer cancel()
	last := "nothing observed"
	err := wait.PollUntilContextCancel(wctx, s.o.PollInterval, true, func(ctx context.Context) (bool, error) {
		ok, seen := cond(ctx)
		if seen != "" {
			last = seen
		}
		return ok, nil
	})
	if err != nil {
		return probe.Failf(scenario.ErrNotApplied, "%s: not within %s; last seen: %s", what, s.o.AsyncBound, last)
	}
	return nil
}

// storeFailure classifies a store error (refused, timeout...).
func storeFailure(what string, err error) error {
	return &probe.Failure{Class: probe.ClassifyError(err), Detail: what + ": " + probe.ErrorDetail(err)}
}

// backgroundJobs reads Sidekiq's layout in system-redis (research/porta-zync.md §4.1,
// §4.4): a process whose heartbeat is fresh, and no queue whose oldest job is too old.
// Ages are measured against system-redis's clock (TIME), not the harness's: the beats and
// enqueued_at are stamped by the cluster's nodes, and a laptop's clock may be off from them
// by more than the bounds' slack.
func (s *samplers) backgroundJobs(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.o.Timeout)
	defer cancel()
	r := s.env.SystemRedis
	procs, err := r.SMembers(ctx, "processes").Result()
	if err != nil {
		return storeFailure("system-redis SMEMBERS processes", err)
	}
	now, err := r.Time(ctx).Result()
	if err != nil {
		return storeFailure("system-redis TIME", err)
	}
	freshest := time.Duration(-1)
	expired := 0
	for _, p := range procs {
		beat, err := r.HGet(ctx, p, "beat").Result()
		if errors.Is(err, redis.Nil) {
			expired++ // the identity hash expired (60 s after its last beat) or was never written
			continue
		}
		if err != nil {
			return storeFailure("system-redis HGET beat", err)
		}
		// A beat written after now was taken (the read comes after it), or stamped by a node
		// whose clock runs ahead of system-redis's, is as fresh as it gets: age 0, not a
		// negative age that would read as no beat at all.
		if age := max(now.Sub(epoch(beat)), 0); freshest < 0 || age < freshest {
			freshest = age
		}
	}
	if freshest < 0 || freshest > s.o.HeartbeatMaxAge {
		seen := "none with a beat"
		if freshest >= 0 {
			seen = "freshest beat " + freshest.Round(100*time.Millisecond).String() + " old"
		}
		return probe.Failf(scenario.ErrNotApplied, "no Sidekiq process with a heartbeat under %s (%d registered, %d without a hash, %s)", s.o.HeartbeatMaxAge, len(procs), expired, seen)
	}
	queues, err := r.SMembers(ctx, "queues").Result()
	if err != nil {
		return storeFailure("system-redis SMEMBERS queues", err)
	}
	for _, q := range queues {
		// LPUSH adds at the head: the oldest job is the last element.
		raw, err := r.LIndex(ctx, "queue:"+q, -1).Result()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			return storeFailure("system-redis LINDEX queue:"+q, err)
		}
		var job struct {
			EnqueuedAt json.Number `json:"enqueued_at"`
		}
		if json.Unmarshal([]byte(raw), &job) != nil {
			continue
		}
		if age := now.Sub(epoch(job.EnqueuedAt.String())); age > s.o.QueueMaxAge {
			return probe.Failf(scenario.ErrNotApplied, "queue:%s has a job waiting %s (bound %s)", q, age.Round(time.Second), s.o.QueueMaxAge)
		}
	}
	return nil
}

// epoch parses a float Unix time.
func epoch(s string) time.Time {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil {
		return time.Time{}
	}
	return time.Unix(0, int64(f*1e9))
}

// zyncSync changes the zync application and waits for zync's database to record an entry
// carrying the change (research/porta-zync.md §5). The change's unique marker identifies
// the entry, not entry ids: zync-database's emptyDir is wiped when it restarts, and its
// ids start again.
func (s *samplers) zyncSync(ctx context.Context) error {
	if _, err := zyncEntriesWith(ctx, s.env, s.f.ZyncApp.ID, "", s.o.Timeout); err != nil {
		return storeFailure("zync-database", err)
	}
	marker := "chaos-zync-" + randomHex(6)
	if err := s.updateApp(ctx, s.f.ZyncApp, marker); err != nil {
		return err
	}
	return s.waitFor(ctx, "zync entry for application "+strconv.FormatInt(s.f.ZyncApp.ID, 10), func(ctx context.Context) (bool, string) {
		n, err := zyncEntriesWith(ctx, s.env, s.f.ZyncApp.ID, marker, s.o.Timeout)
		if err != nil {
			return false, "zync-database: " + probe.ErrorDetail(err)
		}
		return n > 0, "no entry with the change yet"
	})
}

// updateApp changes an application's description through the Account Management API. An
// update can answer 500 with the change saved: with system-redis down porta commits, then
// fails queueing the account index job in an after-commit callback, and with
// backend-listener down it fails syncing to backend after its zync event was published
// (porta@3scale-2.16.4-GA:app/models/cinstance.rb:54,59,88). So on an error the application
// is read back, and a saved change counts: whether it reaches zync is what zync-sync judges.
func (s *samplers) updateApp(ctx context.Context, app fixture.Application, desc string) error {
	path := fmt.Sprintf("/admin/api/accounts/%d/applications/%d.json", s.f.AccountID, app.ID)
	err := s.call(ctx, http.MethodPut, path, url.Values{"description": {desc}}, nil)
	if err == nil {
		return nil
	}
	var got struct {
		Application struct {
			Description string `json:"description"`
		} `json:"application"`
	}
	if s.call(ctx, http.MethodGet, path, nil, &got) == nil && got.Application.Description == desc {
		return nil
	}
	return err
}

// zyncEntriesWith counts zync's entries for an application whose data contains marker
// ("" counts them all).
func zyncEntriesWith(ctx context.Context, env *threescale.Env, appID int64, marker string, timeout time.Duration) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var n int
	err := env.ZyncDB.QueryRow(ctx, `SELECT count(*) FROM entries e JOIN models m ON m.id = e.model_id
		WHERE m.record_type = 'Application' AND m.record_id = $1 AND strpos(e.data::text, $2) > 0`, appID, marker).Scan(&n)
	return n, err
}

// Resque keys in backend-redis's queues database (research/apicast-apisonator.md §5).
const (
	resqueReportQueue = "resque:queue:priority"
	resqueFailed      = "resque:failed"
	reportJobClass    = "ThreeScale::Backend::Transactor::ReportJob"
)

// reportQueue: the oldest report job (Resque RPUSHes, so index 0) is younger than the
// bound; its enqueue time is the job's third argument, stamped by backend-listener's clock,
// so its age is measured by backend-redis's (TIME), not the harness's.
func (s *samplers) reportQueue(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.o.Timeout)
	defer cancel()
	age, n, err := oldestReportJob(ctx, s.env)
	if err != nil {
		return storeFailure("backend-redis "+resqueReportQueue, err)
	}
	if age > s.o.QueueMaxAge {
		return probe.Failf(scenario.ErrNotApplied, "%d report jobs queued, the oldest for %s (bound %s)", n, age.Round(time.Second), s.o.QueueMaxAge)
	}
	return nil
}

func oldestReportJob(ctx context.Context, env *threescale.Env) (time.Duration, int64, error) {
	q := env.BackendQueues
	n, err := q.LLen(ctx, resqueReportQueue).Result()
	if err != nil || n == 0 {
		return 0, n, err
	}
	now, err := q.Time(ctx).Result()
	if err != nil {
		return 0, n, err
	}
	raw, err := q.LIndex(ctx, resqueReportQueue, 0).Result()
	if errors.Is(err, redis.Nil) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, n, err
	}
	var job struct {
		Args []json.RawMessage `json:"args"`
	}
	if json.Unmarshal([]byte(raw), &job) != nil || len(job.Args) < 3 {
		return 0, n, nil
	}
	return now.Sub(epoch(string(job.Args[2]))), n, nil
}

// failedJobs keeps a canary failed report job of the harness's main application in
// resque:failed (planting one when none of the harness's is there) and is healthy while no
// failed job is older than the bound: backend-cron moves them back to their queue
// (research/apicast-apisonator.md §5). A rescheduled canary adds one hit to the main
// application, which no count depends on. Ages are measured by backend-redis's clock
// (TIME): backend-worker stamps failed_at with the cluster's, and plantCanary with TIME.
func (s *samplers) failedJobs(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.o.Timeout)
	defer cancel()
	jobs, err := s.env.BackendQueues.LRange(ctx, resqueFailed, 0, -1).Result()
	if err != nil {
		return storeFailure("backend-redis LRANGE "+resqueFailed, err)
	}
	now, err := s.env.BackendQueues.Time(ctx).Result()
	if err != nil {
		return storeFailure("backend-redis TIME", err)
	}
	marker := canaryMarker(s.f)
	ours := false
	var oldest time.Duration
	for _, raw := range jobs {
		var fj struct {
			FailedAt string `json:"failed_at"`
			Error    string `json:"error"`
		}
		if json.Unmarshal([]byte(raw), &fj) != nil {
			continue
		}
		ours = ours || strings.HasPrefix(fj.Error, marker)
		if t, ok := resqueTime(fj.FailedAt); ok && now.Sub(t) > oldest {
			oldest = now.Sub(t)
		}
	}
	if !ours {
		if err := plantCanary(ctx, s.env, s.f, s.f.App, 0); err != nil {
			return storeFailure("backend-redis RPUSH "+resqueFailed, err)
		}
	}
	if oldest > s.o.FailedJobMaxAge {
		return probe.Failf(scenario.ErrNotApplied, "%d failed jobs, the oldest failed %s ago (bound %s)", len(jobs), oldest.Round(time.Second), s.o.FailedJobMaxAge)
	}
	return nil
}

func canaryMarker(f *fixture.Fixture) string { return "threescale-chaos canary " + f.Token }

// plantCanary pushes a failed ReportJob (one hit for app) in Resque::Failure::Redis's
// format; seq tells canaries apart. It is stamped with backend-redis's clock (TIME), as
// backend-worker's own failures are with the cluster's, so failedJobs ages it rightly
// whatever the harness's clock says.
func plantCanary(ctx context.Context, env *threescale.Env, f *fixture.Fixture, app fixture.Application, seq int) error {
	now, err := env.BackendQueues.Time(ctx).Result()
	if err != nil {
		return err
	}
	payload := map[string]any{
		"class": reportJobClass,
		"args": []any{strconv.FormatInt(f.ServiceID, 10),
			map[string]any{"0": map[string]any{"app_id": app.BackendID, "usage": map[string]int{"hits": 1}}},
			float64(now.UnixNano()) / 1e9, map[string]any{}},
	}
	b, err := json.Marshal(map[string]any{
		"failed_at": now.UTC().Format("2006/01/02 15:04:05 UTC"), "payload": payload, "exception": "ThreescaleChaosCanary",
		"error": fmt.Sprintf("%s %s %d", canaryMarker(f), app.Name, seq), "backtrace": []string{}, "worker": "threescale-chaos", "queue": "priority",
	})
	if err != nil {
		return err
	}
	return env.BackendQueues.RPush(ctx, resqueFailed, b).Err()
}

// resqueTime parses failed_at ("%Y/%m/%d %H:%M:%S %Z"), and RFC 3339 for safety.
func resqueTime(s string) (time.Time, bool) {
	for _, layout := range []string{"2006/01/02 15:04:05 MST", "2006/01/02 15:04:05 -0700", time.RFC3339Nano} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// alertSampler reports usage for the next application of the alert pool until it crosses
// the next alert level, then looks for the alert in system's alerts list.
type alertSampler struct {
	s  *samplers
	mu sync.Mutex
	// next indexes the pool of (application, level) crossings, up to end (exclusive); each
	// fires once per 24h. The sampler and the alerts work probe use separate halves.
	next, end int
	lastNudge time.Time
	// firstSeen remembers when each pending backend event was first seen waiting.
	firstSeen map[string]time.Time
	// pending is the crossing whose alert system has not shown yet; there is at most one.
	pending *crossing
}

// crossing is one alert level crossed by one application's reported usage.
type crossing struct {
	app   fixture.Application
	level int
	at    time.Time
}

func (c crossing) String() string {
	return fmt.Sprintf("application %s at %d%%", c.app.Name, c.level)
}

// alertPoolSplit is the first crossing of the alerts work probe's half of the pool.
func alertPoolSplit(f *fixture.Fixture) int { return len(fixture.AlertLevels) * (len(f.AlertApps) / 2) }

// alertNudgeEvery is the least time between two crossings of the sampler; each (application,
// level) fires once per 24h, so the default pool (40 applications × 4 levels, half for the
// sampler) lasts at least 80 minutes of sampling.
const alertNudgeEvery = time.Minute

// crossNext reports usage that takes the next alert application over the next level, so the
// worker raises an alert (research/apicast-apisonator.md §6). false: the pool is used up. The
// pool advances only when the report was accepted, so a failed report is tried again.
//
// One application's levels are crossed one at a time, each once the previous one's alert
// showed: backend-worker raises the bin of the utilization it finds when it applies a batch
// (apisonator@3scale-2.16.4-GA:lib/3scale/backend/stats/aggregator.rb update_alerts,
// lib/3scale/backend/alerts.rb update_utilization), so two crossings applied together (a
// backlog after a worker outage) raise only the higher level.
func (x *alertSampler) crossNext(ctx context.Context, timeout time.Duration) (crossing, bool, error) {
	s := x.s
	x.mu.Lock()
	i := x.next
	x.mu.Unlock()
	if i >= x.end {
		return crossing{}, false, nil
	}
	app := s.f.AlertApps[i/len(fixture.AlertLevels)]
	j := i % len(fixture.AlertLevels)
	prev := 0
	if j > 0 {
		prev = fixture.AlertLevels[j-1]*s.f.AlertLimit/100 + 1
	}
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c := crossing{app: app, level: fixture.AlertLevels[j], at: time.Now()}
	if err := s.env.Listener.Report(rctx, s.f.ServiceID, s.f.ServiceToken, app.UserKey, map[string]int{"hits": fixture.AlertLevels[j]*s.f.AlertLimit/100 + 1 - prev}); err != nil {
		return c, true, err
	}
	x.mu.Lock()
	x.next = i + 1
	x.mu.Unlock()
	return c, true, nil
}

// reportAccepted reports zero hits for the pending crossing's application, or for the
// pool's next one, through the Service Management API.
func (x *alertSampler) reportAccepted(ctx context.Context, p *crossing) error {
	s := x.s
	app := s.f.AlertApps[0]
	x.mu.Lock()
	if i := x.next / len(fixture.AlertLevels); i < len(s.f.AlertApps) {
		app = s.f.AlertApps[i]
	}
	x.mu.Unlock()
	if p != nil {
		app = p.app
	}
	rctx, cancel := context.WithTimeout(ctx, s.o.Timeout)
	defer cancel()
	return adminFailure(s.env.Listener.Report(rctx, s.f.ServiceID, s.f.ServiceToken, app.UserKey, map[string]int{"hits": 0}))
}

// skipApp moves the pool to the next application's first level: after a crossing whose alert
// never showed, the application's usage no longer says which level the next report reaches.
func (x *alertSampler) skipApp() {
	x.mu.Lock()
	defer x.mu.Unlock()
	if r := x.next % len(fixture.AlertLevels); r != 0 {
		x.next += len(fixture.AlertLevels) - r
	}
}

// sample keeps alerts coming and judges their delivery end to end. The worker stores an
// alert as an event in backend-redis's events/queue and pings system's events hook (at most
// once a minute: SET events/ping NX EX 60); system imports and deletes the events and keeps
// an alert only for the levels in the product's notification_settings[web_provider]
// (porta@3scale-2.16.4-GA:app/lib/events/importers/alert_importer.rb). Healthy while no
// backend event has waited longer than AlertBound and the pending crossing, if older than
// AlertBound, shows as an alert of its application and level in system's alerts list: a
// queue that drains is not enough, since system drains it whether or not it keeps the
// alerts. A crossing is made once a minute when none is pending; one still missing after
// twice AlertBound is given up (the sample says so) so that a lost alert fails the scenario
// it was lost in, not every later one.
func (x *alertSampler) sample(ctx context.Context) error {
	s := x.s
	if s.env.Listener == nil {
		return probe.Failf(scenario.ErrOther, "backend-listener is unknown (target backend:)")
	}
	if len(s.f.AlertApps) == 0 {
		return probe.Failf(scenario.ErrOther, "the fixture has no alert applications")
	}
	now := time.Now()
	x.mu.Lock()
	nudge := x.pending == nil && now.Sub(x.lastNudge) >= alertNudgeEvery
	x.mu.Unlock()
	if nudge {
		c, ok, err := x.crossNext(ctx, s.o.Timeout)
		if err != nil {
			return adminFailure(err)
		}
		x.mu.Lock()
		x.lastNudge = now
		if ok {
			x.pending = &c
		}
		x.mu.Unlock()
	}
	x.mu.Lock()
	p := x.pending
	x.mu.Unlock()
	if !nudge {
		// No crossing is due, but an alert can only be raised from a report the Service
		// Management API accepts: a report of zero hits, which changes no counter and no
		// utilization, checks that it does, so that a listener that refuses reports fails
		// the sample at once rather than at the next crossing, up to a minute later.
		if err := x.reportAccepted(ctx, p); err != nil {
			return err
		}
	}
	if p != nil {
		s.pingEvents(ctx)
	}
	if err := x.eventsDrained(ctx, now); err != nil {
		return err
	}
	return x.confirm(ctx, now)
}

// pingEvents makes backend tell system about its pending events when no traffic would.
// apisonator pings system's events hook only at the end of a report job, and at most once a
// minute: every report job sets events/ping (SET NX EX 60) whether or not events are pending
// (apisonator@3scale-2.16.4-GA:lib/3scale/backend/stats/aggregator.rb process,
// lib/3scale/backend/event_storage.rb pending_ping?). So an alert raised within a minute of
// the last report waits for the next report after that minute; on a live install traffic
// makes it. When events are pending and the minute is over, this reports one hit for the main
// application (on the plain plan: no limit, no alert, and production traffic counts hits to it
// anyway), so that backend's next job pings as traffic would. A report of zero hits would not:
// Transactor.report drops zero usages and queues no job when nothing is left
// (apisonator@3scale-2.16.4-GA:lib/3scale/backend/transactor.rb:20-31,190-201). Best effort:
// the checks that follow say what did not arrive.
func (s *samplers) pingEvents(ctx context.Context) {
	if s.env.Listener == nil || s.env.BackendStorage == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, s.o.Timeout)
	defer cancel()
	var queued, pinged *redis.IntCmd
	if _, err := s.env.BackendStorage.Pipelined(ctx, func(p redis.Pipeliner) error {
		queued = p.ZCard(ctx, "events/queue")
		pinged = p.Exists(ctx, "events/ping")
		return nil
	}); err != nil || queued.Val() == 0 || pinged.Val() != 0 {
		return
	}
	_ = s.env.Listener.Report(ctx, s.f.ServiceID, s.f.ServiceToken, s.f.App.UserKey, map[string]int{"hits": 1})
}

// eventsDrained fails when the oldest backend event has waited longer than AlertBound.
func (x *alertSampler) eventsDrained(ctx context.Context, now time.Time) error {
	s := x.s
	rctx, cancel := context.WithTimeout(ctx, s.o.Timeout)
	defer cancel()
	oldest, err := s.env.BackendStorage.ZRange(rctx, "events/queue", 0, 0).Result()
	if err != nil {
		return storeFailure("backend-redis events/queue", err)
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if len(oldest) == 0 {
		x.firstSeen = nil
		return nil
	}
	first, ok := x.firstSeen[oldest[0]]
	if !ok {
		// Forget events that are gone: only the oldest pending one matters.
		x.firstSeen = map[string]time.Time{oldest[0]: now}
		first = now
	}
	if waited := now.Sub(first); waited > s.o.AlertBound {
		return probe.Failf(scenario.ErrNotApplied, "a backend event has waited %s for system to import it (bound %s)", waited.Round(time.Second), s.o.AlertBound)
	}
	return nil
}

// confirm clears the pending crossing once system shows its alert, and fails while one older
// than AlertBound is missing; past twice AlertBound it is given up.
func (x *alertSampler) confirm(ctx context.Context, now time.Time) error {
	s := x.s
	x.mu.Lock()
	p := x.pending
	x.mu.Unlock()
	if p == nil {
		return nil
	}
	levels, err := alertLevelsShown(ctx, s, p.app)
	if err != nil {
		return err
	}
	if levels[p.level] {
		x.mu.Lock()
		x.pending = nil
		x.mu.Unlock()
		return nil
	}
	waited := now.Sub(p.at)
	if waited <= s.o.AlertBound {
		return nil
	}
	note := ""
	rctx, cancel := context.WithTimeout(ctx, s.o.Timeout)
	due, class, retrying := latestRetryDue(rctx, s.env.SystemRedis, eventImportJobs...)
	cancel()
	switch {
	case retrying:
		// The event may be on its way: an import job waits for its Sidekiq retry.
		note = fmt.Sprintf("; a %s waits in Sidekiq's retry set, due in %s", class, time.Until(due).Round(time.Second))
	case waited > 2*s.o.AlertBound:
		x.mu.Lock()
		x.pending = nil
		x.mu.Unlock()
		x.skipApp()
		note = "; given up, the next crossing uses another application"
	}
	return probe.Failf(scenario.ErrNotApplied, "no alert for %s in system's alerts list %s after the level was crossed (bound %s)%s",
		p, waited.Round(time.Second), s.o.AlertBound, note)
}

// alertRowStart finds each alert's table row on the alerts list: porta renders
// tr id=dom_id(alert), "alert_<id>", and the level cell as colorize_utilization(level),
// "&ge;&nbsp;<level>&nbsp;%" (porta@3scale-2.16.4-GA:app/views/api/alerts/index.html.slim,
// app/helpers/alerts_helper.rb format_utilization).
var (
	alertRowStart = regexp.MustCompile(`<tr[^>]*\bid="alert_(\d+)"`)
	alertLevel    = regexp.MustCompile(`(?:&ge;|≥)(?:&nbsp;|\s|\x{00a0})*(\d+)(?:&nbsp;|\s|\x{00a0})*%`)
)

// portalSearch runs one of the admin portal's search pages as the signed-in admin
// (threescale.PortalSearch). Its bound (For) is three requests: the sign-in's two, when the
// session is gone, and the page.
func (s *samplers) portalSearch(search func(context.Context, *threescale.Portal) error) func(context.Context) error {
	return func(ctx context.Context) error { return adminFailure(search(ctx, s.env.Portal)) }
}

// devPortalSearch is one developer portal search as the fixture's buyer (Fixture.DevPortal,
// PortalSearch.Pages): the sign-in, once per session, then GET /search.json.
func (s *samplers) devPortalSearch(ctx context.Context) error {
	if _, err := s.accessCode(ctx); err != nil {
		return err
	}
	dp, err := s.f.DevPortal(ctx, s.env)
	if err == nil {
		err = s.f.PortalSearch().Pages(ctx, dp)
	}
	return adminFailure(err)
}

// alertLevelsShown reads the provider's alerts of one application from the admin portal's
// alerts list (Api::AlertsController, a signed-in page; the cinstance_id parameter is its
// search by application, porta@3scale-2.16.4-GA:app/presenters/api/alerts_index_presenter.rb
// new_search, app/models/alert.rb allowed_search_scopes) and returns the levels shown.
func alertLevelsShown(ctx context.Context, s *samplers, app fixture.Application) (map[int]bool, error) {
	ctx, cancel := context.WithTimeout(ctx, s.o.Timeout)
	defer cancel()
	_, body, err := s.env.Portal.Page(ctx, "/apiconfig/alerts", url.Values{"cinstance_id": {strconv.FormatInt(app.ID, 10)}, "per_page": {"50"}}, http.StatusOK)
	if err != nil {
		return nil, adminFailure(err)
	}
	return parseAlertLevels(body), nil
}

// parseAlertLevels returns the level of every alert row of an alerts list page.
func parseAlertLevels(page []byte) map[int]bool {
	levels := map[int]bool{}
	starts := alertRowStart.FindAllIndex(page, -1)
	for i, st := range starts {
		end := len(page)
		if i+1 < len(starts) {
			end = starts[i+1][0]
		}
		row := page[st[0]:end]
		if j := bytes.Index(row, []byte("</tr>")); j >= 0 {
			row = row[:j]
		}
		if m := alertLevel.FindSubmatch(row); m != nil {
			if l, err := strconv.Atoi(string(m[1])); err == nil {
				levels[l] = true
			}
		}
	}
	return levels
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
