package conformance

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/threescale-chaos/harness/internal/testsupport"
)

// listed is the {"<kind>": {…}} items of a list answer whose field equals value.
func listed(m map[string]any, list, kind, fieldName, value string) []map[string]any {
	var out []map[string]any
	items, _ := m[list].([]any)
	for _, it := range items {
		obj, _ := it.(map[string]any)[kind].(map[string]any)
		if fmt.Sprint(obj[fieldName]) == value {
			out = append(out, obj)
		}
	}
	return out
}

// The data of a fresh install, as porta 3scale-2.16.4-GA's db/seeds.rb and the sample data
// job make it (SAMPLE_DATA defaults to '1'; 3scale-2.15.1-GA is the same):
//   - the tenant's first product "API" (system_name api) with its backend "API Backend" on the
//     echo API, made when the provider account is created
//     (porta@3scale-2.16.4-GA:app/models/account/provider_methods.rb create_first_service,
//     app/services/service_creator.rb, app/lib/backend_api_logic/service_extension.rb);
//   - SignupWorker → SampleDataWorker: the plans Basic (default) and Unlimited on it, and the
//     buyer "Developer" with "Developer's App" on Basic (app/workers/signup_worker.rb,
//     app/lib/logic/provider_signup.rb SampleData#create!, signup_user);
//   - master's "Master Service" with its plans and every alert level in its notification
//     settings (db/seeds.rb), and the provider's random 10-hex site_access_code
//     (app/models/account.rb generate_site_access_code).
//
// The harness counts the tenant's products, backend APIs and accounts around a run and must
// find these.
func TestPortaSeededData(t *testing.T) {
	services := mustAdmin(t, "GET", "/admin/api/services.json", url.Values{"per_page": {"500"}}, 200)
	api := listed(services, "services", "service", "system_name", "api")
	if len(api) != 1 || api[0]["name"] != "API" {
		t.Fatalf("the seeded API product: %v", api)
	}
	apiID := fmt.Sprint(int64(api[0]["id"].(float64)))
	backends := mustAdmin(t, "GET", "/admin/api/backend_apis.json", url.Values{"per_page": {"500"}}, 200)
	be := listed(backends, "backend_apis", "backend_api", "system_name", "api")
	if len(be) != 1 || be[0]["name"] != "API Backend" || be[0]["private_endpoint"] != "https://echo-api.3scale.net:443" {
		t.Errorf("the seeded API Backend: %v", be)
	}
	plans := mustAdmin(t, "GET", "/admin/api/services/"+apiID+"/application_plans.json", nil, 200)
	basic, unlimited := listed(plans, "plans", "application_plan", "name", "Basic"), listed(plans, "plans", "application_plan", "name", "Unlimited")
	if len(basic) != 1 || basic[0]["default"] != true || basic[0]["state"] != "published" || len(unlimited) != 1 || unlimited[0]["state"] != "published" {
		t.Errorf("sample plans of API: %v", plans)
	}
	var developer map[string]any
	testsupport.Eventually(t, 60*time.Second, "the sample buyer Developer", func(context.Context) (bool, string) {
		r, err := admin(t, "GET", "/admin/api/accounts.json", url.Values{"per_page": {"500"}})
		if err != nil || r.status != 200 {
			return false, fmt.Sprintf("%v %d", err, r.status)
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(r.body), &m); err != nil {
			return false, err.Error()
		}
		if d := listed(m, "accounts", "account", "org_name", "Developer"); len(d) == 1 {
			developer = d[0]
			return true, ""
		}
		return false, "no single Developer account"
	})
	apps := mustAdmin(t, "GET", fmt.Sprintf("/admin/api/accounts/%d/applications.json", int64(developer["id"].(float64))), nil, 200)
	if a := listed(apps, "applications", "application", "name", "Developer's App"); len(a) != 1 || fmt.Sprint(a[0]["service_id"]) != apiID {
		t.Errorf("Developer's App on API: %v", apps)
	}

	ctx := context.Background()
	db := systemDB(t)
	var settings string
	if err := db.QueryRowContext(ctx, `SELECT s.notification_settings FROM services s JOIN accounts a ON a.id=s.account_id WHERE a.kind='master' AND s.name='Master Service'`).Scan(&settings); err != nil {
		t.Fatalf("master service: %v", err)
	}
	for _, k := range []string{"web_provider", "email_provider", "web_buyer", "email_buyer"} {
		if !strings.Contains(settings, `"`+k+`":[0,50,80,90,100,120,150,200,300]`) {
			t.Errorf("master service notification_settings lacks %s with every level: %s", k, settings)
		}
	}
	var code string
	if err := db.QueryRowContext(ctx, `SELECT site_access_code FROM accounts WHERE admin_domain=?`, adminHost()).Scan(&code); err != nil || !regexp.MustCompile(`^[0-9a-f]{10}$`).MatchString(code) {
		t.Errorf("provider site_access_code %q %v", code, err)
	}
}
