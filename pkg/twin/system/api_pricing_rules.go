package system

import (
	"context"
	"database/sql"
	"errors"
	"math"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Pricing rules of application plans (porta@3scale-2.16.4-GA:config/routes.rb
// `resources :application_plans … pricing_rules`;
// app/controllers/admin/api/application_plan_pricing_rules_controller.rb,
// application_plan_metric_pricing_rules_controller.rb; app/models/pricing_rule.rb). Billing is
// not modelled: the rules are stored and rendered, nothing charges by them.

type pricingRuleRow struct {
	ID, PlanID, MetricID int64
	Min                  int64
	Max                  sql.NullInt64
	CostPerUnit          string
	CreatedAt, UpdatedAt time.Time
	// links are the metric's and plan's API paths.
	metricLink, planLink string
}

// json is PricingRuleRepresenter: id, metric_id, cost_per_unit (a decimal, which Rails
// encodes as a string), min, max (null for no upper bound), the timestamps, and links to the
// metric (a method's under its parent) and to the plan
// (porta@3scale-2.16.4-GA:app/representers/pricing_rule_representer.rb,
// metric_links_representer.rb).
func (p *pricingRuleRow) json() map[string]any {
	var max any
	if p.Max.Valid {
		max = p.Max.Int64
	}
	return map[string]any{"pricing_rule": map[string]any{"id": p.ID, "metric_id": p.MetricID,
		"cost_per_unit": p.CostPerUnit, "min": p.Min, "max": max,
		"created_at": ts(p.CreatedAt), "updated_at": ts(p.UpdatedAt),
		"links": []any{link("metric", p.metricLink), link("plan", p.planLink)}}}
}

// decimalString renders a DECIMAL(20,4) as Ruby's BigDecimal#to_s does under ActiveSupport:
// no trailing zeros, at least one decimal ("20.0553", "1.5", "2.0").
func decimalString(s string) string {
	if !strings.Contains(s, ".") {
		return s + ".0"
	}
	s = strings.TrimRight(s, "0")
	if strings.HasSuffix(s, ".") {
		s += "0"
	}
	return s
}

const pricingRuleQuery = `SELECT r.id, r.plan_id, r.metric_id, r.min, r.max, CAST(r.cost_per_unit AS CHAR), r.created_at, r.updated_at,
	m.owner_type, m.owner_id, m.parent_id, p.issuer_id
	FROM pricing_rules r JOIN metrics m ON m.id=r.metric_id JOIN plans p ON p.id=r.plan_id`

func scanPricingRule(row interface{ Scan(...any) error }) (*pricingRuleRow, error) {
	var p pricingRuleRow
	var ownerType string
	var ownerID, serviceID int64
	var parent sql.NullInt64
	if err := row.Scan(&p.ID, &p.PlanID, &p.MetricID, &p.Min, &p.Max, &p.CostPerUnit, &p.CreatedAt, &p.UpdatedAt,
		&ownerType, &ownerID, &parent, &serviceID); err != nil {
		return nil, err
	}
	p.CostPerUnit = decimalString(p.CostPerUnit)
	base := fmtID("/admin/api/services/", ownerID)
	if ownerType == "BackendApi" {
		base = fmtID("/admin/api/backend_apis/", ownerID)
	}
	if parent.Valid {
		p.metricLink = fmtID(fmtID(base+"/metrics/", parent.Int64)+"/methods/", p.MetricID)
	} else {
		p.metricLink = fmtID(base+"/metrics/", p.MetricID)
	}
	p.planLink = fmtID(fmtID("/admin/api/services/", serviceID)+"/application_plans/", p.PlanID)
	return &p, nil
}

func (a *app) renderPricingRules(ctx context.Context, w http.ResponseWriter, rc *reqCtx, cond string, args ...any) error {
	rows, err := a.db.QueryContext(ctx, pricingRuleQuery+` WHERE `+cond+` ORDER BY r.id`, args...)
	if err != nil {
		return err
	}
	out, err := collectJSON(rows, scanPricingRule)
	if err != nil {
		return err
	}
	return ok(w, rc, map[string]any{"pricing_rules": out})
}

// listPlanPricingRules is GET /admin/api/application_plans/{id}/pricing_rules: the plan's
// rules, the plan one of the tenant's (404 otherwise).
func (a *app) listPlanPricingRules(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	ctx := r.Context()
	pid, err := pathID(r, "pid")
	if err != nil {
		return err
	}
	pl, err := a.plan(ctx, rc, pid)
	if err != nil {
		return err
	}
	return a.renderPricingRules(ctx, w, rc, `r.plan_id=?`, pl.ID)
}

// listMetricPricingRules is GET /admin/api/application_plans/{id}/metrics/{metric_id}/pricing_rules.
// The metric is one of the plan's product's metrics or of the backend APIs it uses
// (service.all_metrics; 404 otherwise), and the rules listed are metric.pricing_rules: the
// metric's rules in every plan, not only this one's, as porta's controller has it.
func (a *app) listMetricPricingRules(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	ctx := r.Context()
	_, m, err := a.planMetric(ctx, rc, r)
	if err != nil {
		return err
	}
	return a.renderPricingRules(ctx, w, rc, `r.metric_id=?`, m.ID)
}

var (
	rubyInteger = regexp.MustCompile(`\A[+-]?\d+\z`)
	rubyNumber  = regexp.MustCompile(`\A[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\z`)
	costFormat  = regexp.MustCompile(`\A\d+\.?\d{0,4}\z`)
)

// castInteger is ActiveModel's integer cast of a form value: blank is nil, otherwise
// String#to_i (rubyToI).
func castInteger(s string) (int64, bool) {
	if strings.TrimSpace(s) == "" {
		return 0, false
	}
	return int64(rubyToI(s)), true
}

// pricingRuleErrors validates a new rule as PricingRule does, in its declaration order:
// range_overlap (skipped without a min: the range may not overlap another rule of the same
// plan and metric, a missing max being infinity, "The 'From' value must be greater …" on min;
// then max below min, "'To' value cannot be less than your 'From' value" on max), min's
// numericality (an integer >= 1, checked on the value as given), cost_per_unit's
// numericality and its format of at most 4 decimals, checked on the cast decimal, so a
// negative cost fails it (porta@3scale-2.16.4-GA:app/models/pricing_rule.rb;
// config/locales/en.yml activerecord.errors.models.pricing_rule).
func pricingRuleErrors(rawMin string, min int64, minSet bool, max sql.NullInt64, rawCost string, existing [][2]sql.NullInt64) map[string][]string {
	errs := map[string][]string{}
	if minSet {
		hi := func(n sql.NullInt64) float64 {
			if n.Valid {
				return float64(n.Int64)
			}
			return math.Inf(1)
		}
		for _, e := range existing {
			if float64(e[0].Int64) <= hi(max) && float64(min) <= hi(e[1]) {
				errs["min"] = append(errs["min"], "The 'From' value must be greater than the 'To' values of other existing rules")
				break
			}
		}
		if max.Valid && max.Int64 < min {
			errs["max"] = append(errs["max"], "'To' value cannot be less than your 'From' value")
		}
	}
	raw := strings.TrimSpace(rawMin)
	switch {
	case !rubyNumber.MatchString(raw):
		errs["min"] = append(errs["min"], "is not a number")
	case !rubyInteger.MatchString(raw):
		errs["min"] = append(errs["min"], "must be an integer")
	case min < 1:
		errs["min"] = append(errs["min"], "must be greater than or equal to 1")
	}
	cost := strings.TrimSpace(rawCost)
	if !rubyNumber.MatchString(cost) {
		errs["cost_per_unit"] = append(errs["cost_per_unit"], "is not a number")
		cost = "0.0"
	}
	if f, err := strconv.ParseFloat(cost, 64); err == nil {
		cost = decimalString(strconv.FormatFloat(f, 'f', -1, 64))
	}
	if !costFormat.MatchString(cost) {
		errs["cost_per_unit"] = append(errs["cost_per_unit"], "maximum decimals is 4.")
	}
	return errs
}

// createPricingRule is POST /admin/api/application_plans/{id}/metrics/{metric_id}/pricing_rules:
// min, max and cost_per_unit, flat or wrapped in pricing_rule[…] (wrap_parameters); none of
// them is ActionController::ParameterMissing, 400. min defaults to 1 and cost_per_unit to 0.0
// (the columns' defaults). A rule that fails validation is 422 {"errors":{…}}; a saved one is
// 201 with the rule.
func (a *app) createPricingRule(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	ctx := r.Context()
	pl, m, err := a.planMetric(ctx, rc, r)
	if err != nil {
		return err
	}
	p := parseParams(r)
	if !p.has("min") && !p.has("max") && !p.has("cost_per_unit") {
		return &httpError{http.StatusBadRequest, map[string]any{"status": 400, "error": "Bad Request"}}
	}
	rawMin, rawCost := "1", "0.0"
	if p.has("min") {
		rawMin = p.get("min")
	}
	if p.has("cost_per_unit") {
		rawCost = p.get("cost_per_unit")
	}
	min, minSet := castInteger(rawMin)
	var max sql.NullInt64
	if v, set := castInteger(p.get("max")); set {
		max = sql.NullInt64{Int64: v, Valid: true}
	}
	var rid int64
	err = a.inTx(ctx, func(tx *sql.Tx) error {
		// Lock the plan so that concurrent creates see each other's ranges.
		var locked int64
		if err := tx.QueryRowContext(ctx, `SELECT id FROM plans WHERE id=? FOR UPDATE`, pl.ID).Scan(&locked); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT min, max FROM pricing_rules WHERE plan_id=? AND metric_id=?`, pl.ID, m.ID)
		if err != nil {
			return err
		}
		var existing [][2]sql.NullInt64
		for rows.Next() {
			var lo, hi sql.NullInt64
			if err := rows.Scan(&lo, &hi); err != nil {
				rows.Close()
				return err
			}
			existing = append(existing, [2]sql.NullInt64{lo, hi})
		}
		rows.Close()
		if errs := pricingRuleErrors(rawMin, min, minSet, max, rawCost, existing); len(errs) > 0 {
			return &httpError{http.StatusUnprocessableEntity, map[string]any{"errors": errs}}
		}
		cost, _ := strconv.ParseFloat(strings.TrimSpace(rawCost), 64)
		t := now()
		rid, err = lastID(tx.ExecContext(ctx, `INSERT INTO pricing_rules (plan_id, metric_id, min, max, cost_per_unit, created_at, updated_at) VALUES (?,?,?,?,?,?,?)`,
			pl.ID, m.ID, min, max, cost, t, t))
		return err
	})
	if err != nil {
		return err
	}
	if err := a.enqueue(ctx, auditJob("PricingRule", rid, rc.tenant.ID, "create", nil, rc.userID())); err != nil {
		return err
	}
	rule, err := scanPricingRule(a.db.QueryRowContext(ctx, pricingRuleQuery+` WHERE r.id=?`, rid))
	if err != nil {
		return err
	}
	return created(w, rc, "", rule.json())
}

// deletePricingRule is DELETE …/metrics/{metric_id}/pricing_rules/{id}: the rule is found
// among the metric's rules (of any plan, as listed) and destroyed; 200 with an empty body.
func (a *app) deletePricingRule(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	ctx := r.Context()
	_, m, err := a.planMetric(ctx, rc, r)
	if err != nil {
		return err
	}
	rid, err := pathID(r, "rid")
	if err != nil {
		return err
	}
	var found int64
	err = a.db.QueryRowContext(ctx, `SELECT id FROM pricing_rules WHERE id=? AND metric_id=?`, rid, m.ID).Scan(&found)
	if errors.Is(err, sql.ErrNoRows) {
		return errNotFound
	}
	if err != nil {
		return err
	}
	if _, err := a.db.ExecContext(ctx, `DELETE FROM pricing_rules WHERE id=?`, rid); err != nil {
		return err
	}
	if err := a.enqueue(ctx, auditJob("PricingRule", rid, rc.tenant.ID, "destroy", nil, rc.userID())); err != nil {
		return err
	}
	return deleted(w)
}
