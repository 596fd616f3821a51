package conformance

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/threescale-chaos/harness/internal/testsupport"
)

// The Account Management API writes the harness makes, with system-redis at zero, as porta
// 3scale-2.16.4-GA (Rails 7.0.8.7) and 3scale-2.15.1-GA (Rails 6.0.6.1) answer them. Neither
// Rails defers perform_later or perform_async to the commit (Gemfile.lock; Rails 7.2's
// enqueue_after_transaction_commit is later) and OSS Sidekiq has no client-side buffer
// (config/initializers/sidekiq.rb: reliable_push! is Sidekiq Pro's), so where a write enqueues
// decides what the outage does to it:
//   - inside its transaction: the write rolls back with 500. A signup with a password activates
//     the user and approves the account in the signup transaction, and the account's state
//     change calls PublishEnabledChangedEventForProviderApplicationsWorker.perform_later there
//     (app/lib/signup/account_manager.rb #create, developer_account_manager.rb persist!,
//     app/models/user/states.rb make_active, app/models/account/states.rb
//     publish_state_changed_event); a backend API delete enqueues DeleteObjectHierarchyWorker in
//     its state machine's after_transition (app/models/backend_api.rb schedule_deletion).
//   - in an after_commit callback: 500 with the write committed (ActiveRecord re-raises
//     after_commit errors; callbacks run in reverse order of declaration before Rails 7.1). A
//     product's AuditedWorker goes first (`audited` is declared last in app/models/service.rb,
//     config/initializers/audited_hacks.rb run_after_commit), so neither the product nor its
//     alert limits reach backend; a key's backend sync goes before its audit
//     (app/models/application_key.rb), so backend has the key; an application update publishes
//     its zync event outside the transaction, where the event store swallows the enqueue error
//     (app/lib/event_store/repository.rb publish_event), then fails on its account index job
//     (app/models/cinstance.rb:59,88; app/concerns/indices/account_index.rb).
//   - nowhere: the write succeeds (backend usage delete, proxy deploy and promote).
func TestPortaSystemRedisWrites(t *testing.T) {
	ctx := context.Background()
	db := systemDB(t)
	p := newPortaApp(t, "redisw")
	n := p.sid // product ids are unique within the run: they name what this test makes
	appPath := "/admin/api/accounts/" + p.accountID + "/applications/" + p.appID
	mustAdmin(t, "POST", appPath+"/keys.json", url.Values{"key": {"redis-old-" + n}}, 201)
	doomed := idOf(mustAdmin(t, "POST", "/admin/api/signup.json", url.Values{"org_name": {"redisdoomed" + n}, "username": {"redisdoomed" + n},
		"email": {"redisdoomed" + n + "@example.com"}, "password": {"secret-" + n}}, 201), "account")
	spare := idOf(mustAdmin(t, "POST", "/admin/api/services.json", url.Values{"name": {"redis spare " + n}, "system_name": {"redisspare" + n}}, 201), "service")
	unused := idOf(mustAdmin(t, "POST", "/admin/api/backend_apis.json", url.Values{"name": {"redis unused " + n},
		"system_name": {"redisunused" + n}, "private_endpoint": {"http://unused.example.com"}}, 201), "backend_api")
	toUse := idOf(mustAdmin(t, "POST", "/admin/api/backend_apis.json", url.Values{"name": {"redis to use " + n},
		"system_name": {"redistouse" + n}, "private_endpoint": {"http://touse.example.com"}}, 201), "backend_api")
	inUse := idOf(mustAdmin(t, "POST", "/admin/api/backend_apis.json", url.Values{"name": {"redis in use " + n},
		"system_name": {"redisinuse" + n}, "private_endpoint": {"http://inuse.example.com"}}, 201), "backend_api")
	usage := idOf(mustAdmin(t, "POST", "/admin/api/services/"+p.sid+"/backend_usages.json",
		url.Values{"backend_api_id": {inUse}, "path": {"/inuse"}}, 201), "backend_usage")
	sandboxServiceToken(t, p.sid)
	version := fmt.Sprint(field(mustAdmin(t, "GET", "/admin/api/services/"+p.sid+"/proxy/configs/sandbox/latest.json", nil, 200), "proxy_config", "version"))
	var backendAppID string
	if err := db.QueryRowContext(ctx, `SELECT application_id FROM cinstances WHERE id=?`, p.appID).Scan(&backendAppID); err != nil {
		t.Fatal(err)
	}
	storage := redisClient(t, secret(t, "backend-redis", "REDIS_STORAGE_URL"))
	backendKeys := "application/service_id:" + p.sid + "/id:" + backendAppID + "/keys"

	rows := func(want int, q string, args ...any) func() error {
		return func() error {
			var got int
			if err := db.QueryRowContext(ctx, q, args...).Scan(&got); err != nil {
				return err
			}
			if got != want {
				return fmt.Errorf("%d rows, want %d: %s", got, want, q)
			}
			return nil
		}
	}
	inBackend := func(key string, want bool) func() error {
		return func() error {
			got, err := storage.SIsMember(ctx, backendKeys, key).Result()
			if err != nil {
				return err
			}
			if got != want {
				return fmt.Errorf("key %s in backend: %v, want %v", key, got, want)
			}
			return nil
		}
	}
	desc := "described with system-redis down " + n
	writes := []struct {
		name, method, path string
		form               url.Values
		status             int
		after              []func() error
	}{
		{"product update (admin-api-write)", "PUT", "/admin/api/services/" + p.sid + ".json", url.Values{"description": {desc}}, 500,
			[]func() error{rows(1, `SELECT COUNT(*) FROM services WHERE id=? AND description=?`, p.sid, desc)}},
		{"notification settings", "PUT", "/admin/api/services/" + p.sid + ".json", url.Values{"notification_settings[web_provider][]": {"50", "100"}}, 500,
			[]func() error{rows(1, `SELECT COUNT(*) FROM services WHERE id=? AND notification_settings IS NOT NULL`, p.sid),
				func() error {
					if n, err := storage.Exists(ctx, "alerts/service_id:"+p.sid+"/allowed_set").Result(); err != nil || n != 0 {
						return fmt.Errorf("backend's alert limits were set during the outage: %d %v", n, err)
					}
					return nil
				}}},
		{"key create (admin-api-write)", "POST", appPath + "/keys.json", url.Values{"key": {"redis-new-" + n}}, 500,
			[]func() error{rows(1, `SELECT COUNT(*) FROM application_keys WHERE application_id=? AND value=?`, p.appID, "redis-new-"+n),
				inBackend("redis-new-"+n, true)}},
		{"key delete (admin-api-write)", "DELETE", appPath + "/keys/redis-old-" + n + ".json", nil, 500,
			[]func() error{rows(0, `SELECT COUNT(*) FROM application_keys WHERE application_id=? AND value=?`, p.appID, "redis-old-"+n),
				inBackend("redis-old-"+n, false)}},
		{"application update (zync-sync)", "PUT", appPath + ".json", url.Values{"description": {desc}}, 500,
			[]func() error{rows(1, `SELECT COUNT(*) FROM cinstances WHERE id=? AND description=?`, p.appID, desc)}},
		{"signup with a plan (search-indexing)", "POST", "/admin/api/signup.json", url.Values{"org_name": {"redisnew" + n}, "username": {"redisnew" + n},
			"email": {"redisnew" + n + "@example.com"}, "password": {"secret-" + n}, "application_plan_id": {p.planID}}, 500,
			[]func() error{rows(0, `SELECT COUNT(*) FROM accounts WHERE org_name=?`, "redisnew"+n)}},
		{"signup (provisioning)", "POST", "/admin/api/signup.json", url.Values{"org_name": {"redisplain" + n}, "username": {"redisplain" + n},
			"email": {"redisplain" + n + "@example.com"}, "password": {"secret-" + n}}, 500,
			[]func() error{rows(0, `SELECT COUNT(*) FROM accounts WHERE org_name=?`, "redisplain"+n)}},
		{"account delete", "DELETE", "/admin/api/accounts/" + doomed + ".json", nil, 500,
			[]func() error{rows(0, `SELECT COUNT(*) FROM accounts WHERE id=?`, doomed)}},
		{"product create", "POST", "/admin/api/services.json", url.Values{"name": {"redis new " + n}, "system_name": {"redisnew" + n}}, 500,
			[]func() error{rows(1, `SELECT COUNT(*) FROM services WHERE system_name=?`, "redisnew"+n),
				rows(0, `SELECT COUNT(*) FROM service_tokens t JOIN services s ON s.id=t.service_id WHERE s.system_name=?`, "redisnew"+n)}},
		{"product delete", "DELETE", "/admin/api/services/" + spare + ".json", nil, 500,
			[]func() error{rows(1, `SELECT COUNT(*) FROM services WHERE id=? AND state='deleted'`, spare)}},
		{"backend API create", "POST", "/admin/api/backend_apis.json", url.Values{"name": {"redis new " + n}, "system_name": {"redisnewbe" + n},
			"private_endpoint": {"http://new.example.com"}}, 500,
			[]func() error{rows(1, `SELECT COUNT(*) FROM backend_apis WHERE system_name=?`, "redisnewbe"+n)}},
		{"backend API delete", "DELETE", "/admin/api/backend_apis/" + unused + ".json", nil, 500,
			[]func() error{rows(1, `SELECT COUNT(*) FROM backend_apis WHERE id=? AND state<>'deleted'`, unused)}},
		{"backend usage create", "POST", "/admin/api/services/" + p.sid + "/backend_usages.json", url.Values{"backend_api_id": {toUse}, "path": {"/touse"}}, 500,
			[]func() error{rows(1, `SELECT COUNT(*) FROM backend_usages WHERE service_id=? AND backend_api_id=?`, p.sid, toUse)}},
		{"backend usage delete", "DELETE", "/admin/api/services/" + p.sid + "/backend_usages/" + usage + ".json", nil, 200,
			[]func() error{rows(0, `SELECT COUNT(*) FROM backend_usages WHERE id=?`, usage)}},
		{"proxy deploy", "POST", "/admin/api/services/" + p.sid + "/proxy/deploy.json", nil, 201, nil},
		{"promote", "POST", "/admin/api/services/" + p.sid + "/proxy/configs/sandbox/" + version + "/promote.json", url.Values{"to": {"production"}}, 201,
			[]func() error{rows(1, `SELECT COUNT(*) FROM proxy_configs c JOIN proxies x ON x.id=c.proxy_id
				WHERE x.service_id=? AND c.environment='production' AND c.version=?`, p.sid, version)}},
	}

	scaleDown(t, "system-redis")
	for _, w := range writes {
		r, err := admin(t, w.method, w.path, w.form)
		if err != nil || r.status != w.status {
			t.Errorf("%s with system-redis down: %v %d %s, want %d", w.name, err, r.status, r.body, w.status)
		}
		var errs []error
		for _, check := range w.after {
			errs = append(errs, check())
		}
		if err := errors.Join(errs...); err != nil {
			t.Errorf("%s with system-redis down: %v", w.name, err)
		}
	}
	scaleUp(t, "system-redis")
	testsupport.Eventually(t, time.Minute, "an application update succeeding with system-redis back", func(context.Context) (bool, string) {
		r, err := admin(t, "PUT", appPath+".json", url.Values{"description": {"back " + n}})
		if err != nil {
			return false, err.Error()
		}
		return r.status == 200, fmt.Sprintf("%d %s", r.status, r.body)
	})
}
