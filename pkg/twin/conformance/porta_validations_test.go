package conformance

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
)

// Validations and lookups porta 3scale-2.16.4-GA applies that a client can trip on:
//   - deployment_option must be one of Service::DeploymentOption.all: 422 otherwise
//     (porta@3scale-2.16.4-GA:app/models/service.rb:138-165);
//   - an application's plan_id is found among the tenant's plans first: 404 when unknown
//     (app/controllers/admin/api/buyers_applications_controller.rb application_plan);
//   - applications/find by user_key searches backend_version 1 products only, by app_id the
//     others only: 404 across (app/controllers/admin/api/applications_controller.rb).
func TestPortaValidations(t *testing.T) {
	p := newPortaApp(t, "valid")
	svc := "/admin/api/services/" + p.sid + ".json"
	if r, err := admin(t, "PUT", svc, url.Values{"deployment_option": {"bogus"}}); err != nil || r.status != 422 {
		t.Errorf("deployment_option=bogus: %v %d %s, want 422", err, r.status, r.body)
	}
	if got := field(mustAdmin(t, "GET", svc, nil, 200), "service", "deployment_option"); got != "hosted" {
		t.Errorf("deployment_option after the refused update: %v, want hosted", got)
	}
	mustAdmin(t, "PUT", svc, url.Values{"deployment_option": {"self_managed"}}, 200)

	apps := "/admin/api/accounts/" + p.accountID + "/applications.json"
	if r, err := admin(t, "POST", apps, url.Values{"plan_id": {"999999999"}, "name": {"ghost plan"}}); err != nil || r.status != 404 {
		t.Errorf("application with an unknown plan_id: %v %d %s, want 404", err, r.status, r.body)
	}

	// A user_key application has an application_id too (porta sets one on create), which its
	// JSON does not show.
	var appID string
	if err := systemDB(t).QueryRow(`SELECT application_id FROM cinstances WHERE id=?`, p.appID).Scan(&appID); err != nil || appID == "" {
		t.Fatalf("the application's application_id: %q %v", appID, err)
	}
	if r, err := admin(t, "GET", "/admin/api/applications/find.json", url.Values{"app_id": {appID}}); err != nil || r.status != 404 {
		t.Errorf("find by app_id on a user_key product: %v %d %s, want 404", err, r.status, r.body)
	}
	mustAdmin(t, "GET", "/admin/api/applications/find.json", url.Values{"user_key": {fmt.Sprint(p.app["user_key"])}}, 200)
}

// A metric that the newest sandbox or production configuration maps a rule to cannot be
// deleted (403 with porta's message), nor can hits; once a deploy without the rule is the
// newest, it can (porta@3scale-2.16.4-GA:app/models/metric.rb destroyable?,
// belongs_to_latest_config?; app/models/proxy_config.rb contains_metric?;
// config/locales/en.yml:1159-1160).
func TestPortaMetricInUseIsKept(t *testing.T) {
	p := newPortaApp(t, "inuse")
	useEchoBackend(t, p.sid)
	svc := "/admin/api/services/" + p.sid
	mid := idOf(mustAdmin(t, "POST", svc+"/metrics.json", url.Values{"friendly_name": {"Widgets"}, "system_name": {"widgets"}, "unit": {"hit"}}, 201), "metric")
	rule := idOf(mustAdmin(t, "POST", svc+"/proxy/mapping_rules.json", url.Values{"http_method": {"GET"}, "pattern": {"/widgets"}, "metric_id": {mid}, "delta": {"1"}}, 201), "mapping_rule")
	mustAdmin(t, "POST", svc+"/proxy/deploy.json", nil, 201)
	r, err := admin(t, "DELETE", svc+"/metrics/"+mid+".json", nil)
	if err != nil || r.status != 403 || !strings.Contains(r.body, "Metric is used by the latest gateway configuration and cannot be deleted") {
		t.Errorf("deleting a metric of the latest configuration: %v %d %s, want 403", err, r.status, r.body)
	}
	if r, err := admin(t, "DELETE", svc+"/metrics/"+p.hitsID+".json", nil); err != nil || r.status != 403 || !strings.Contains(r.body, "The Hits metric cannot be deleted") {
		t.Errorf("deleting hits: %v %d %s, want 403", err, r.status, r.body)
	}
	mustAdmin(t, "DELETE", svc+"/proxy/mapping_rules/"+rule+".json", nil, 200)
	mustAdmin(t, "POST", svc+"/proxy/deploy.json", nil, 201)
	mustAdmin(t, "DELETE", svc+"/metrics/"+mid+".json", nil, 200)
}
