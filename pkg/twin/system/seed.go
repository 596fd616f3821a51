package system

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/threescale-chaos/harness/pkg/twin/system/sidekiq"
)

// seedService is one product ServiceCreator makes with a private_endpoint: the service, its
// proxy with the default "GET /" rule on hits, and a backend API "<name> Backend" used at "/"
// with its own hits metric (porta@3scale-2.16.4-GA:app/services/service_creator.rb
// save_default_backend_api; app/lib/backend_api_logic/service_extension.rb BackendApiProxy;
// app/models/service.rb after_create create_default_metrics, create_default_proxy;
// app/models/proxy.rb create_default_proxy_rule; app/models/backend_api.rb
// create_default_metrics).
type seedService struct {
	name, systemName, deploymentOption string
	notificationSettings               sql.NullString
	extraMetrics                       [][2]string // system_name, friendly_name
}

// insertSeedService writes one such product and returns its id with the jobs its commit
// enqueues (CreateServiceTokenWorker after ServiceCreatedEvent, the index jobs, the hits
// metric's backend sync).
func (a *app) insertSeedService(ctx context.Context, tx *sql.Tx, accountID int64, tenant string, s seedService) (int64, []job, error) {
	t := now()
	sid, err := lastID(tx.ExecContext(ctx, `INSERT INTO services (account_id, name, system_name, description, state, deployment_option, backend_version, notification_settings, created_at, updated_at)
		VALUES (?,?,?,?,?,?,?,?,?,?)`, accountID, s.name, s.systemName, "", "incomplete", s.deploymentOption, "1", s.notificationSettings, t, t))
	if err != nil {
		return 0, nil, fmt.Errorf("seed service %s: %w", s.name, err)
	}
	host := func(env string) string {
		return "https://" + strings.ReplaceAll(s.systemName, "_", "-") + "-" + tenant + "-apicast-" + env + "." + a.cfg.Seed.Superdomain + ":443"
	}
	proxyID, err := lastID(tx.ExecContext(ctx, `INSERT INTO proxies (service_id, endpoint, sandbox_endpoint, secret_token, policies_config, created_at, updated_at) VALUES (?,?,?,?,?,?,?)`,
		sid, host("production"), host("staging"), newSecretToken(), `[{"name":"apicast","version":"builtin","configuration":{},"enabled":true}]`, t, t))
	if err != nil {
		return 0, nil, err
	}
	hitsID, err := lastID(tx.ExecContext(ctx, `INSERT INTO metrics (owner_type, owner_id, system_name, friendly_name, unit, description, created_at, updated_at)
		VALUES ('Service',?,?,?,?,?,?,?)`, sid, "hits", "Hits", "hit", "Number of API hits", t, t))
	if err != nil {
		return 0, nil, err
	}
	jobs := []job{indexJob("Service", sid), metricSyncJob(sid, hitsID), indexJob("Metric", hitsID)}
	for _, m := range s.extraMetrics {
		mid, err := lastID(tx.ExecContext(ctx, `INSERT INTO metrics (owner_type, owner_id, system_name, friendly_name, unit, created_at, updated_at)
			VALUES ('Service',?,?,?,?,?,?)`, sid, m[0], m[1], "hit", t, t))
		if err != nil {
			return 0, nil, err
		}
		jobs = append(jobs, metricSyncJob(sid, mid), indexJob("Metric", mid))
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO proxy_rules (owner_type, owner_id, http_method, pattern, metric_id, delta, position, last, created_at, updated_at)
		VALUES ('Proxy',?,?,?,?,?,?,?,?,?)`, proxyID, "GET", "/", hitsID, 1, 1, false, t, t); err != nil {
		return 0, nil, err
	}
	bid, err := lastID(tx.ExecContext(ctx, `INSERT INTO backend_apis (account_id, name, system_name, description, private_endpoint, created_at, updated_at)
		VALUES (?,?,?,?,?,?,?)`, accountID, s.name+" Backend", s.systemName, "Backend of "+s.name, defaultAPIBackend, t, t))
	if err != nil {
		return 0, nil, fmt.Errorf("seed backend API of %s: %w", s.name, err)
	}
	bhits, err := lastID(tx.ExecContext(ctx, `INSERT INTO metrics (owner_type, owner_id, system_name, friendly_name, unit, created_at, updated_at)
		VALUES ('BackendApi',?,?,?,?,?,?)`, bid, "hits", "Hits", "hit", t, t))
	if err != nil {
		return 0, nil, err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO backend_usages (service_id, backend_api_id, path, created_at, updated_at) VALUES (?,?,?,?,?)`, sid, bid, "/", t, t); err != nil {
		return 0, nil, err
	}
	tokenJob, err := a.publishServiceCreated(ctx, tx, sid, accountID)
	if err != nil {
		return 0, nil, err
	}
	jobs = append(jobs, tokenJob, indexJob("BackendApi", bid), indexJob("Metric", bhits), metricSyncJob(sid, bhits))
	return sid, jobs, nil
}

// seed is porta's db/seeds.rb at 3scale-2.16.4-GA (3scale-2.15.1-GA is the same), run once on
// an empty database in one transaction (the task's ActiveRecord::Base.transaction):
//
//   - the master account (MASTER_NAME, site_access_code MASTER_ACCESS_CODE, empty by default) and
//     its admin MASTER_USER;
//   - the master service MASTER_SERVICE ("Master Service") made by ServiceCreator with the echo
//     API as private_endpoint, its application plans MASTER_PLAN ("Master Plan") and
//     PROVIDER_PLAN ("enterprise", the default), the metrics billing, account and analytics,
//     deployment_option self_managed and notification_settings with every level ([0] |
//     Alert::ALERT_LEVELS) for web_buyer, email_buyer, web_provider and email_provider;
//   - the provider account (PROVIDER_NAME, TENANT_NAME, sample_data unless SAMPLE_DATA is
//     "0"): Account before_create generate_site_access_code gives it a random
//     SecureRandom.hex(5) site_access_code (app/models/account.rb:584), and its after_create
//     create_first_service makes its contract with master's default plan (its provider_key is
//     that application's user_key) and its first product "API" with the echo API as private
//     endpoint (app/models/account/provider_methods.rb create_first_service,
//     create_first_cinstance);
//   - the provider's admin USER_LOGIN, the impersonation admin (3scaleadmin), and the APIcast
//     (ro), master (rw) and admin (rw, all scopes) access tokens;
//   - SignupWorker.enqueue(provider) (queue critical), whose SampleDataWorker later creates the
//     sample plans and buyer (worker_seed.go).
//
// Jobs are enqueued before the commit, so that a system-redis that does not answer rolls the
// seed back and it is retried, as the seed task fails as a whole. Backend is not called: the
// seeded products reach backend through their jobs (token, metrics) only.
//
// On every start the configured tokens are restored on an existing database, as
// RestoreApicastMasterTokenWorker does for the APIcast one (research/porta-zync.md §6).
func (a *app) seed(ctx context.Context, db *sql.DB) error {
	s := a.cfg.Seed
	var masterID int64
	err := db.QueryRowContext(ctx, `SELECT id FROM accounts WHERE kind='master' ORDER BY id LIMIT 1`).Scan(&masterID)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		if err := a.seedOnce(ctx, db); err != nil {
			return err
		}
	case err != nil:
		return fmt.Errorf("seed: %w", err)
	}
	return restoreTokens(ctx, db, s)
}

func (a *app) seedOnce(ctx context.Context, db *sql.DB) error {
	s := a.cfg.Seed.withDefaults()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit
	t := now()
	masterID, err := lastID(tx.ExecContext(ctx, `INSERT INTO accounts (org_name, kind, state, admin_domain, domain, api_key, site_access_code, created_at, updated_at)
		VALUES (?,?,?,?,?,?,?,?,?)`, s.MasterName, "master", "approved", s.MasterHost(), s.MasterHost(), randomHex(16), s.MasterAccessCode, t, t))
	if err != nil {
		return fmt.Errorf("seed master: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO users (account_id, username, email, password, role, created_at) VALUES (?,?,?,?,?,?)`,
		masterID, s.MasterUser, s.MasterUser+"@"+s.MasterHost(), s.MasterPassword, "admin", t); err != nil {
		return fmt.Errorf("seed master user: %w", err)
	}
	levels := "[0,50,80,90,100,120,150,200,300]"
	masterSvc, jobs, err := a.insertSeedService(ctx, tx, masterID, s.MasterDomain, seedService{
		name: s.MasterService, systemName: systemName(s.MasterService), deploymentOption: "self_managed",
		notificationSettings: sql.NullString{Valid: true, String: `{"email_buyer":` + levels + `,"email_provider":` + levels + `,"web_buyer":` + levels + `,"web_provider":` + levels + `}`},
		extraMetrics:         [][2]string{{"billing", "Billing API"}, {"account", "Account Management API"}, {"analytics", "Analytics API"}},
	})
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO plans (issuer_id, type, name, system_name, state, is_default, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?)`,
		masterSvc, "ApplicationPlan", s.MasterPlan, systemName(s.MasterPlan), "hidden", false, t, t); err != nil {
		return fmt.Errorf("seed master plan: %w", err)
	}
	enterprise, err := lastID(tx.ExecContext(ctx, `INSERT INTO plans (issuer_id, type, name, system_name, state, is_default, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?)`,
		masterSvc, "ApplicationPlan", s.ProviderPlan, systemName(s.ProviderPlan), "hidden", true, t, t))
	if err != nil {
		return fmt.Errorf("seed provider plan: %w", err)
	}

	pk := s.ProviderKey
	if pk == "" {
		pk = randomHex(16)
	}
	providerID, err := lastID(tx.ExecContext(ctx, `INSERT INTO accounts (org_name, kind, provider_account_id, state, admin_domain, domain, api_key, site_access_code, sample_data, created_at, updated_at)
		VALUES (?,?,?,?,?,?,?,?,?,?,?)`, s.ProviderName, "provider", masterID, "approved", s.AdminDomain(), s.DeveloperDomain(), pk, randomHex(5), !s.NoSampleData, t, t))
	if err != nil {
		return fmt.Errorf("seed provider: %w", err)
	}
	// The provider's contract with master's default plan; its user_key is the provider key.
	if _, err := tx.ExecContext(ctx, `INSERT INTO cinstances (plan_id, user_account_id, service_id, name, description, state, user_key, application_id, provider_public_key, created_at, updated_at)
		VALUES (?,?,?,?,?,?,?,?,?,?,?)`, enterprise, providerID, masterSvc, s.ProviderName+"'s App", "Default application created on signup.", "live", pk, randomHex(4), randomHex(16), t, t); err != nil {
		return fmt.Errorf("seed provider contract: %w", err)
	}
	_, apiJobs, err := a.insertSeedService(ctx, tx, providerID, s.TenantName, seedService{name: "API", systemName: "api", deploymentOption: "hosted"})
	if err != nil {
		return err
	}
	jobs = append(jobs, apiJobs...)
	if _, err := tx.ExecContext(ctx, `INSERT INTO users (account_id, username, email, password, role, created_at) VALUES (?,?,?,?,?,?)`,
		providerID, s.AdminUser, s.AdminEmail, s.AdminPassword, "admin", t); err != nil {
		return fmt.Errorf("seed admin: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO users (account_id, username, email, password, role, created_at) VALUES (?,?,?,?,?,?)`,
		providerID, "3scaleadmin", "3scaleadmin+"+s.AdminDomain()+"@3scale.net", "", "admin", t); err != nil {
		return fmt.Errorf("seed impersonation admin: %w", err)
	}
	jobs = append(jobs, job{false, "critical", ClassSignup, []any{providerID}})
	for _, j := range jobs {
		if err := a.enqueueOne(ctx, j); err != nil {
			return fmt.Errorf("seed: %w", err)
		}
	}
	return tx.Commit()
}

func (a *app) enqueueOne(ctx context.Context, j job) error {
	var err error
	if j.activeJob {
		_, err = sidekiq.EnqueueActiveJob(ctx, a.rdb, j.queue, j.class, j.args...)
	} else {
		_, err = sidekiq.Enqueue(ctx, a.rdb, j.queue, j.class, j.args...)
	}
	return err
}

// restoreTokens writes the configured access tokens for the master and provider admins: the
// APIcast one (ro) and the master one (rw) for the master user, ADMIN_ACCESS_TOKEN (rw, all
// scopes) for the provider admin (db/seeds.rb).
func restoreTokens(ctx context.Context, db *sql.DB, s Seed) error {
	var masterUser, admin int64
	if err := db.QueryRowContext(ctx, `SELECT u.id FROM users u JOIN accounts a ON a.id=u.account_id WHERE a.kind='master' AND u.username=? ORDER BY u.id LIMIT 1`,
		s.MasterUser).Scan(&masterUser); err != nil {
		return fmt.Errorf("seed: master user: %w", err)
	}
	if err := db.QueryRowContext(ctx, `SELECT u.id FROM users u JOIN accounts a ON a.id=u.account_id WHERE a.admin_domain=? AND u.username=? ORDER BY u.id LIMIT 1`,
		s.AdminDomain(), s.AdminUser).Scan(&admin); err != nil {
		return fmt.Errorf("seed: provider admin: %w", err)
	}
	tokens := []struct {
		owner             int64
		name, value, perm string
		scopes            string
	}{
		{masterUser, "Master Token", s.MasterAccessToken, "rw", "account_management"},
		{masterUser, "APIcast", s.ApicastAccessToken, "ro", "account_management"},
		{admin, "Administration", s.AdminAccessToken, "rw", "account_management,stats,finance,cms,policy_registry"},
	}
	now := time.Now().UTC()
	for _, t := range tokens {
		if t.value == "" {
			continue
		}
		if _, err := db.ExecContext(ctx, `INSERT INTO access_tokens (owner_id, name, value, scopes, permission, created_at)
			VALUES (?,?,?,?,?,?) ON DUPLICATE KEY UPDATE owner_id=VALUES(owner_id), scopes=VALUES(scopes), permission=VALUES(permission)`,
			t.owner, t.name, t.value, t.scopes, t.perm, now); err != nil {
			return fmt.Errorf("seed token %s: %w", t.name, err)
		}
	}
	return nil
}
