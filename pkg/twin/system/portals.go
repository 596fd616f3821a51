package system

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"errors"
	"fmt"
	"html"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// routes registers one listener's routes. Every role serves /check.txt; master adds /status,
// the APIcast proxy-configs endpoint and the events hook; master and provider serve the
// Account Management API and analytics; provider the admin portal; developer the dev portal
// (research/porta-zync.md §1.1, §1.2, §2, §3.2, §6, §7).
func (a *app) routes(rl role, mux *http.ServeMux) {
	mux.HandleFunc("GET /check.txt", a.check)
	switch rl {
	case roleMaster:
		mux.HandleFunc("/", routingError)
		mux.HandleFunc("GET /status", a.status)
		mux.HandleFunc("GET /master/api/proxy/configs/{env}", a.masterProxyConfigs)
		mux.HandleFunc("POST /master/events/import", a.eventsImport)
		mux.HandleFunc("POST /master/api/providers", a.masterAPI(a.createTenant))
		mux.HandleFunc("GET /master/api/providers/{id}", a.masterAPI(a.showTenant))
		mux.HandleFunc("PUT /master/api/providers/{id}", a.masterAPI(a.updateTenant))
		mux.HandleFunc("DELETE /master/api/providers/{id}", a.masterAPI(a.deleteTenant))
		a.adminAPI(rl, mux)
	case roleProvider:
		mux.HandleFunc("/", routingError)
		a.adminAPI(rl, mux)
		a.adminPortal(mux)
	case roleDeveloper:
		mux.HandleFunc("/access_code", a.accessCode)
		mux.HandleFunc("GET /search", a.devPortal(a.devSearch))
		mux.HandleFunc("/login", a.devPortal(a.devLoginPage))
		mux.HandleFunc("/session", a.devPortal(a.devLogin))
		mux.HandleFunc("/", a.devPortal(a.cmsPage))
	}
}

func (a *app) adminAPI(rl role, mux *http.ServeMux) {
	am := func(pattern string, h apiHandler) { mux.HandleFunc(pattern, a.api(rl, "account_management", "xml", h)) }
	// amJSON is a JSON-only controller whose routes default to JSON, amJSONX one whose routes
	// default to XML (answered 406); amJSONXML defaults to JSON and answers XML too (xml.go jsonOnly).
	amJSON := func(pattern string, h apiHandler) {
		mux.HandleFunc(pattern, a.api(rl, "account_management", "json", jsonOnly(h)))
	}
	amJSONX := func(pattern string, h apiHandler) {
		mux.HandleFunc(pattern, a.api(rl, "account_management", "xml", jsonOnly(h)))
	}
	amJSONXML := func(pattern string, h apiHandler) {
		mux.HandleFunc(pattern, a.api(rl, "account_management", "json", h))
	}
	stats := func(pattern string, h apiHandler) { mux.HandleFunc(pattern, a.api(rl, "stats", "json", h)) }

	// The CMS API's pages (cms.go); Admin::Api::CMS::BaseController answers JSON only.
	amJSON("GET /admin/api/cms/templates", a.listCMSTemplates)
	amJSON("POST /admin/api/cms/templates", a.createCMSTemplate)
	amJSON("GET /admin/api/cms/templates/{id}", a.showCMSTemplate)
	amJSON("PUT /admin/api/cms/templates/{id}/publish", a.publishCMSTemplate)
	amJSON("DELETE /admin/api/cms/templates/{id}", a.deleteCMSTemplate)
	am("GET /admin/api/services", a.listServices)
	am("POST /admin/api/services", a.createService)
	am("GET /admin/api/services/{id}", a.showService)
	am("PUT /admin/api/services/{id}", a.updateService)
	am("DELETE /admin/api/services/{id}", a.deleteService)

	am("GET /admin/api/services/{id}/metrics", a.listMetrics(a.serviceOwner, false))
	am("POST /admin/api/services/{id}/metrics", a.createMetric(a.serviceOwner, false))
	for _, m := range []string{"GET", "PUT", "DELETE"} {
		am(m+" /admin/api/services/{sid}/metrics/{mid}", a.metricAction(a.serviceOwner))
		am(m+" /admin/api/services/{sid}/metrics/{parent}/methods/{mid}", a.metricAction(a.serviceOwner))
		am(m+" /admin/api/services/{sid}/proxy/mapping_rules/{rid}", a.ruleAction(a.productRules))
		am(m+" /admin/api/services/{sid}/application_plans/{pid}", a.planAction)
		am(m+" /admin/api/application_plans/{pid}/metrics/{mid}/limits/{lid}", a.limitAction)
		amJSON(m+" /admin/api/backend_apis/{id}", a.backendAPIAction)
		amJSON(m+" /admin/api/backend_apis/{sid}/metrics/{mid}", a.metricAction(a.backendAPIOwner))
		amJSON(m+" /admin/api/backend_apis/{sid}/metrics/{parent}/methods/{mid}", a.metricAction(a.backendAPIOwner))
		amJSON(m+" /admin/api/backend_apis/{sid}/mapping_rules/{rid}", a.ruleAction(a.backendAPIRules))
		amJSON(m+" /admin/api/services/{sid}/backend_usages/{uid}", a.usageAction)
		am(m+" /admin/api/accounts/{aid}/applications/{id}", a.appAction)
	}
	am("GET /admin/api/services/{id}/metrics/{mid}/methods", a.listMetrics(a.serviceOwner, true))
	am("POST /admin/api/services/{id}/metrics/{mid}/methods", a.createMetric(a.serviceOwner, true))

	am("GET /admin/api/services/{id}/proxy/mapping_rules", a.listRules(a.productRules))
	am("POST /admin/api/services/{id}/proxy/mapping_rules", a.createRule(a.productRules))
	am("PATCH /admin/api/services/{sid}/proxy/mapping_rules/{rid}", a.ruleAction(a.productRules))

	am("GET /admin/api/services/{id}/proxy", a.showProxy)
	am("PATCH /admin/api/services/{id}/proxy", a.updateProxy)
	am("PUT /admin/api/services/{id}/proxy", a.updateProxy)
	am("POST /admin/api/services/{id}/proxy/deploy", a.deployProxy)
	amJSONXML("GET /admin/api/services/{id}/proxy/policies", a.showPolicies)
	amJSONXML("PUT /admin/api/services/{id}/proxy/policies", a.updatePolicies)
	am("GET /admin/api/services/{id}/proxy/oidc_configuration", a.showOIDC)
	am("PATCH /admin/api/services/{id}/proxy/oidc_configuration", a.updateOIDC)
	am("PUT /admin/api/services/{id}/proxy/oidc_configuration", a.updateOIDC)
	amJSONX("GET /admin/api/services/{id}/proxy/configs/{env}", a.configs("index"))
	amJSONX("GET /admin/api/services/{id}/proxy/configs/{env}/latest", a.configs("latest"))
	amJSONX("GET /admin/api/services/{id}/proxy/configs/{env}/{version}", a.configs("show"))
	amJSONX("POST /admin/api/services/{id}/proxy/configs/{env}/{version}/promote", a.promote)
	amJSON("GET /admin/api/account/proxy_configs/{env}", a.accountProxyConfigs)
	amJSONX("GET /admin/api/services/proxy/configs/{env}", a.hostProxyConfigs)

	amJSON("GET /admin/api/services/{id}/backend_usages", a.listUsages)
	amJSON("POST /admin/api/services/{id}/backend_usages", a.createUsage)
	amJSON("GET /admin/api/backend_apis", a.listBackendAPIs)
	amJSON("POST /admin/api/backend_apis", a.createBackendAPI)
	amJSON("GET /admin/api/backend_apis/{id}/metrics", a.listMetrics(a.backendAPIOwner, false))
	amJSON("POST /admin/api/backend_apis/{id}/metrics", a.createMetric(a.backendAPIOwner, false))
	amJSON("GET /admin/api/backend_apis/{id}/metrics/{mid}/methods", a.listMetrics(a.backendAPIOwner, true))
	amJSON("POST /admin/api/backend_apis/{id}/metrics/{mid}/methods", a.createMetric(a.backendAPIOwner, true))
	amJSON("GET /admin/api/backend_apis/{id}/mapping_rules", a.listRules(a.backendAPIRules))
	amJSON("POST /admin/api/backend_apis/{id}/mapping_rules", a.createRule(a.backendAPIRules))

	am("GET /admin/api/application_plans", a.listPlans)
	am("GET /admin/api/services/{id}/application_plans", a.listPlans)
	am("POST /admin/api/services/{id}/application_plans", a.createPlan)
	am("PUT /admin/api/services/{sid}/application_plans/{pid}/default", a.makeDefaultPlan)
	am("GET /admin/api/application_plans/{pid}/limits", a.listLimits)
	am("GET /admin/api/application_plans/{pid}/metrics/{mid}/limits", a.listLimits)
	am("POST /admin/api/application_plans/{pid}/metrics/{mid}/limits", a.createLimit)
	am("GET /admin/api/application_plans/{pid}/pricing_rules", a.listPlanPricingRules)
	am("GET /admin/api/application_plans/{pid}/metrics/{mid}/pricing_rules", a.listMetricPricingRules)
	am("POST /admin/api/application_plans/{pid}/metrics/{mid}/pricing_rules", a.createPricingRule)
	am("DELETE /admin/api/application_plans/{pid}/metrics/{mid}/pricing_rules/{rid}", a.deletePricingRule)

	am("POST /admin/api/signup", a.signup)
	am("GET /admin/api/accounts", a.listAccounts)
	am("GET /admin/api/accounts/find", a.findAccount)
	am("GET /admin/api/accounts/{id}", a.showAccount)
	am("PUT /admin/api/accounts/{id}", a.updateAccount)
	am("DELETE /admin/api/accounts/{id}", a.deleteAccount)
	am("GET /admin/api/users", a.listProviderUsers)
	am("GET /admin/api/users/{uid}", a.showProviderUser)
	am("GET /admin/api/accounts/{aid}/users", a.listBuyerUsers)
	am("POST /admin/api/accounts/{aid}/users", a.createBuyerUser)
	for _, m := range []string{"GET", "PUT", "DELETE"} {
		am(m+" /admin/api/accounts/{aid}/users/{uid}", a.buyerUserAction)
	}
	for _, ev := range []string{"activate", "suspend", "unsuspend", "admin", "member"} {
		am("PUT /admin/api/accounts/{aid}/users/{uid}/"+ev, a.userEvent(ev))
	}
	am("GET /admin/api/accounts/{aid}/applications", a.listAccountApps)
	am("POST /admin/api/accounts/{aid}/applications", a.createApp)
	am("GET /admin/api/accounts/{aid}/applications/{id}/keys", a.listKeys)
	am("POST /admin/api/accounts/{aid}/applications/{id}/keys", a.createKey)
	am("DELETE /admin/api/accounts/{aid}/applications/{id}/keys/{key}", a.deleteKey)
	for _, ev := range []string{"accept", "suspend", "resume"} {
		am("PUT /admin/api/accounts/{aid}/applications/{id}/"+ev, a.appStateEvent(ev))
	}
	am("PUT /admin/api/accounts/{aid}/applications/{id}/change_plan", a.changeAppPlan)
	am("GET /admin/api/applications", a.listApps)
	am("GET /admin/api/applications/find", a.findApp)
	am("GET /admin/api/provider", a.provider)
	mux.HandleFunc("GET /admin/api/registry/policies", a.api(rl, "policy_registry", "json", a.listPolicies))
	amJSON("GET /admin/api/objects/status", a.objectStatus)

	stats("GET /stats/services/{id}/usage", a.usage("services"))
	stats("GET /stats/applications/{id}/usage", a.usage("applications"))
	stats("GET /stats/backend_apis/{id}/usage", a.usage("backend_apis"))
}

// check is /check.txt: "ok" without touching any dependency (§7).
func (a *app) check(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ok"))
}

// status is master's /status: Redis and MySQL reachability, always HTTP 200 (§7). The research
// leaves open whether MySQL down raises (500) instead; the twin reports false.
func (a *app) status(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	redisOK, mysqlOK := true, true
	var redisErr any
	if err := a.rdb.Ping(ctx).Err(); err != nil {
		redisOK, redisErr = false, fmt.Sprintf("%T: %v", err, err)
	}
	if err := a.db.PingContext(ctx); err != nil {
		mysqlOK = false
	}
	writeBody(w, "json", http.StatusOK, map[string]any{"status": redisOK && mysqlOK, "redis_connection": redisOK,
		"redis_error": redisErr, "mysql_connection": mysqlOK})
}

// eventsImport is backend's events hook, /master/events/import: a wrong secret is 403, else
// EventsFetchWorker is enqueued (apicast-apisonator.md §6). The route sits behind
// MasterOrProviderDomainConstraint, whose first half looks the Host up among the tenants in
// the database (porta@3scale-2.16.4-GA:config/routes.rb, lib/routing_constraints.rb
// ProviderDomainConstraint), so with system-mysql down the hook answers 500 and backend
// keeps its events until a later ping after recovery.
func (a *app) eventsImport(w http.ResponseWriter, r *http.Request) {
	if _, err := a.tenantFor(r.Context(), roleProvider, requestHost(r)); err != nil {
		a.fail(w, r, "xml", err)
		return
	}
	if subtle.ConstantTimeCompare([]byte(r.FormValue("secret")), []byte(a.cfg.EventsSharedSecret)) != 1 {
		w.WriteHeader(http.StatusForbidden)
		return
	}
	if err := a.enqueue(r.Context(), job{false, "events", ClassEventsFetch, nil}); err != nil {
		a.fail(w, r, "", err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (a *app) adminPortal(mux *http.ServeMux) {
	mux.HandleFunc("GET /p/login", a.loginPage)
	mux.HandleFunc("POST /p/sessions", a.login)
	mux.HandleFunc("GET /p/admin", a.portal(a.adminRoot))
	mux.HandleFunc("GET /p/admin/dashboard", a.portal(a.dashboard))
	mux.HandleFunc("GET /buyers/accounts", a.portal(a.searchPage("account_core", "Accounts", "account",
		`SELECT id, org_name FROM accounts WHERE provider_account_id=?`)))
	mux.HandleFunc("GET /apiconfig/services", a.portal(a.searchPage("service_core", "Products", "service",
		`SELECT id, name FROM services WHERE account_id=? AND state<>'deleted'`)))
	mux.HandleFunc("GET /p/admin/backend_apis", a.portal(a.searchPage("backend_api_core", "Backends", "backend_api",
		`SELECT id, name FROM backend_apis WHERE account_id=? AND state<>'deleted'`)))
	mux.HandleFunc("GET /apiconfig/services/{id}/proxy_rules", a.portal(a.proxyRulesPage))
	mux.HandleFunc("GET /apiconfig/alerts", a.portal(a.alertsPage))
	mux.HandleFunc("GET /apiconfig/services/{id}/alerts", a.portal(a.alertsPage))
	mux.HandleFunc("GET /apiconfig/services/{id}/errors", a.portal(a.integrationErrorsPage))
}

func writeHTML(w http.ResponseWriter, status int, title, body string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	fmt.Fprintf(w, "<!DOCTYPE html>\n<html><head><title>%s | Red Hat 3scale API Management</title></head>\n<body>\n<h1>%s</h1>\n%s\n</body></html>\n",
		html.EscapeString(title), html.EscapeString(title), body)
}

func (a *app) dashboard(w http.ResponseWriter, r *http.Request, tenant *account) error {
	ctx := r.Context()
	var services, accounts, apps int
	if err := a.db.QueryRowContext(ctx, `SELECT
		(SELECT COUNT(*) FROM services WHERE account_id=? AND state<>'deleted'),
		(SELECT COUNT(*) FROM accounts WHERE provider_account_id=?),
		(SELECT COUNT(*) FROM cinstances c JOIN accounts b ON b.id=c.user_account_id WHERE b.provider_account_id=?)`,
		tenant.ID, tenant.ID, tenant.ID).Scan(&services, &accounts, &apps); err != nil {
		return err
	}
	writeHTML(w, http.StatusOK, "Dashboard", fmt.Sprintf(`<p>%s</p><ul><li id="products">%d products</li><li id="accounts">%d accounts</li><li id="applications">%d applications</li></ul>`,
		html.EscapeString(tenant.OrgName), services, accounts, apps))
	return nil
}

// searchOffline is porta's search/error page, rendered with 503 by SearchSupport when searchd
// does not answer (§3.2; porta@3scale-2.16.4-GA:app/lib/search_support.rb:9-10,19,
// app/views/search/error.html.erb:3).
func searchOffline(w http.ResponseWriter) {
	writeHTML(w, http.StatusServiceUnavailable, "Search", "<p>Search is temporarily offline. Please try again in few minutes.</p>")
}

// searchPage lists records, or with search[query] asks searchd for them; a searchd failure is
// the 503 page: the three controllers include SearchSupport (§3.2;
// porta@3scale-2.16.4-GA:app/controllers/buyers/accounts_controller.rb:4,
// app/controllers/api/services_controller.rb:5,
// app/controllers/provider/admin/backend_apis_controller.rb:4). Each row is
// <tr id="<dom_id>" role="row">, dom_id being <domPrefix>_<id>
// (app/views/buyers/accounts/index.html.slim:58 for accounts; Slim writes the attributes
// sorted), which is what the admin-portal-search sampler finds an account by
// (threescale.AccountListed).
func (a *app) searchPage(index, title, domPrefix, listQuery string) portalHandler {
	return func(w http.ResponseWriter, r *http.Request, tenant *account) error {
		ctx := r.Context()
		q := listQuery
		args := []any{tenant.ID}
		if text := r.FormValue("search[query]"); text != "" {
			ids, err := a.search.query(ctx, index, tenant.ID, text)
			if err != nil {
				a.log.Warn("search failed", "index", index, "err", err)
				searchOffline(w)
				return nil
			}
			q += " AND id IN " + sqlIn(len(ids))
			for _, id := range ids {
				args = append(args, id)
			}
		}
		rows, err := a.db.QueryContext(ctx, q+" ORDER BY id", args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		var b strings.Builder
		b.WriteString(`<table id="results">`)
		n := 0
		for rows.Next() {
			var rid int64
			var name string
			if err := rows.Scan(&rid, &name); err != nil {
				return err
			}
			n++
			fmt.Fprintf(&b, `<tr id="%s_%d" role="row"><td role="cell">%s</td></tr>`, domPrefix, rid, html.EscapeString(name))
		}
		if err := rows.Err(); err != nil {
			return err
		}
		fmt.Fprintf(&b, `</table><p id="count">%d results</p>`, n)
		writeHTML(w, http.StatusOK, title, b.String())
		return nil
	}
}

// proxyRulesPage is a product's mapping rules list, /apiconfig/services/{id}/proxy_rules
// (porta@3scale-2.16.4-GA:config/routes.rb:787,849). With search[query] it asks searchd for
// the rules of the product's proxy (app/presenters/proxy_rules_index_base_presenter.rb:9,20-22,
// app/queries/proxy_rule_query.rb:11-20, filtered by owner_type and owner_id in searchd; the
// twin filters by tenant there and by the proxy in SQL, to the same rows). Api::
// ProxyRulesController does not include SearchSupport (app/controllers/api/proxy_rules_controller.rb:3-5),
// so a searchd failure is an unhandled 500 (§3.2). Each row has its edit link,
// /apiconfig/services/<id>/proxy_rules/<rule id>/edit
// (app/views/shared/proxy_rules/_body_section.html.slim:47, app/helpers/proxy_rules_helper.rb:4-13),
// which is what the admin-portal-search sampler finds a rule by (threescale.RuleListed).
// 3scale-2.15.1-GA is the same.
func (a *app) proxyRulesPage(w http.ResponseWriter, r *http.Request, tenant *account) error {
	ctx := r.Context()
	sid, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var proxyID int64
	err = a.db.QueryRowContext(ctx, `SELECT p.id FROM proxies p JOIN services s ON s.id=p.service_id WHERE s.id=? AND s.account_id=?`, sid, tenant.ID).Scan(&proxyID)
	if errors.Is(err, sql.ErrNoRows) {
		writeHTML(w, http.StatusNotFound, "Not found", "")
		return nil
	}
	if err != nil {
		return err
	}
	q := `SELECT id, http_method, pattern FROM proxy_rules WHERE owner_type='Proxy' AND owner_id=?`
	args := []any{proxyID}
	if text := r.FormValue("search[query]"); text != "" {
		ids, err := a.search.query(ctx, "proxy_rule_core", tenant.ID, text)
		if err != nil {
			return err
		}
		q += " AND id IN " + sqlIn(len(ids))
		for _, id := range ids {
			args = append(args, id)
		}
	}
	rows, err := a.db.QueryContext(ctx, q+" ORDER BY position, id", args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	var b strings.Builder
	b.WriteString(`<table id="results">`)
	for rows.Next() {
		var rid int64
		var method, pattern string
		if err := rows.Scan(&rid, &method, &pattern); err != nil {
			return err
		}
		fmt.Fprintf(&b, `<tr role="row"><td class="http_method" data-label="Verb" role="cell">%s</td><td class="pattern" data-label="Pattern" role="cell">%s</td>`+
			`<td class="pf-c-table__action" role="cell"><a class="action edit" href="/apiconfig/services/%d/proxy_rules/%d/edit"></a></td></tr>`,
			html.EscapeString(method), html.EscapeString(pattern), sid, rid)
	}
	b.WriteString(`</table>`)
	writeHTML(w, http.StatusOK, "Mapping Rules", b.String())
	return rows.Err()
}

// alertsPage is the admin portal's alerts list, /apiconfig/alerts (all products) or
// /apiconfig/services/{id}/alerts (one product), as porta 3scale-2.16.4-GA renders it
// (porta@3scale-2.16.4-GA:app/controllers/api/alerts_controller.rb index,
// app/presenters/api/alerts_index_presenter.rb, app/views/api/alerts/index.html.slim): the
// provider's own Alert rows (current_account.buyer_alerts, not deleted), newest timestamp
// first, 20 per page (?page=, ?per_page=), narrowed by ?cinstance_id= or ?account_id= (or
// search[…]), each a row <tr class="<state>" id="alert_<id>" role="row"> with
// the cells Account (the buyer's org_name, linked), Application (its name, linked), Message,
// Level (colorize_utilization: <span class="above-90">&ge;&nbsp;90&nbsp;%</span>) and
// Time (UTC) ("%d %b %Y %H:%M:%S %Z"). Slim sorts attributes alphabetically. With no alert at
// all the page is the "All clear" empty state and has no table.
func (a *app) alertsPage(w http.ResponseWriter, r *http.Request, tenant *account) error {
	ctx := r.Context()
	q := `SELECT al.id, al.state, al.level, al.message, al.timestamp, c.id, c.name, b.id, b.org_name
		FROM alerts al JOIN cinstances c ON c.id=al.cinstance_id JOIN accounts b ON b.id=c.user_account_id
		WHERE al.account_id=? AND c.user_account_id<>? AND al.state<>'deleted'`
	args := []any{tenant.ID, tenant.ID}
	title := "Alerts for all services"
	if r.PathValue("id") != "" {
		sid, err := pathID(r, "id")
		if err != nil {
			return err
		}
		var n int
		if err := a.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM services WHERE id=? AND account_id=? AND state<>'deleted'`, sid, tenant.ID).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			writeHTML(w, http.StatusNotFound, "Not found", "")
			return nil
		}
		q += ` AND al.service_id=?`
		args = append(args, sid)
		title = "Alerts"
	}
	// raw is every alert the page may show; "All clear" means raw is empty. The search
	// narrows it: the presenter takes params[:search], else params' account_id and
	// cinstance_id (new_search), and Alert allows cinstance_id and account_id among its
	// search scopes (porta@3scale-2.16.4-GA:app/models/alert.rb allowed_search_scopes).
	raw, rawArgs := q, append([]any(nil), args...)
	p := parseParams(r)
	searched := false
	for k := range p.v {
		searched = searched || strings.HasPrefix(k, "search[")
	}
	for _, f := range []struct{ param, col string }{{"cinstance_id", "al.cinstance_id"}, {"account_id", "c.user_account_id"}} {
		v := p.get("search[" + f.param + "]")
		if v == "" && !searched {
			v = p.get(f.param)
		}
		if v == "" {
			continue
		}
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			id = -1 // matches nothing, as a search for an unknown id does
		}
		q += ` AND ` + f.col + `=?`
		args = append(args, id)
	}
	// will_paginate: page (default 1) and per_page (the presenter's default 20).
	pg := int(p.int64("page"))
	if pg < 1 {
		pg = 1
	}
	perPage := int(p.int64("per_page"))
	if perPage < 1 {
		perPage = 20
	}
	rows, err := a.db.QueryContext(ctx, q+` ORDER BY al.timestamp DESC, al.id DESC LIMIT ? OFFSET ?`, append(args, perPage, (pg-1)*perPage)...)
	if err != nil {
		return err
	}
	defer rows.Close()
	var b strings.Builder
	n := 0
	for rows.Next() {
		var id, cid, bid int64
		var level int
		var state, msg, stamp, appName, org string
		if err := rows.Scan(&id, &state, &level, &msg, &stamp, &cid, &appName, &bid, &org); err != nil {
			return err
		}
		if n == 0 {
			b.WriteString(`<table aria-label="Alerts table" class="pf-c-table pf-m-grid-lg" role="grid"><thead><tr role="row">` +
				`<th role="columnheader" scope="col">Account</th><th role="columnheader" scope="col">Application</th>` +
				`<th role="columnheader" scope="col">Message</th><th role="columnheader" scope="col">Level</th>` +
				`<th role="columnheader" scope="col">Time (UTC)</th><td></td></tr></thead><tbody role="rowgroup">`)
		}
		n++
		fmt.Fprintf(&b, `<tr class="%s" id="alert_%d" role="row">`, html.EscapeString(state), id)
		fmt.Fprintf(&b, `<td data-label="Account" role="cell"><a href="/buyers/accounts/%d">%s</a></td>`, bid, html.EscapeString(org))
		fmt.Fprintf(&b, `<td data-label="Application" role="cell"><a href="/p/admin/applications/%d">%s</a></td>`, cid, html.EscapeString(appName))
		fmt.Fprintf(&b, `<td data-label="Message" role="cell">%s</td>`, html.EscapeString(msg))
		fmt.Fprintf(&b, `<td class="utilization" data-label="Level" role="cell"><span class="above-%s">&ge;&nbsp;%d&nbsp;%%</span></td>`, utilizationRange(level), level)
		fmt.Fprintf(&b, `<td data-label="Time (UTC)" role="cell">%s</td>`, html.EscapeString(alertTime(stamp)))
		b.WriteString(`<td class="pf-c-table__action" role="cell"></td></tr>`)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if n > 0 {
		b.WriteString(`</tbody></table>`)
	} else {
		var total int
		if err := a.db.QueryRowContext(ctx, strings.Replace(raw, `SELECT al.id, al.state, al.level, al.message, al.timestamp, c.id, c.name, b.id, b.org_name`, `SELECT COUNT(*)`, 1), rawArgs...).Scan(&total); err != nil {
			return err
		}
		if total == 0 {
			b.WriteString(`<div class="pf-c-empty-state"><h4>All clear</h4><p>No recent alerts.</p></div>`)
		} else {
			b.WriteString(`<h4>No results</h4>`)
		}
	}
	writeHTML(w, http.StatusOK, title, b.String())
	return nil
}

// utilizationRange is AlertsHelper#utilization_range: the highest ALERT_LEVELS entry at or below
// the value, nothing below the first.
func utilizationRange(v int) string {
	r := ""
	for _, l := range alertLevels {
		if v < l {
			break
		}
		r = strconv.Itoa(l)
	}
	return r
}

// alertTime renders an alert's timestamp as porta's default time format, "%d %b %Y %H:%M:%S %Z"
// (porta@3scale-2.16.4-GA:config/locales/en.yml time.formats.default), in UTC.
func alertTime(raw string) string {
	for _, layout := range []string{"2006-01-02 15:04:05 MST", "2006-01-02 15:04:05 -0700", time.RFC3339, "2006-01-02T15:04:05Z07:00"} {
		if t, err := time.Parse(layout, raw); err == nil {
			return t.UTC().Format("02 Jan 2006 15:04:05 UTC")
		}
	}
	return raw
}
