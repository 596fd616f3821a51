package threescale

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/threescale-chaos/harness/pkg/probe"
)

// Fixture is the harness's own set of 3scale objects for one run, made through the
// Account Management API with the admin token (issue 4 "Fixtures"). Names carry the run's
// token, so two runs never share objects and Delete finds everything a run made, including
// accounts samplers created after Provision.
type Fixture struct {
	RunID string
	// Token is RunID reduced to lower-case letters and digits: it is in every name, and
	// searchd indexes it as one word.
	Token string

	ServiceID, BackendAPIID, BackendUsageID int64
	// HitsMetricID is the product's hits metric.
	HitsMetricID int64
	// SystemName is the product's system_name.
	SystemName string
	// ServiceToken authenticates Service Management API calls for the product (the
	// proxy config's backend_authentication_value).
	ServiceToken string

	// PlanID is the plain plan (no limits); LimitedPlanID has Limit hits per minute;
	// AlertPlanID has AlertLimit hits per day, for utilization alerts.
	PlanID, LimitedPlanID, AlertPlanID int64
	Limit, AlertLimit                  int

	// AccountID is the buyer account (made by signup) that owns the applications;
	// OrgName is its organisation name, indexed before any fault (Search).
	AccountID int64
	OrgName   string

	// App is on the plain plan: traffic, denial and admin reads use it.
	App Application
	// LimitedApp is on the limited plan (rate limiting).
	LimitedApp Application
	// WorkApp is on the plain plan and used only by deferred-work probes, so that their
	// counts are not mixed with the samplers' traffic.
	WorkApp Application
	// WriteApp is changed by the admin-api-write sampler, ZyncApp by the zync-sync
	// sampler and ZyncWorkApp by the zync-sync work probe: zync records an application's
	// current state, so a sampler's later change would hide the probe's.
	WriteApp, ZyncApp, ZyncWorkApp Application
	// AlertApps are on the alert plan: each alert level fires once per application per
	// 24 hours (research/apicast-apisonator.md §6), so the alerts sampler uses them in
	// turn.
	AlertApps []Application

	// UserKey and LimitedUserKey repeat App.UserKey and LimitedApp.UserKey.
	UserKey, LimitedUserKey string
	// UnknownKey was never issued: gateways must deny it.
	UnknownKey string

	// ProductionHost and StagingHost are the product's gateway hosts.
	ProductionHost, StagingHost string
}

// Application is one application the fixture made.
type Application struct {
	// ID is the application's database id (Account Management and Analytics APIs).
	ID int64
	// BackendID is its application_id, the id backend knows it by.
	BackendID string
	UserKey   string
	Name      string
}

// ProvisionOptions tunes Provision; the zero value suits the twin.
type ProvisionOptions struct {
	// Limit is the limited plan's hits per minute (default 5).
	Limit int
	// AlertLimit is the alert plan's hits per day (default 100); AlertApps is how many
	// applications the alert pool has (default 40).
	AlertLimit, AlertApps int
	// ReadyTimeout bounds the wait for apicast-staging to serve the product and for the
	// account to become searchable, and, when ReloadProduction is set, for
	// apicast-production to serve it after the reload (default 2 minutes).
	ReadyTimeout time.Duration
	// ProductionRefresh is how often apicast-production reloads its configuration
	// (APICAST_CONFIGURATION_CACHE; the operator sets 300 s with the boot loader,
	// operator@3scale-2.16.3-GA pkg/3scale/amp/component/apicast.go). A promoted product
	// reaches production only at its next refresh (APIcast@3scale-2.16.3-GA
	// gateway/src/apicast/configuration_loader.lua boot.init_worker), so without
	// ReloadProduction the wait for production is bounded by this period plus ReadyTimeout
	// (default 300 s).
	ProductionRefresh time.Duration
	// ReloadProduction, when set, makes apicast-production load the promoted
	// configuration now: 3scale's QE suite restarts the production gateway after each
	// promote (3scale-tests@v2.16.0.11 testsuite/tests/conftest.py production_gateway.reload).
	// It is called after the promote and must return once the reloaded gateway is ready.
	ReloadProduction func(ctx context.Context) error
	// TokenTimeout bounds the wait for the product's service token, which porta creates in
	// a Sidekiq job after the product (default 1 minute).
	TokenTimeout time.Duration
}

func (o ProvisionOptions) withDefaults() ProvisionOptions {
	if o.Limit <= 0 {
		o.Limit = 5
	}
	if o.AlertLimit <= 0 {
		o.AlertLimit = 100
	}
	if o.AlertApps <= 0 {
		o.AlertApps = 40
	}
	if o.ReadyTimeout <= 0 {
		o.ReadyTimeout = 2 * time.Minute
	}
	if o.ProductionRefresh <= 0 {
		o.ProductionRefresh = DefaultProductionRefresh
	}
	if o.TokenTimeout <= 0 {
		o.TokenTimeout = time.Minute
	}
	return o
}

// DefaultProductionRefresh is the operator's APICAST_CONFIGURATION_CACHE for
// apicast-production (operator@3scale-2.16.3-GA pkg/3scale/amp/component/apicast.go).
const DefaultProductionRefresh = 300 * time.Second

// Alert levels the harness turns on for its product's web_provider notifications: the first
// bins of porta's Alert::ALERT_LEVELS (research/apicast-apisonator.md §6). porta keeps an
// alert only for the levels in notification_settings[web_provider]
// (porta@3scale-2.16.4-GA:app/lib/events/importers/alert_importer.rb save!, check_levels?),
// and Service's after_commit update_notification_settings turns the same levels on in
// backend (ThreeScale::Core::AlertLimit, app/models/service.rb).
var alertLevels = []int{50, 80, 90, 100}

// Provision makes the run's objects with default options; see ProvisionWith.
func Provision(ctx context.Context, env *Env, runID string) (*Fixture, error) {
	return ProvisionWith(ctx, env, runID, ProvisionOptions{})
}

// ProvisionWith makes a product with a backend API (its private endpoint the target's
// upstream) used at "/", the product's mapping rule GET / on hits, three published plans
// (plain, per-minute limit, per-day limit for alerts), a buyer account through signup,
// applications with user keys, web alerts at alertLevels, the staging deploy (repeated
// until porta's background job has made the service token) and its promotion to
// production; then it waits until both gateways serve the product and the account is
// searchable (see ProvisionOptions for production). Calls follow research/porta-zync.md §2,
// checked against porta@3scale-2.16.4-GA (research/real-3scale-2.16-audit.md §2.1). On
// error the objects made so far are left for Delete (the returned Fixture is non-nil
// whenever the product exists).
func ProvisionWith(ctx context.Context, env *Env, runID string, opts ProvisionOptions) (*Fixture, error) {
	opts = opts.withDefaults()
	token := RunToken(runID)
	if token == "" {
		return nil, fmt.Errorf("provision: run id %q has no letters or digits", runID)
	}
	unknown := make([]byte, 16)
	if _, err := rand.Read(unknown); err != nil {
		return nil, fmt.Errorf("provision: %w", err)
	}
	f := &Fixture{RunID: runID, Token: token, SystemName: "chaos_" + token, OrgName: "chaosorg" + token,
		Limit: opts.Limit, AlertLimit: opts.AlertLimit, UnknownKey: "chaos-unknown-" + hex.EncodeToString(unknown)}
	a := env.Admin
	step := func(what string, err error) error {
		if err == nil {
			return nil
		}
		return fmt.Errorf("provision %s: %s: %w", f.SystemName, what, err)
	}

	var svc struct {
		Service struct {
			ID int64 `json:"id"`
		} `json:"service"`
	}
	if err := a.JSON(ctx, http.MethodPost, "/admin/api/services.json", url.Values{
		"name": {"Chaos " + runID}, "system_name": {f.SystemName}, "backend_version": {"1"}, "deployment_option": {"hosted"},
		"description": {"threescale-chaos harness fixture, run " + runID}}, &svc); err != nil {
		return nil, step("create product", err)
	}
	f.ServiceID = svc.Service.ID
	sid := strconv.FormatInt(f.ServiceID, 10)
	if err := setWebAlerts(ctx, a, f.ServiceID); err != nil {
		return f, step("turn on web alerts", err)
	}

	var be struct {
		BackendAPI struct {
			ID int64 `json:"id"`
		} `json:"backend_api"`
	}
	if err := a.JSON(ctx, http.MethodPost, "/admin/api/backend_apis.json", url.Values{
		"name": {"Chaos backend " + runID}, "system_name": {f.SystemName + "_backend"}, "private_endpoint": {env.Target.Upstream.URL}}, &be); err != nil {
		return f, step("create backend API", err)
	}
	f.BackendAPIID = be.BackendAPI.ID
	var usage struct {
		BackendUsage struct {
			ID int64 `json:"id"`
		} `json:"backend_usage"`
	}
	if err := a.JSON(ctx, http.MethodPost, "/admin/api/services/"+sid+"/backend_usages.json", url.Values{
		"backend_api_id": {strconv.FormatInt(f.BackendAPIID, 10)}, "path": {"/"}}, &usage); err != nil {
		return f, step("use the backend API at /", err)
	}
	f.BackendUsageID = usage.BackendUsage.ID
	// No api_backend is set on the proxy: porta takes it from the first backend usage's
	// private endpoint, which this usage is (porta@3scale-2.16.4-GA:
	// app/lib/backend_api_logic/proxy_extension.rb, service_extension.rb BackendApiProxy).

	var metrics struct {
		Metrics []struct {
			Metric struct {
				ID         int64  `json:"id"`
				SystemName string `json:"system_name"`
			} `json:"metric"`
		} `json:"metrics"`
	}
	if err := a.JSON(ctx, http.MethodGet, "/admin/api/services/"+sid+"/metrics.json", nil, &metrics); err != nil {
		return f, step("list metrics", err)
	}
	for _, m := range metrics.Metrics {
		if m.Metric.SystemName == "hits" {
			f.HitsMetricID = m.Metric.ID
		}
	}
	if f.HitsMetricID == 0 {
		return f, step("find the hits metric", errors.New("the product has no metric hits"))
	}
	hits := strconv.FormatInt(f.HitsMetricID, 10)

	// Exactly one rule, GET / on hits with delta 1: every request then counts one hit,
	// which the deferred-work checks rely on. A new product normally has it already
	// (porta creates it); rules on the backend API are not added, since backend metrics
	// roll up into the product's hits and a request would count twice.
	var rules struct {
		MappingRules []struct {
			MappingRule struct {
				HTTPMethod string `json:"http_method"`
				Pattern    string `json:"pattern"`
				MetricID   int64  `json:"metric_id"`
				Delta      int    `json:"delta"`
			} `json:"mapping_rule"`
		} `json:"mapping_rules"`
	}
	if err := a.JSON(ctx, http.MethodGet, "/admin/api/services/"+sid+"/proxy/mapping_rules.json", nil, &rules); err != nil {
		return f, step("list mapping rules", err)
	}
	hasRoot := false
	for _, r := range rules.MappingRules {
		m := r.MappingRule
		hasRoot = hasRoot || (m.HTTPMethod == "GET" && m.Pattern == "/" && m.MetricID == f.HitsMetricID && m.Delta == 1)
	}
	if !hasRoot {
		if err := a.JSON(ctx, http.MethodPost, "/admin/api/services/"+sid+"/proxy/mapping_rules.json", url.Values{
			"http_method": {"GET"}, "pattern": {"/"}, "metric_id": {hits}, "delta": {"1"}}, nil); err != nil {
			return f, step("create mapping rule GET /", err)
		}
	}

	plan := func(name string) (int64, error) {
		var p struct {
			Plan struct {
				ID int64 `json:"id"`
			} `json:"application_plan"`
		}
		err := a.JSON(ctx, http.MethodPost, "/admin/api/services/"+sid+"/application_plans.json", url.Values{
			"name": {name}, "system_name": {f.SystemName + "_" + name}, "state_event": {"publish"}}, &p)
		return p.Plan.ID, err
	}
	limit := func(planID int64, period string, value int) error {
		return a.JSON(ctx, http.MethodPost, fmt.Sprintf("/admin/api/application_plans/%d/metrics/%s/limits.json", planID, hits),
			url.Values{"period": {period}, "value": {strconv.Itoa(value)}}, nil)
	}
	var err error
	if f.PlanID, err = plan("plain"); err != nil {
		return f, step("create plan plain", err)
	}
	if f.LimitedPlanID, err = plan("limited"); err != nil {
		return f, step("create plan limited", err)
	}
	if err := limit(f.LimitedPlanID, "minute", f.Limit); err != nil {
		return f, step("limit plan limited", err)
	}
	if f.AlertPlanID, err = plan("alerts"); err != nil {
		return f, step("create plan alerts", err)
	}
	if err := limit(f.AlertPlanID, "day", f.AlertLimit); err != nil {
		return f, step("limit plan alerts", err)
	}

	if f.AccountID, err = signup(ctx, a, f.OrgName); err != nil {
		return f, step("sign up account "+f.OrgName, err)
	}
	app := func(planID int64, name string) (Application, error) {
		var out struct {
			Application struct {
				ID            int64  `json:"id"`
				ApplicationID string `json:"application_id"`
				UserKey       string `json:"user_key"`
				Name          string `json:"name"`
			} `json:"application"`
		}
		err := a.JSON(ctx, http.MethodPost, fmt.Sprintf("/admin/api/accounts/%d/applications.json", f.AccountID), url.Values{
			"plan_id": {strconv.FormatInt(planID, 10)}, "name": {name}, "description": {"threescale-chaos " + runID}}, &out)
		if err == nil && out.Application.UserKey == "" {
			err = errors.New("the application has no user_key")
		}
		ap := Application{ID: out.Application.ID, BackendID: out.Application.ApplicationID, UserKey: out.Application.UserKey, Name: name}
		if err == nil && ap.BackendID == "" {
			ap.BackendID, err = backendAppID(ctx, env, f.ServiceID, ap.UserKey)
		}
		return ap, err
	}
	for _, x := range []struct {
		dst  *Application
		plan int64
		name string
	}{{&f.App, f.PlanID, "main"}, {&f.LimitedApp, f.LimitedPlanID, "limited"}, {&f.WorkApp, f.PlanID, "work"},
		{&f.WriteApp, f.PlanID, "write"}, {&f.ZyncApp, f.PlanID, "zync"}, {&f.ZyncWorkApp, f.PlanID, "zync-work"}} {
		if *x.dst, err = app(x.plan, f.SystemName+"-"+x.name); err != nil {
			return f, step("create application "+x.name, err)
		}
	}
	f.UserKey, f.LimitedUserKey = f.App.UserKey, f.LimitedApp.UserKey
	for i := range opts.AlertApps {
		ap, err := app(f.AlertPlanID, fmt.Sprintf("%s-alert%d", f.SystemName, i))
		if err != nil {
			return f, step("create alert application", err)
		}
		f.AlertApps = append(f.AlertApps, ap)
	}

	if err := deployStaging(ctx, a, f, opts.TokenTimeout); err != nil {
		return f, step("deploy to staging", err)
	}
	if err := waitServing(ctx, env, f, opts); err != nil {
		return f, fmt.Errorf("provision %s: %w", f.SystemName, err)
	}
	return f, nil
}

// setWebAlerts turns on the product's web alerts for the provider at alertLevels
// (PUT /admin/api/services/{id}.json notification_settings[web_provider][];
// porta@3scale-2.16.4-GA:app/controllers/admin/api/services_controller.rb service_params)
// and reads them back. Email levels stay off: the harness sends no mail.
func setWebAlerts(ctx context.Context, a *Admin, serviceID int64) error {
	path := fmt.Sprintf("/admin/api/services/%d.json", serviceID)
	form := url.Values{}
	for _, l := range alertLevels {
		form.Add("notification_settings[web_provider][]", strconv.Itoa(l))
	}
	if err := a.JSON(ctx, http.MethodPut, path, form, nil); err != nil {
		return err
	}
	var svc struct {
		Service struct {
			NotificationSettings map[string][]json.Number `json:"notification_settings"`
		} `json:"service"`
	}
	if err := a.JSON(ctx, http.MethodGet, path, nil, &svc); err != nil {
		return err
	}
	got := map[int]bool{}
	for _, n := range svc.Service.NotificationSettings["web_provider"] {
		if v, err := n.Int64(); err == nil {
			got[int(v)] = true
		}
	}
	for _, l := range alertLevels {
		if !got[l] {
			return fmt.Errorf("notification_settings[web_provider] reads back %v, want %v", svc.Service.NotificationSettings["web_provider"], alertLevels)
		}
	}
	return nil
}

// backendAppID is the id backend knows a user_key application by. porta's representations
// omit application_id for backend_version 1 (porta@3scale-2.16.4-GA:
// app/representers/cinstance_representer.rb; the same at 3scale-2.15.1-GA), but porta
// writes apisonator's key-to-id mapping when it syncs the application
// (apisonator@3scale-2.16.4-GA:lib/3scale/backend/application.rb id_by_key_storage_key:
// application/service_id:<sid>/key:<user_key>/id), so it is read from backend-redis.
func backendAppID(ctx context.Context, env *Env, serviceID int64, userKey string) (string, error) {
	key := fmt.Sprintf("application/service_id:%d/key:%s/id", serviceID, userKey)
	var id string
	var last error
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	err := wait.PollUntilContextCancel(wctx, 250*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		v, err := env.BackendStorage.Get(ctx, key).Result()
		switch {
		case errors.Is(err, redis.Nil):
			last = errors.New("no such key")
			return false, nil
		case err != nil:
			last = err
			return false, nil
		}
		id = v
		return v != "", nil
	})
	if err != nil {
		return "", fmt.Errorf("backend-redis GET application/service_id:%d/key:…/id: %v", serviceID, probe.ErrorDetail(last))
	}
	return id, nil
}

// deployStaging deploys the product to staging and reads the gateway hosts and the service
// token from the new sandbox configuration. porta creates the service token in a Sidekiq job
// after the product (Services::ServiceCreatedEvent → CreateServiceTokenWorker,
// porta@3scale-2.16.4-GA:app/workers/create_service_token_worker.rb), and a configuration
// built before it ran carries backend_authentication_value null; such a configuration is
// deployed again until the token is in it, within timeout. The configuration with the token
// is then promoted to production.
func deployStaging(ctx context.Context, a *Admin, f *Fixture, timeout time.Duration) error {
	sid := strconv.FormatInt(f.ServiceID, 10)
	var version int
	deploy := func(ctx context.Context) (bool, error) {
		var proxy struct {
			Proxy struct {
				Endpoint        string `json:"endpoint"`
				SandboxEndpoint string `json:"sandbox_endpoint"`
			} `json:"proxy"`
		}
		if err := a.JSON(ctx, http.MethodPost, "/admin/api/services/"+sid+"/proxy/deploy.json", nil, &proxy); err != nil {
			return false, err
		}
		for _, x := range []struct {
			dst *string
			raw string
		}{{&f.ProductionHost, proxy.Proxy.Endpoint}, {&f.StagingHost, proxy.Proxy.SandboxEndpoint}} {
			u, err := url.Parse(x.raw)
			if err != nil || u.Hostname() == "" {
				return false, fmt.Errorf("read the gateway hosts: endpoint %q is not a URL", x.raw)
			}
			*x.dst = u.Hostname()
		}
		var latest struct {
			ProxyConfig struct {
				Version int             `json:"version"`
				Content json.RawMessage `json:"content"`
			} `json:"proxy_config"`
		}
		if err := a.JSON(ctx, http.MethodGet, "/admin/api/services/"+sid+"/proxy/configs/sandbox/latest.json", nil, &latest); err != nil {
			return false, fmt.Errorf("read the staging config: %w", err)
		}
		var content struct {
			Token *string `json:"backend_authentication_value"`
		}
		_ = json.Unmarshal(latest.ProxyConfig.Content, &content)
		if content.Token == nil || *content.Token == "" {
			return false, nil
		}
		f.ServiceToken, version = *content.Token, latest.ProxyConfig.Version
		return true, nil
	}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var derr error
	// Each deploy makes a configuration version: deploy again only every 5 s.
	err := wait.PollUntilContextCancel(wctx, 5*time.Second, true, func(ctx context.Context) (bool, error) {
		ok, err := deploy(ctx)
		derr = err
		return ok, err
	})
	switch {
	case derr != nil:
		return derr
	case err != nil:
		return fmt.Errorf("no service token in the staging configuration after %s: porta makes it in a background job (CreateServiceTokenWorker); is system-sidekiq running?", timeout)
	}
	if err := a.JSON(ctx, http.MethodPost, fmt.Sprintf("/admin/api/services/%s/proxy/configs/sandbox/%d/promote.json", sid, version),
		url.Values{"to": {"production"}}, nil); err != nil {
		return fmt.Errorf("promote to production: %w", err)
	}
	return nil
}

// waitServing waits until apicast-staging serves the product and the account is
// searchable (ReadyTimeout), then until apicast-production serves it: after
// ReloadProduction within ReadyTimeout, else within one refresh period plus ReadyTimeout.
func waitServing(ctx context.Context, env *Env, f *Fixture, opts ProvisionOptions) error {
	last := map[string]string{}
	check := func(name string, gw *Gateway, host string) func(ctx context.Context) (bool, error) {
		return func(ctx context.Context) (bool, error) {
			s := upstreamCheck(gw, host, "/chaos/"+f.Token+"/provision", f.UserKey, 5*time.Second, "").Sample(ctx)
			last[name] = s.String()
			if s.OK {
				last[name] = "serving"
			}
			return s.OK, nil
		}
	}
	poll := func(bound time.Duration, what string, cond func(ctx context.Context) (bool, error)) error {
		wctx, cancel := context.WithTimeout(ctx, bound)
		defer cancel()
		if err := wait.PollUntilContextCancel(wctx, 500*time.Millisecond, true, cond); err != nil {
			return fmt.Errorf("waited %s for %s: production: %s; staging: %s; search: %s",
				bound, what, or(last["production"], "not checked yet"), or(last["staging"], "not checked yet"), or(last["search"], "not checked yet"))
		}
		return nil
	}
	stagingAndSearch := check("staging", env.Staging, f.StagingHost)
	if err := poll(opts.ReadyTimeout, "apicast-staging to serve the product and the account to be searchable", func(ctx context.Context) (bool, error) {
		if ok, _ := stagingAndSearch(ctx); !ok {
			return false, nil
		}
		s := searchCheck(env, f, 5*time.Second).Sample(ctx)
		last["search"] = s.String()
		return s.OK, nil
	}); err != nil {
		return err
	}
	bound := opts.ProductionRefresh + opts.ReadyTimeout
	what := fmt.Sprintf("apicast-production to load the promoted configuration at its next refresh (every %s)", opts.ProductionRefresh)
	if opts.ReloadProduction != nil {
		if err := opts.ReloadProduction(ctx); err != nil {
			return fmt.Errorf("reload apicast-production: %w", err)
		}
		bound, what = opts.ReadyTimeout, "apicast-production to serve the product after its reload"
	}
	return poll(bound, what, check("production", env.Production, f.ProductionHost))
}

func or(s, fallback string) string {
	if s == "" {
		return fallback
	}
	return s
}

// signup creates a buyer account with POST /admin/api/signup.json (there is no POST
// /admin/api/accounts, research/porta-zync.md §2) and returns its id.
func signup(ctx context.Context, a *Admin, org string) (int64, error) {
	pw := make([]byte, 12)
	if _, err := rand.Read(pw); err != nil {
		return 0, err
	}
	var acc struct {
		Account struct {
			ID int64 `json:"id"`
		} `json:"account"`
	}
	err := a.JSON(ctx, http.MethodPost, "/admin/api/signup.json", url.Values{
		"org_name": {org}, "username": {org}, "email": {org + "@chaos.example.com"}, "password": {hex.EncodeToString(pw)}}, &acc)
	return acc.Account.ID, err
}

// Delete removes everything the run made: its accounts (with their applications, those
// samplers made included: every organisation name carries the run's token), the backend
// usage, the product and the backend API. It is best effort and idempotent: NotFound is
// success, and every other failure is returned together. A buyer account is destroyed inline,
// in the request's transaction, not scheduled for a DeleteAccountHierarchyWorker as a
// provider account is (porta@3scale-2.16.4-GA:app/controllers/admin/api/accounts_controller.rb
// destroy), so the tenant count that follows sees it gone.
func (f *Fixture) Delete(ctx context.Context, env *Env) error {
	if f == nil {
		return nil
	}
	a := env.Admin
	var errs []error
	del := func(what, path string) {
		if _, _, err := a.Do(ctx, http.MethodDelete, path, nil); err != nil && !IsNotFound(err) {
			errs = append(errs, fmt.Errorf("delete %s: %w", what, err))
		}
	}
	for page := 1; page <= 20; page++ {
		var accs struct {
			Accounts []struct {
				Account struct {
					ID      int64  `json:"id"`
					OrgName string `json:"org_name"`
				} `json:"account"`
			} `json:"accounts"`
		}
		if err := a.JSON(ctx, http.MethodGet, "/admin/api/accounts.json", url.Values{"page": {strconv.Itoa(page)}, "per_page": {"500"}}, &accs); err != nil {
			errs = append(errs, fmt.Errorf("list accounts: %w", err))
			break
		}
		for _, x := range accs.Accounts {
			if f.Token != "" && strings.HasPrefix(x.Account.OrgName, "chaos") && strings.Contains(x.Account.OrgName, f.Token) {
				del("account "+x.Account.OrgName, fmt.Sprintf("/admin/api/accounts/%d.json", x.Account.ID))
			}
		}
		if len(accs.Accounts) < 500 {
			break
		}
	}
	if f.AccountID != 0 {
		del("account", fmt.Sprintf("/admin/api/accounts/%d.json", f.AccountID))
	}
	if f.ServiceID != 0 && f.BackendUsageID != 0 {
		del("backend usage", fmt.Sprintf("/admin/api/services/%d/backend_usages/%d.json", f.ServiceID, f.BackendUsageID))
	}
	if f.ServiceID != 0 {
		// porta marks the product deleted (its data goes later, in a background job) unless
		// it is the tenant's default or last one: an access token's user may not destroy
		// it (403, the ability's `unless: default_or_last?`), and mark_as_deleted! raises
		// InvalidTransition, answered with 422 (porta@3scale-2.16.4-GA:
		// app/models/service.rb mark_as_deleted, config/abilities/provider_admin.rb can :destroy,
		// app/controllers/admin/api/base_controller.rb). A tenant always keeps its seeded
		// default product, so either is an error here, as is any other failure.
		path := fmt.Sprintf("/admin/api/services/%d.json", f.ServiceID)
		if _, _, err := a.Do(ctx, http.MethodDelete, path, nil); err != nil && !IsNotFound(err) {
			if st := StatusOf(err); st == http.StatusUnprocessableEntity || st == http.StatusForbidden {
				err = fmt.Errorf("porta keeps the tenant's default or last product: %w", err)
			}
			errs = append(errs, fmt.Errorf("delete product: %w", err))
		}
	}
	if f.BackendAPIID != 0 {
		del("backend API", fmt.Sprintf("/admin/api/backend_apis/%d.json", f.BackendAPIID))
	}
	return errors.Join(errs...)
}
