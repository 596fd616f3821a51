package system

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/threescale-chaos/harness/internal/testsupport"
)

// redisWrite is one Account Management API write made with system-redis down and what porta
// 3scale-2.16.4-GA (and 2.15.1-GA) answers: the status, and a check of what the write left in
// the database and in backend (nil when it is as porta leaves it, else what is wrong). Each
// handler's comment cites the source.
type redisWrite struct {
	name, method, path string
	form               url.Values
	status             int
	after              func() error
}

// testSystemRedisWrites makes every write the harness makes while system-redis is stopped and
// pins porta's outcome for each (sid is a product with an application plan planID):
//   - 500 with the write rolled back where a job is enqueued inside the transaction: a signup
//     with a password (its account approval enqueues at once) and a backend API delete
//     (schedule_deletion in the state machine's after_transition);
//   - 500 with the write committed where an after_commit callback enqueues: product create,
//     update (description or notification settings) and delete, key create and delete,
//     application update, signup without a password, account delete, backend API create,
//     backend usage create;
//   - success where no job is involved: backend usage delete, proxy deploy and promote.
//
// It also pins what the failing after_commit chain leaves undone: a product's audit raises
// before its backend syncs, so neither the product nor its alert limits reach backend; a key's
// backend sync runs before its audit, so backend has it; an application update neither syncs
// backend nor keeps its zync job.
//
// It returns the buyer and the application it made.
func testSystemRedisWrites(t *testing.T, e *testEnv, sid, planID int64) (aid, cid int64) {
	ctx := context.Background()
	db := e.sqlDB()
	stamp := strconv.FormatInt(time.Now().UnixNano()%1000000, 10)
	create := func(what, method, path string, form url.Values) int64 {
		t.Helper()
		code, body := e.admin(method, path, form)
		var doc map[string]map[string]any
		mustJSON(t, 201, code, body, &doc)
		for _, v := range doc {
			if n, ok := v["id"].(float64); ok {
				return int64(n)
			}
		}
		t.Fatalf("%s: no id in %s", what, body)
		return 0
	}

	// What the writes need, made while system-redis is up.
	aid = create("buyer", "POST", "/admin/api/signup.json", url.Values{"org_name": {"redisorg" + stamp}, "username": {"redisorg" + stamp},
		"email": {"redisorg" + stamp + "@example.test"}, "password": {"pw"}})
	doomed := create("buyer to delete", "POST", "/admin/api/signup.json", url.Values{"org_name": {"redisdoomed" + stamp},
		"username": {"redisdoomed" + stamp}, "email": {"redisdoomed" + stamp + "@example.test"}, "password": {"pw"}})
	cid = create("application", "POST", fmt.Sprintf("/admin/api/accounts/%d/applications.json", aid),
		url.Values{"plan_id": {strconv.FormatInt(planID, 10)}, "name": {"Redis app"}})
	appPath := fmt.Sprintf("/admin/api/accounts/%d/applications/%d", aid, cid)
	if code, body := e.admin("POST", appPath+"/keys.json", url.Values{"key": {"redis-old-" + stamp}}); code != 201 {
		t.Fatalf("key: %d %s", code, body)
	}
	spare := create("product to delete", "POST", "/admin/api/services.json", url.Values{"name": {"Redis spare " + stamp}})
	unusedBackend := create("backend API to delete", "POST", "/admin/api/backend_apis.json",
		url.Values{"name": {"Redis unused " + stamp}, "private_endpoint": {"http://unused.example.test"}})
	newUsageBackend := create("backend API to use", "POST", "/admin/api/backend_apis.json",
		url.Values{"name": {"Redis used " + stamp}, "private_endpoint": {"http://used.example.test"}})
	usedBackend := create("backend API in use", "POST", "/admin/api/backend_apis.json",
		url.Values{"name": {"Redis in use " + stamp}, "private_endpoint": {"http://inuse.example.test"}})
	usage := create("backend usage to delete", "POST", fmt.Sprintf("/admin/api/services/%d/backend_usages.json", sid),
		url.Values{"backend_api_id": {strconv.FormatInt(usedBackend, 10)}, "path": {"/inuse" + stamp}})
	var latest struct {
		ProxyConfig struct {
			Version int `json:"version"`
		} `json:"proxy_config"`
	}
	code, body := e.admin("POST", fmt.Sprintf("/admin/api/services/%d/proxy/deploy.json", sid), nil)
	if code != 201 {
		t.Fatalf("deploy: %d %s", code, body)
	}
	code, body = e.admin("GET", fmt.Sprintf("/admin/api/services/%d/proxy/configs/sandbox/latest.json", sid), nil)
	mustJSON(t, 200, code, body, &latest)

	count := func(q string, args ...any) int {
		t.Helper()
		var n int
		if err := db.QueryRowContext(ctx, q, args...).Scan(&n); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return n
	}
	backendCalls := func(method, path string) int {
		n := 0
		for _, r := range e.backend.all() {
			if (method == "" || r.Method == method) && r.Path == path {
				n++
			}
		}
		return n
	}
	servicePath := fmt.Sprintf("/internal/services/%d", sid)
	alertLimits := servicePath + "/alert_limits"
	backendApp := fmt.Sprintf("%s/applications/%s", servicePath, e.backendAppID(cid))
	before := map[string]int{
		"service": backendCalls("PUT", servicePath), "alert limits": backendCalls("", alertLimits) + backendCalls("", alertLimits+"/"),
		"key save": backendCalls("POST", backendApp+"/keys/"), "key delete": backendCalls("DELETE", backendApp+"/keys/redis-old-"+stamp),
		"application": backendCalls("PUT", backendApp),
	}
	unchanged := func(what string, now int) error {
		if now != before[what] {
			return fmt.Errorf("backend got %d %s calls during the outage, want none", now-before[what], what)
		}
		return nil
	}
	one := func(what string, now int) error {
		if now != before[what]+1 {
			return fmt.Errorf("backend got %d %s calls during the outage, want 1", now-before[what], what)
		}
		return nil
	}
	exists := func(what string, want int, q string, args ...any) func() error {
		return func() error {
			if n := count(q, args...); n != want {
				return fmt.Errorf("%s: %d rows, want %d", what, n, want)
			}
			return nil
		}
	}
	all := func(checks ...func() error) func() error {
		return func() error {
			var errs []error
			for _, c := range checks {
				errs = append(errs, c())
			}
			return errors.Join(errs...)
		}
	}
	desc := "described during the outage " + stamp

	e.sysRedis.Stop()
	restarted := false
	defer func() {
		if !restarted {
			e.sysRedis.Restart()
		}
	}()
	writes := []redisWrite{
		{"product update", "PUT", fmt.Sprintf("/admin/api/services/%d.json", sid), url.Values{"description": {desc}}, 500, all(
			exists("product with the new description", 1, `SELECT COUNT(*) FROM services WHERE id=? AND description=?`, sid, desc),
			func() error { return unchanged("service", backendCalls("PUT", servicePath)) })},
		{"notification settings", "PUT", fmt.Sprintf("/admin/api/services/%d.json", sid), url.Values{"notification_settings[web_provider][]": {"50", "80"}}, 500, all(
			exists("product with the settings", 1, `SELECT COUNT(*) FROM services WHERE id=? AND notification_settings LIKE '%80%'`, sid),
			func() error {
				return unchanged("alert limits", backendCalls("", alertLimits)+backendCalls("", alertLimits+"/"))
			})},
		{"key create", "POST", appPath + "/keys.json", url.Values{"key": {"redis-new-" + stamp}}, 500, all(
			exists("new key", 1, `SELECT COUNT(*) FROM application_keys WHERE application_id=? AND value=?`, cid, "redis-new-"+stamp),
			func() error { return one("key save", backendCalls("POST", backendApp+"/keys/")) })},
		{"key delete", "DELETE", appPath + "/keys/redis-old-" + stamp + ".json", nil, 500, all(
			exists("deleted key", 0, `SELECT COUNT(*) FROM application_keys WHERE application_id=? AND value=?`, cid, "redis-old-"+stamp),
			func() error {
				return one("key delete", backendCalls("DELETE", backendApp+"/keys/redis-old-"+stamp))
			})},
		{"application update", "PUT", appPath + ".json", url.Values{"description": {desc}}, 500, all(
			exists("application with the new description", 1, `SELECT COUNT(*) FROM cinstances WHERE id=? AND description=?`, cid, desc),
			func() error { return unchanged("application", backendCalls("PUT", backendApp)) })},
		{"signup with a password and a plan", "POST", "/admin/api/signup.json", url.Values{"org_name": {"redisnew" + stamp}, "username": {"redisnew" + stamp},
			"email": {"redisnew" + stamp + "@example.test"}, "password": {"pw"}, "application_plan_id": {strconv.FormatInt(planID, 10)}}, 500, all(
			exists("rolled-back account", 0, `SELECT COUNT(*) FROM accounts WHERE org_name=?`, "redisnew"+stamp),
			exists("rolled-back user", 0, `SELECT COUNT(*) FROM users WHERE username=?`, "redisnew"+stamp))},
		{"signup without a password", "POST", "/admin/api/signup.json", url.Values{"org_name": {"redisnopw" + stamp}, "username": {"redisnopw" + stamp},
			"email": {"redisnopw" + stamp + "@example.test"}}, 500,
			exists("committed account", 1, `SELECT COUNT(*) FROM accounts WHERE org_name=?`, "redisnopw"+stamp)},
		{"account delete", "DELETE", fmt.Sprintf("/admin/api/accounts/%d.json", doomed), nil, 500,
			exists("deleted account", 0, `SELECT COUNT(*) FROM accounts WHERE id=?`, doomed)},
		{"product create", "POST", "/admin/api/services.json", url.Values{"name": {"Redis product " + stamp}, "system_name": {"redisproduct" + stamp}}, 500, all(
			exists("committed product", 1, `SELECT COUNT(*) FROM services WHERE system_name=?`, "redisproduct"+stamp),
			exists("service token", 0, `SELECT COUNT(*) FROM service_tokens t JOIN services s ON s.id=t.service_id WHERE s.system_name=?`, "redisproduct"+stamp),
			func() error {
				var nid int64
				if err := db.QueryRowContext(ctx, `SELECT id FROM services WHERE system_name=?`, "redisproduct"+stamp).Scan(&nid); err != nil {
					return err
				}
				if n := backendCalls("PUT", fmt.Sprintf("/internal/services/%d", nid)); n != 0 {
					return fmt.Errorf("backend got the product created during the outage (%d calls)", n)
				}
				return nil
			})},
		{"product delete", "DELETE", fmt.Sprintf("/admin/api/services/%d.json", spare), nil, 500,
			exists("product marked deleted", 1, `SELECT COUNT(*) FROM services WHERE id=? AND state='deleted'`, spare)},
		{"backend API create", "POST", "/admin/api/backend_apis.json", url.Values{"name": {"Redis backend " + stamp},
			"system_name": {"redisbackend" + stamp}, "private_endpoint": {"http://new.example.test"}}, 500,
			exists("committed backend API", 1, `SELECT COUNT(*) FROM backend_apis WHERE system_name=?`, "redisbackend"+stamp)},
		{"backend API delete", "DELETE", fmt.Sprintf("/admin/api/backend_apis/%d.json", unusedBackend), nil, 500,
			exists("backend API not deleted", 1, `SELECT COUNT(*) FROM backend_apis WHERE id=? AND state<>'deleted'`, unusedBackend)},
		{"backend usage create", "POST", fmt.Sprintf("/admin/api/services/%d/backend_usages.json", sid),
			url.Values{"backend_api_id": {strconv.FormatInt(newUsageBackend, 10)}, "path": {"/used" + stamp}}, 500,
			exists("committed backend usage", 1, `SELECT COUNT(*) FROM backend_usages WHERE service_id=? AND backend_api_id=?`, sid, newUsageBackend)},
		{"backend usage delete", "DELETE", fmt.Sprintf("/admin/api/services/%d/backend_usages/%d.json", sid, usage), nil, 200,
			exists("deleted backend usage", 0, `SELECT COUNT(*) FROM backend_usages WHERE id=?`, usage)},
		{"proxy deploy", "POST", fmt.Sprintf("/admin/api/services/%d/proxy/deploy.json", sid), nil, 201, nil},
		{"promote", "POST", fmt.Sprintf("/admin/api/services/%d/proxy/configs/sandbox/%d/promote.json", sid, latest.ProxyConfig.Version),
			url.Values{"to": {"production"}}, 201,
			exists("production config", 1, `SELECT COUNT(*) FROM proxy_configs c JOIN proxies p ON p.id=c.proxy_id
				WHERE p.service_id=? AND c.environment='production' AND c.version=?`, sid, latest.ProxyConfig.Version)},
	}
	for _, w := range writes {
		code, body := e.admin(w.method, w.path, w.form)
		if code != w.status {
			t.Errorf("%s with system-redis down: %d %s, want %d", w.name, code, body, w.status)
		}
		if w.after != nil {
			if err := w.after(); err != nil {
				t.Errorf("%s with system-redis down: %v", w.name, err)
			}
		}
	}
	// Master's /status reports the Redis connection (porta@3scale-2.16.4-GA:
	// app/controllers/application_controller.rb, System.redis.ping).
	code, body = e.do("GET", e.master, "system-master", "/status", nil)
	var st map[string]any
	if err := json.Unmarshal([]byte(body), &st); err != nil || st["redis_connection"] != false || st["status"] != false || st["redis_error"] == nil {
		t.Errorf("/status with redis down: %d %s", code, body)
	}
	e.sysRedis.Restart()
	restarted = true
	// Back: writes succeed again once the app's connections to Redis are fresh.
	testsupport.Eventually(t, 30*time.Second, "an application update succeeding with system-redis back", testsupport.NoError(func(context.Context) error {
		if code, body := e.admin("PUT", appPath+".json", url.Values{"description": {"after the outage " + stamp}}); code != 200 {
			return fmt.Errorf("%d %s", code, body)
		}
		return nil
	}))
	return aid, cid
}

// testSubscribersAfterAFailedCallback pins Rails' commit_records: once a model's after_commit
// callback raised, the subscribers of the events published in the transaction still run
// (porta's AfterCommitCallback ignores should_run_callbacks). A key created while backend
// fails answers 500, and its ApplicationUpdatedEvent's ZyncWorker is enqueued all the same
// and reaches zync. A new application is used, so that no other job of it is in flight.
func testSubscribersAfterAFailedCallback(t *testing.T, e *testEnv, aid, planID int64) {
	code, body := e.admin("POST", fmt.Sprintf("/admin/api/accounts/%d/applications.json", aid),
		url.Values{"plan_id": {strconv.FormatInt(planID, 10)}, "name": {"Backendless keys"}})
	var app struct {
		Application struct {
			ID int64 `json:"id"`
		} `json:"application"`
	}
	mustJSON(t, 201, code, body, &app)
	cid := app.Application.ID
	notifications := func() int {
		n := 0
		for _, r := range e.zync.find("PUT", "/notification") {
			if strings.Contains(r.Body, `"type":"Application"`) && strings.Contains(r.Body, fmt.Sprintf(`"id":%d,`, cid)) {
				n++
			}
		}
		return n
	}
	testsupport.Eventually(t, 30*time.Second, "the new application's ZyncWorker reaching zync", testsupport.NoError(func(context.Context) error {
		if n := notifications(); n != 1 {
			return fmt.Errorf("%d notifications for application %d", n, cid)
		}
		return nil
	}))
	e.backendDown.Store(true)
	code, body = e.admin("POST", fmt.Sprintf("/admin/api/accounts/%d/applications/%d/keys.json", aid, cid), url.Values{"key": {"backendless-key"}})
	e.backendDown.Store(false)
	if code != 500 {
		t.Fatalf("key create with backend failing: %d %s, want 500", code, body)
	}
	testsupport.Eventually(t, 30*time.Second, "the key's ZyncWorker reaching zync", testsupport.NoError(func(context.Context) error {
		if n := notifications(); n != 2 {
			return fmt.Errorf("%d notifications for application %d, want 2", n, cid)
		}
		return nil
	}))
}

// testOIDCSyncToken pins the token ZyncWorker sends zync (porta@3scale-2.16.4-GA:
// app/workers/zync_worker.rb provider_access_token, app/models/access_token.rb oidc_sync): a
// row named "OIDC Synchronization Token", owned by the tenant's impersonation admin, read-only
// account_management, never expiring, found again (the first by id) on every run, with
// memcached down too: no run adds a row.
func testOIDCSyncToken(t *testing.T, e *testEnv, aid, cid int64) {
	ctx := context.Background()
	type token struct {
		value, owner, scopes, perm string
		expires                    sql.NullTime
	}
	tokens := func() []token {
		t.Helper()
		rows, err := e.sqlDB().QueryContext(ctx, `SELECT t.value, u.username, t.scopes, t.permission, t.expires_at FROM access_tokens t
			JOIN users u ON u.id=t.owner_id JOIN accounts a ON a.id=u.account_id WHERE t.name='OIDC Synchronization Token' AND a.admin_domain=?`, adminHost)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []token
		for rows.Next() {
			var k token
			if err := rows.Scan(&k.value, &k.owner, &k.scopes, &k.perm, &k.expires); err != nil {
				t.Fatal(err)
			}
			out = append(out, k)
		}
		return out
	}
	sent := func() []string {
		var out []string
		for _, r := range e.zync.find("PUT", "/tenant") {
			var body struct {
				AccessToken string `json:"access_token"`
			}
			if json.Unmarshal([]byte(r.Body), &body) == nil {
				out = append(out, body.AccessToken)
			}
		}
		return out
	}
	// The first ZyncWorker runs may each create one, as find_or_create_by! may when two run at
	// once; after that the rows do not change.
	var first []token
	check := func(when string) {
		t.Helper()
		got := tokens()
		if len(got) == 0 {
			t.Fatalf("%s: no OIDC sync token", when)
		}
		if first == nil {
			first = got
		}
		if len(got) != len(first) {
			t.Errorf("%s: %d OIDC sync tokens, %d before: a run made a new one", when, len(got), len(first))
		}
		for _, k := range got {
			if k.owner != impersonationAdmin || k.scopes != "account_management" || k.perm != "ro" || k.expires.Valid {
				t.Errorf("%s: token %+v, want owner %s, account_management, ro, no expiry", when, k, impersonationAdmin)
			}
		}
		s := sent()
		if len(s) == 0 || s[len(s)-1] != got[0].value {
			t.Errorf("%s: zync was last sent another token than the first row's", when)
		}
	}
	update := func(desc string) {
		t.Helper()
		n := len(e.zync.find("PUT", "/tenant"))
		if code, body := e.admin("PUT", fmt.Sprintf("/admin/api/accounts/%d/applications/%d.json", aid, cid), url.Values{"description": {desc}}); code != 200 {
			t.Fatalf("application update: %d %s", code, body)
		}
		testsupport.Eventually(t, 30*time.Second, "ZyncWorker's PUT /tenant", testsupport.NoError(func(context.Context) error {
			if m := len(e.zync.find("PUT", "/tenant")); m <= n {
				return fmt.Errorf("%d PUT /tenant, as before", m)
			}
			return nil
		}))
	}
	update("token check 1")
	check("after a ZyncWorker run")
	update("token check 2")
	check("after another run")
	e.memcached.Stop()
	defer e.memcached.Restart()
	update("token check without memcached")
	check("with memcached down")
}
