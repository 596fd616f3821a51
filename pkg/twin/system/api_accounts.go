package system

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Accounts (signup, list, find, delete), applications (create, keys, list with account_query,
// find) and the provider: research/porta-zync.md §2. Application and key writes sync to backend
// inside the request (§4.2); index, zync and mail jobs follow the commit.

func (ac *account) json() map[string]any {
	self := fmtID("/admin/api/accounts/", ac.ID)
	body := map[string]any{"id": ac.ID, "org_name": ac.OrgName, "state": ac.State,
		"created_at": ts(ac.CreatedAt), "updated_at": ts(ac.UpdatedAt), "extra_fields": map[string]any{},
		"monthly_billing_enabled": true, "monthly_charging_enabled": true, "credit_card_stored": false,
		"annotations": decodeAnnotations(ac.Annotations),
		"links":       []any{link("self", self), link("users", self+"/users")}}
	if ac.Kind != "buyer" {
		// AccountRepresenter's provider properties (porta@3scale-2.16.4-GA:
		// app/representers/account_representer.rb), site_access_code among them: how an API
		// client learns the developer portal's access code (rendered unless nil).
		body["admin_domain"] = ac.AdminDomain
		body["domain"] = ac.Domain
		body["admin_base_url"] = "https://" + ac.AdminDomain
		body["base_url"] = "https://" + ac.Domain
		body["from_email"] = "no-reply@" + ac.AdminDomain
		if ac.SiteAccessCode.Valid {
			body["site_access_code"] = ac.SiteAccessCode.String
		}
	}
	return map[string]any{"account": body}
}

// buyer loads an account the tenant provides for (a buyer, or a provider when tenant is master).
func (a *app) buyer(ctx context.Context, rc *reqCtx, aid int64) (*account, error) {
	ac, err := scanAccount(a.db.QueryRowContext(ctx, `SELECT `+accountCols+` FROM accounts WHERE id=? AND provider_account_id=?`, aid, rc.tenant.ID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errNotFound
	}
	return ac, err
}

func (a *app) provider(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	return ok(w, rc, rc.tenant.json())
}

func (a *app) listAccounts(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	p := parseParams(r)
	limit, offset := page(p)
	q := `SELECT ` + accountCols + ` FROM accounts WHERE provider_account_id=?`
	args := []any{rc.tenant.ID}
	if st := p.get("state"); st != "" {
		q += ` AND state=?`
		args = append(args, st)
	}
	rows, err := a.db.QueryContext(r.Context(), q+` ORDER BY id LIMIT ? OFFSET ?`, append(args, limit, offset)...)
	if err != nil {
		return err
	}
	out, err := collectJSON(rows, scanAccount)
	if err != nil {
		return err
	}
	return ok(w, rc, map[string]any{"accounts": out})
}

// findAccount is a DB-only lookup by username, email or user_id; 404 when none (§2).
func (a *app) findAccount(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	p := parseParams(r)
	var cond string
	var arg any
	switch {
	case p.get("username") != "":
		cond, arg = "u.username=?", p.get("username")
	case p.get("email") != "":
		cond, arg = "u.email=?", p.get("email")
	case p.get("user_id") != "":
		cond, arg = "u.id=?", p.int64("user_id")
	default:
		return errNotFound
	}
	ac, err := scanAccount(a.db.QueryRowContext(r.Context(), `SELECT a.id, a.org_name, a.kind, COALESCE(a.provider_account_id,0), a.state, COALESCE(a.admin_domain,''),
		COALESCE(a.domain,''), COALESCE(a.api_key,''), a.site_access_code, a.created_at, a.updated_at, `+annotationsCol("Account", "a")+`
		FROM accounts a JOIN users u ON u.account_id=a.id
		WHERE a.provider_account_id=? AND `+cond+` LIMIT 1`, rc.tenant.ID, arg))
	if errors.Is(err, sql.ErrNoRows) {
		return errNotFound
	}
	if err != nil {
		return err
	}
	return ok(w, rc, ac.json())
}

func (a *app) showAccount(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	aid, err := pathID(r, "id")
	if err != nil {
		return err
	}
	ac, err := a.buyer(r.Context(), rc, aid)
	if err != nil {
		return err
	}
	return ok(w, rc, ac.json())
}

// appRow is a cinstance: an application of a buyer on an application plan, with what its
// representations show of its service, plan and buyer (application_repr.go).
type appRow struct {
	ID, PlanID, AccountID, ServiceID int64
	Name, Description, State         string
	UserKey                          sql.NullString
	AppID                            string
	CreatedAt, UpdatedAt             time.Time
	keys                             []string
	planName, backendVersion         string
	serviceName, orgName             string
	providerKey                      sql.NullString
	planState                        string
	planDefault, planApproval        bool
	// plan holds the plan's prices for the nested <plan> of the XML.
	plan planRow
}

const appCols = `c.id, c.plan_id, c.user_account_id, c.service_id, c.name, COALESCE(c.description,''), c.state, c.user_key, c.application_id, c.created_at, c.updated_at,
	p.name, s.backend_version, s.name, b.org_name, c.provider_public_key, p.state, p.is_default, p.approval_required,
	p.setup_fee, p.cost_per_month, p.trial_period_days, p.cancellation_period`

const appFrom = ` FROM cinstances c JOIN plans p ON p.id=c.plan_id JOIN services s ON s.id=c.service_id JOIN accounts b ON b.id=c.user_account_id`

func scanApp(row interface{ Scan(...any) error }) (*appRow, error) {
	var c appRow
	err := row.Scan(&c.ID, &c.PlanID, &c.AccountID, &c.ServiceID, &c.Name, &c.Description, &c.State, &c.UserKey, &c.AppID, &c.CreatedAt, &c.UpdatedAt,
		&c.planName, &c.backendVersion, &c.serviceName, &c.orgName, &c.providerKey, &c.planState, &c.planDefault, &c.planApproval,
		&c.plan.SetupFee, &c.plan.CostPerMonth, &c.plan.TrialPeriodDays, &c.plan.CancellationPeriod)
	return &c, err
}

func loadKeys(ctx context.Context, q querier, apps ...*appRow) error {
	for _, c := range apps {
		rows, err := q.QueryContext(ctx, `SELECT value FROM application_keys WHERE application_id=? ORDER BY id`, c.ID)
		if err != nil {
			return err
		}
		c.keys = []string{}
		for rows.Next() {
			var v string
			if err := rows.Scan(&v); err != nil {
				rows.Close()
				return err
			}
			c.keys = append(c.keys, v)
		}
		rows.Close()
	}
	return nil
}

func (a *app) application(ctx context.Context, rc *reqCtx, cond string, args ...any) (*appRow, error) {
	c, err := scanApp(a.db.QueryRowContext(ctx, `SELECT `+appCols+appFrom+` WHERE b.provider_account_id=? AND `+cond+` LIMIT 1`,
		append([]any{rc.tenant.ID}, args...)...))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errNotFound
	}
	if err != nil {
		return nil, err
	}
	return c, loadKeys(ctx, a.db, c)
}

// newApp inserts a cinstance and its keys, and records the ZyncEvent (Application created).
// Every application gets a user_key, a provider_public_key and an application_id on create,
// whatever the product's backend_version; only the representations differ
// (porta@3scale-2.16.4-GA:app/models/cinstance.rb set_user_key, set_provider_public_key,
// generate_key = SecureRandom.hex(16); app/lib/backend/model_extensions/cinstance.rb
// set_application_id = SecureRandom.hex(4)). Products other than backend_version 1 also get
// a first application key (create_first_key).
func newApp(ctx context.Context, tx *sql.Tx, tenantID, accountID int64, pl *planRow, backendVersion, name, description, userKey, appID string, keys []string) (int64, job, error) {
	if userKey == "" {
		userKey = randomHex(16)
	}
	if backendVersion != "1" && len(keys) == 0 {
		keys = []string{randomHex(16)}
	}
	if appID == "" {
		appID = randomHex(4)
	}
	// A new application is accepted on create (live) unless its plan requires approval: then
	// it stays pending, and backend is told "pending", so it authorizes nothing until accepted
	// (porta@3scale-2.16.4-GA:app/models/contract/states.rb:7 initial pending, app/models/cinstance.rb:31
	// before_create accept_on_create, app/models/contract.rb accept_on_create;
	// app/lib/backend/model_extensions/cinstance.rb sends the state, live as active).
	state := "live"
	if pl.ApprovalRequired {
		state = "pending"
	}
	t := now()
	cid, err := lastID(tx.ExecContext(ctx, `INSERT INTO cinstances (plan_id, user_account_id, service_id, name, description, state, user_key, application_id, provider_public_key, created_at, updated_at)
		VALUES (?,?,?,?,?,?,?,?,?,?,?)`, pl.ID, accountID, pl.ServiceID, name, description, state, userKey, appID, randomHex(16), t, t))
	if isDuplicate(err) {
		return 0, job{}, invalid("user_key", "has already been taken")
	}
	if err != nil {
		return 0, job{}, err
	}
	for _, k := range keys {
		if _, err := tx.ExecContext(ctx, `INSERT INTO application_keys (application_id, value, created_at) VALUES (?,?,?)`, cid, k, t); err != nil {
			return 0, job{}, err
		}
	}
	zj, err := zyncEvent(ctx, tx, "Application", cid, tenantID, "Applications::ApplicationCreatedEvent", map[string]any{"service_id": pl.ServiceID})
	return cid, zj, err
}

// syncApp is the synchronous backend sync of an application: Application.save,
// save_id_by_key and each ApplicationKey.save (§4.2 sync table).
func (a *app) syncApp(ctx context.Context, c *appRow) error { return syncAppTo(ctx, a.backend, c) }

// syncAppTo is the application's after_commit backend sync, in Rails 7.0's reverse order of
// declaration: update_backend_application, then update_backend_user_key_to_application_id_mapping
// (porta@3scale-2.16.4-GA:app/lib/backend/model_extensions/cinstance.rb), then its keys.
func syncAppTo(ctx context.Context, b *backendClient, c *appRow) error {
	if err := b.saveApplication(ctx, c.ServiceID, c.AppID, backendState(c.State), c.PlanID, c.planName); err != nil {
		return err
	}
	if c.UserKey.Valid {
		if err := b.saveUserKey(ctx, c.ServiceID, c.AppID, c.UserKey.String); err != nil {
			return err
		}
	}
	for _, k := range c.keys {
		if err := b.saveAppKey(ctx, c.ServiceID, c.AppID, k); err != nil {
			return err
		}
	}
	return nil
}

// backendState maps porta's cinstance state to backend's (live → active).
func backendState(s string) string {
	if s == "live" {
		return "active"
	}
	return s
}

// signupPlans is Signup::PlansWithDefaults for application plans: the selected ones, plus the
// default application plan of every other accessible product of the tenant
// (porta@3scale-2.16.4-GA:app/lib/signup/plans_with_defaults.rb selected=,
// add_default_plans_to_service). A product gets a default plan only when one is made default,
// as the sample data does for its "API" product (app/lib/logic/provider_signup.rb
// SampleData#create!). Service and account plans are not modelled.
func signupPlans(ctx context.Context, q querier, tenantID int64, selected []*planRow) ([]*planRow, error) {
	plans := append([]*planRow{}, selected...)
	rows, err := q.QueryContext(ctx, `SELECT `+planColsP+`
		FROM plans p JOIN services s ON s.id=p.issuer_id WHERE s.account_id=? AND s.state<>'deleted' AND p.is_default=1 ORDER BY s.id`, tenantID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		pl, err := scanPlan(rows)
		if err != nil {
			return nil, err
		}
		if !slices.ContainsFunc(selected, func(s *planRow) bool { return s.ServiceID == pl.ServiceID }) {
			plans = append(plans, pl)
		}
	}
	return plans, rows.Err()
}

// buyerSignup is what Signup::DeveloperAccountManager#create writes in its transaction: the
// buyer account, its admin user, and a contract (an application) per plan, named as the caller
// says; it returns the account, its applications and their zync jobs.
func buyerSignup(ctx context.Context, tx *sql.Tx, tenantID int64, org, user, email, password string, plans []*planRow, appName, appDescription string) (int64, []int64, []job, error) {
	var dup int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM users u JOIN accounts b ON b.id=u.account_id WHERE b.provider_account_id=? AND (u.username=? OR u.email=?)`,
		tenantID, user, email).Scan(&dup); err != nil {
		return 0, nil, nil, err
	}
	if dup > 0 {
		return 0, nil, nil, invalid("username", "has already been taken")
	}
	t := now()
	aid, err := lastID(tx.ExecContext(ctx, `INSERT INTO accounts (org_name, kind, provider_account_id, state, created_at, updated_at) VALUES (?,?,?,?,?,?)`,
		org, "buyer", tenantID, "approved", t, t))
	if err != nil {
		return 0, nil, nil, err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO users (account_id, username, email, password, role, created_at) VALUES (?,?,?,?,?,?)`,
		aid, user, email, password, "admin", t); err != nil {
		return 0, nil, nil, err
	}
	var appIDs []int64
	var jobs []job
	for _, pl := range plans {
		var bv string
		if err := tx.QueryRowContext(ctx, `SELECT backend_version FROM services WHERE id=?`, pl.ServiceID).Scan(&bv); err != nil {
			return 0, nil, nil, err
		}
		cid, zj, err := newApp(ctx, tx, tenantID, aid, pl, bv, appName, appDescription, "", "", nil)
		if err != nil {
			return 0, nil, nil, err
		}
		appIDs = append(appIDs, cid)
		jobs = append(jobs, zj)
	}
	return aid, appIDs, jobs, nil
}

// signup is POST /admin/api/signup (Admin::Api::SignupsController#create): a buyer account, its
// admin user, and an application per plan (signupPlans: application_plan_id and the default
// plans of the other products), each named "API signup" with description "API signup" (the
// controller's defaults for ApplicationPlan,
// porta@3scale-2.16.4-GA:app/controllers/admin/api/signups_controller.rb).
//
// All of it is one transaction (app/lib/signup/account_manager.rb #create). With a password the
// minimal signup activates the user in it (app/lib/signup/developer_account_manager.rb
// persist!, user_activate_on_minimal_signup?), and activation approves the account
// (app/models/user/states.rb before_transition to: :active → make_active → upgrade_state!,
// app/models/account/states.rb: approve! unless the account plan requires approval, which the
// twin's never does). The account's around_transition publishes the state change and calls
// PublishEnabledChangedEventForProviderApplicationsWorker.perform_later there and then, inside
// the transaction: with system-redis down it raises through persist! (only RecordInvalid and
// InvalidTransition are rescued), the whole signup rolls back, and the request answers 500 with
// nothing saved. The same at 3scale-2.15.1-GA. Without a password porta leaves the account
// created and the user pending (the twin approves it all the same) and enqueues nothing inside.
//
// After commit the records run in the order they joined the transaction: the account (its index
// job, then its audit: `include States` brings the after-commit queue before
// Indices::AccountIndex::ForAccount, app/models/account.rb:48,50), then each application (its
// index job, backend sync, audit), then the subscribers of the events published in the
// transaction (the applications' ZyncWorker), then the account_created notification's: the
// manager publishes Accounts::AccountCreatedEvent after persist!, inside the transaction
// (app/lib/signup/account_manager.rb:30-33,77-80), so ProcessNotificationEventWorker is queued
// at the commit (see notificationEvent), even when an earlier callback failed (a backend sync:
// the request answers 500 with the signup saved and the notification queued). Neither the
// minimal signup nor the approval sends a mail of its own: the user is not a new_signup
// (signup_type :minimal, app/controllers/admin/api/signups_controller.rb:18-20;
// app/observers/user_observer.rb:10-16), and AccountMailer's confirmed and approved mails need
// a plan that requires approval (app/models/account/states.rb:25-31,157-185).
func (a *app) signup(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	ctx := r.Context()
	p := parseParams(r)
	org, user, email := p.get("org_name"), p.get("username"), p.get("email")
	switch {
	case org == "":
		return invalid("org_name", "can't be blank")
	case user == "":
		return invalid("username", "can't be blank")
	case email == "":
		return invalid("email", "can't be blank")
	}
	var selected []*planRow
	if pid := p.int64("application_plan_id"); pid != 0 {
		pl, err := a.plan(ctx, rc, pid)
		if err != nil {
			return invalid("application_plan_id", "is invalid")
		}
		selected = append(selected, pl)
	}
	plans, err := signupPlans(ctx, a.db, rc.tenant.ID, selected)
	if err != nil {
		return err
	}
	annotations, err := annotationsParam(p)
	if err != nil {
		return err
	}
	var aid int64
	var appIDs []int64
	var zjobs []job
	var notify job
	err = a.inTx(ctx, func(tx *sql.Tx) error {
		var err error
		aid, appIDs, zjobs, err = buyerSignup(ctx, tx, rc.tenant.ID, org, user, email, p.get("password"), plans, "API signup", "API signup")
		if err != nil {
			return err
		}
		if notify, err = notificationEvent(ctx, tx, "account_created", rc.tenant.ID); err != nil {
			return err
		}
		if err := saveAnnotations(ctx, tx, "Account", aid, annotations); err != nil || p.get("password") == "" {
			return err
		}
		return a.enqueue(ctx, publishEnabledChangedJob(aid, "created"))
	})
	if err != nil {
		return err
	}
	records := []commitRecord{model(a.enqueueing(accountIndexJob(aid),
		auditJob("Account", aid, rc.tenant.ID, "create", map[string]any{"org_name": org}, rc.userID())))}
	for _, cid := range appIDs {
		records = append(records, model(a.enqueueing(accountIndexJob(aid)),
			func(ctx context.Context) error {
				c, err := a.application(ctx, rc, "c.id=?", cid)
				if err != nil {
					return err
				}
				return a.syncApp(ctx, c)
			},
			a.enqueueing(auditJob("Cinstance", cid, rc.tenant.ID, "create", map[string]any{"user_account_id": aid}, rc.userID()))))
	}
	for _, zj := range zjobs {
		records = append(records, subscriber(a.enqueueing(zj)))
	}
	records = append(records, subscriber(a.enqueueing(notify)))
	if err := a.afterCommit(ctx, records...); err != nil {
		return err
	}
	ac, err := a.buyer(ctx, rc, aid)
	if err != nil {
		return err
	}
	return created(w, rc, fmtID("/admin/api/accounts/", aid), ac.json())
}

// updateAccount is PUT /admin/api/accounts/{id}: the buyer's org_name and annotations
// (porta@3scale-2.16.4-GA:app/controllers/admin/api/accounts_controller.rb update,
// update_with_flattened_attributes; app/models/account.rb:327 lets annotations through with the
// fields). Extra fields, billing settings and vat_rate are not modelled. After commit the
// account's index job and its audit are queued, as for any account save.
func (a *app) updateAccount(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	ctx := r.Context()
	aid, err := pathID(r, "id")
	if err != nil {
		return err
	}
	ac, err := a.buyer(ctx, rc, aid)
	if err != nil {
		return err
	}
	p := parseParams(r)
	annotations, err := annotationsParam(p)
	if err != nil {
		return err
	}
	changes := map[string]any{}
	if p.has("org_name") {
		org := strings.TrimSpace(p.get("org_name"))
		if org == "" {
			return invalid("org_name", "can't be blank")
		}
		if org != ac.OrgName {
			changes["org_name"] = []any{ac.OrgName, org}
			ac.OrgName = org
		}
	}
	err = a.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE accounts SET org_name=?, updated_at=? WHERE id=?`, ac.OrgName, now(), aid); err != nil {
			return err
		}
		return saveAnnotations(ctx, tx, "Account", aid, annotations)
	})
	if err != nil {
		return err
	}
	jobs := []job{accountIndexJob(aid)}
	if len(changes) > 0 {
		jobs = append(jobs, auditJob("Account", aid, rc.tenant.ID, "update", changes, rc.userID()))
	}
	if err := a.afterCommit(ctx, model(a.enqueueing(jobs...))); err != nil {
		return err
	}
	if ac, err = a.buyer(ctx, rc, aid); err != nil {
		return err
	}
	return ok(w, rc, ac.json())
}

// deleteAccount removes a buyer with its users and applications; each application's backend
// data is removed by BackendDeleteApplicationWorker (queue low), and the index entry by
// SphinxAccountIndexationWorker. Nothing in the destroy enqueues inside its transaction
// (Account.transaction { buyer_account.destroy }): the events of the destroyed applications
// wait for the commit (porta@3scale-2.16.4-GA:app/controllers/admin/api/accounts_controller.rb
// destroy; app/observers/message_observer.rb after_destroy; app/subscribers/
// application_deleted_subscriber.rb). After commit the account's callbacks run first: its
// index job (Indices::AccountIndex::ForAccount, app/models/account.rb:50), then the audit
// (the after-commit queue of `include States`, :48); the destroyed records' own callbacks are
// skipped once one failed, and the subscribers' jobs (BackendDeleteApplicationWorker,
// ZyncWorker) follow. With system-redis down: 500 with the account deleted, and its
// applications stay in backend.
func (a *app) deleteAccount(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	ctx := r.Context()
	aid, err := pathID(r, "id")
	if err != nil {
		return err
	}
	ac, err := a.buyer(ctx, rc, aid)
	if err != nil {
		return err
	}
	if ac.Kind != "buyer" {
		return &httpError{http.StatusForbidden, nil}
	}
	var jobs []job
	err = a.inTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT c.id FROM cinstances c WHERE c.user_account_id=?`, aid)
		if err != nil {
			return err
		}
		var ids []int64
		for rows.Next() {
			var cid int64
			if err := rows.Scan(&cid); err != nil {
				rows.Close()
				return err
			}
			ids = append(ids, cid)
		}
		rows.Close()
		for _, cid := range ids {
			j, err := deleteAppTx(ctx, tx, rc.tenant.ID, cid)
			if err != nil {
				return err
			}
			jobs = append(jobs, j...)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM users WHERE account_id=?`, aid); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM annotations WHERE annotated_type='Account' AND annotated_id=?`, aid); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM accounts WHERE id=?`, aid)
		return err
	})
	if err != nil {
		return err
	}
	records := []commitRecord{model(a.enqueueing(accountIndexJob(aid),
		auditJob("Account", aid, rc.tenant.ID, "destroy", map[string]any{"org_name": ac.OrgName}, rc.userID())))}
	for _, j := range jobs {
		records = append(records, subscriber(a.enqueueing(j)))
	}
	if err := a.afterCommit(ctx, records...); err != nil {
		return err
	}
	return deleted(w)
}

// deleteAppTx deletes a cinstance and its keys inside tx and records the
// ApplicationDeletedEvent whose id BackendDeleteApplicationWorker receives.
func deleteAppTx(ctx context.Context, tx *sql.Tx, tenantID, cid int64) ([]job, error) {
	var sid int64
	var appID string
	var userKey sql.NullString
	if err := tx.QueryRowContext(ctx, `SELECT service_id, application_id, user_key FROM cinstances WHERE id=?`, cid).Scan(&sid, &appID, &userKey); err != nil {
		return nil, err
	}
	rows, err := tx.QueryContext(ctx, `SELECT value FROM application_keys WHERE application_id=?`, cid)
	if err != nil {
		return nil, err
	}
	keys := []string{}
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return nil, err
		}
		keys = append(keys, v)
	}
	rows.Close()
	if _, err := tx.ExecContext(ctx, `DELETE FROM application_keys WHERE application_id=?`, cid); err != nil {
		return nil, err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM cinstances WHERE id=?`, cid); err != nil {
		return nil, err
	}
	data, _ := json.Marshal(map[string]any{"service_id": sid, "application_id": appID, "user_key": userKey.String, "keys": keys, "id": cid})
	eventID := randomHex(16)
	if _, err := tx.ExecContext(ctx, `INSERT INTO event_store_events (event_id, event_type, provider_id, data, created_at) VALUES (?,?,?,?,?)`,
		eventID, "Applications::ApplicationDeletedEvent", tenantID, string(data), now()); err != nil {
		return nil, err
	}
	zj, err := zyncEvent(ctx, tx, "Application", cid, tenantID, "Applications::ApplicationDeletedEvent", map[string]any{"service_id": sid})
	if err != nil {
		return nil, err
	}
	// BackendDeleteApplicationWorker is an ActiveJob on queue low
	// (porta@3scale-2.16.4-GA:app/workers/backend_delete_application_worker.rb).
	return []job{{true, "low", ClassBackendDeleteApplication, []any{eventID}}, zj}, nil
}

// --- applications ---

func (a *app) listAccountApps(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	ctx := r.Context()
	aid, err := pathID(r, "aid")
	if err != nil {
		return err
	}
	if _, err := a.buyer(ctx, rc, aid); err != nil {
		return err
	}
	return a.renderApps(w, r, rc, "c.user_account_id=?", aid)
}

func (a *app) renderApps(w http.ResponseWriter, r *http.Request, rc *reqCtx, cond string, args ...any) error {
	ctx := r.Context()
	limit, offset := page(parseParams(r))
	rows, err := a.db.QueryContext(ctx, `SELECT `+appCols+appFrom+` WHERE b.provider_account_id=? AND s.state<>'deleted' AND `+cond+` ORDER BY c.id LIMIT ? OFFSET ?`,
		append(append([]any{rc.tenant.ID}, args...), limit, offset)...)
	if err != nil {
		return err
	}
	var apps []*appRow
	for rows.Next() {
		c, err := scanApp(rows)
		if err != nil {
			rows.Close()
			return err
		}
		apps = append(apps, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	if err := loadKeys(ctx, a.db, apps...); err != nil {
		return err
	}
	return ok(w, rc, appsDoc(apps))
}

// listApps is GET /admin/api/applications with Cinstance's search scopes. account_query goes
// to searchd and, with no rescue around it, answers 500 when searchd is down (§3.2).
func (a *app) listApps(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	p := parseParams(r)
	conds := []string{"1=1"}
	var args []any
	add := func(c string, v any) { conds = append(conds, c); args = append(args, v) }
	if v := p.get("service_id"); v != "" {
		add("c.service_id=?", p.int64("service_id"))
	}
	if v := p.get("plan_id"); v != "" {
		add("c.plan_id=?", p.int64("plan_id"))
	}
	if v := p.get("state"); v != "" {
		add("c.state=?", v)
	}
	if v := p.get("account"); v != "" {
		add("c.user_account_id=?", p.int64("account"))
	}
	if v := p.get("name"); v != "" {
		add("c.name LIKE ?", "%"+v+"%")
	}
	if v := p.get("user_key"); v != "" {
		add("c.user_key=?", v)
	}
	if q := p.get("account_query"); q != "" {
		ids, err := a.search.query(r.Context(), "account_core", rc.tenant.ID, q)
		if err != nil {
			return err
		}
		conds = append(conds, "c.user_account_id IN "+sqlIn(len(ids)))
		for _, id := range ids {
			args = append(args, id)
		}
	}
	return a.renderApps(w, r, rc, strings.Join(conds, " AND "), args...)
}

// findApp looks an application up by application_id (DB id), user_key or app_id; zync calls
// it with application_id (§2, §5.2).
func (a *app) findApp(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	p := parseParams(r)
	var c *appRow
	var err error
	switch {
	case p.get("application_id") != "":
		c, err = a.application(r.Context(), rc, "c.id=?", p.int64("application_id"))
	// A user_key finds an application only on a backend_version 1 product, an app_id only on
	// others (porta@3scale-2.16.4-GA:app/controllers/admin/api/applications_controller.rb
	// application).
	case p.get("user_key") != "":
		c, err = a.application(r.Context(), rc, "s.backend_version='1' AND c.user_key=?", p.get("user_key"))
	case p.get("app_id") != "":
		c, err = a.application(r.Context(), rc, "s.backend_version<>'1' AND c.application_id=?", p.get("app_id"))
	default:
		return errNotFound
	}
	if err != nil {
		return err
	}
	return ok(w, rc, appDoc{c})
}

// createApp is POST /admin/api/accounts/{id}/applications: plan_id required, optional
// user_key, application_id and application_key[].
func (a *app) createApp(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	ctx := r.Context()
	aid, err := pathID(r, "aid")
	if err != nil {
		return err
	}
	if _, err := a.buyer(ctx, rc, aid); err != nil {
		return err
	}
	p := parseParams(r)
	// The plan is looked up among the tenant's application plans before anything else: a
	// missing or unknown plan_id is 404 (porta@3scale-2.16.4-GA:
	// app/controllers/admin/api/buyers_applications_controller.rb application_plan,
	// accessible_application_plans.find).
	if p.get("plan_id") == "" {
		return errNotFound
	}
	pl, err := a.plan(ctx, rc, p.int64("plan_id"))
	if err != nil {
		return err
	}
	name := p.get("name")
	if name == "" {
		return invalid("name", "can't be blank")
	}
	var cid int64
	var zj job
	err = a.inTx(ctx, func(tx *sql.Tx) error {
		var bv string
		if err := tx.QueryRowContext(ctx, `SELECT backend_version FROM services WHERE id=?`, pl.ServiceID).Scan(&bv); err != nil {
			return err
		}
		var err error
		cid, zj, err = newApp(ctx, tx, rc.tenant.ID, aid, pl, bv, name, p.get("description"), p.get("user_key"), p.get("application_id"), p.list("application_key"))
		return err
	})
	if err != nil {
		return err
	}
	c, err := a.application(ctx, rc, "c.id=?", cid)
	if err != nil {
		return err
	}
	if err := a.syncApp(ctx, c); err != nil {
		return err
	}
	if err := a.enqueue(ctx, zj, accountIndexJob(aid)); err != nil {
		return err
	}
	return created(w, rc, fmtID(fmtID("/admin/api/accounts/", aid)+"/applications/", cid), appDoc{c})
}

func (a *app) accountApp(ctx context.Context, rc *reqCtx, r *http.Request) (*appRow, error) {
	aid, err := pathID(r, "aid")
	if err != nil {
		return nil, err
	}
	cid, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	return a.application(ctx, rc, "c.id=? AND c.user_account_id=?", cid, aid)
}

// appAction serves GET/PUT/DELETE of one application.
//
// An update is application.save (porta@3scale-2.16.4-GA:
// app/controllers/admin/api/buyers_applications_controller.rb update). Its after_commit
// callbacks run in reverse order of declaration (app/models/cinstance.rb, Rails before 7.1):
// push_application_updated_event (:88) first publishes Applications::ApplicationUpdatedEvent
// outside any transaction, so its ZyncWorker is enqueued at once and a failure is swallowed by
// the event store with a log (publish); then index_account from
// Indices::AccountIndex::ForDependency (:59) enqueues SphinxAccountIndexationWorker with no
// rescue; then Backend::ModelExtensions::Cinstance (:54) syncs backend; the audit queued by
// Contract's `audited` (app/models/contract.rb:7, declared first) comes last. So with
// system-redis down the update answers 500 with the change saved, its zync job lost and backend
// not synced; the same at 3scale-2.15.1-GA.
func (a *app) appAction(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	ctx := r.Context()
	c, err := a.accountApp(ctx, rc, r)
	if err != nil {
		return err
	}
	switch r.Method {
	case http.MethodGet:
		return ok(w, rc, appDoc{c})
	case http.MethodDelete:
		var jobs []job
		err := a.inTx(ctx, func(tx *sql.Tx) error {
			var err error
			jobs, err = deleteAppTx(ctx, tx, rc.tenant.ID, c.ID)
			return err
		})
		if err != nil {
			return err
		}
		if err := a.enqueue(ctx, append(jobs, accountIndexJob(c.AccountID))...); err != nil {
			return err
		}
		return deleted(w)
	default:
		p := parseParams(r)
		changes := map[string]any{}
		if v := p.get("name"); v != "" && v != c.Name {
			changes["name"] = []any{c.Name, v}
			c.Name = v
		}
		if p.has("description") && p.get("description") != c.Description {
			changes["description"] = []any{c.Description, p.get("description")}
			c.Description = p.get("description")
		}
		var zj job
		err := a.inTx(ctx, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, `UPDATE cinstances SET name=?, description=?, updated_at=? WHERE id=?`, c.Name, c.Description, now(), c.ID); err != nil {
				return err
			}
			if len(changes) == 0 {
				return nil
			}
			var err error
			zj, err = zyncEvent(ctx, tx, "Application", c.ID, rc.tenant.ID, "Applications::ApplicationUpdatedEvent", map[string]any{"service_id": c.ServiceID})
			return err
		})
		if err != nil {
			return err
		}
		// Without a change porta publishes no event (unless: :only_traffic_updated?) and
		// audits nothing; the index and backend callbacks run on every commit.
		var steps []step
		if len(changes) > 0 {
			steps = append(steps, a.publishing(zj))
		}
		steps = append(steps, a.enqueueing(accountIndexJob(c.AccountID)), func(ctx context.Context) error { return a.syncApp(ctx, c) })
		if len(changes) > 0 {
			steps = append(steps, a.enqueueing(auditJob("Cinstance", c.ID, rc.tenant.ID, "update", changes, rc.userID())))
		}
		if err := a.afterCommit(ctx, model(steps...)); err != nil {
			return err
		}
		return ok(w, rc, appDoc{c})
	}
}

// listKeys is GET …/applications/{id}/keys: each key's value, created_at and updated_at and a
// link to its application (porta@3scale-2.16.4-GA:app/representers/application_keys_representer.rb,
// application_key_representer.rb). A key is never updated (its value is attr_readonly and no
// action changes it), so updated_at is its created_at.
func (a *app) listKeys(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	ctx := r.Context()
	c, err := a.accountApp(ctx, rc, r)
	if err != nil {
		return err
	}
	rows, err := a.db.QueryContext(ctx, `SELECT value, created_at FROM application_keys WHERE application_id=? ORDER BY id`, c.ID)
	if err != nil {
		return err
	}
	defer rows.Close()
	self := fmtID(fmtID("/admin/api/accounts/", c.AccountID)+"/applications/", c.ID)
	out := []any{}
	for rows.Next() {
		var v string
		var at time.Time
		if err := rows.Scan(&v, &at); err != nil {
			return err
		}
		out = append(out, map[string]any{"key": map[string]any{"value": v, "created_at": ts(at), "updated_at": ts(at),
			"links": []any{link("application", self)}}})
	}
	if err := rows.Err(); err != nil {
		return err
	}
	return ok(w, rc, map[string]any{"keys": out})
}

// keysLimit is ApplicationKey::KEYS_LIMIT, or 1 for oauth products
// (porta@3scale-2.16.4-GA:app/models/application_key.rb:4, app/models/cinstance.rb keys_limit).
func keysLimit(backendVersion string) int {
	if _, _, oauth := appVersion(backendVersion); oauth {
		return 1
	}
	return 5
}

// keyErrors validates a new application key as ApplicationKey does, in its declaration order:
// the value's format (printable ASCII, no spaces), length (5..255) and case-insensitive
// uniqueness within the application, then keys_limit_reached on :base ("Limit reached": the
// association holds the new key too, so the sixth key of a user_key or app_id product is
// refused). Messages are Rails' defaults and porta's locale
// (porta@3scale-2.16.4-GA:app/models/application_key.rb validates :value, :keys_limit_reached;
// config/locales/en.yml activerecord.errors.models.application_key.attributes.base.limit_reached).
func keyErrors(value string, existing []string, limit int) map[string][]string {
	errs := map[string][]string{}
	printable := value != ""
	for _, r := range value {
		if r < 0x21 || r > 0x7e {
			printable = false
		}
	}
	if !printable {
		errs["value"] = append(errs["value"], "is invalid")
	}
	switch n := len(value); {
	case n < 5:
		errs["value"] = append(errs["value"], "is too short (minimum is 5 characters)")
	case n > 255:
		errs["value"] = append(errs["value"], "is too long (maximum is 255 characters)")
	}
	for _, k := range existing {
		if strings.EqualFold(k, value) {
			errs["value"] = append(errs["value"], "has already been taken")
			break
		}
	}
	if len(existing)+1 > limit {
		errs["base"] = append(errs["base"], "Limit reached")
	}
	return errs
}

// createKey is POST …/applications/{id}/keys: application_keys.add(params[:key]), a generated
// key (SecureRandom.hex(16)) when none is given. A key that fails validation answers 422
// {"errors":{…}} (ThreeScale::Api::Responder#display_errors). Saving the key publishes
// Applications::ApplicationUpdatedEvent in its after_save, so a ZyncWorker waits for the commit.
// After commit the key's callbacks run in reverse order of declaration: update_backend_value
// (the last create callback declared, by extend BackendClient::ToggleBackend; no rescue), then the messenger's
// notification and web hook (neither reaches Redis unless mail or web hooks are set up: the
// mail's deliver_later is rescued by Message#send_notifications), then the audit's
// AuditedWorker (audited is declared first); then the ZyncWorker. So with backend failing the
// request answers 500 with the key saved (and the ZyncWorker still queued), and with
// system-redis down it answers 500 with the key saved and synced to backend
// (porta@3scale-2.16.4-GA: app/controllers/admin/api/buyer_application_keys_controller.rb
// create; app/models/application_key.rb; app/lib/backend_client/toggle_backend.rb; the same
// at 3scale-2.15.1-GA).
func (a *app) createKey(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	ctx := r.Context()
	c, err := a.accountApp(ctx, rc, r)
	if err != nil {
		return err
	}
	p := parseParams(r)
	key := p.get("key")
	if !p.has("key") {
		key = randomHex(16)
	}
	var zj job
	var keyID int64
	err = a.inTx(ctx, func(tx *sql.Tx) error {
		// Lock the application so that concurrent creates see each other's keys.
		var locked int64
		if err := tx.QueryRowContext(ctx, `SELECT id FROM cinstances WHERE id=? FOR UPDATE`, c.ID).Scan(&locked); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT value FROM application_keys WHERE application_id=? ORDER BY id`, c.ID)
		if err != nil {
			return err
		}
		existing := []string{}
		for rows.Next() {
			var v string
			if err := rows.Scan(&v); err != nil {
				rows.Close()
				return err
			}
			existing = append(existing, v)
		}
		rows.Close()
		if errs := keyErrors(key, existing, keysLimit(c.backendVersion)); len(errs) > 0 {
			return &httpError{http.StatusUnprocessableEntity, map[string]any{"errors": errs}}
		}
		keyID, err = lastID(tx.ExecContext(ctx, `INSERT INTO application_keys (application_id, value, created_at) VALUES (?,?,?)`, c.ID, key, now()))
		if isDuplicate(err) {
			return invalid("value", "has already been taken")
		}
		if err != nil {
			return err
		}
		zj, err = zyncEvent(ctx, tx, "Application", c.ID, rc.tenant.ID, "Applications::ApplicationUpdatedEvent", map[string]any{"service_id": c.ServiceID})
		return err
	})
	if err != nil {
		return err
	}
	err = a.afterCommit(ctx,
		model(func(ctx context.Context) error { return a.backend.saveAppKey(ctx, c.ServiceID, c.AppID, key) },
			a.enqueueing(auditJob("ApplicationKey", keyID, rc.tenant.ID, "create", map[string]any{"application_id": c.ID}, rc.userID()))),
		subscriber(a.enqueueing(zj)))
	if err != nil {
		return err
	}
	c.keys = append(c.keys, key)
	return created(w, rc, "", appDoc{c})
}

// deleteKey is DELETE …/applications/{id}/keys/{key}: application_keys.remove!(key), the key
// destroyed in a transaction (the association is dependent: :destroy). A destroy saves nothing,
// so no event is published; after commit the key's callbacks run in reverse order of
// declaration: destroy_backend_value (backend, no rescue), the messenger's notification (its
// mail rescued), the web hook, then the destroy audit's AuditedWorker. With system-redis down
// that audit is the one enqueue, and it answers 500 with the key deleted from system and
// backend (porta@3scale-2.16.4-GA:app/controllers/admin/api/buyer_application_keys_controller.rb
// destroy; app/models/application_key.rb AssociationExtension#remove!, after_commit
// :destroy_backend_value and `audited` at :6; audited 5.0.2 audit_destroy; the same at
// 3scale-2.15.1-GA).
func (a *app) deleteKey(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	ctx := r.Context()
	c, err := a.accountApp(ctx, rc, r)
	if err != nil {
		return err
	}
	key := r.PathValue("key")
	var keyID int64
	err = a.inTx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `SELECT id FROM application_keys WHERE application_id=? AND value=? FOR UPDATE`, c.ID, key).Scan(&keyID)
		if errors.Is(err, sql.ErrNoRows) {
			return errNotFound
		}
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM application_keys WHERE id=?`, keyID)
		return err
	})
	if err != nil {
		return err
	}
	err = a.afterCommit(ctx, model(
		func(ctx context.Context) error { return a.backend.deleteAppKey(ctx, id(c.ServiceID), c.AppID, key) },
		a.enqueueing(auditJob("ApplicationKey", keyID, rc.tenant.ID, "destroy", map[string]any{"application_id": c.ID}, rc.userID()))))
	if err != nil {
		return err
	}
	// The responder answers a DELETE with head :ok: 200 and no body
	// (porta@3scale-2.16.4-GA:app/lib/three_scale/api/responder.rb api_behavior).
	return deleted(w)
}
