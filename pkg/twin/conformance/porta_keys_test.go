package conformance

import (
	"encoding/json"
	"fmt"
	"net/url"
	"reflect"
	"regexp"
	"testing"
)

// An application's keys as porta 3scale-2.16.4-GA limits them: ApplicationKey::KEYS_LIMIT = 5,
// so the sixth key is refused with 422 {"errors":{"base":["Limit reached"]}}
// (porta@3scale-2.16.4-GA:app/models/application_key.rb:4 and keys_limit_reached;
// config/locales/en.yml limit_reached: 'Limit reached'; ThreeScale::Api::Responder
// display_errors). A key whose backend sync fails, here with backend-listener at zero, answers
// 500 after its commit and stays saved, so it counts towards the limit
// (app/lib/backend_client/toggle_backend.rb after_commit :update_backend_value, no rescue).
func TestPortaApplicationKeyLimit(t *testing.T) {
	p := newPortaApp(t, "keys")
	keys := "/admin/api/accounts/" + p.accountID + "/applications/" + p.appID + "/keys.json"
	for i := 1; i <= 4; i++ {
		mustAdmin(t, "POST", keys, url.Values{"key": {fmt.Sprintf("conformance-key-%d", i)}}, 201)
	}

	scaleDown(t, "backend-listener")
	r, err := admin(t, "POST", keys, url.Values{"key": {"conformance-key-5"}})
	if err != nil || r.status != 500 {
		t.Fatalf("key create with backend-listener down: %v %d %s, want 500", err, r.status, r.body)
	}
	scaleUp(t, "backend-listener")

	list := mustAdmin(t, "GET", keys, nil, 200)
	if n := len(list["keys"].([]any)); n != 5 {
		t.Fatalf("keys after the failed sync: %d, want 5 (the key is saved before its backend sync)", n)
	}
	r, err = admin(t, "POST", keys, url.Values{"key": {"conformance-key-6"}})
	if err != nil || r.status != 422 {
		t.Fatalf("sixth key: %v %d %s, want 422", err, r.status, r.body)
	}
	var body map[string]map[string][]string
	if err := json.Unmarshal([]byte(r.body), &body); err != nil || !reflect.DeepEqual(body, map[string]map[string][]string{"errors": {"base": {"Limit reached"}}}) {
		t.Errorf("sixth key body: %s", r.body)
	}
}

// A key created without a value is generated: ApplicationKey.generate, 32 hex characters
// (porta@3scale-2.16.4-GA:app/controllers/admin/api/buyer_application_keys_controller.rb
// create → application_keys.add(params[:key]); app/models/application_key.rb add,
// self.generate SecureRandom.hex(16)); an empty value is a value, and fails the format and
// length validations (:17-18) with 422. The operator's ApplicationAuth with generateSecret
// makes this call with an empty body (3scale-porta-go-client CreateApplicationRandomKey).
func TestPortaApplicationKeyGenerated(t *testing.T) {
	p := newPortaApp(t, "genkey")
	keys := "/admin/api/accounts/" + p.accountID + "/applications/" + p.appID + "/keys.json"
	mustAdmin(t, "POST", keys, nil, 201)
	list := mustAdmin(t, "GET", keys, nil, 200)
	var generated []string
	for _, k := range list["keys"].([]any) {
		v := fmt.Sprint(field(k.(map[string]any), "key", "value"))
		if hex32.MatchString(v) {
			generated = append(generated, v)
		}
	}
	if len(generated) != 1 {
		t.Fatalf("keys after a create without a value: %v, want one of 32 hex characters", list)
	}
	if r, err := admin(t, "POST", keys, url.Values{"key": {""}}); err != nil || r.status != 422 {
		t.Errorf("key create with an empty value: %v %d %s, want 422", err, r.status, r.body)
	}
}

var hex32 = regexp.MustCompile(`^[0-9a-f]{32}$`)
