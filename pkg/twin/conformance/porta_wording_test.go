package conformance

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// rawAdmin calls the provider's Account Management API with Basic credentials instead of the
// access_token parameter.
func rawAdmin(t *testing.T, method, path, user, pass string) response {
	t.Helper()
	req, err := http.NewRequest(method, adminBase()+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = adminHost()
	req.Header.Set("X-Forwarded-Proto", "https")
	req.SetBasicAuth(user, pass)
	resp, err := httpc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, body: string(b), header: resp.Header}
}

// errorsOf decodes {"errors":{field:[messages]}}.
func errorsOf(t *testing.T, r response) map[string][]string {
	t.Helper()
	var body struct {
		Errors map[string][]string `json:"errors"`
	}
	if err := json.Unmarshal([]byte(r.body), &body); err != nil {
		t.Fatalf("errors body %q: %v", r.body, err)
	}
	return body.Errors
}

// porta's texts for refused writes:
//   - deleting an application plan that has applications: 403, base "This application plan
//     cannot be deleted! At least one application depends on it." (porta@3scale-2.16.4-GA:
//     app/models/plan.rb can_be_destroyed?, config/locales/en.yml
//     activerecord.errors.models.application_plan.has_contracts;
//     app/lib/three_scale/api/responder.rb error_status :forbidden on DELETE);
//   - a limit with a period outside the list: 422, period "is invalid"
//     (app/models/usage_limit.rb validates :period, inclusion with message 'is invalid').
func TestPortaRefusalTexts(t *testing.T) {
	p := newPortaApp(t, "texts")
	r, err := admin(t, "DELETE", "/admin/api/services/"+p.sid+"/application_plans/"+p.planID+".json", nil)
	if err != nil || r.status != 403 {
		t.Fatalf("delete a plan with an application: %v %d %s, want 403", err, r.status, r.body)
	}
	if got, want := errorsOf(t, r), map[string][]string{"base": {"This application plan cannot be deleted! At least one application depends on it."}}; !reflect.DeepEqual(got, want) {
		t.Errorf("delete a plan with an application: %v, want %v", got, want)
	}

	limits := "/admin/api/application_plans/" + p.planID + "/metrics/" + p.hitsID + "/limits.json"
	r, err = admin(t, "POST", limits, url.Values{"period": {"fortnight"}, "value": {"10"}})
	if err != nil || r.status != 422 {
		t.Fatalf("limit with period fortnight: %v %d %s, want 422", err, r.status, r.body)
	}
	if got, want := errorsOf(t, r), map[string][]string{"period": {"is invalid"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("limit with period fortnight: %v, want %v", got, want)
	}
}

// The master's proxy-configs endpoint without a valid access token answers the controller's
// authenticate!: 401, the plain text "unauthorized"
// (porta@3scale-2.16.4-GA:app/controllers/master/api/proxy/configs_controller.rb
// `render plain: 'unauthorized', status: 401`).
func TestPortaMasterProxyConfigsUnauthorized(t *testing.T) {
	base := "http://127.0.0.1:" + strconv.Itoa(values.Ports.SystemMaster) + "/master/api/proxy/configs/production.json"
	for _, c := range []struct{ what, user string }{{"no token", ""}, {"unknown token", "not-a-token"}} {
		req, err := http.NewRequest("GET", base, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = "master." + values.Domain
		req.Header.Set("X-Forwarded-Proto", "https")
		if c.user != "" {
			req.SetBasicAuth(c.user, "")
		}
		resp, err := httpc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 401 || string(b) != "unauthorized" || !strings.HasPrefix(ct, "text/plain") {
			t.Errorf("%s: %d %q %q, want 401 \"unauthorized\" text/plain", c.what, resp.StatusCode, ct, b)
		}
	}
	// With the token the operator gives APIcast it answers.
	req, _ := http.NewRequest("GET", base, nil)
	req.Host = "master." + values.Domain
	req.Header.Set("X-Forwarded-Proto", "https")
	req.SetBasicAuth(secret(t, "system-master-apicast", "ACCESS_TOKEN"), "")
	resp, err := httpc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("with the master token: %d, want 200", resp.StatusCode)
	}
}

// With Basic auth porta takes the first of user and password that is not blank as the token
// (porta@3scale-2.16.4-GA:app/lib/api_authentication/http_authentication.rb
// `user_name_and_password(request).find(&:presence)`): TOKEN:x and TOKEN: authenticate,
// x:TOKEN does not (403, as any unknown token).
func TestPortaBasicAuthFirstNonBlank(t *testing.T) {
	tok := secret(t, "system-seed", "ADMIN_ACCESS_TOKEN")
	for _, c := range []struct {
		user, pass string
		want       int
	}{{tok, "x", 200}, {tok, "", 200}, {"", tok, 200}, {"x", tok, 403}} {
		if r := rawAdmin(t, "GET", "/admin/api/services.json", c.user, c.pass); r.status != c.want {
			u, p := c.user, c.pass
			if u == tok {
				u = "TOKEN"
			}
			if p == tok {
				p = "TOKEN"
			}
			t.Errorf("Basic %s:%s: %d %s, want %d", u, p, r.status, r.body, c.want)
		}
	}
}

// An application's keys as porta renders and deletes them: the list has each key's value,
// created_at and updated_at (porta@3scale-2.16.4-GA:app/representers/application_key_representer.rb),
// and a DELETE answers the responder's head :ok, 200 with no body
// (app/controllers/admin/api/buyer_application_keys_controller.rb destroy,
// app/lib/three_scale/api/responder.rb api_behavior).
func TestPortaApplicationKeyShape(t *testing.T) {
	p := newPortaApp(t, "keyshape")
	keys := "/admin/api/accounts/" + p.accountID + "/applications/" + p.appID + "/keys"
	mustAdmin(t, "POST", keys+".json", url.Values{"key": {"shape-key-1"}}, 201)
	list := mustAdmin(t, "GET", keys+".json", nil, 200)
	items, _ := list["keys"].([]any)
	if len(items) != 1 {
		t.Fatalf("keys: %v", list)
	}
	k, _ := items[0].(map[string]any)
	for _, f := range []string{"value", "created_at", "updated_at"} {
		if v, _ := field(k, "key", f).(string); v == "" {
			t.Errorf("key has no %s: %v", f, k)
		}
	}
	r, err := admin(t, "DELETE", keys+"/shape-key-1.json", nil)
	if err != nil || r.status != 200 || strings.TrimSpace(r.body) != "" {
		t.Errorf("delete key: %v %d %q, want 200 and no body", err, r.status, r.body)
	}
}

// A mapping rule's position is kept as acts_as_list keeps it, per owner: a rule created at a
// taken position pushes that rule and the ones below it down one; moving a rule onto a taken
// position shifts the rules in between towards its old place; deleting one moves the rules
// below it up one (porta@3scale-2.16.4-GA:app/models/proxy_rule.rb
// `acts_as_list scope: %i[owner_id owner_type], add_new_at: :bottom`; acts_as_list 0.9.17,
// Gemfile.lock: add_to_list_bottom, update_positions, decrement_positions_on_lower_items).
func TestPortaMappingRulePositions(t *testing.T) {
	p := newPortaApp(t, "positions")
	rules := "/admin/api/services/" + p.sid + "/proxy/mapping_rules"
	// The product starts with porta's "GET /" rule at position 1.
	order := func() string {
		t.Helper()
		list := mustAdmin(t, "GET", rules+".json", nil, 200)
		var parts []string
		for _, it := range list["mapping_rules"].([]any) {
			m := it.(map[string]any)
			parts = append(parts, fmt.Sprintf("%v=%v", field(m, "mapping_rule", "pattern"), field(m, "mapping_rule", "position")))
		}
		return strings.Join(parts, " ")
	}
	create := func(pattern, position string) string {
		t.Helper()
		form := url.Values{"http_method": {"GET"}, "pattern": {pattern}, "metric_id": {p.hitsID}, "delta": {"1"}}
		if position != "" {
			form.Set("position", position)
		}
		return idOf(mustAdmin(t, "POST", rules+".json", form, 201), "mapping_rule")
	}
	create("/b", "")
	c := create("/c", "")
	create("/a", "1")
	if got, want := order(), "/a=1 /=2 /b=3 /c=4"; got != want {
		t.Errorf("after a create at position 1: %s, want %s", got, want)
	}
	mustAdmin(t, "PUT", rules+"/"+c+".json", url.Values{"position": {"2"}}, 200)
	if got, want := order(), "/a=1 /c=2 /=3 /b=4"; got != want {
		t.Errorf("after moving /c to 2: %s, want %s", got, want)
	}
	mustAdmin(t, "DELETE", rules+"/"+c+".json", nil, 200)
	if got, want := order(), "/a=1 /=2 /b=3"; got != want {
		t.Errorf("after deleting /c: %s, want %s", got, want)
	}
}
