package system

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Application plans and their usage limits (research/porta-zync.md §2). A limit is synced to
// backend inside the request (UsageLimit.save, §4.2 sync table); a plan rename re-syncs its
// applications through BackendUpdateApplicationPlanJob on backend_sync (§4.2 async table).

// ClassBackendUpdateApplicationPlan is the job a plan rename enqueues (backend_sync).
const ClassBackendUpdateApplicationPlan = "BackendUpdateApplicationPlanJob"

type planRow struct {
	ID, ServiceID             int64
	Name, SystemName, State   string
	ApprovalRequired, Default bool
	// SetupFee and CostPerMonth are decimals porta renders as floats; TrialPeriodDays is
	// NULL unless set, rendered as 0 (porta@3scale-2.16.4-GA:app/representers/plan_representer.rb).
	SetupFee, CostPerMonth float64
	TrialPeriodDays        sql.NullInt64
	CancellationPeriod     int64
	CreatedAt, UpdatedAt   time.Time
}

const planCols = `id, issuer_id, name, system_name, state, approval_required, is_default, setup_fee, cost_per_month,
	trial_period_days, cancellation_period, created_at, updated_at`

// planColsP is planCols for a query that names the plans table p.
const planColsP = `p.id, p.issuer_id, p.name, p.system_name, p.state, p.approval_required, p.is_default, p.setup_fee,
	p.cost_per_month, p.trial_period_days, p.cancellation_period, p.created_at, p.updated_at`

func scanPlan(row interface{ Scan(...any) error }) (*planRow, error) {
	var p planRow
	err := row.Scan(&p.ID, &p.ServiceID, &p.Name, &p.SystemName, &p.State, &p.ApprovalRequired, &p.Default,
		&p.SetupFee, &p.CostPerMonth, &p.TrialPeriodDays, &p.CancellationPeriod, &p.CreatedAt, &p.UpdatedAt)
	return &p, err
}

// json is porta's ApplicationPlanRepresenter: PlanRepresenter's fields (setup_fee and
// cost_per_month to_f, trial_period_days to_i), custom (a plan customised for one
// application; the API makes none) and system_name
// (porta@3scale-2.16.4-GA:app/representers/application_plan_representer.rb, plan_representer.rb).
func (p *planRow) json() map[string]any {
	svc := fmtID("/admin/api/services/", p.ServiceID)
	return map[string]any{"application_plan": xmlDoc{map[string]any{"id": p.ID, "name": p.Name, "system_name": p.SystemName,
		"state": p.State, "approval_required": p.ApprovalRequired, "default": p.Default, "service_id": p.ServiceID,
		"setup_fee": p.SetupFee, "cost_per_month": p.CostPerMonth, "trial_period_days": p.TrialPeriodDays.Int64,
		"cancellation_period": p.CancellationPeriod, "custom": false,
		"created_at": ts(p.CreatedAt), "updated_at": ts(p.UpdatedAt),
		"links": []any{link("service", svc), link("self", fmtID(svc+"/application_plans/", p.ID))}},
		func(b *bytes.Buffer) { writePlanXML(b, p) }}}
}

// planPrices applies the prices a plan create or update permits (setup_fee, cost_per_month,
// trial_period_days) and validates them as porta's Plan does: the fees numbers >= 0, the trial
// days a number >= 0 or blank for none
// (porta@3scale-2.16.4-GA:app/controllers/admin/api/application_plans_controller.rb
// DEFAULT_PARAMS; app/models/plan.rb:60-61).
func planPrices(p params, pl *planRow) error {
	errs := map[string][]string{}
	for _, f := range []struct {
		name string
		dst  *float64
	}{{"setup_fee", &pl.SetupFee}, {"cost_per_month", &pl.CostPerMonth}} {
		if !p.has(f.name) {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(p.get(f.name)), 64)
		switch {
		case err != nil:
			errs[f.name] = []string{"is not a number"}
		case v < 0:
			errs[f.name] = []string{"must be greater than or equal to 0.0"}
		default:
			*f.dst = v
		}
	}
	if p.has("trial_period_days") {
		raw := strings.TrimSpace(p.get("trial_period_days"))
		v, err := strconv.ParseFloat(raw, 64)
		switch {
		case raw == "":
			pl.TrialPeriodDays = sql.NullInt64{}
		case err != nil:
			errs["trial_period_days"] = []string{"is not a number"}
		case v < 0:
			errs["trial_period_days"] = []string{"must be greater than or equal to 0"}
		default:
			pl.TrialPeriodDays = sql.NullInt64{Int64: int64(v), Valid: true}
		}
	}
	if len(errs) > 0 {
		return &httpError{http.StatusUnprocessableEntity, map[string]any{"errors": errs}}
	}
	return nil
}

// plan loads an application plan of one of the tenant's live services.
func (a *app) plan(ctx context.Context, rc *reqCtx, pid int64) (*planRow, error) {
	p, err := scanPlan(a.db.QueryRowContext(ctx, `SELECT `+planColsP+`
		FROM plans p JOIN services s ON s.id=p.issuer_id WHERE p.id=? AND s.account_id=? AND s.state<>'deleted'`, pid, rc.tenant.ID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errNotFound
	}
	return p, err
}

func (a *app) listPlans(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	ctx := r.Context()
	q := `SELECT ` + planColsP + `
		FROM plans p JOIN services s ON s.id=p.issuer_id WHERE s.account_id=? AND s.state<>'deleted'`
	args := []any{rc.tenant.ID}
	if r.PathValue("id") != "" {
		o, err := a.serviceOwner(ctx, rc, r, "id")
		if err != nil {
			return err
		}
		q += ` AND p.issuer_id=?`
		args = append(args, o.id)
	}
	rows, err := a.db.QueryContext(ctx, q+` ORDER BY p.id`, args...)
	if err != nil {
		return err
	}
	out, err := collectJSON(rows, scanPlan)
	if err != nil {
		return err
	}
	return ok(w, rc, map[string]any{"plans": out})
}

func (a *app) createPlan(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	ctx := r.Context()
	o, err := a.serviceOwner(ctx, rc, r, "id")
	if err != nil {
		return err
	}
	p := parseParams(r)
	name := p.get("name")
	if name == "" {
		return invalid("name", "can't be blank")
	}
	sys := p.get("system_name")
	if sys == "" {
		sys = systemName(name)
	}
	state := "hidden"
	if p.get("state_event") == "publish" {
		state = "published"
	}
	var prices planRow
	if err := planPrices(p, &prices); err != nil {
		return err
	}
	t := now()
	pid, err := lastID(a.db.ExecContext(ctx, `INSERT INTO plans (issuer_id, type, name, system_name, state, approval_required,
		setup_fee, cost_per_month, trial_period_days, description, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)`,
		o.id, "ApplicationPlan", name, sys, state, p.boolean("approval_required", false),
		prices.SetupFee, prices.CostPerMonth, prices.TrialPeriodDays, nullStr(p.get("description")), t, t))
	if isDuplicate(err) {
		return invalid("system_name", "has already been taken")
	}
	if err != nil {
		return err
	}
	if err := a.enqueue(ctx, indexJob("Plan", pid)); err != nil {
		return err
	}
	pl, err := a.plan(ctx, rc, pid)
	if err != nil {
		return err
	}
	return created(w, rc, fmtID(fmtID("/admin/api/services/", o.id)+"/application_plans/", pid), pl.json())
}

func (a *app) planAction(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	ctx := r.Context()
	o, err := a.serviceOwner(ctx, rc, r, "sid")
	if err != nil {
		return err
	}
	pid, err := pathID(r, "pid")
	if err != nil {
		return err
	}
	pl, err := a.plan(ctx, rc, pid)
	if err != nil {
		return err
	}
	if pl.ServiceID != o.id {
		return errNotFound
	}
	switch r.Method {
	case http.MethodGet:
		return ok(w, rc, pl.json())
	case http.MethodDelete:
		var apps int
		if err := a.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM cinstances WHERE plan_id=?`, pid).Scan(&apps); err != nil {
			return err
		}
		// Plan#can_be_destroyed? adds :has_contracts to base, and the responder answers a
		// failed DELETE with 403 (porta@3scale-2.16.4-GA:app/models/plan.rb,
		// config/locales/en.yml activerecord.errors.models.application_plan.has_contracts,
		// app/lib/three_scale/api/responder.rb error_status).
		if apps > 0 {
			return &httpError{http.StatusForbidden, map[string]any{"errors": map[string][]string{"base": {"This application plan cannot be deleted! At least one application depends on it."}}}}
		}
		if _, err := a.db.ExecContext(ctx, `DELETE FROM plans WHERE id=?`, pid); err != nil {
			return err
		}
		if _, err := a.db.ExecContext(ctx, `DELETE FROM usage_limits WHERE plan_id=?`, pid); err != nil {
			return err
		}
		if _, err := a.db.ExecContext(ctx, `DELETE FROM pricing_rules WHERE plan_id=?`, pid); err != nil {
			return err
		}
		if err := a.enqueue(ctx, indexJob("Plan", pid)); err != nil {
			return err
		}
		return deleted(w)
	default:
		p := parseParams(r)
		renamed := false
		if v := p.get("name"); v != "" && v != pl.Name {
			pl.Name, renamed = v, true
		}
		switch p.get("state_event") {
		case "publish":
			pl.State = "published"
		case "hide":
			pl.State = "hidden"
		}
		if p.has("approval_required") {
			pl.ApprovalRequired = p.boolean("approval_required", false)
		}
		if err := planPrices(p, pl); err != nil {
			return err
		}
		if _, err := a.db.ExecContext(ctx, `UPDATE plans SET name=?, state=?, approval_required=?, setup_fee=?, cost_per_month=?,
			trial_period_days=?, updated_at=? WHERE id=?`,
			pl.Name, pl.State, pl.ApprovalRequired, pl.SetupFee, pl.CostPerMonth, pl.TrialPeriodDays, now(), pid); err != nil {
			return err
		}
		if p.has("description") {
			if _, err := a.db.ExecContext(ctx, `UPDATE plans SET description=? WHERE id=?`, nullStr(p.get("description")), pid); err != nil {
				return err
			}
		}
		jobs := []job{indexJob("Plan", pid)}
		if renamed {
			jobs = append(jobs, job{false, "backend_sync", ClassBackendUpdateApplicationPlan, []any{pid}})
		}
		if err := a.enqueue(ctx, jobs...); err != nil {
			return err
		}
		return ok(w, rc, pl.json())
	}
}

// makeDefaultPlan is PUT …/application_plans/{id}/default: the service's default plan, used by
// signups without an application_plan_id.
func (a *app) makeDefaultPlan(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	ctx := r.Context()
	o, err := a.serviceOwner(ctx, rc, r, "sid")
	if err != nil {
		return err
	}
	pid, err := pathID(r, "pid")
	if err != nil {
		return err
	}
	pl, err := a.plan(ctx, rc, pid)
	if err != nil || pl.ServiceID != o.id {
		return errNotFound
	}
	err = a.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE plans SET is_default=0 WHERE issuer_id=?`, o.id); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE plans SET is_default=1, updated_at=? WHERE id=?`, now(), pid)
		return err
	})
	if err != nil {
		return err
	}
	pl.Default = true
	return ok(w, rc, pl.json())
}

// --- limits ---

var limitPeriods = map[string]bool{"eternity": true, "year": true, "month": true, "week": true, "day": true, "hour": true, "minute": true}

type limitRow struct {
	ID, PlanID, MetricID int64
	Period               string
	Value                int64
	CreatedAt, UpdatedAt time.Time
}

func (l *limitRow) json() map[string]any {
	return map[string]any{"limit": xmlDoc{map[string]any{"id": l.ID, "metric_id": l.MetricID, "plan_id": l.PlanID,
		"period": l.Period, "value": l.Value, "created_at": ts(l.CreatedAt), "updated_at": ts(l.UpdatedAt),
		"links": []any{link("self", fmtID(fmtID(fmtID("/admin/api/application_plans/", l.PlanID)+"/metrics/", l.MetricID)+"/limits/", l.ID))}},
		l.writeXML}}
}

const limitCols = `id, plan_id, metric_id, period, value, created_at, updated_at`

func scanLimit(row interface{ Scan(...any) error }) (*limitRow, error) {
	var l limitRow
	err := row.Scan(&l.ID, &l.PlanID, &l.MetricID, &l.Period, &l.Value, &l.CreatedAt, &l.UpdatedAt)
	return &l, err
}

// planMetric resolves {pid} and {mid}: the metric must be the plan's service's, or belong to a
// backend API that service uses.
func (a *app) planMetric(ctx context.Context, rc *reqCtx, r *http.Request) (*planRow, *metricRow, error) {
	pid, err := pathID(r, "pid")
	if err != nil {
		return nil, nil, err
	}
	pl, err := a.plan(ctx, rc, pid)
	if err != nil {
		return nil, nil, err
	}
	mid, err := pathID(r, "mid")
	if err != nil {
		return nil, nil, err
	}
	m, err := scanMetric(a.db.QueryRowContext(ctx, `SELECT `+metricCols+` FROM metrics WHERE id=? AND
		((owner_type='Service' AND owner_id=?) OR (owner_type='BackendApi' AND owner_id IN (SELECT backend_api_id FROM backend_usages WHERE service_id=?)))`,
		mid, pl.ServiceID, pl.ServiceID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, errNotFound
	}
	return pl, m, err
}

func (a *app) listLimits(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	ctx := r.Context()
	q := `SELECT ` + limitCols + ` FROM usage_limits WHERE plan_id=?`
	var args []any
	if r.PathValue("mid") != "" {
		pl, m, err := a.planMetric(ctx, rc, r)
		if err != nil {
			return err
		}
		q += ` AND metric_id=?`
		args = []any{pl.ID, m.ID}
	} else {
		pid, err := pathID(r, "pid")
		if err != nil {
			return err
		}
		if _, err := a.plan(ctx, rc, pid); err != nil {
			return err
		}
		args = []any{pid}
	}
	rows, err := a.db.QueryContext(ctx, q+` ORDER BY id`, args...)
	if err != nil {
		return err
	}
	out, err := collectJSON(rows, scanLimit)
	if err != nil {
		return err
	}
	return ok(w, rc, map[string]any{"limits": out})
}

// createLimit stores the limit and saves it to backend inside the request (§4.2).
func (a *app) createLimit(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	ctx := r.Context()
	pl, m, err := a.planMetric(ctx, rc, r)
	if err != nil {
		return err
	}
	p := parseParams(r)
	period := p.get("period")
	// UsageLimit validates the period's inclusion with its own message
	// (porta@3scale-2.16.4-GA:app/models/usage_limit.rb validates :period).
	if !limitPeriods[period] {
		return invalid("period", "is invalid")
	}
	if !p.has("value") {
		return invalid("value", "can't be blank")
	}
	value := p.int64("value")
	t := now()
	lid, err := lastID(a.db.ExecContext(ctx, `INSERT INTO usage_limits (plan_id, metric_id, period, value, created_at, updated_at) VALUES (?,?,?,?,?,?)`,
		pl.ID, m.ID, period, value, t, t))
	if isDuplicate(err) {
		return invalid("period", "has already been taken")
	}
	if err != nil {
		return err
	}
	if err := a.backend.saveUsageLimit(ctx, pl.ServiceID, pl.ID, m.ID, period, value); err != nil {
		return err
	}
	l, err := scanLimit(a.db.QueryRowContext(ctx, `SELECT `+limitCols+` FROM usage_limits WHERE id=?`, lid))
	if err != nil {
		return err
	}
	return created(w, rc, "", l.json())
}

func (a *app) limitAction(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	ctx := r.Context()
	pl, m, err := a.planMetric(ctx, rc, r)
	if err != nil {
		return err
	}
	lid, err := pathID(r, "lid")
	if err != nil {
		return err
	}
	l, err := scanLimit(a.db.QueryRowContext(ctx, `SELECT `+limitCols+` FROM usage_limits WHERE id=? AND plan_id=? AND metric_id=?`, lid, pl.ID, m.ID))
	if errors.Is(err, sql.ErrNoRows) {
		return errNotFound
	}
	if err != nil {
		return err
	}
	switch r.Method {
	case http.MethodGet:
		return ok(w, rc, l.json())
	case http.MethodDelete:
		if _, err := a.db.ExecContext(ctx, `DELETE FROM usage_limits WHERE id=?`, lid); err != nil {
			return err
		}
		if err := a.backend.deleteUsageLimit(ctx, pl.ServiceID, pl.ID, m.ID, l.Period); err != nil {
			return err
		}
		return deleted(w)
	default:
		p := parseParams(r)
		if p.has("value") {
			l.Value = p.int64("value")
		}
		if _, err := a.db.ExecContext(ctx, `UPDATE usage_limits SET value=?, updated_at=? WHERE id=?`, l.Value, now(), lid); err != nil {
			return err
		}
		if err := a.backend.saveUsageLimit(ctx, pl.ServiceID, pl.ID, m.ID, l.Period, l.Value); err != nil {
			return err
		}
		return ok(w, rc, l.json())
	}
}
