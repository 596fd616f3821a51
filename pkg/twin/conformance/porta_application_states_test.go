package conformance

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/threescale-chaos/harness/internal/testsupport"
)

// An application's state and plan changed through the Account Management API, as porta
// 3scale-2.16.4-GA does it and apisonator then answers:
//   - PUT …/applications/{id}/suspend.json and resume.json fire Contract's state machine
//     events (live → suspended → live) and answer the application; an event the current state
//     does not allow (resume a live one, suspend a suspended one) answers 422
//     {"errors":{"state":["cannot transition via \"<event>\""]}}
//     (porta@3scale-2.16.4-GA:app/controllers/admin/api/buyers_applications_controller.rb
//     suspend, resume; app/models/contract/states.rb; config/locales/en.yml invalid_transition;
//     app/lib/three_scale/api/responder.rb display_errors; test/integration/user-management-api/
//     buyers_applications_test.rb 'resume live apps');
//   - the state is synced to backend, so a suspended application's authrep is 409
//     application_not_active until it is resumed (app/lib/backend/model_extensions/cinstance.rb
//     update_backend_application; apisonator@3scale-2.16.4-GA:lib/3scale/backend/validators/state.rb,
//     errors.rb ApplicationNotActive "application is not active");
//   - PUT …/change_plan.json answers the new plan ({"application_plan":…}), moves the
//     application in backend too (the new plan's limits apply), answers the plan again for the
//     same plan, 422 {"errors":{"plan":["not allowed in this context"]}} for another product's
//     plan and 404 for an unknown one (app/models/contract.rb change_plan; app/models/cinstance.rb
//     same_service; accessible_application_plans.find).
func TestPortaApplicationStates(t *testing.T) {
	p := newPortaApp(t, "states")
	app := "/admin/api/accounts/" + p.accountID + "/applications/" + p.appID
	userKey := fmt.Sprint(p.app["user_key"])
	token := sandboxServiceToken(t, p.sid)
	authrep := listenerURL() + "/transactions/authrep.xml?service_token=" + url.QueryEscape(token) + "&service_id=" + p.sid + "&user_key=" + userKey + "&usage%5Bhits%5D=1"
	authrepAnswers := func(what string, status int, want string) {
		t.Helper()
		testsupport.Eventually(t, 60*time.Second, what, func(context.Context) (bool, string) {
			r, err := call("GET", authrep, nil, "", "")
			if err != nil {
				return false, err.Error()
			}
			return r.status == status && strings.Contains(r.body, want), fmt.Sprintf("%d %s", r.status, r.body)
		})
	}
	refused := func(action, field, msg string) {
		t.Helper()
		r, err := admin(t, "PUT", app+"/"+action+".json", nil)
		if err != nil || r.status != 422 {
			t.Fatalf("%s: %v %d %s, want 422", action, err, r.status, r.body)
		}
		var body map[string]map[string][]string
		if err := json.Unmarshal([]byte(r.body), &body); err != nil || !reflect.DeepEqual(body, map[string]map[string][]string{"errors": {field: {msg}}}) {
			t.Errorf("%s: body %s, want errors.%s [%q]", action, r.body, field, msg)
		}
	}

	authrepAnswers("the live application authorized", 200, "<authorized>true</authorized>")
	refused("resume", "state", `cannot transition via "resume"`)

	got := mustAdmin(t, "PUT", app+"/suspend.json", nil, 200)
	if s, e := field(got, "application", "state"), field(got, "application", "enabled"); s != "suspended" || e != false {
		t.Errorf("suspend answered state %v enabled %v, want suspended false", s, e)
	}
	refused("suspend", "state", `cannot transition via "suspend"`)
	if s := field(mustAdmin(t, "GET", app+".json", nil, 200), "application", "state"); s != "suspended" {
		t.Errorf("state after a refused suspend: %v", s)
	}
	authrepAnswers("the suspended application refused", 409, "<reason>application is not active</reason>")

	if s := field(mustAdmin(t, "PUT", app+"/resume.json", nil, 200), "application", "state"); s != "live" {
		t.Errorf("resume answered state %v, want live", s)
	}
	authrepAnswers("the resumed application authorized", 200, "<authorized>true</authorized>")

	// A plan whose daily hits limit is 0: on it the application is over its limits.
	closed := idOf(mustAdmin(t, "POST", "/admin/api/services/"+p.sid+"/application_plans.json", url.Values{"name": {"closed"}}, 201), "application_plan")
	mustAdmin(t, "POST", "/admin/api/application_plans/"+closed+"/metrics/"+p.hitsID+"/limits.json", url.Values{"period": {"day"}, "value": {"0"}}, 201)
	changed := mustAdmin(t, "PUT", app+"/change_plan.json", url.Values{"plan_id": {closed}}, 200)
	if id := field(changed, "application_plan", "id"); fmt.Sprint(id) != closed {
		t.Errorf("change_plan answered %v, want the application_plan %s", changed, closed)
	}
	if pid := fmt.Sprint(field(mustAdmin(t, "GET", app+".json", nil, 200), "application", "plan_id")); pid != closed {
		t.Errorf("plan_id after change_plan: %s, want %s", pid, closed)
	}
	authrepAnswers("the application on the closed plan refused", 409, "<reason>usage limits are exceeded</reason>")
	if id := fmt.Sprint(field(mustAdmin(t, "PUT", app+"/change_plan.json", url.Values{"plan_id": {closed}}, 200), "application_plan", "id")); id != closed {
		t.Errorf("change_plan to the same plan answered plan %s, want %s", id, closed)
	}

	other := newPortaApp(t, "statesother")
	r, err := admin(t, "PUT", app+"/change_plan.json", url.Values{"plan_id": {other.planID}})
	if err != nil || r.status != 422 || !strings.Contains(r.body, `"plan":["not allowed in this context"]`) {
		t.Errorf("change_plan to another product's plan: %v %d %s, want 422 plan not allowed", err, r.status, r.body)
	}
	if r, err := admin(t, "PUT", app+"/change_plan.json", url.Values{"plan_id": {"999999999"}}); err != nil || r.status != 404 {
		t.Errorf("change_plan to an unknown plan: %v %d %s, want 404", err, r.status, r.body)
	}
}
