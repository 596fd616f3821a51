package conformance

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/threescale-chaos/harness/internal/testsupport"
)

// portaApp is a user_key product (backend_version 1) with one application, made through the
// Account Management API only.
type portaApp struct {
	name, sid, hitsID, planID string
	accountID, appID          string
	app                       map[string]any // the application's JSON object
}

func newPortaApp(t *testing.T, prefix string) *portaApp {
	t.Helper()
	n := fmt.Sprintf("%s%d%d", prefix, time.Now().Unix()%100000, productSeq.Add(1))
	p := &portaApp{name: n + " app"}
	p.sid = idOf(mustAdmin(t, "POST", "/admin/api/services.json", url.Values{"name": {n}, "system_name": {n}, "backend_version": {"1"}}, 201), "service")
	useEchoBackend(t, p.sid) // without a backend porta deploys no configuration
	metrics := mustAdmin(t, "GET", "/admin/api/services/"+p.sid+"/metrics.json", nil, 200)
	for _, m := range metrics["metrics"].([]any) {
		if field(m.(map[string]any), "metric", "system_name") == "hits" {
			p.hitsID = fmt.Sprint(int64(field(m.(map[string]any), "metric", "id").(float64)))
		}
	}
	plan := mustAdmin(t, "POST", "/admin/api/services/"+p.sid+"/application_plans.json", url.Values{"name": {"basic"}, "state_event": {"publish"}}, 201)
	acc := mustAdmin(t, "POST", "/admin/api/signup.json", url.Values{"org_name": {n}, "username": {n}, "email": {n + "@example.com"}, "password": {"secret-" + n}}, 201)
	p.accountID = idOf(acc, "account")
	p.planID = idOf(plan, "application_plan")
	app := mustAdmin(t, "POST", "/admin/api/accounts/"+p.accountID+"/applications.json", url.Values{"plan_id": {p.planID}, "name": {p.name}}, 201)
	p.appID = idOf(app, "application")
	p.app = app["application"].(map[string]any)
	return p
}

// An application of a user_key product, as porta 3scale-2.16.4-GA renders it and syncs it:
//   - its JSON has user_key and provider_verification_key and no application_id, and its XML
//     likewise (porta@3scale-2.16.4-GA:app/representers/cinstance_representer.rb
//     `if: backend_version.v1?` / `v2? || oauth?`; app/models/cinstance.rb to_xml);
//   - the id backend knows it by is only in backend-redis: porta saves apisonator's mapping
//     application/service_id:<sid>/key:<user_key>/id synchronously in the application's
//     after_commit (app/lib/backend/model_extensions/cinstance.rb
//     update_backend_user_key_to_application_id_mapping → Core::Application.save_id_by_key;
//     apisonator@3scale-2.16.4-GA:lib/3scale/backend/application.rb id_by_key_storage_key), and
//     that id is the one backend counts reports under (stats/{service:S}/cinstance:<id>/…).
func TestPortaApplicationUserKeyRepresentation(t *testing.T) {
	p := newPortaApp(t, "reprv1")
	userKey, _ := p.app["user_key"].(string)
	if userKey == "" {
		t.Fatalf("application JSON of a user_key product has no user_key: %v", p.app)
	}
	if _, ok := p.app["application_id"]; ok {
		t.Errorf("application JSON of a user_key product has application_id: %v", p.app)
	}
	if _, ok := p.app["provider_verification_key"]; !ok {
		t.Errorf("application JSON of a user_key product lacks provider_verification_key: %v", p.app)
	}
	for _, path := range []string{"/admin/api/accounts/" + p.accountID + "/applications.json", "/admin/api/applications/find.json?user_key=" + userKey} {
		r, err := admin(t, "GET", strings.Split(path, "?")[0], url.Values{"user_key": {userKey}})
		if err != nil || r.status != 200 || strings.Contains(r.body, `"application_id"`) || !strings.Contains(r.body, userKey) {
			t.Errorf("%s: %v %d %s", path, err, r.status, r.body)
		}
	}
	r, err := admin(t, "GET", "/admin/api/accounts/"+p.accountID+"/applications/"+p.appID+".xml", nil)
	if err != nil || r.status != 200 || !strings.Contains(r.body, "<user_key>"+userKey+"</user_key>") || strings.Contains(r.body, "<application_id>") {
		t.Errorf("application XML of a user_key product: %v %d %s", err, r.status, r.body)
	}

	ctx := context.Background()
	storage := redisClient(t, secret(t, "backend-redis", "REDIS_STORAGE_URL"))
	key := "application/service_id:" + p.sid + "/key:" + userKey + "/id"
	backendID, err := storage.Get(ctx, key).Result()
	if err != nil || backendID == "" {
		t.Fatalf("backend-redis %s right after the create answered: %q %v", key, backendID, err)
	}

	// A report with the user_key is counted under that id (retried until backend has the
	// product's metrics, which porta syncs from a Sidekiq job).
	token := sandboxServiceToken(t, p.sid)
	form := url.Values{"service_token": {token}, "service_id": {p.sid}, "transactions[0][user_key]": {userKey}, "transactions[0][usage][hits]": {"1"}}
	testsupport.Eventually(t, 60*time.Second, "backend knows the product's hits metric and counts the report", func(ctx context.Context) (bool, string) {
		if r, err := call("POST", listenerURL()+"/transactions.xml", form, "", ""); err != nil || r.status != 202 {
			return false, fmt.Sprintf("report: %v %d %s", err, r.status, r.body)
		}
		n, err := storage.Get(ctx, "stats/{service:"+p.sid+"}/cinstance:"+backendID+"/metric:"+p.hitsID+"/eternity").Int64()
		if err == redis.Nil {
			return false, "no counter under cinstance:" + backendID
		}
		return err == nil && n >= 1, fmt.Sprintf("hits=%d err=%v", n, err)
	})
}
