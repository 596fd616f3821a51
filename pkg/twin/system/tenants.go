package system

import (
	"context"
	"database/sql"
	"errors"
	"net/http"
	"regexp"
	"strings"
	"time"
)

// Tenants on master: /master/api/providers (porta@3scale-2.16.4-GA:config/routes.rb, the
// master api namespace with defaults format json; app/controllers/master/api/providers_controller.rb).

// tenantCols are the provider columns the twin keeps next to accountCols (migrations in schema.go).
const tenantCols = `COALESCE(from_email,''), COALESCE(support_email,''), COALESCE(finance_support_email,''), state_changed_at`

// tenantExtra is what AccountRepresenter renders for a provider beyond the account row.
type tenantExtra struct {
	fromEmail, supportEmail, financeSupportEmail string
	stateChangedAt                               sql.NullTime
	adminEmail                                   string
}

// masterAPI wraps a /master/api action: Master::Api::BaseController authenticates with an
// access token of master's (ApiAuthentication::ByAccessToken, scope account_management) or
// master's provider key in api_key (ByProviderKey with provider_key_param_name :api_key), and
// answers anything else with a plain-text 401 "unauthorized" (authenticate!,
// authenticate_access_token plain: 'unauthorized'). A read-only token may only read.
func (a *app) masterAPI(h apiHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		format := requestFormat(r)
		if format == "" {
			format = "json"
		}
		rc, err := a.authenticateMaster(r)
		if errors.Is(err, errUnauthorized) {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte("unauthorized"))
			return
		}
		if err == nil {
			rc.format = format
			err = h(w, r, rc)
		}
		if err != nil {
			a.fail(w, r, format, err)
		}
	}
}

var (
	errUnauthorized = errors.New("unauthorized")
	errSuspended    = &httpError{http.StatusForbidden, nil}
)

func (a *app) authenticateMaster(r *http.Request) (*reqCtx, error) {
	ctx := r.Context()
	tenant, err := a.tenantFor(ctx, roleMaster, requestHost(r))
	if err != nil {
		return nil, err
	}
	if tenant == nil {
		return nil, errUnauthorized
	}
	token, _ := credentialsOf(r)
	var cred *credential
	switch {
	case token != "":
		cred, err = a.lookupToken(ctx, token)
	case r.FormValue("api_key") != "":
		cred, err = a.lookupProviderKey(ctx, r.FormValue("api_key"))
	}
	if err != nil {
		return nil, err
	}
	if cred == nil || cred.AccountID != tenant.ID {
		return nil, errUnauthorized
	}
	if !strings.Contains(","+strings.Join(cred.Scopes, ",")+",", ",account_management,") {
		return nil, errWrongScope
	}
	if cred.Perm != "rw" && r.Method != http.MethodGet && r.Method != http.MethodHead {
		return nil, errWrongScope
	}
	return &reqCtx{role: roleMaster, tenant: tenant, cred: cred}, nil
}

// tenantSubdomain is a provider's subdomain: its developer domain less the superdomain
// (Account#subdomain, porta@3scale-2.16.4-GA:app/models/account/provider_domains.rb).
func (a *app) tenantSubdomain(ac *account) string {
	if ac != nil && ac.Kind == "provider" {
		if s, ok := strings.CutSuffix(ac.Domain, "."+a.cfg.Seed.Superdomain); ok && s != "" {
			return s
		}
	}
	return a.cfg.Seed.TenantName
}

// loadTenant is current_account.providers.find(id): one of master's providers, those
// scheduled for deletion only when withDeleted (show and update; destroy does not see them).
func (a *app) loadTenant(ctx context.Context, rc *reqCtx, id int64, withDeleted bool) (*account, *tenantExtra, error) {
	q := `SELECT ` + accountCols + `, ` + tenantCols + `,
		COALESCE((SELECT u.email FROM users u WHERE u.account_id=accounts.id AND u.role='admin' ORDER BY u.id LIMIT 1),'')
		FROM accounts WHERE id=? AND provider_account_id=? AND kind='provider'`
	if !withDeleted {
		q += ` AND state<>'scheduled_for_deletion'`
	}
	var ac account
	var ex tenantExtra
	err := a.db.QueryRowContext(ctx, q, id, rc.tenant.ID).Scan(&ac.ID, &ac.OrgName, &ac.Kind, &ac.ProviderID, &ac.State, &ac.AdminDomain, &ac.Domain,
		&ac.APIKey, &ac.SiteAccessCode, &ac.CreatedAt, &ac.UpdatedAt, &ac.Annotations,
		&ex.fromEmail, &ex.supportEmail, &ex.financeSupportEmail, &ex.stateChangedAt, &ex.adminEmail)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, errNotFound
	}
	if err != nil {
		return nil, nil, err
	}
	return &ac, &ex, nil
}

// periodBeforeDeletion is Account::States::PERIOD_BEFORE_DELETION.
const periodBeforeDeletion = 15 * 24 * time.Hour

// tenantJSON is AccountRepresenter for a provider (porta@3scale-2.16.4-GA:
// app/representers/account_representer.rb): no self link (`unless provider?`), from_email
// falling back to the noreply address, support_email to the first admin's e-mail and
// finance_support_email to support_email (app/models/account.rb:545-552,
// account/provider_methods.rb from_email), deletion_date (state_changed_at + 15 days) once
// scheduled for deletion (app/models/account/states.rb deletion_date).
func (a *app) tenantJSON(ac *account, ex *tenantExtra) map[string]any {
	body := ac.json()["account"].(map[string]any)
	body["links"] = []any{link("users", fmtID("/admin/api/accounts/", ac.ID)+"/users")}
	if ex.fromEmail != "" {
		body["from_email"] = ex.fromEmail
	} else {
		body["from_email"] = "no-reply@" + a.cfg.Seed.Superdomain
	}
	support := ex.supportEmail
	if support == "" {
		support = ex.adminEmail
	}
	if support != "" {
		body["support_email"] = support
	}
	finance := ex.financeSupportEmail
	if finance == "" {
		finance = support
	}
	if finance != "" {
		body["finance_support_email"] = finance
	}
	if ac.State == "scheduled_for_deletion" && ex.stateChangedAt.Valid {
		body["deletion_date"] = ts(ex.stateChangedAt.Time.Add(periodBeforeDeletion))
	}
	return body
}

// showTenant is GET /master/api/providers/{id}: the signup result without a token,
// {"signup":{"account":{…}}} (signup_result_with_nil_token; the representer leaves out the
// nil access_token; porta@3scale-2.16.4-GA:app/representers/signup_result_with_access_token_representer.rb).
func (a *app) showTenant(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	id, err := pathID(r, "id")
	if err != nil {
		return errNotFound
	}
	ac, ex, err := a.loadTenant(r.Context(), rc, id, true)
	if err != nil {
		return err
	}
	return ok(w, rc, map[string]any{"signup": map[string]any{"account": a.tenantJSON(ac, ex)}})
}

var notSubdomainChar = regexp.MustCompile(`[^a-z0-9]+`)

// createTenant is POST /master/api/providers: Signup::ProviderAccountManager in one transaction
// (porta@3scale-2.16.4-GA:app/lib/signup/provider_account_manager.rb, account_manager.rb):
//   - the provider account, sample_data on, its domains generated from org_name (or the given
//     subdomain) as <subdomain>.<superdomain> and <subdomain>-admin.<superdomain>, the
//     subdomain parameterized and suffixed -2, -3 … while taken (app/lib/signup/domains_builder.rb);
//   - its contract with master's default application plan, whose user_key is the provider key;
//   - its admin user, pending (signup_type created_by_provider is no minimal signup, so the user
//     waits for activation; app/models/user/states.rb activate_on_minimal_signup?), and the
//     impersonation admin 3scaleadmin (ImpersonationAdminBuilder);
//   - the admin's access token "Administration", scopes account_management and
//     policy_registry, rw, value SecureRandom.hex(32) (app/lib/signup/result_with_access_token.rb,
//     app/models/access_token.rb);
//   - the first product "API" with the echo API (create_first_service), saved to backend after
//     the commit, and SignupWorker; after it, the admin's activation e-mail is queued.
//
// The account is approved at once (account_approve! unless approval is required). The answer
// is 201 {"signup":{"account":{…},"access_token":{…,"value":…}}}. Blank org_name, username or
// email fail the account's and user's validations: 422 {"errors":{"account"|"user":[full
// messages]}} (Signup::Result#errors).
func (a *app) createTenant(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	ctx := r.Context()
	p := parseParams(r)
	org, username, email, password := p.get("org_name"), p.get("username"), p.get("email"), p.get("password")
	errs := map[string][]string{}
	if org == "" {
		errs["account"] = append(errs["account"], "Organization/Group Name can't be blank")
	}
	if len(username) < 3 {
		errs["user"] = append(errs["user"], "Username is too short (minimum is 3 characters)")
	}
	if email == "" {
		errs["user"] = append(errs["user"], "Email should look like an email address")
	}
	if len(errs) > 0 {
		return &httpError{http.StatusUnprocessableEntity, map[string]any{"errors": errs}}
	}
	sub := p.get("subdomain")
	given := sub != ""
	if !given {
		sub = strings.Trim(notSubdomainChar.ReplaceAllString(strings.ToLower(strings.ReplaceAll(org, "_", "-")), "-"), "-")
	}
	if sub == "" {
		return &httpError{http.StatusUnprocessableEntity, map[string]any{"errors": map[string][]string{"account": {"Subdomain can't be blank"}}}}
	}
	var masterSvc, masterPlan int64
	err := a.db.QueryRowContext(ctx, `SELECT s.id, p.id FROM services s JOIN plans p ON p.issuer_id=s.id AND p.type='ApplicationPlan' AND p.is_default
		WHERE s.account_id=? AND s.state<>'deleted' ORDER BY s.id LIMIT 1`, rc.tenant.ID).Scan(&masterSvc, &masterPlan)
	if errors.Is(err, sql.ErrNoRows) {
		// ensure_master_with_plans
		return &httpError{http.StatusUnprocessableEntity, map[string]string{"error": "Provider signup not enabled."}}
	}
	if err != nil {
		return err
	}
	super := a.cfg.Seed.Superdomain
	var providerID, tokenID, apiID, adminID int64
	tokenValue, pk := randomHex(32), randomHex(16)
	err = a.inTx(ctx, func(tx *sql.Tx) error {
		base, seq := sub, 1
		for {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM accounts WHERE domain IN (?,?) OR admin_domain IN (?,?)`,
				sub+"."+super, sub+"-admin."+super, sub+"."+super, sub+"-admin."+super).Scan(&n); err != nil {
				return err
			}
			if n == 0 {
				break
			}
			if given {
				return &httpError{http.StatusUnprocessableEntity, map[string]any{"errors": map[string][]string{"account": {"Domain has already been taken"}}}}
			}
			seq++
			sub = base + "-" + id(int64(seq))
		}
		t := now()
		var err error
		providerID, err = lastID(tx.ExecContext(ctx, `INSERT INTO accounts (org_name, kind, provider_account_id, state, admin_domain, domain, api_key, site_access_code, sample_data, state_changed_at, created_at, updated_at)
			VALUES (?,?,?,?,?,?,?,?,?,?,?,?)`, org, "provider", rc.tenant.ID, "approved", sub+"-admin."+super, sub+"."+super, pk, randomHex(5), true, t, t, t))
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO cinstances (plan_id, user_account_id, service_id, name, description, state, user_key, application_id, provider_public_key, created_at, updated_at)
			VALUES (?,?,?,?,?,?,?,?,?,?,?)`, masterPlan, providerID, masterSvc, org+"'s App", "Default application created on signup.", "live", pk, randomHex(4), randomHex(16), t, t); err != nil {
			return err
		}
		adminID, err = lastID(tx.ExecContext(ctx, `INSERT INTO users (account_id, username, email, password, role, state, created_at) VALUES (?,?,?,?,?,?,?)`,
			providerID, username, email, password, "admin", "pending", t))
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO users (account_id, username, email, password, role, created_at) VALUES (?,?,?,?,?,?)`,
			providerID, "3scaleadmin", "3scaleadmin+"+sub+"-admin."+super+"@3scale.net", "", "admin", t); err != nil {
			return err
		}
		tokenID, err = lastID(tx.ExecContext(ctx, `INSERT INTO access_tokens (owner_id, name, value, scopes, permission, created_at) VALUES (?,?,?,?,?,?)`,
			adminID, "Administration", tokenValue, "account_management,policy_registry", "rw", t))
		if err != nil {
			return err
		}
		var jobs []job
		apiID, jobs, err = a.insertSeedService(ctx, tx, providerID, sub, seedService{name: "API", systemName: "api", deploymentOption: "hosted"})
		if err != nil {
			return err
		}
		jobs = append(jobs, job{false, "critical", ClassSignup, []any{providerID}})
		return a.enqueue(ctx, jobs...)
	})
	if err != nil {
		return err
	}
	// The product's after_commit saves it to backend with the new provider key, as a product
	// made through the API is (createService).
	if err := a.backend.saveService(ctx, apiID, pk, "1", "active"); err != nil {
		return err
	}
	// ProviderUserMailer.activation(user).deliver_later, the admin's activation e-mail.
	if err := a.enqueue(ctx, mailJob("ProviderUserMailer", "activation", map[string]any{"_aj_globalid": "gid://system/User/" + id(adminID)})); err != nil {
		return err
	}
	ac, ex, err := a.loadTenant(ctx, rc, providerID, true)
	if err != nil {
		return err
	}
	return created(w, rc, "", map[string]any{"signup": map[string]any{"account": a.tenantJSON(ac, ex),
		"access_token": map[string]any{"id": tokenID, "name": "Administration", "scopes": []string{"account_management", "policy_registry"},
			"permission": "rw", "value": tokenValue}}})
}

// tenantEvents are the provider state machine's events an update may fire, by the states each
// leaves (porta@3scale-2.16.4-GA:app/models/account/states.rb; suspend's
// ready_to_be_suspended? and the provider-only resume from suspended are taken as met).
var tenantEvents = map[string]map[string]string{
	"make_pending":          {"created": "pending", "approved": "pending", "rejected": "pending"},
	"approve":               {"created": "approved", "pending": "approved", "rejected": "approved"},
	"reject":                {"created": "rejected", "pending": "rejected", "approved": "rejected"},
	"suspend":               {"created": "suspended", "pending": "suspended", "approved": "suspended", "rejected": "suspended", "suspended": "suspended", "scheduled_for_deletion": "suspended"},
	"resume":                {"suspended": "approved", "scheduled_for_deletion": "approved"},
	"schedule_for_deletion": {"created": "scheduled_for_deletion", "pending": "scheduled_for_deletion", "approved": "scheduled_for_deletion", "rejected": "scheduled_for_deletion", "suspended": "scheduled_for_deletion", "scheduled_for_deletion": "scheduled_for_deletion"},
}

// updateTenant is PUT /master/api/providers/{id}: under account[…] (a JSON body may give them
// unwrapped, wrap_parameters :account) from_email, support_email, finance_support_email,
// site_access_code, state_event and org_name (the account's fields, assign_unflattened_attributes);
// a provider scheduled for deletion takes state_event only. Without account[…] the answer is
// ParameterMissing's plain-text 400. An event the state cannot take is 422 {"errors":{"account":
// ["State cannot transition via \"<event>\""]}}. The answer is the signup result without token.
func (a *app) updateTenant(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	ctx := r.Context()
	id, err := pathID(r, "id")
	if err != nil {
		return errNotFound
	}
	isJSON := strings.HasPrefix(r.Header.Get("Content-Type"), "application/json")
	p := parseParams(r)
	ac, _, err := a.loadTenant(ctx, rc, id, true)
	if err != nil {
		return err
	}
	val := func(name string) (string, bool) {
		if vs, found := p.v["account["+name+"]"]; found && len(vs) > 0 {
			return vs[0], true
		}
		if vs, found := p.v[name]; isJSON && found && len(vs) > 0 {
			return vs[0], true
		}
		return "", false
	}
	given := false
	for k := range p.v {
		given = given || strings.HasPrefix(k, "account[")
	}
	permitted := []string{"from_email", "support_email", "finance_support_email", "site_access_code", "org_name", "state_event"}
	if ac.State == "scheduled_for_deletion" {
		permitted = []string{"state_event"}
	}
	sets, args := []string{}, []any{}
	for _, f := range permitted {
		v, found := val(f)
		if !found {
			continue
		}
		given = true
		switch f {
		case "state_event":
			to, can := tenantEvents[v][ac.State]
			if !can {
				return &httpError{http.StatusUnprocessableEntity, map[string]any{"errors": map[string][]string{"account": {`State cannot transition via "` + v + `"`}}}}
			}
			if to != ac.State {
				sets = append(sets, "state=?", "state_changed_at=?")
				args = append(args, to, now())
			}
		case "org_name":
			if v == "" {
				return &httpError{http.StatusUnprocessableEntity, map[string]any{"errors": map[string][]string{"account": {"Organization/Group Name can't be blank"}}}}
			}
			sets = append(sets, "org_name=?")
			args = append(args, v)
		default:
			sets = append(sets, f+"=?")
			args = append(args, v)
		}
	}
	if !given && !isJSON {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte("Required parameter missing: account"))
		return nil
	}
	if len(sets) > 0 {
		sets = append(sets, "updated_at=?")
		args = append(args, now(), ac.ID)
		if _, err := a.db.ExecContext(ctx, `UPDATE accounts SET `+strings.Join(sets, ", ")+` WHERE id=?`, args...); err != nil {
			return err
		}
	}
	ac, ex, err := a.loadTenant(ctx, rc, id, true)
	if err != nil {
		return err
	}
	return ok(w, rc, map[string]any{"signup": map[string]any{"account": a.tenantJSON(ac, ex)}})
}

// deleteTenant is DELETE /master/api/providers/{id}: schedule_for_deletion!, the account kept
// with state scheduled_for_deletion (DeleteProviderWorker removes it PERIOD_BEFORE_DELETION
// later, which the twin does not model); 200 with an empty body. One already scheduled is not
// found (without_deleted for destroy).
func (a *app) deleteTenant(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	ctx := r.Context()
	id, err := pathID(r, "id")
	if err != nil {
		return errNotFound
	}
	ac, _, err := a.loadTenant(ctx, rc, id, false)
	if err != nil {
		return err
	}
	t := now()
	if _, err := a.db.ExecContext(ctx, `UPDATE accounts SET state='scheduled_for_deletion', state_changed_at=?, updated_at=? WHERE id=?`, t, t, ac.ID); err != nil {
		return err
	}
	return deleted(w)
}
