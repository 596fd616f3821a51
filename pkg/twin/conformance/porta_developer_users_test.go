package conformance

import (
	"encoding/json"
	"net/url"
	"reflect"
	"testing"
)

// A developer account's users as porta 3scale-2.16.4-GA serves them under
// /admin/api/accounts/{id}/users (porta@3scale-2.16.4-GA:app/controllers/admin/api/buyers_users_controller.rb;
// app/models/user.rb, user/states.rb, user/roles.rb; app/representers/user_representer.rb):
//   - the signup's admin is listed; a user created through the API starts pending as a member
//     (201), with username and email in its representation;
//   - username and email are validated (length, format, uniqueness among the tenant's
//     developers) with 422 and porta's messages (app/lib/authentication.rb MSG_LOGIN_BAD,
//     MSG_EMAIL_BAD);
//   - activate moves pending to active and leaves an active user as it is; unsuspend of an
//     active user is 422 on state; suspend suspends; the list filters by state;
//   - update changes the email; the account's last admin cannot be deleted (403 "Can't delete
//     last admin", config/locales/en.yml), another user can (200, then 404).
func TestPortaDeveloperUsers(t *testing.T) {
	p := newPortaApp(t, "devusers")
	users := "/admin/api/accounts/" + p.accountID + "/users"
	list := mustAdmin(t, "GET", users+".json", nil, 200)["users"].([]any)
	if len(list) != 1 || field(list[0].(map[string]any), "user", "role") != "admin" || field(list[0].(map[string]any), "user", "state") != "active" {
		t.Fatalf("the signup's users: %v, want one active admin", list)
	}
	adminID := idOf(list[0].(map[string]any), "user")

	made := mustAdmin(t, "POST", users+".json", url.Values{"username": {"dev-" + p.accountID}, "email": {"dev-" + p.accountID + "@example.com"}}, 201)
	uid := idOf(made, "user")
	for k, want := range map[string]any{"state": "pending", "role": "member", "username": "dev-" + p.accountID, "email": "dev-" + p.accountID + "@example.com"} {
		if got := field(made, "user", k); got != want {
			t.Errorf("created user %s = %v, want %v", k, got, want)
		}
	}
	refused := func(form url.Values, want map[string][]string) {
		t.Helper()
		r, err := admin(t, "POST", users+".json", form)
		var body struct {
			Errors map[string][]string `json:"errors"`
		}
		if err != nil || r.status != 422 || json.Unmarshal([]byte(r.body), &body) != nil || !reflect.DeepEqual(body.Errors, want) {
			t.Errorf("user %v: %v %d %s, want 422 %v", form, err, r.status, r.body, want)
		}
	}
	refused(url.Values{"username": {"dev-" + p.accountID}, "email": {"other-" + p.accountID + "@example.com"}}, map[string][]string{"username": {"has already been taken"}})
	refused(url.Values{"username": {"a"}, "email": {"not-an-address"}}, map[string][]string{
		"username": {"is too short (minimum is 3 characters)", "use only letters, numbers, and .-_@+ please."}, "email": {"should look like an email address"}})

	user := users + "/" + uid
	for i := 0; i < 2; i++ {
		if s := field(mustAdmin(t, "PUT", user+"/activate.json", nil, 200), "user", "state"); s != "active" {
			t.Errorf("activate (%d): state %v, want active", i+1, s)
		}
	}
	if r, err := admin(t, "PUT", user+"/unsuspend.json", nil); err != nil || r.status != 422 {
		t.Errorf("unsuspend an active user: %v %d %s, want 422", err, r.status, r.body)
	}
	if s := field(mustAdmin(t, "PUT", user+"/suspend.json", nil, 200), "user", "state"); s != "suspended" {
		t.Errorf("suspend: state %v, want suspended", s)
	}
	if n := len(mustAdmin(t, "GET", users+".json", url.Values{"state": {"suspended"}}, 200)["users"].([]any)); n != 1 {
		t.Errorf("suspended users: %d, want 1", n)
	}
	mustAdmin(t, "PUT", user+".json", url.Values{"email": {"moved-" + p.accountID + "@example.com"}}, 200)
	if e := field(mustAdmin(t, "GET", user+".json", nil, 200), "user", "email"); e != "moved-"+p.accountID+"@example.com" {
		t.Errorf("email after the update: %v", e)
	}

	r, err := admin(t, "DELETE", users+"/"+adminID+".json", nil)
	if err != nil || r.status != 403 || !reflect.DeepEqual(decodeErrors(r.body), map[string][]string{"base": {"Can't delete last admin"}}) {
		t.Errorf("delete the last admin: %v %d %s, want 403 Can't delete last admin", err, r.status, r.body)
	}
	mustAdmin(t, "DELETE", user+".json", nil, 200)
	if r, err := admin(t, "GET", user+".json", nil); err != nil || r.status != 404 {
		t.Errorf("the deleted user: %v %d %s, want 404", err, r.status, r.body)
	}
}

func decodeErrors(body string) map[string][]string {
	var b struct {
		Errors map[string][]string `json:"errors"`
	}
	_ = json.Unmarshal([]byte(body), &b)
	return b.Errors
}

// The provider's own users, GET /admin/api/users and /admin/api/users/{id}: the tenant's
// users without the impersonation admin (3scaleadmin), each linked to itself under
// /admin/api/users and to no account (porta@3scale-2.16.4-GA:app/controllers/admin/api/users_controller.rb
// users, User.but_impersonation_admin; app/representers/user_representer.rb).
func TestPortaProviderUsers(t *testing.T) {
	list := mustAdmin(t, "GET", "/admin/api/users.json", nil, 200)["users"].([]any)
	if len(list) == 0 {
		t.Fatal("the provider lists no users")
	}
	for _, u := range list {
		if name := field(u.(map[string]any), "user", "username"); name == "3scaleadmin" {
			t.Errorf("the provider's users include the impersonation admin: %v", list)
		}
	}
	id := idOf(list[0].(map[string]any), "user")
	got := mustAdmin(t, "GET", "/admin/api/users/"+id+".json", nil, 200)
	links, _ := json.Marshal(field(got, "user", "links"))
	if want := `[{"href":"/admin/api/users/` + id + `","rel":"self"}]`; string(links) != want {
		t.Errorf("provider user links %s, want %s", links, want)
	}
}
