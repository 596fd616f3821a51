package conformance

import (
	"context"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/threescale-chaos/harness/internal/testsupport"
)

// An application plan's prices as porta 3scale-2.16.4-GA keeps and renders them: create and
// update permit setup_fee, cost_per_month and trial_period_days
// (porta@3scale-2.16.4-GA:app/controllers/admin/api/application_plans_controller.rb
// DEFAULT_PARAMS); PlanRepresenter renders the fees to_f and the trial days to_i, so 0, never
// null, and ApplicationPlanRepresenter adds custom (app/representers/plan_representer.rb,
// application_plan_representer.rb); a negative fee is refused with 422 (app/models/plan.rb:60).
// The operator's ApplicationPlan reconciler compares these fields and PUTs them until they
// match (3scale-operator@3scale-2.16.3-GA:controllers/capabilities/application_plan_reconciler.go).
func TestPortaApplicationPlanPrices(t *testing.T) {
	n := fmt.Sprintf("prices%d%d", time.Now().Unix()%100000, productSeq.Add(1))
	sid := idOf(mustAdmin(t, "POST", "/admin/api/services.json", url.Values{"name": {n}, "system_name": {n}}, 201), "service")
	defer mustAdmin(t, "DELETE", "/admin/api/services/"+sid+".json", nil, 200)

	plain := mustAdmin(t, "POST", "/admin/api/services/"+sid+"/application_plans.json", url.Values{"name": {"plain"}}, 201)
	for k, want := range map[string]any{"setup_fee": 0.0, "cost_per_month": 0.0, "trial_period_days": 0.0, "custom": false} {
		if got := field(plain, "application_plan", k); got != want {
			t.Errorf("a plan without prices: %s = %#v, want %#v", k, got, want)
		}
	}

	plan := mustAdmin(t, "POST", "/admin/api/services/"+sid+"/application_plans.json", url.Values{"name": {"priced"},
		"setup_fee": {"1.5"}, "cost_per_month": {"10"}, "trial_period_days": {"3"}}, 201)
	pid := idOf(plan, "application_plan")
	for k, want := range map[string]float64{"setup_fee": 1.5, "cost_per_month": 10, "trial_period_days": 3} {
		if got := field(plan, "application_plan", k); got != want {
			t.Errorf("created: %s = %#v, want %v", k, got, want)
		}
	}
	path := "/admin/api/services/" + sid + "/application_plans/" + pid + ".json"
	mustAdmin(t, "PUT", path, url.Values{"setup_fee": {"2.5"}, "cost_per_month": {"5"}, "trial_period_days": {"4"}}, 200)
	got := mustAdmin(t, "GET", path, nil, 200)
	for k, want := range map[string]float64{"setup_fee": 2.5, "cost_per_month": 5, "trial_period_days": 4} {
		if v := field(got, "application_plan", k); v != want {
			t.Errorf("after the update: %s = %#v, want %v", k, v, want)
		}
	}
	if r, err := admin(t, "PUT", path, url.Values{"setup_fee": {"-1"}}); err != nil || r.status != 422 {
		t.Errorf("a negative setup_fee: %v %d %s, want 422", err, r.status, r.body)
	}
	if v := field(mustAdmin(t, "GET", path, nil, 200), "application_plan", "setup_fee"); v != 2.5 {
		t.Errorf("setup_fee after a refused update: %#v, want 2.5", v)
	}
}

// An application on a plan that requires approval starts pending, and backend holds it as
// "pending" (not active), so nothing authorizes with it until it is accepted: Contract's state
// machine starts pending and Cinstance accepts on create only when the plan does not require
// approval (porta@3scale-2.16.4-GA:app/models/contract/states.rb:7, app/models/cinstance.rb:31,
// app/models/contract.rb accept_on_create); the backend sync sends the state, live as active
// (app/lib/backend/model_extensions/cinstance.rb; apisonator@3scale-2.16.4-GA:
// lib/3scale/backend/application.rb, application/service_id:<sid>/id:<id>/state).
func TestPortaApprovalRequiredLeavesApplicationsPending(t *testing.T) {
	p := newPortaApp(t, "approval")
	plan := mustAdmin(t, "POST", "/admin/api/services/"+p.sid+"/application_plans.json", url.Values{"name": {"approved"}, "approval_required": {"true"}, "state_event": {"publish"}}, 201)
	app := mustAdmin(t, "POST", "/admin/api/accounts/"+p.accountID+"/applications.json", url.Values{"plan_id": {idOf(plan, "application_plan")}, "name": {"needs approval"}}, 201)
	if s := field(app, "application", "state"); s != "pending" {
		t.Errorf("application on an approval_required plan: state %v, want pending", s)
	}
	if s := field(p.app, "state"); s != "live" {
		t.Errorf("application on a plan without approval: state %v, want live", s)
	}
	storage := redisClient(t, secret(t, "backend-redis", "REDIS_STORAGE_URL"))
	userKey := fmt.Sprint(field(app, "application", "user_key"))
	testsupport.Eventually(t, 30*time.Second, "backend's state of the pending application", func(ctx context.Context) (bool, string) {
		id, err := storage.Get(ctx, "application/service_id:"+p.sid+"/key:"+userKey+"/id").Result()
		if err != nil {
			return false, err.Error()
		}
		st, err := storage.Get(ctx, "application/service_id:"+p.sid+"/id:"+id+"/state").Result()
		return st == "pending", fmt.Sprintf("state %q %v", st, err)
	})
}
