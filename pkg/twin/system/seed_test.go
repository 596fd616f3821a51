package system

import (
	"context"
	"fmt"
	"net/url"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/threescale-chaos/harness/internal/testsupport"
	"github.com/threescale-chaos/harness/pkg/twin/system/sidekiq"
)

// testSeed pins the data of a fresh install to porta 3scale-2.16.4-GA's db/seeds.rb and its
// sample data (app/models/account/provider_methods.rb create_first_service;
// app/workers/signup_worker.rb; app/lib/logic/provider_signup.rb SampleData#create!). Called
// once sidekiq has drained the queues.
func testSeed(t *testing.T, e *testEnv) {
	ctx := context.Background()
	db := e.sqlDB()

	// Master: its service with every alert level in every notification setting, its plans
	// (enterprise the default) and metrics; the provider's contract on enterprise, whose
	// user_key is the provider key.
	var masterSvc int64
	var settings, masterCode string
	if err := db.QueryRowContext(ctx, `SELECT s.id, s.notification_settings, COALESCE(a.site_access_code,'-') FROM services s JOIN accounts a ON a.id=s.account_id
		WHERE a.kind='master' AND s.name='Master Service' AND s.system_name='master_service' AND s.deployment_option='self_managed'`).Scan(&masterSvc, &settings, &masterCode); err != nil {
		t.Fatalf("master service: %v", err)
	}
	ns := decodeNotificationSettings(settings)
	all := []int{0, 50, 80, 90, 100, 120, 150, 200, 300}
	for _, k := range notificationKeys {
		if !reflect.DeepEqual(ns[k], all) {
			t.Errorf("master service notification_settings[%s] = %v", k, ns[k])
		}
	}
	if masterCode != "" {
		t.Errorf("master site_access_code %q, want MASTER_ACCESS_CODE's default ''", masterCode)
	}
	var plans string
	if err := db.QueryRowContext(ctx, `SELECT GROUP_CONCAT(CONCAT(name, ':', is_default) ORDER BY id) FROM plans WHERE issuer_id=?`, masterSvc).Scan(&plans); err != nil || plans != "Master Plan:0,enterprise:1" {
		t.Errorf("master plans %q %v", plans, err)
	}
	var metrics string
	if err := db.QueryRowContext(ctx, `SELECT GROUP_CONCAT(system_name ORDER BY id) FROM metrics WHERE owner_type='Service' AND owner_id=?`, masterSvc).Scan(&metrics); err != nil || metrics != "hits,billing,account,analytics" {
		t.Errorf("master metrics %q %v", metrics, err)
	}
	var contract int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM cinstances c JOIN accounts a ON a.id=c.user_account_id JOIN plans p ON p.id=c.plan_id
		WHERE a.admin_domain=? AND c.service_id=? AND p.name='enterprise' AND c.user_key=a.api_key`, adminHost, masterSvc).Scan(&contract); err != nil || contract != 1 {
		t.Errorf("the provider's contract with master (user_key = provider key): %d %v", contract, err)
	}

	// The provider: a random 10-hex site access code, sample data done, and its first product
	// "API" with its backend "API Backend" on the echo API, seen through the API.
	var code string
	var sample bool
	if err := db.QueryRowContext(ctx, `SELECT site_access_code, sample_data FROM accounts WHERE admin_domain=?`, adminHost).Scan(&code, &sample); err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^[0-9a-f]{10}$`).MatchString(code) || sample {
		t.Errorf("provider site_access_code %q (SecureRandom.hex(5)), sample_data still pending: %v", code, sample)
	}
	code2, body := e.admin("GET", "/admin/api/services.json", nil)
	if code2 != 200 || !strings.Contains(body, `"name":"API"`) || !strings.Contains(body, `"system_name":"api"`) {
		t.Errorf("the seeded API product: %d %s", code2, body)
	}
	code2, body = e.admin("GET", "/admin/api/backend_apis.json", nil)
	if code2 != 200 || !strings.Contains(body, `"name":"API Backend"`) || !strings.Contains(body, `"private_endpoint":"https://echo-api.3scale.net:443"`) {
		t.Errorf("the seeded API Backend: %d %s", code2, body)
	}
	var apiPlans string
	if err := db.QueryRowContext(ctx, `SELECT GROUP_CONCAT(CONCAT(p.name, ':', p.state, ':', p.is_default) ORDER BY p.id) FROM plans p JOIN services s ON s.id=p.issuer_id
		JOIN accounts a ON a.id=s.account_id WHERE a.admin_domain=? AND s.system_name='api'`, adminHost).Scan(&apiPlans); err != nil || apiPlans != "Basic:published:1,Unlimited:published:0" {
		t.Errorf("sample plans of API: %q %v", apiPlans, err)
	}
	var tokens int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM service_tokens WHERE service_id IN (?, (SELECT s.id FROM services s JOIN accounts a ON a.id=s.account_id WHERE a.admin_domain=? AND s.system_name='api'))`,
		masterSvc, adminHost).Scan(&tokens); err != nil || tokens != 2 {
		t.Errorf("the seeded products' tokens from CreateServiceTokenWorker: %d %v", tokens, err)
	}

	// SampleDataWorker signs up "Developer" (john) with "Developer's App" on Basic, once, for a
	// provider without buyers (this one had none when it ran only if no test signed up first,
	// so a second provider shows it).
	tn := e.addTenant("sample")
	if _, err := db.ExecContext(ctx, `UPDATE accounts SET sample_data=1 WHERE id=?`, tn.id); err != nil {
		t.Fatal(err)
	}
	code2, body = tn.call(e, "POST", "/admin/api/services.json", "access_token", url.Values{"name": {"API"}})
	if code2 != 201 {
		t.Fatalf("sample tenant product: %d %s", code2, body)
	}
	for range 2 { // the second run finds the sample data done
		if _, err := sidekiq.Enqueue(ctx, e.rdb, "critical", ClassSignup, tn.id); err != nil {
			t.Fatal(err)
		}
	}
	testsupport.Eventually(t, 30*time.Second, "sample data of the second provider", testsupport.NoError(func(context.Context) error {
		var apps, users int
		var email string
		err := db.QueryRowContext(ctx, `SELECT (SELECT COUNT(*) FROM cinstances c JOIN plans p ON p.id=c.plan_id WHERE c.user_account_id=a.id AND c.name='Developer''s App' AND p.name='Basic'),
			(SELECT COUNT(*) FROM users WHERE account_id=a.id), (SELECT email FROM users WHERE account_id=a.id AND username='john')
			FROM accounts a WHERE a.provider_account_id=? AND a.org_name='Developer'`, tn.id).Scan(&apps, &users, &email)
		if err != nil {
			return err
		}
		if apps != 1 || users != 1 || email != "admin+test@sample.test" {
			return fmt.Errorf("apps=%d users=%d email=%s", apps, users, email)
		}
		var pages int
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM cms_pages WHERE account_id=? AND path IN ('/','/docs')`, tn.id).Scan(&pages); err != nil || pages != 2 {
			return fmt.Errorf("cms pages %d %v", pages, err)
		}
		lens, err := sidekiq.QueueLengths(ctx, e.rdb)
		if err != nil || lens["critical"]+lens["default"] != 0 {
			return fmt.Errorf("queues %v %v", lens, err)
		}
		return nil
	}))
	var developers int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM accounts WHERE provider_account_id=? AND org_name='Developer'`, tn.id).Scan(&developers); err != nil || developers != 1 {
		t.Errorf("Developer accounts after two SignupWorker runs: %d %v", developers, err)
	}

	// A buyer signed up through the API gets an application on every default plan (now API's
	// Basic), named by the controller's defaults "API signup"
	// (porta@3scale-2.16.4-GA:app/controllers/admin/api/signups_controller.rb defaults).
	code2, body = tn.call(e, "POST", "/admin/api/signup.json", "access_token", url.Values{"org_name": {"Late"}, "username": {"late"}, "email": {"late@x.test"}})
	if code2 != 201 {
		t.Fatalf("signup on the sample tenant: %d %s", code2, body)
	}
	var names string
	if err := db.QueryRowContext(ctx, `SELECT GROUP_CONCAT(CONCAT(c.name, '/', c.description, '/', p.name)) FROM cinstances c JOIN accounts a ON a.id=c.user_account_id
		JOIN plans p ON p.id=c.plan_id WHERE a.org_name='Late' AND a.provider_account_id=?`, tn.id).Scan(&names); err != nil || names != "API signup/API signup/Basic" {
		t.Errorf("API signup application: %q %v", names, err)
	}
}
