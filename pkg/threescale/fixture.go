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

	"k8s.io/apimachinery/pkg/util/wait"
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
	// applications the alert pool has (default 8).
	AlertLimit, AlertApps int
	// ReadyTimeout bounds the wait for both gateways to serve the product and for the
	// account to become searchable (default 2 minutes; a real cluster's production
	// gateway refreshes its configuration every 5 minutes unless told otherwise).
	ReadyTimeout time.Duration
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
	return o
}

// Alert levels the harness turns on: the first bins of apisonator's list (§6).
var alertLevels = []int{50, 80, 90, 100}

// Provision makes the run's objects with default options; see ProvisionWith.
func Provision(ctx context.Context, env *Env, runID string) (*Fixture, error) {
	return ProvisionWith(ctx, env, runID, ProvisionOptions{})
}

// ProvisionWith makes a product with a backend API (its private endpoint the target's
// upstream) used at "/", the product's mapping rule GET / on hits, three published plans
// (plain, per-minute limit, per-day limit for alerts), a buyer account through signup,
// applications with user keys, the staging deploy and its promotion to production; then
// it waits, within ReadyTimeout, until both gateways serve the product and the account is
// searchable. Calls follow research/porta-zync.md §2. On error the objects made so far
// are left for Delete (the returned Fixture is non-nil whenever the product exists).
func ProvisionWith(ctx context.Context, env *Env, runID string, opts ProvisionOptions) (*Fixture, error) {
	opts = opts.withDefaults()
	token := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			return r
		case r >= 'A' && r <= 'Z':
			return r + 'a' - 'A'
		}
		return -1
	}, runID)
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
	// A new product's proxy has a default api_backend (porta's echo API on the internet),
	// which would win over the backend usage in configurations that still read it.
	if err := a.JSON(ctx, http.MethodPatch, "/admin/api/services/"+sid+"/proxy.json", url.Values{"api_backend": {env.Target.Upstream.URL}}, nil); err != nil {
		return f, step("point the proxy at the upstream", err)
	}

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
		return Application{ID: out.Application.ID, BackendID: out.Application.ApplicationID, UserKey: out.Application.UserKey, Name: name}, err
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

	var proxy struct {
		Proxy struct {
			Endpoint        string `json:"endpoint"`
			SandboxEndpoint string `json:"sandbox_endpoint"`
		} `json:"proxy"`
	}
	if err := a.JSON(ctx, http.MethodPost, "/admin/api/services/"+sid+"/proxy/deploy.json", nil, &proxy); err != nil {
		return f, step("deploy to staging", err)
	}
	for _, x := range []struct {
		dst *string
		raw string
	}{{&f.ProductionHost, proxy.Proxy.Endpoint}, {&f.StagingHost, proxy.Proxy.SandboxEndpoint}} {
		u, err := url.Parse(x.raw)
		if err != nil || u.Hostname() == "" {
			return f, step("read the gateway hosts", fmt.Errorf("endpoint %q is not a URL", x.raw))
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
		return f, step("read the staging config", err)
	}
	var content struct {
		Token string `json:"backend_authentication_value"`
	}
	_ = json.Unmarshal(latest.ProxyConfig.Content, &content)
	f.ServiceToken = content.Token
	if err := a.JSON(ctx, http.MethodPost, fmt.Sprintf("/admin/api/services/%s/proxy/configs/sandbox/%d/promote.json", sid, latest.ProxyConfig.Version),
		url.Values{"to": {"production"}}, nil); err != nil {
		return f, step("promote to production", err)
	}
	if env.Listener.HasInternalAPI() {
		if err := env.Listener.SetAlertLimits(ctx, f.ServiceID, alertLevels...); err != nil {
			return f, step("turn on alert levels", err)
		}
	}

	// Bounded wait: production picks the promoted config up on its next refresh.
	wctx, cancel := context.WithTimeout(ctx, opts.ReadyTimeout)
	defer cancel()
	last := map[string]string{}
	err = wait.PollUntilContextCancel(wctx, 500*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		ready := true
		for _, g := range []struct {
			name string
			gw   *Gateway
			host string
		}{{"production", env.Production, f.ProductionHost}, {"staging", env.Staging, f.StagingHost}} {
			s := upstreamCheck(g.gw, g.host, "/chaos/"+f.Token+"/provision", f.UserKey, 5*time.Second, "").Sample(ctx)
			if !s.OK {
				ready = false
				last[g.name] = s.String()
			} else {
				last[g.name] = "serving"
			}
		}
		if ready {
			s := searchCheck(env, f, 5*time.Second).Sample(ctx)
			last["search"] = s.String()
			ready = s.OK
		}
		return ready, nil
	})
	if err != nil {
		return f, fmt.Errorf("provision %s: waited %s for both gateways to serve the product and the account to be searchable: production: %s; staging: %s; search: %s",
			f.SystemName, opts.ReadyTimeout, last["production"], last["staging"], last["search"])
	}
	return f, nil
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
// success, and every other failure is returned together.
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
		// porta refuses to delete a provider's only product (403, "cannot be removed"):
		// on a fresh install the harness's product may be it. Its accounts are gone; the
		// product is left and reported in the error only if something else failed.
		path := fmt.Sprintf("/admin/api/services/%d.json", f.ServiceID)
		if _, _, err := a.Do(ctx, http.MethodDelete, path, nil); err != nil && !IsNotFound(err) && StatusOf(err) != http.StatusForbidden {
			errs = append(errs, fmt.Errorf("delete product: %w", err))
		}
	}
	if f.BackendAPIID != 0 {
		del("backend API", fmt.Sprintf("/admin/api/backend_apis/%d.json", f.BackendAPIID))
	}
	return errors.Join(errs...)
}
