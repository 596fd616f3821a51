package conformance

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/threescale-chaos/harness/internal/testsupport"
)

// Product and backend API deletion as porta 3scale-2.16.4-GA does it
// (porta@3scale-2.16.4-GA:app/controllers/admin/api/services_controller.rb destroy,
// app/models/service.rb mark_as_deleted!, app/subscribers/service_deletion_subscriber.rb,
// app/workers/delete_object_hierarchy_worker.rb, app/workers/backend_delete_service_worker.rb;
// app/controllers/admin/api/backend_apis_controller.rb destroy, app/models/backend_api.rb):
// DELETE answers 200 with no body, the product is gone from the list and GET answers 404 at
// once, and Sidekiq removes its rows and then its backend service (with its alert limits)
// later; an unused backend API is removed the same way.
func TestPortaProductDelete(t *testing.T) {
	p := newPortaApp(t, "delete")
	mustAdmin(t, "PUT", "/admin/api/services/"+p.sid+".json", url.Values{"notification_settings[web_provider][]": {"50"}}, 200)
	sandboxServiceToken(t, p.sid) // the product is in backend with its token
	r, err := admin(t, "DELETE", "/admin/api/services/"+p.sid+".json", nil)
	if err != nil || r.status != 200 || r.body != "" {
		t.Fatalf("DELETE product: %v %d %q, want 200 and no body", err, r.status, r.body)
	}
	r, err = admin(t, "GET", "/admin/api/services/"+p.sid+".json", nil)
	if err != nil || r.status != 404 || r.body != `{"status":"Not found"}` {
		t.Errorf("GET a deleted product: %v %d %s", err, r.status, r.body)
	}
	list := mustAdmin(t, "GET", "/admin/api/services.json", url.Values{"per_page": {"500"}}, 200)
	if strings.Contains(fmt.Sprint(list), p.name[:len(p.name)-len(" app")]) {
		t.Errorf("the deleted product is still listed")
	}
	db := systemDB(t)
	storage := redisClient(t, secret(t, "backend-redis", "REDIS_STORAGE_URL"))
	testsupport.Eventually(t, 90*time.Second, "the product's rows and backend service removed by Sidekiq", func(ctx context.Context) (bool, string) {
		var services, apps int
		if err := db.QueryRowContext(ctx, `SELECT (SELECT COUNT(*) FROM services WHERE id=?), (SELECT COUNT(*) FROM cinstances WHERE service_id=?)`, p.sid, p.sid).Scan(&services, &apps); err != nil {
			return false, err.Error()
		}
		limits, _ := storage.Exists(ctx, "alerts/service_id:"+p.sid+"/allowed_set").Result()
		status := internalStatus(t, "GET", "/internal/services/"+p.sid)
		return services == 0 && apps == 0 && limits == 0 && status == 404,
			fmt.Sprintf("services=%d cinstances=%d alert limits key=%d backend GET service=%d", services, apps, limits, status)
	})

	// An unused backend API.
	n := fmt.Sprintf("delbe%d%d", time.Now().Unix()%100000, productSeq.Add(1))
	bid := idOf(mustAdmin(t, "POST", "/admin/api/backend_apis.json", url.Values{"name": {n}, "system_name": {n}, "private_endpoint": {"http://backend.example.com:80"}}, 201), "backend_api")
	r, err = admin(t, "DELETE", "/admin/api/backend_apis/"+bid+".json", nil)
	if err != nil || r.status != 200 {
		t.Fatalf("DELETE backend API: %v %d %s", err, r.status, r.body)
	}
	if r, _ := admin(t, "GET", "/admin/api/backend_apis/"+bid+".json", nil); r.status != 404 {
		t.Errorf("GET a deleted backend API: %d", r.status)
	}
	testsupport.Eventually(t, 60*time.Second, "the backend API's row removed by Sidekiq", func(ctx context.Context) (bool, string) {
		var rows int
		err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM backend_apis WHERE id=?`, bid).Scan(&rows)
		return err == nil && rows == 0, fmt.Sprintf("rows=%d err=%v", rows, err)
	})
}

// The last product of a tenant cannot be deleted (Service#default_or_last?). With an access
// token the ability refuses it first: 403 {"status":"Forbidden"}
// (porta@3scale-2.16.4-GA:config/abilities/provider_admin.rb can :destroy, Service;
// app/controllers/concerns/error_handling.rb handle_access_denied); with a provider_key the
// state machine does: 422 StateMachines::InvalidTransition
// (app/controllers/admin/api/base_controller.rb rescue_from, ThreeScale::Api::ErrorResponder,
// app/representers/state_machine/invalid_transition_representer.rb). The seeded tenant always
// keeps its sample "API" product, so this needs a tenant of its own, made here with SQL.
func TestPortaLastProductDelete(t *testing.T) {
	ctx := context.Background()
	db := systemDB(t)
	n := fmt.Sprintf("solo%d%d", time.Now().Unix()%100000, productSeq.Add(1))
	host := n + "-admin." + values.Domain
	var master int64
	if err := db.QueryRowContext(ctx, `SELECT id FROM accounts WHERE kind='master'`).Scan(&master); err != nil {
		t.Fatal(err)
	}
	res, err := db.ExecContext(ctx, `INSERT INTO accounts (org_name, kind, provider_account_id, state, admin_domain, domain, api_key, created_at, updated_at)
		VALUES (?,?,?,?,?,?,?,NOW(),NOW())`, n, "provider", master, "approved", host, n+"."+values.Domain, n+"-pk")
	if err != nil {
		t.Fatal(err)
	}
	aid, _ := res.LastInsertId()
	res, err = db.ExecContext(ctx, `INSERT INTO users (account_id, username, email, password, role, created_at) VALUES (?,?,?,?,?,NOW())`, aid, "admin", n+"@example.com", "pw", "admin")
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := res.LastInsertId()
	if _, err := db.ExecContext(ctx, `INSERT INTO access_tokens (owner_id, name, value, scopes, permission, created_at) VALUES (?,?,?,?,?,NOW())`, uid, "t", n+"-token", "account_management", "rw"); err != nil {
		t.Fatal(err)
	}
	call := func(method, path, cred, value string, form url.Values) response {
		t.Helper()
		var body *strings.Reader
		if form != nil {
			body = strings.NewReader(form.Encode())
		} else {
			body = strings.NewReader("")
		}
		req, err := http.NewRequest(method, adminBase()+path+"?"+cred+"="+value, body)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = host
		req.Header.Set("X-Forwarded-Proto", "https")
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		resp, err := httpc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		return response{status: resp.StatusCode, body: readAll(resp)}
	}
	r := call("POST", "/admin/api/services.json", "access_token", n+"-token", url.Values{"name": {n}})
	if r.status != 201 {
		t.Fatalf("create the tenant's only product: %d %s", r.status, r.body)
	}
	var svc map[string]any
	_ = json.Unmarshal([]byte(r.body), &svc)
	sid := idOf(svc, "service")
	if r := call("DELETE", "/admin/api/services/"+sid+".json", "access_token", n+"-token", nil); r.status != 403 || r.body != `{"status":"Forbidden"}` {
		t.Errorf("last product with an access token: %d %s, want 403 {\"status\":\"Forbidden\"}", r.status, r.body)
	}
	r = call("DELETE", "/admin/api/services/"+sid+".json", "provider_key", n+"-pk", nil)
	var tr struct {
		Error struct {
			From, Event, Error string
			Object             map[string]any `json:"object"`
		} `json:"error"`
	}
	if err := json.Unmarshal([]byte(r.body), &tr); err != nil || r.status != 422 || tr.Error.Event != "mark_as_deleted" ||
		tr.Error.Error != `State cannot transition via "mark as deleted"` || tr.Error.Object["service"] == nil {
		t.Errorf("last product with a provider_key: %d %s, want 422 with the InvalidTransition error", r.status, r.body)
	}
	if r := call("GET", "/admin/api/services/"+sid+".json", "access_token", n+"-token", nil); r.status != 200 {
		t.Errorf("the refused product is still there: %d", r.status)
	}
}

// internalStatus is the status of one backend-listener internal API call.
func internalStatus(t *testing.T, method, path string) int {
	t.Helper()
	req, err := http.NewRequest(method, listenerURL()+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(secret(t, "backend-internal-api", "username"), secret(t, "backend-internal-api", "password"))
	resp, err := httpc.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}
