package conformance

import (
	"encoding/xml"
	"net/url"
	"strings"
	"testing"
)

// The XML structs below decode as the deprecated XML helpers of 3scale-porta-go-client do
// (client/types.go: ApplicationPlansList <plans><plan custom default>, MetricList, LimitList,
// Service with its nested MetricList, ErrorResp).

type xmlPlan struct {
	Custom             string `xml:"custom,attr"`
	Default            bool   `xml:"default,attr"`
	ID                 string `xml:"id"`
	Name               string `xml:"name"`
	Type               string `xml:"type"`
	State              string `xml:"state"`
	ServiceID          string `xml:"service_id"`
	ApprovalRequired   string `xml:"approval_required"`
	SetupFee           string `xml:"setup_fee"`
	CostPerMonth       string `xml:"cost_per_month"`
	TrialPeriodDays    string `xml:"trial_period_days"`
	CancellationPeriod string `xml:"cancellation_period"`
}

type xmlMetric struct {
	ID         string `xml:"id"`
	Name       string `xml:"name"`
	SystemName string `xml:"system_name"`
	ServiceID  string `xml:"service_id"`
	Unit       string `xml:"unit"`
	MetricID   string `xml:"metric_id"`
}

func decodeXML(t *testing.T, what string, r response, v any) {
	t.Helper()
	if r.status != 200 && r.status != 201 {
		t.Fatalf("%s: %d %s", what, r.status, r.body)
	}
	if err := xml.Unmarshal([]byte(r.body), v); err != nil {
		t.Fatalf("%s: %v: %s", what, err, r.body)
	}
	if strings.Contains(r.body, "<links>") {
		t.Errorf("%s has <links>, porta's to_xml writes none: %s", what, r.body)
	}
}

func mustAdminXML(t *testing.T, method, path string, form url.Values, v any) string {
	t.Helper()
	r, err := admin(t, method, path, form)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	decodeXML(t, method+" "+path, r, v)
	return r.body
}

// A product's plans, metrics, methods, limits and applications in XML, as porta
// 3scale-2.16.4-GA writes them: its representers are JSON only, so an .xml request renders the
// model's to_xml, and a list is ThreeScale::Api::Collection, the representer's wrapper around
// each item's to_xml (porta@3scale-2.16.4-GA:app/lib/three_scale/api/responder.rb,
// app/lib/three_scale/api/collection.rb):
//   - plans: <plans><plan custom=".." default="..">, id, name, type application_plan, state,
//     approval_required, setup_fee 0.0, cost_per_month, trial_period_days (empty when none),
//     cancellation_period, service_id (app/models/application_plan.rb:42-51, plan.rb:427-447;
//     app/representers/application_plans_representer.rb wraps_collection :plans);
//   - a product: Service#to_xml ends with its metrics and methods, <metric> with service_id
//     and unit, <method> with metric_id, the parent (app/models/service.rb:360-396,
//     app/models/metric.rb:136-160); the methods list is <methods><method>;
//   - limits: <limits><limit> with id, metric_id, plan_id, period, value (usage_limit.rb:61-72);
//   - an application: user_account_id, not account_id, and the nested <plan>
//     (app/models/cinstance.rb:319-360);
//   - the proxy and its mapping rules through their Roar::XML representers: the declared
//     properties in order, no id for the proxy, no links (app/representers/proxy_representer.rb,
//     proxy_rule_representer.rb).
//
// The old twin turned the JSON into elements: <plans><application_plan>, no metrics in a
// product, <account_id> and no <plan> in an application, and <links> everywhere.
func TestPortaXMLRepresentations(t *testing.T) {
	p := newPortaApp(t, "xmlrep")
	method := mustAdmin(t, "POST", "/admin/api/services/"+p.sid+"/metrics/"+p.hitsID+"/methods.json",
		url.Values{"friendly_name": {"Xml method"}, "system_name": {"xml_method"}}, 201)
	methodID := idOf(method, "method")
	mustAdmin(t, "POST", "/admin/api/application_plans/"+p.planID+"/metrics/"+p.hitsID+"/limits.json",
		url.Values{"period": {"day"}, "value": {"7"}}, 201)

	var plans struct {
		XMLName xml.Name  `xml:"plans"`
		Plans   []xmlPlan `xml:"plan"`
	}
	mustAdminXML(t, "GET", "/admin/api/services/"+p.sid+"/application_plans.xml", nil, &plans)
	if len(plans.Plans) != 1 {
		t.Fatalf("<plans> of the product has %d <plan>, want 1: %+v", len(plans.Plans), plans)
	}
	pl := plans.Plans[0]
	want := xmlPlan{Custom: "false", Default: false, ID: p.planID, Name: "basic", Type: "application_plan", State: "published",
		ServiceID: p.sid, ApprovalRequired: "false", SetupFee: "0.0", CostPerMonth: "0.0", TrialPeriodDays: "", CancellationPeriod: "0"}
	if pl != want {
		t.Errorf("plan XML:\n got  %+v\n want %+v", pl, want)
	}
	var one xmlPlan
	body := mustAdminXML(t, "GET", "/admin/api/services/"+p.sid+"/application_plans/"+p.planID+".xml", nil, &one)
	if one != want || !strings.Contains(body, `<plan custom="false" default="false">`) {
		t.Errorf("plan show XML: %+v: %s", one, body)
	}

	var svc struct {
		XMLName xml.Name `xml:"service"`
		ID      string   `xml:"id"`
		Metrics struct {
			Metrics []xmlMetric `xml:"metric"`
			Methods []xmlMetric `xml:"method"`
		} `xml:"metrics"`
	}
	body = mustAdminXML(t, "GET", "/admin/api/services/"+p.sid+".xml", nil, &svc)
	if svc.ID != p.sid || len(svc.Metrics.Metrics) != 1 || len(svc.Metrics.Methods) != 1 {
		t.Fatalf("product XML: want its one metric and one method under <metrics>: %+v: %s", svc, body)
	}
	if m := svc.Metrics.Metrics[0]; m != (xmlMetric{ID: p.hitsID, Name: "hits", SystemName: "hits", ServiceID: p.sid, Unit: "hit"}) {
		t.Errorf("product XML's hits: %+v", m)
	}
	if m := svc.Metrics.Methods[0]; m != (xmlMetric{ID: methodID, Name: "xml_method", SystemName: "xml_method", ServiceID: p.sid, MetricID: p.hitsID}) {
		t.Errorf("product XML's method: %+v", m)
	}

	var metrics struct {
		XMLName xml.Name    `xml:"metrics"`
		Metrics []xmlMetric `xml:"metric"`
	}
	mustAdminXML(t, "GET", "/admin/api/services/"+p.sid+"/metrics/"+p.hitsID+".xml", nil, &struct {
		XMLName xml.Name `xml:"metric"`
	}{})
	var methods struct {
		XMLName xml.Name    `xml:"methods"`
		Methods []xmlMetric `xml:"method"`
	}
	mustAdminXML(t, "GET", "/admin/api/services/"+p.sid+"/metrics/"+p.hitsID+"/methods.xml", nil, &methods)
	if len(methods.Methods) != 1 || methods.Methods[0].MetricID != p.hitsID || methods.Methods[0].ServiceID != p.sid {
		t.Errorf("methods XML: %+v", methods)
	}
	mustAdminXML(t, "GET", "/admin/api/services/"+p.sid+"/metrics.xml", nil, &metrics)
	found := false
	for _, m := range metrics.Metrics {
		found = found || m.ID == p.hitsID && m.ServiceID == p.sid && m.Unit == "hit"
	}
	if !found {
		t.Errorf("metrics XML lacks hits with service_id and unit: %+v", metrics)
	}

	var limits struct {
		XMLName xml.Name `xml:"limits"`
		Limits  []struct {
			ID       string `xml:"id"`
			MetricID string `xml:"metric_id"`
			PlanID   string `xml:"plan_id"`
			Period   string `xml:"period"`
			Value    string `xml:"value"`
		} `xml:"limit"`
	}
	body = mustAdminXML(t, "GET", "/admin/api/application_plans/"+p.planID+"/limits.xml", nil, &limits)
	if len(limits.Limits) != 1 || limits.Limits[0].MetricID != p.hitsID || limits.Limits[0].PlanID != p.planID ||
		limits.Limits[0].Period != "day" || limits.Limits[0].Value != "7" || limits.Limits[0].ID == "" {
		t.Errorf("limits XML: %+v: %s", limits, body)
	}

	var proxy struct {
		XMLName   xml.Name `xml:"proxy"`
		ID        string   `xml:"id"`
		ServiceID string   `xml:"service_id"`
		Endpoint  string   `xml:"endpoint"`
	}
	body = mustAdminXML(t, "GET", "/admin/api/services/"+p.sid+"/proxy.xml", nil, &proxy)
	if proxy.ServiceID != p.sid || proxy.ID != "" || !strings.Contains(body, "<proxy><service_id>") {
		t.Errorf("proxy XML: %+v: %s", proxy, body)
	}
	mustAdmin(t, "POST", "/admin/api/services/"+p.sid+"/proxy/mapping_rules.json",
		url.Values{"http_method": {"GET"}, "pattern": {"/xml"}, "metric_id": {p.hitsID}, "delta": {"1"}}, 201)
	var rules struct {
		XMLName xml.Name `xml:"mapping_rules"`
		Rules   []struct {
			ID       string `xml:"id"`
			MetricID string `xml:"metric_id"`
			Pattern  string `xml:"pattern"`
		} `xml:"mapping_rule"`
	}
	body = mustAdminXML(t, "GET", "/admin/api/services/"+p.sid+"/proxy/mapping_rules.xml", nil, &rules)
	if len(rules.Rules) == 0 || !strings.Contains(body, "<mapping_rule><id>") {
		t.Errorf("mapping rules XML: %+v: %s", rules, body)
	}

	var app struct {
		XMLName       xml.Name `xml:"application"`
		ID            string   `xml:"id"`
		UserAccountID string   `xml:"user_account_id"`
		AccountID     string   `xml:"account_id"`
		ServiceID     string   `xml:"service_id"`
		Plan          xmlPlan  `xml:"plan"`
	}
	body = mustAdminXML(t, "GET", "/admin/api/accounts/"+p.accountID+"/applications/"+p.appID+".xml", nil, &app)
	if app.ID != p.appID || app.UserAccountID != p.accountID || app.AccountID != "" || app.ServiceID != p.sid || app.Plan != want {
		t.Errorf("application XML: %+v: %s", app, body)
	}
}

// Errors in XML as porta 3scale-2.16.4-GA answers them:
//   - a validation error is ActiveModel::Errors#to_xml, the full messages
//     <errors><error>System name has already been taken</error></errors>
//     (porta@3scale-2.16.4-GA:app/lib/three_scale/errors_to_xml.rb; the responder's
//     display_errors, app/lib/three_scale/api/responder.rb);
//   - a missing record is ErrorHandling#handle_error, head :not_found for XML (an empty body)
//     and {"status":"Not found"} for JSON (app/controllers/concerns/error_handling.rb:45-64);
//   - a JSON-only controller (clear_respond_to; respond_to :json: backend APIs, backend usages,
//     a product's proxy configs) answers .xml with ActionController::UnknownFormat, rendered
//     406 <error>The server does not understand "xml" request.</error>
//     (app/controllers/application_controller.rb:55-58, config/locales/en.yml unknown_format;
//     app/controllers/admin/api/backend_apis_controller.rb:8-9,
//     services/proxy/configs_controller.rb:10-11).
//
// The old twin answered <errors><system_name><item>has already been taken</item>…,
// <status>Not found</status> and 200 XML for the JSON-only resources.
func TestPortaXMLErrors(t *testing.T) {
	p := newPortaApp(t, "xmlerr")
	r, err := admin(t, "POST", "/admin/api/services.xml", url.Values{"name": {p.name + " again"}, "system_name": {field(mustAdmin(t, "GET", "/admin/api/services/"+p.sid+".json", nil, 200), "service", "system_name").(string)}})
	if err != nil || r.status != 422 || !strings.HasSuffix(strings.TrimSpace(r.body), "<errors><error>System name has already been taken</error></errors>") {
		t.Errorf("duplicate system_name in XML: %v %d %q", err, r.status, r.body)
	}

	r, err = admin(t, "GET", "/admin/api/services/999999999.xml", nil)
	if err != nil || r.status != 404 || r.body != "" {
		t.Errorf("missing product in XML: %v %d %q, want 404 with an empty body", err, r.status, r.body)
	}
	r, err = admin(t, "GET", "/admin/api/services/999999999.json", nil)
	if err != nil || r.status != 404 || strings.TrimSpace(r.body) != `{"status":"Not found"}` {
		t.Errorf("missing product in JSON: %v %d %q", err, r.status, r.body)
	}

	const notAcceptable = `<error>The server does not understand "xml" request.</error>`
	for _, path := range []string{"/admin/api/backend_apis.xml", "/admin/api/services/" + p.sid + "/backend_usages.xml",
		"/admin/api/services/" + p.sid + "/proxy/configs/sandbox.xml", "/admin/api/services/" + p.sid + "/proxy/configs/sandbox"} {
		r, err := admin(t, "GET", path, nil)
		if err != nil || r.status != 406 || !strings.HasSuffix(strings.TrimSpace(r.body), notAcceptable) {
			t.Errorf("GET %s: %v %d %q, want 406 %s", path, err, r.status, r.body, notAcceptable)
		}
	}
	mustAdmin(t, "GET", "/admin/api/backend_apis.json", nil, 200)
	mustAdmin(t, "GET", "/admin/api/services/"+p.sid+"/proxy/configs/sandbox.json", nil, 200)
}
