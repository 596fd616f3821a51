package system

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/threescale-chaos/harness/internal/testsupport"
)

// tenant is a second provider the test adds with SQL (porta creates tenants through master's
// signup, which the twin does not serve): an admin host, an admin user with a token, and the
// provider key.
type testTenant struct {
	host, token, providerKey string
	id                       int64
}

func (e *testEnv) addTenant(name string) testTenant {
	e.t.Helper()
	ctx := context.Background()
	db := e.sqlDB()
	tn := testTenant{host: name + "-admin." + superdomain, token: name + "-token", providerKey: name + "-provider-key"}
	var master int64
	if err := db.QueryRowContext(ctx, `SELECT id FROM accounts WHERE kind='master'`).Scan(&master); err != nil {
		e.t.Fatal(err)
	}
	res, err := db.ExecContext(ctx, `INSERT INTO accounts (org_name, kind, provider_account_id, state, admin_domain, domain, api_key, created_at, updated_at)
		VALUES (?,?,?,?,?,?,?,NOW(),NOW())`, name, "provider", master, "approved", tn.host, name+"."+superdomain, tn.providerKey)
	if err != nil {
		e.t.Fatal(err)
	}
	tn.id, _ = res.LastInsertId()
	res, err = db.ExecContext(ctx, `INSERT INTO users (account_id, username, email, password, role, created_at) VALUES (?,?,?,?,?,NOW())`,
		tn.id, "admin", "admin@"+name+".test", "pw", "admin")
	if err != nil {
		e.t.Fatal(err)
	}
	uid, _ := res.LastInsertId()
	if _, err := db.ExecContext(ctx, `INSERT INTO access_tokens (owner_id, name, value, scopes, permission, created_at) VALUES (?,?,?,?,?,NOW())`,
		uid, "Administration", tn.token, "account_management", "rw"); err != nil {
		e.t.Fatal(err)
	}
	return tn
}

// call sends an Account Management API request to the tenant with a credential
// ("access_token" or "provider_key").
func (tn testTenant) call(e *testEnv, method, path, credential string, form url.Values) (int, string) {
	e.t.Helper()
	value := tn.token
	if credential == "provider_key" {
		value = tn.providerKey
	}
	sep := "?"
	if strings.Contains(path, "?") {
		sep = "&"
	}
	return e.do(method, e.provider, tn.host, path+sep+credential+"="+value, form)
}

// testProductDelete pins DELETE /admin/api/services/{id} to porta 3scale-2.16.4-GA
// (app/controllers/admin/api/services_controller.rb destroy; app/models/service.rb
// mark_as_deleted!, default_or_last?; config/abilities/provider_admin.rb): the last product is
// refused, with an access token by the ability (403 {"status":"Forbidden"}, empty in XML),
// with a provider_key by the state machine (422 InvalidTransition); another product is marked
// deleted (200, empty), disappears from the list and GET (404), and DeleteObjectHierarchyWorker
// then BackendDeleteServiceWorker (by ServiceDeletedEvent id) remove its data and its backend
// service with its alert limits. Needs sidekiq running.
func testProductDelete(t *testing.T, e *testEnv) {
	tn := e.addTenant("solo")
	var svc struct {
		Service struct {
			ID    int64  `json:"id"`
			State string `json:"state"`
		} `json:"service"`
	}
	code, body := tn.call(e, "POST", "/admin/api/services.json", "access_token", url.Values{"name": {"Only"}})
	mustJSON(t, 201, code, body, &svc)
	only := svc.Service.ID
	onlyPath := fmt.Sprintf("/admin/api/services/%d", only)

	if code, body := tn.call(e, "DELETE", onlyPath+".json", "access_token", nil); code != 403 || body != `{"status":"Forbidden"}` {
		t.Errorf("last product, access token, JSON: want 403 {\"status\":\"Forbidden\"}, got %d %s", code, body)
	}
	if code, body := tn.call(e, "DELETE", onlyPath+".xml", "access_token", nil); code != 403 || body != "" {
		t.Errorf("last product, access token, XML: want 403 with no body, got %d %q", code, body)
	}
	code, body = tn.call(e, "DELETE", onlyPath+".json", "provider_key", nil)
	var transition struct {
		Error struct {
			From, Event, Error string
			Object             struct {
				Service struct {
					ID int64 `json:"id"`
				} `json:"service"`
			} `json:"object"`
		} `json:"error"`
	}
	mustJSON(t, 422, code, body, &transition)
	if te := transition.Error; te.From != "incomplete" || te.Event != "mark_as_deleted" || te.Error != `State cannot transition via "mark as deleted"` || te.Object.Service.ID != only {
		t.Errorf("last product, provider_key: %s", body)
	}
	if code, body := tn.call(e, "DELETE", onlyPath+".xml", "provider_key", nil); code != 422 || !strings.Contains(body, "<error><from>incomplete</from><event>mark_as_deleted</event>") {
		t.Errorf("last product, provider_key, XML: %d %s", code, body)
	}

	// With a second product the first one can go.
	code, body = tn.call(e, "POST", "/admin/api/services.json", "access_token", url.Values{"name": {"Other"}})
	mustJSON(t, 201, code, body, &svc)
	other := svc.Service.ID
	if code, body := tn.call(e, "PUT", onlyPath+".json", "access_token", url.Values{"notification_settings[web_provider][]": {"50"}}); code != 200 {
		t.Fatalf("notification settings on the doomed product: %d %s", code, body)
	}
	if code, body := tn.call(e, "DELETE", onlyPath+".json", "access_token", nil); code != 200 || body != "" {
		t.Fatalf("delete a product that is not the last: want 200 and no body, got %d %q", code, body)
	}
	if code, body := tn.call(e, "GET", onlyPath+".json", "access_token", nil); code != 404 || body != `{"status":"Not found"}` {
		t.Errorf("GET a deleted product: %d %s", code, body)
	}
	code, body = tn.call(e, "GET", "/admin/api/services.json", "access_token", nil)
	var list struct {
		Services []struct {
			Service struct {
				ID int64 `json:"id"`
			} `json:"service"`
		} `json:"services"`
	}
	mustJSON(t, 200, code, body, &list)
	if len(list.Services) != 1 || list.Services[0].Service.ID != other {
		t.Errorf("list after the delete: %s", body)
	}
	if code, _ := tn.call(e, "DELETE", fmt.Sprintf("/admin/api/services/%d.json", other), "access_token", nil); code != 403 {
		t.Errorf("the remaining product is now the last: want 403, got %d", code)
	}
	testsupport.Eventually(t, 30*time.Second, "the product's rows and backend service removed", testsupport.NoError(func(context.Context) error {
		var n int
		if err := e.sqlDB().QueryRow(`SELECT COUNT(*) FROM services WHERE id=?`, only).Scan(&n); err != nil || n != 0 {
			return fmt.Errorf("services rows %d err %v", n, err)
		}
		var events []string
		for _, r := range e.backend.all() {
			if strings.HasPrefix(r.Path, fmt.Sprintf("/internal/services/%d", only)) && r.Method != "PUT" && r.Method != "POST" {
				events = append(events, r.Method+" "+r.Path)
			}
		}
		want := []string{fmt.Sprintf("DELETE /internal/services/%d/stats", only), fmt.Sprintf("GET /internal/services/%d/alert_limits/", only),
			fmt.Sprintf("DELETE /internal/services/%d/alert_limits/50", only), fmt.Sprintf("DELETE /internal/services/%d", only)}
		if strings.Join(events, ",") != strings.Join(append([]string{fmt.Sprintf("GET /internal/services/%d/alert_limits/", only)}, want...), ",") {
			return fmt.Errorf("backend calls %v, want the settings sync's GET then %v", events, want)
		}
		return nil
	}))
	var data string
	if err := e.sqlDB().QueryRow(`SELECT data FROM event_store_events WHERE event_type='Services::ServiceDeletedEvent' ORDER BY id DESC LIMIT 1`).Scan(&data); err != nil {
		t.Fatalf("no ServiceDeletedEvent: %v", err)
	}
	var ev struct {
		ServiceID int64 `json:"service_id"`
	}
	if err := json.Unmarshal([]byte(data), &ev); err != nil || ev.ServiceID != only {
		t.Errorf("ServiceDeletedEvent data: %s", data)
	}
}

// testBuyerDelete pins DELETE /admin/api/accounts/{id} to porta 3scale-2.16.4-GA
// (app/controllers/admin/api/accounts_controller.rb destroy: buyer_account.destroy in a
// transaction; app/models/account.rb after_destroy destroy_all_contracts): the account, its
// users, applications and keys go inline (200, then 404), and each application's backend data
// goes later, by the ApplicationDeletedEvent's BackendDeleteApplicationWorker (ActiveJob, queue
// low; app/subscribers/application_deleted_subscriber.rb, app/workers/backend_delete_application_worker.rb).
func testBuyerDelete(t *testing.T, e *testEnv, planID int64) {
	var acc struct {
		Account struct {
			ID int64 `json:"id"`
		} `json:"account"`
	}
	code, body := e.admin("POST", "/admin/api/signup.json", url.Values{"org_name": {"Gone Corp"}, "username": {"gone"}, "email": {"gone@x.test"},
		"application_plan_id": {fmt.Sprint(planID)}})
	mustJSON(t, 201, code, body, &acc)
	type app struct {
		sid   int64
		appID string
	}
	var apps []app
	rows, err := e.sqlDB().Query(`SELECT service_id, application_id FROM cinstances WHERE user_account_id=?`, acc.Account.ID)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var a app
		if err := rows.Scan(&a.sid, &a.appID); err != nil {
			t.Fatal(err)
		}
		apps = append(apps, a)
	}
	rows.Close()
	if len(apps) == 0 {
		t.Fatalf("the buyer has no application")
	}
	if code, body := e.admin("DELETE", fmt.Sprintf("/admin/api/accounts/%d.json", acc.Account.ID), nil); code != 200 || body != "" {
		t.Fatalf("DELETE buyer: %d %q", code, body)
	}
	if code, _ := e.admin("GET", fmt.Sprintf("/admin/api/accounts/%d.json", acc.Account.ID), nil); code != 404 {
		t.Errorf("GET a deleted buyer: %d", code)
	}
	var left int
	if err := e.sqlDB().QueryRow(`SELECT (SELECT COUNT(*) FROM cinstances WHERE user_account_id=?) + (SELECT COUNT(*) FROM users WHERE account_id=?)`,
		acc.Account.ID, acc.Account.ID).Scan(&left); err != nil || left != 0 {
		t.Errorf("applications and users are destroyed inline: %d left, %v", left, err)
	}
	testsupport.Eventually(t, 30*time.Second, "each application deleted from backend by BackendDeleteApplicationWorker", testsupport.NoError(func(context.Context) error {
		for _, a := range apps {
			if len(e.backend.find("DELETE", fmt.Sprintf("/internal/services/%d/applications/%s", a.sid, a.appID))) == 0 {
				return fmt.Errorf("application %s not deleted from backend yet", a.appID)
			}
		}
		return nil
	}))
}
