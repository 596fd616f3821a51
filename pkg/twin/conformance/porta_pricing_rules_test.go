package conformance

import (
	"encoding/json"
	"fmt"
	"net/url"
	"reflect"
	"testing"
)

// An application plan's pricing rules as porta 3scale-2.16.4-GA keeps them
// (porta@3scale-2.16.4-GA:app/controllers/admin/api/application_plan_pricing_rules_controller.rb,
// application_plan_metric_pricing_rules_controller.rb; app/models/pricing_rule.rb;
// app/representers/pricing_rule_representer.rb):
//   - create takes min, max and cost_per_unit (flat, as 3scale-porta-go-client sends them, by
//     wrap_parameters) and answers 201 {"pricing_rule":…}, cost_per_unit a decimal string and
//     max null for an open-ended rule;
//   - a range that overlaps another rule of the plan and metric is 422 on min, a max below min
//     422 on max, a cost with more than 4 decimals 422 on cost_per_unit, with porta's messages
//     (config/locales/en.yml activerecord.errors.models.pricing_rule);
//   - GET …/application_plans/{id}/pricing_rules lists the plan's rules, while
//     GET …/metrics/{metric_id}/pricing_rules lists metric.pricing_rules, the metric's rules in
//     every plan;
//   - DELETE removes a rule (200); an unknown metric is 404.
func TestPortaPricingRules(t *testing.T) {
	p := newPortaApp(t, "pricing")
	other := idOf(mustAdmin(t, "POST", "/admin/api/services/"+p.sid+"/application_plans.json", url.Values{"name": {"other"}}, 201), "application_plan")
	rules := func(plan string) string {
		return "/admin/api/application_plans/" + plan + "/metrics/" + p.hitsID + "/pricing_rules"
	}

	first := mustAdmin(t, "POST", rules(p.planID)+".json", url.Values{"min": {"1"}, "max": {"10"}, "cost_per_unit": {"0.5"}}, 201)
	want := map[string]any{"min": 1.0, "max": 10.0, "cost_per_unit": "0.5", "metric_id": field(first, "pricing_rule", "metric_id")}
	for k, v := range want {
		if got := field(first, "pricing_rule", k); got != v {
			t.Errorf("created rule %s = %#v, want %#v (%v)", k, got, v, first)
		}
	}
	if fmt.Sprint(want["metric_id"]) != p.hitsID {
		t.Errorf("created rule metric_id %v, want %s", want["metric_id"], p.hitsID)
	}
	open := mustAdmin(t, "POST", rules(p.planID)+".json", url.Values{"pricing_rule[min]": {"11"}, "pricing_rule[cost_per_unit]": {"0.25"}}, 201)
	if m, ok := open["pricing_rule"].(map[string]any)["max"]; !ok || m != nil {
		t.Errorf("an open-ended rule renders max %#v, want null: %v", m, open)
	}

	for _, c := range []struct {
		plan   string
		form   url.Values
		errors map[string][]string
	}{
		{p.planID, url.Values{"min": {"5"}, "max": {"20"}}, map[string][]string{"min": {"The 'From' value must be greater than the 'To' values of other existing rules"}}},
		{other, url.Values{"min": {"30"}, "max": {"25"}}, map[string][]string{"max": {"'To' value cannot be less than your 'From' value"}}},
		{other, url.Values{"min": {"1"}, "max": {"2"}, "cost_per_unit": {"1.23456"}}, map[string][]string{"cost_per_unit": {"maximum decimals is 4."}}},
	} {
		r, err := admin(t, "POST", rules(c.plan)+".json", c.form)
		var body struct {
			Errors map[string][]string `json:"errors"`
		}
		if err != nil || r.status != 422 || json.Unmarshal([]byte(r.body), &body) != nil || !reflect.DeepEqual(body.Errors, c.errors) {
			t.Errorf("rule %v: %v %d %s, want 422 %v", c.form, err, r.status, r.body, c.errors)
		}
	}
	mustAdmin(t, "POST", rules(other)+".json", url.Values{"min": {"1"}, "max": {"100"}, "cost_per_unit": {"0.01"}}, 201)

	count := func(path string) int {
		t.Helper()
		return len(mustAdmin(t, "GET", path, nil, 200)["pricing_rules"].([]any))
	}
	if n := count("/admin/api/application_plans/" + p.planID + "/pricing_rules.json"); n != 2 {
		t.Errorf("the plan's rules: %d, want 2", n)
	}
	if n := count(rules(p.planID) + ".json"); n != 3 {
		t.Errorf("the metric's rules through the plan: %d, want 3 (metric.pricing_rules spans every plan)", n)
	}

	mustAdmin(t, "DELETE", rules(p.planID)+"/"+idOf(first, "pricing_rule")+".json", nil, 200)
	if n := count("/admin/api/application_plans/" + p.planID + "/pricing_rules.json"); n != 1 {
		t.Errorf("the plan's rules after a delete: %d, want 1", n)
	}
	r, err := admin(t, "GET", "/admin/api/application_plans/"+p.planID+"/metrics/999999999/pricing_rules.json", nil)
	if err != nil || r.status != 404 {
		t.Errorf("rules of an unknown metric: %v %d %s, want 404", err, r.status, r.body)
	}
}
