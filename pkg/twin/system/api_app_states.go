package system

import (
	"context"
	"database/sql"
	"net/http"
)

// Application state changes and plan changes through the Account Management API: PUT
// …/applications/{id}/accept, suspend, resume and change_plan
// (porta@3scale-2.16.4-GA:app/controllers/admin/api/buyers_applications_controller.rb,
// config/routes.rb `resources :applications … member`).

// contractEvents is Contract's state machine: each event and the one state it leaves from
// (porta@3scale-2.16.4-GA:app/models/contract/states.rb; deprecate is not routed).
var contractEvents = map[string]struct{ from, to string }{
	"accept":  {"pending", "live"},
	"suspend": {"live", "suspended"},
	"resume":  {"suspended", "live"},
}

// appStateEvent serves PUT …/applications/{id}/{accept,suspend,resume}. The controller fires the
// event without a bang, so a transition the state machine does not allow adds
// `cannot transition via "<event>"` to the state's errors (state_machines-activemodel 0.8.0
// Machine#invalidate with porta's config/locales/en.yml invalid_transition) and the responder
// answers 422 {"errors":{"state":[…]}} with nothing saved (app/lib/three_scale/api/responder.rb
// display_errors). A transition saves the application in a transaction whose around_transition
// publishes Applications::ApplicationEnabledChangedEvent when enabled? (live and the buyer
// approved) flips, a ZyncWorker after the commit; the application's after_commit callbacks are
// the ones an update runs (appAction): ApplicationUpdatedEvent published at once, the account
// index, the backend sync that sends the new state (suspended stays "suspended", live becomes
// "active"; apisonator answers anything but active with 409 application_not_active,
// apisonator@3scale-2.16.4-GA:lib/3scale/backend/validators/state.rb), the audit. The mail of
// suspend_callbacks is not modelled.
func (a *app) appStateEvent(event string) apiHandler {
	tr := contractEvents[event]
	return func(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
		ctx := r.Context()
		c, err := a.accountApp(ctx, rc, r)
		if err != nil {
			return err
		}
		if c.State != tr.from {
			return invalid("state", `cannot transition via "`+event+`"`)
		}
		var updated, enabled job
		var enabledChanged bool
		err = a.inTx(ctx, func(tx *sql.Tx) error {
			var accountState string
			if err := tx.QueryRowContext(ctx, `SELECT state FROM accounts WHERE id=?`, c.AccountID).Scan(&accountState); err != nil {
				return err
			}
			res, err := tx.ExecContext(ctx, `UPDATE cinstances SET state=?, updated_at=? WHERE id=? AND state=?`, tr.to, now(), c.ID, tr.from)
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil || n == 0 {
				if err == nil {
					err = invalid("state", `cannot transition via "`+event+`"`)
				}
				return err
			}
			approved := accountState == "approved"
			if enabledChanged = (tr.from == "live" && approved) != (tr.to == "live" && approved); enabledChanged {
				if enabled, err = zyncEvent(ctx, tx, "Application", c.ID, rc.tenant.ID, "Applications::ApplicationEnabledChangedEvent", map[string]any{"service_id": c.ServiceID}); err != nil {
					return err
				}
			}
			updated, err = zyncEvent(ctx, tx, "Application", c.ID, rc.tenant.ID, "Applications::ApplicationUpdatedEvent", map[string]any{"service_id": c.ServiceID})
			return err
		})
		if err != nil {
			return err
		}
		c.State = tr.to
		records := []commitRecord{model(a.publishing(updated), a.enqueueing(accountIndexJob(c.AccountID)),
			func(ctx context.Context) error { return a.syncApp(ctx, c) },
			a.enqueueing(auditJob("Cinstance", c.ID, rc.tenant.ID, "update", map[string]any{"state": []any{tr.from, tr.to}}, rc.userID())))}
		if enabledChanged {
			records = append(records, subscriber(a.enqueueing(enabled)))
		}
		if err := a.afterCommit(ctx, records...); err != nil {
			return err
		}
		fresh, err := a.application(ctx, rc, "c.id=?", c.ID)
		if err != nil {
			return err
		}
		return ok(w, rc, appDoc{fresh})
	}
}

// changeAppPlan is PUT …/applications/{id}/change_plan: the plan is looked up among the
// tenant's application plans (a missing or unknown plan_id is 404, accessible_application_plans.find),
// then Contract#change_plan. The same plan changes nothing and answers that plan; a plan of
// another product fails Cinstance's same_service validation on update, 422
// {"errors":{"plan":["not allowed in this context"]}} (config/locales/en.yml
// activerecord.errors.models.cinstance.attributes.plan.not_allowed); otherwise the application
// is saved on the new plan and the answer is the new plan, rendered by
// ApplicationPlanRepresenter (porta@3scale-2.16.4-GA:app/models/contract.rb change_plan,
// change_plan_internal; app/models/cinstance.rb same_service). The save's after_commit
// callbacks are an update's (appAction); its backend sync sends the new plan_id and plan_name
// (app/lib/backend/model_extensions/cinstance.rb update_backend_application), so backend
// applies the new plan's usage limits from then on.
func (a *app) changeAppPlan(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	ctx := r.Context()
	c, err := a.accountApp(ctx, rc, r)
	if err != nil {
		return err
	}
	p := parseParams(r)
	if p.get("plan_id") == "" {
		return errNotFound
	}
	pl, err := a.plan(ctx, rc, p.int64("plan_id"))
	if err != nil {
		return err
	}
	if pl.ID == c.PlanID {
		return ok(w, rc, pl.json())
	}
	if pl.ServiceID != c.ServiceID {
		return invalid("plan", "not allowed in this context")
	}
	var zj job
	err = a.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE cinstances SET plan_id=?, updated_at=? WHERE id=?`, pl.ID, now(), c.ID); err != nil {
			return err
		}
		var err error
		zj, err = zyncEvent(ctx, tx, "Application", c.ID, rc.tenant.ID, "Applications::ApplicationUpdatedEvent", map[string]any{"service_id": c.ServiceID})
		return err
	})
	if err != nil {
		return err
	}
	oldPlan := c.PlanID
	c.PlanID, c.planName = pl.ID, pl.Name
	err = a.afterCommit(ctx, model(a.publishing(zj), a.enqueueing(accountIndexJob(c.AccountID)),
		func(ctx context.Context) error { return a.syncApp(ctx, c) },
		a.enqueueing(auditJob("Cinstance", c.ID, rc.tenant.ID, "update",
			map[string]any{"plan_id": []any{oldPlan, pl.ID}}, rc.userID()))))
	if err != nil {
		return err
	}
	return ok(w, rc, pl.json())
}
