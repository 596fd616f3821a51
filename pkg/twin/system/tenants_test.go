package system

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/threescale-chaos/harness/pkg/twin/system/sidekiq"
)

// A tenant made on master: its admin is pending and gets the activation e-mail job, its API
// product is saved to backend, SignupWorker is queued, and its state follows state_event
// (porta@3scale-2.16.4-GA:app/controllers/master/api/providers_controller.rb create, update;
// app/models/account/states.rb; app/lib/api_authentication/suspended_account.rb).
func TestMasterTenants(t *testing.T) {
	e := newEnv(t)
	master := func(method, path string, form url.Values) (int, string) {
		return e.do(method, e.master, "master."+superdomain, path+"?access_token="+masterToken, form)
	}
	code, body := master("POST", "/master/api/providers.json", url.Values{"org_name": {"Second Co"}, "username": {"second"}, "email": {"second@x.test"}, "password": {"pw"}})
	var created struct {
		Signup struct {
			Account struct {
				ID          int64  `json:"id"`
				AdminDomain string `json:"admin_domain"`
				State       string `json:"state"`
			} `json:"account"`
			AccessToken struct {
				Value string `json:"value"`
			} `json:"access_token"`
		} `json:"signup"`
	}
	mustJSON(t, 201, code, body, &created)
	acc := created.Signup.Account
	if acc.AdminDomain != "second-co-admin."+superdomain || acc.State != "approved" {
		t.Fatalf("created tenant: %s", body)
	}
	var userState string
	if err := e.sqlDB().QueryRow(`SELECT state FROM users WHERE account_id=? AND username='second'`, acc.ID).Scan(&userState); err != nil || userState != "pending" {
		t.Errorf("new tenant's admin: %q %v, want pending", userState, err)
	}
	jobs, err := sidekiq.QueuedJobs(context.Background(), e.rdb, "default")
	if err != nil {
		t.Fatal(err)
	}
	mailed := false
	for _, j := range jobs {
		if j.Name() == ClassMailDelivery && len(j.Args) > 1 && string(j.Args[0]) == `"ProviderUserMailer"` && string(j.Args[1]) == `"activation"` {
			mailed = true
		}
	}
	if !mailed {
		t.Errorf("no ProviderUserMailer activation job queued: %v", queuedNames(t, e.rdb, "default"))
	}
	if !contains(queuedNames(t, e.rdb, "critical"), ClassSignup) {
		t.Errorf("SignupWorker not queued: %v", queuedNames(t, e.rdb, "critical"))
	}
	var apiID string
	if err := e.sqlDB().QueryRow(`SELECT id FROM services WHERE account_id=? AND system_name='api'`, acc.ID).Scan(&apiID); err != nil {
		t.Fatal(err)
	}
	if saved := e.backend.find("PUT", "/internal/services/"+apiID); len(saved) == 0 {
		t.Errorf("new tenant's API product %s not saved to backend", apiID)
	}

	path := "/master/api/providers/" + id(acc.ID) + ".json"
	tenantAPI := func() (int, string) {
		return e.do("GET", e.provider, acc.AdminDomain, "/admin/api/services.json?access_token="+created.Signup.AccessToken.Value, nil)
	}
	if code, body := tenantAPI(); code != 200 {
		t.Fatalf("new tenant's admin API: %d %s", code, body)
	}
	if code, body := master("PUT", path, url.Values{"account[state_event]": {"suspend"}}); code != 200 || !strings.Contains(body, `"state":"suspended"`) {
		t.Errorf("suspend: %d %s", code, body)
	}
	if code, body := tenantAPI(); code != 403 || body != "" {
		t.Errorf("suspended tenant's admin API: %d %q, want 403 and no body", code, body)
	}
	if code, body := master("PUT", path, url.Values{"account[state_event]": {"resume"}}); code != 200 || !strings.Contains(body, `"state":"approved"`) {
		t.Errorf("resume: %d %s", code, body)
	}
	code, body = master("PUT", path, url.Values{"account[state_event]": {"approve"}})
	var errs map[string]map[string][]string
	if json.Unmarshal([]byte(body), &errs) != nil || code != 422 || errs["errors"]["account"][0] != `State cannot transition via "approve"` {
		t.Errorf("approve an approved tenant: %d %s, want 422", code, body)
	}
	if code, body := master("GET", path, nil); code != 200 || strings.Contains(body, "access_token") {
		t.Errorf("show: %d %s", code, body)
	}
	if code, body := e.do("GET", e.master, "master."+superdomain, path, nil); code != 401 || body != "unauthorized" {
		t.Errorf("show without credentials: %d %q, want 401 unauthorized", code, body)
	}
}
