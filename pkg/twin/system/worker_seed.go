package system

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/threescale-chaos/harness/pkg/twin/system/sidekiq"
)

// The jobs db/seeds.rb leaves for a new provider (porta@3scale-2.16.4-GA:app/workers/signup_worker.rb,
// all on queue critical; 3scale-2.15.1-GA is the same).

// signupWorker is SignupWorker(provider_id): it enqueues SampleDataWorker and
// ImportSimpleLayoutWorker (a Sidekiq batch in porta).
func (w *worker) signupWorker(ctx context.Context, j sidekiq.Job) error {
	pid, err := argInt(j, 0)
	if err != nil {
		return err
	}
	return w.enqueue(ctx, job{false, "critical", ClassSampleData, []any{pid}}, job{false, "critical", ClassImportSimpleLayout, []any{pid}})
}

// sampleData is SignupWorker::SampleDataWorker(provider_id), Account#create_sample_data! with
// Logic::ProviderSignup::SampleData#create! (porta@3scale-2.16.4-GA:app/lib/logic/provider_signup.rb),
// once per provider (sample_data is cleared in the same transaction): on the default product
// (the provider's first accessible one, "API") the application plans "Basic" (made the default)
// and "Unlimited", both published; then, unless the provider has a buyer already, the buyer
// "Developer" with the user john (e-mail <admin>+test@<domain>, password 123456) signed up with
// the default plans, so with an application "Developer's App" on Basic (ApplicationPlan
// DEFAULT_CONTRACT_OPTIONS). After the commit the applications are saved to backend and their
// zync and index jobs enqueued; a failure there fails the job, and its retry finds the sample
// data done. Account and service plans, features and the ActiveDocs spec are not modelled.
func (w *worker) sampleData(ctx context.Context, j sidekiq.Job) error {
	pid, err := argInt(j, 0)
	if err != nil {
		return err
	}
	tx, err := w.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit
	var pending bool
	err = tx.QueryRowContext(ctx, `SELECT sample_data FROM accounts WHERE id=? AND kind='provider' FOR UPDATE`, pid).Scan(&pending)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("SampleDataWorker: Couldn't find Account with id=%d", pid) // providers.find raises; Sidekiq retries
	}
	if err != nil || !pending {
		return err
	}
	var sid int64
	err = tx.QueryRowContext(ctx, `SELECT COALESCE((SELECT s.id FROM services s JOIN accounts a ON a.default_service_id=s.id WHERE a.id=? AND s.state<>'deleted'),
		(SELECT id FROM services WHERE account_id=? AND state<>'deleted' ORDER BY id LIMIT 1))`, pid, pid).Scan(&sid)
	if err != nil {
		return fmt.Errorf("SampleDataWorker: default service of %d: %w", pid, err)
	}
	t := now()
	for _, name := range []string{"Basic", "Unlimited"} {
		if _, err := tx.ExecContext(ctx, `INSERT INTO plans (issuer_id, type, name, system_name, state, created_at, updated_at) VALUES (?,?,?,?,?,?,?)
			ON DUPLICATE KEY UPDATE state='published'`, sid, "ApplicationPlan", name, systemName(name), "published", t, t); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE plans SET is_default=(system_name='basic') WHERE issuer_id=? AND type='ApplicationPlan'`, sid); err != nil {
		return err
	}
	var buyers int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM accounts WHERE provider_account_id=? AND kind='buyer'`, pid).Scan(&buyers); err != nil {
		return err
	}
	var appIDs []int64
	var jobs []job
	var buyer int64
	if buyers == 0 {
		var adminEmail string
		if err := tx.QueryRowContext(ctx, `SELECT email FROM users WHERE account_id=? ORDER BY id LIMIT 1`, pid).Scan(&adminEmail); err != nil {
			return err
		}
		local, domain, _ := strings.Cut(adminEmail, "@")
		plans, err := signupPlans(ctx, tx, pid, nil)
		if err != nil {
			return err
		}
		buyer, appIDs, jobs, err = buyerSignup(ctx, tx, pid, "Developer", "john", local+"+test@"+domain, "123456", plans,
			"Developer's App", "Default application created on signup.")
		if err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE accounts SET sample_data=0 WHERE id=?`, pid); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	for _, cid := range appIDs {
		c, err := scanApp(w.db.QueryRowContext(ctx, `SELECT `+appCols+appFrom+` WHERE c.id=?`, cid))
		if err != nil {
			return err
		}
		if err := loadKeys(ctx, w.db, c); err != nil {
			return err
		}
		if err := syncAppTo(ctx, w.backend, c); err != nil {
			return err
		}
	}
	if buyer != 0 {
		jobs = append([]job{accountIndexJob(buyer)}, jobs...)
	}
	return w.enqueue(ctx, append(jobs, indexJob("Plan", sid))...)
}

// importSimpleLayout is SignupWorker::ImportSimpleLayoutWorker(provider_id), SimpleLayout#import!:
// the developer portal's CMS, of which the twin keeps the two pages import_pages! publishes,
// the Homepage at / and Documentation at /docs, each created only when the path is free
// (porta@3scale-2.16.4-GA:app/lib/simple_layout.rb).
func (w *worker) importSimpleLayout(ctx context.Context, j sidekiq.Job) error {
	pid, err := argInt(j, 0)
	if err != nil {
		return err
	}
	// Both are published Liquid pages whose templates open with {% disable_client_cache %}
	// (lib/developer_portal/app/views/developer_portal/index.html.liquid, docs.html.liquid), so
	// neither is searchable; the twin stores that first tag as their content.
	for _, p := range [][3]string{{"/", "Homepage", "homepage"}, {"/docs", "Documentation", "documentation"}} {
		t := now()
		if _, err := w.db.ExecContext(ctx, `INSERT IGNORE INTO cms_pages (account_id, path, title, system_name, liquid_enabled, published, searchable, created_at, updated_at)
			VALUES (?,?,?,?,1,'{% disable_client_cache %}',0,?,?)`, pid, p[0], p[1], p[2], t, t); err != nil {
			return err
		}
	}
	return nil
}
