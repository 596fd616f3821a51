package system

import (
	"fmt"
	"net/url"
	"reflect"
	"strings"
	"testing"
)

// TestKeyErrors pins ApplicationKey's validations (porta@3scale-2.16.4-GA:
// app/models/application_key.rb): printable ASCII without spaces, 5..255 characters,
// case-insensitive unique per application, and at most KEYS_LIMIT (5) keys, 1 for oauth.
func TestKeyErrors(t *testing.T) {
	four := []string{"k1aaa", "k2aaa", "k3aaa", "k4aaa"}
	cases := []struct {
		value    string
		existing []string
		limit    int
		want     map[string][]string
	}{
		{"chaos-key-1", four, 5, map[string][]string{}},
		{"chaos-key-1", append(four, "k5aaa"), 5, map[string][]string{"base": {"Limit reached"}}},
		{"K1AAA", four, 5, map[string][]string{"value": {"has already been taken"}}},
		{"abc", nil, 5, map[string][]string{"value": {"is too short (minimum is 5 characters)"}}},
		{"has space", nil, 5, map[string][]string{"value": {"is invalid"}}},
		{"", nil, 5, map[string][]string{"value": {"is invalid", "is too short (minimum is 5 characters)"}}},
		{strings.Repeat("x", 256), nil, 5, map[string][]string{"value": {"is too long (maximum is 255 characters)"}}},
		{"second", []string{"first"}, keysLimit("oauth"), map[string][]string{"base": {"Limit reached"}}},
	}
	for _, c := range cases {
		if got := keyErrors(c.value, c.existing, c.limit); !reflect.DeepEqual(got, c.want) {
			t.Errorf("keyErrors(%.12q, %d existing, limit %d) = %v, want %v", c.value, len(c.existing), c.limit, got, c.want)
		}
	}
	if keysLimit("1") != 5 || keysLimit("2") != 5 || keysLimit("oidc") != 1 {
		t.Error("KEYS_LIMIT is 5, 1 for oauth")
	}
}

// testApplicationKeyLimit pins the key API of porta 3scale-2.16.4-GA
// (app/controllers/admin/api/buyer_application_keys_controller.rb, app/models/application_key.rb):
// the sixth key of an application is refused with 422 {"errors":{"base":["Limit reached"]}} and
// never reaches backend; a key whose backend sync fails answers 500 and stays saved (it
// counts towards the limit); a create without a key generates one.
func testApplicationKeyLimit(t *testing.T, e *testEnv, sid, accountID, cid int64) {
	keysPath := fmt.Sprintf("/admin/api/accounts/%d/applications/%d/keys", accountID, cid)
	backendID := e.backendAppID(cid)
	backendKeys := func() int {
		return len(e.backend.find("POST", fmt.Sprintf("/internal/services/%d/applications/%s/keys", sid, backendID)))
	}
	before := backendKeys()
	for i := 1; i <= 4; i++ {
		code, body := e.admin("POST", keysPath+".json", url.Values{"key": {fmt.Sprintf("limit-key-%d", i)}})
		if code != 201 || !strings.Contains(body, `"application"`) {
			t.Fatalf("key %d: %d %s", i, code, body)
		}
	}
	// The fifth key's backend sync fails: 500 after commit, the key is saved.
	e.backendDown.Store(true)
	code, body := e.admin("POST", keysPath+".json", url.Values{"key": {"limit-key-5"}})
	e.backendDown.Store(false)
	if code != 500 {
		t.Fatalf("key with backend failing: want 500, got %d %s", code, body)
	}
	var keys struct {
		Keys []struct {
			Key struct {
				Value string `json:"value"`
			} `json:"key"`
		} `json:"keys"`
	}
	code, body = e.admin("GET", keysPath+".json", nil)
	mustJSON(t, 200, code, body, &keys)
	if len(keys.Keys) != 5 || keys.Keys[4].Key.Value != "limit-key-5" {
		t.Fatalf("after the failed sync the key is saved: %s", body)
	}
	code, body = e.admin("POST", keysPath+".json", url.Values{"key": {"limit-key-6"}})
	var errs map[string]map[string][]string
	mustJSON(t, 422, code, body, &errs)
	if !reflect.DeepEqual(errs, map[string]map[string][]string{"errors": {"base": {"Limit reached"}}}) {
		t.Errorf("sixth key: %s", body)
	}
	if got := backendKeys() - before; got != 5 {
		t.Errorf("backend got %d key saves, want 5 (four synced, one failed; the refused sixth never goes)", got)
	}
	// Freeing a slot lets a key in again; without a value porta generates one.
	if code, body := e.admin("DELETE", keysPath+"/limit-key-1.json", nil); code != 200 {
		t.Fatalf("delete: %d %s", code, body)
	}
	code, body = e.admin("POST", keysPath+".json", url.Values{})
	if code != 201 {
		t.Fatalf("generated key: %d %s", code, body)
	}
	code, body = e.admin("GET", keysPath+".json", nil)
	mustJSON(t, 200, code, body, &keys)
	if last := keys.Keys[len(keys.Keys)-1].Key.Value; len(keys.Keys) != 5 || len(last) != 32 {
		t.Errorf("generated key: %s", body)
	}
	// Leave the application without keys for the tests after this one.
	for _, k := range keys.Keys {
		if code, body := e.admin("DELETE", keysPath+"/"+url.PathEscape(k.Key.Value)+".json", nil); code != 200 {
			t.Errorf("delete %s: %d %s", k.Key.Value, code, body)
		}
	}
}
