package system

import (
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// testApplicationRepresentation pins porta 3scale-2.16.4-GA's application JSON and XML per
// backend_version (porta@3scale-2.16.4-GA:app/representers/cinstance_representer.rb,
// app/models/cinstance.rb to_xml): a user_key product's application shows user_key and
// provider_verification_key and never application_id; an app_id/app_key product's shows
// application_id (and keys in XML only) and never user_key. cid is an application of the
// backend_version 1 product sid with user_key zebra-key-1.
func testApplicationRepresentation(t *testing.T, e *testEnv, sid, planID, accountID, cid int64) {
	appPath := fmt.Sprintf("/admin/api/accounts/%d/applications/%d", accountID, cid)
	var one struct {
		Application map[string]any `json:"application"`
	}
	code, body := e.admin("GET", appPath+".json", nil)
	mustJSON(t, 200, code, body, &one)
	app := one.Application
	if app["user_key"] != "zebra-key-1" {
		t.Errorf("v1 user_key: %v", app["user_key"])
	}
	if pk, _ := app["provider_verification_key"].(string); len(pk) != 32 {
		t.Errorf("v1 provider_verification_key: %v", app["provider_verification_key"])
	}
	for _, absent := range []string{"application_id", "keys", "client_id", "client_secret", "end_user_required"} {
		if _, ok := app[absent]; ok {
			t.Errorf("v1 application JSON has %s: %s", absent, body)
		}
	}
	for k, v := range map[string]any{"service_name": "Echo API", "plan_name": "Basic", "org_name": "Zebracorp", "account_id": float64(accountID),
		"service_id": float64(sid), "plan_id": float64(planID), "state": "live", "enabled": true} {
		if app[k] != v {
			t.Errorf("v1 %s = %v, want %v", k, app[k], v)
		}
	}
	for _, null := range []string{"first_traffic_at", "first_daily_traffic_at"} {
		if v, ok := app[null]; !ok || v != nil {
			t.Errorf("%s must be rendered as null: %v %v", null, v, ok)
		}
	}
	code, body = e.admin("GET", appPath+".xml", nil)
	if code != 200 || !strings.Contains(body, "<user_key>zebra-key-1</user_key>") || !strings.Contains(body, "<provider_verification_key>") ||
		!strings.Contains(body, fmt.Sprintf("<user_account_id>%d</user_account_id>", accountID)) || strings.Contains(body, "<application_id>") ||
		strings.Contains(body, "<keys>") || !regexp.MustCompile(`<plan custom="false" default="(true|false)"><id>`).MatchString(body) {
		t.Errorf("v1 application XML: %d %s", code, body)
	}
	for _, list := range []string{fmt.Sprintf("/admin/api/accounts/%d/applications.json", accountID), "/admin/api/applications.json",
		"/admin/api/applications/find.json?user_key=zebra-key-1"} {
		code, body := e.admin("GET", list, nil)
		if code != 200 || !strings.Contains(body, `"user_key"`) || strings.Contains(body, `"application_id"`) {
			t.Errorf("%s: v1 applications must carry user_key and no application_id: %d %s", list, code, body)
		}
	}
	if code, body := e.admin("PUT", appPath+".json", url.Values{"description": {"still v1"}}); code != 200 || strings.Contains(body, `"application_id"`) {
		t.Errorf("update: %d %s", code, body)
	}

	// An app_id/app_key product (backend_version 2).
	var svc struct {
		Service struct {
			ID int64 `json:"id"`
		} `json:"service"`
	}
	code, body = e.admin("POST", "/admin/api/services.json", url.Values{"name": {"Keyed"}, "backend_version": {"2"}})
	mustJSON(t, 201, code, body, &svc)
	var plan struct {
		Plan struct {
			ID int64 `json:"id"`
		} `json:"application_plan"`
	}
	code, body = e.admin("POST", fmt.Sprintf("/admin/api/services/%d/application_plans.json", svc.Service.ID), url.Values{"name": {"Keyed plan"}})
	mustJSON(t, 201, code, body, &plan)
	code, body = e.admin("POST", fmt.Sprintf("/admin/api/accounts/%d/applications.json", accountID),
		url.Values{"plan_id": {strconv.FormatInt(plan.Plan.ID, 10)}, "name": {"Keyed app"}})
	var created struct {
		Application map[string]any `json:"application"`
	}
	mustJSON(t, 201, code, body, &created)
	v2 := created.Application
	v2ID := int64(v2["id"].(float64))
	backendID := e.backendAppID(v2ID)
	if v2["application_id"] != backendID {
		t.Errorf("v2 application_id %v, want the generated id %s", v2["application_id"], backendID)
	}
	for _, absent := range []string{"user_key", "provider_verification_key", "keys"} {
		if _, ok := v2[absent]; ok {
			t.Errorf("v2 application JSON has %s: %s", absent, body)
		}
	}
	code, body = e.admin("GET", fmt.Sprintf("/admin/api/accounts/%d/applications/%d.xml", accountID, v2ID), nil)
	if code != 200 || !strings.Contains(body, "<application_id>"+backendID+"</application_id>") || !regexp.MustCompile(`<keys><key>[0-9a-f]{32}</key></keys>`).MatchString(body) ||
		strings.Contains(body, "<user_key>") {
		t.Errorf("v2 application XML: %d %s", code, body)
	}
	// Every application has a user_key in porta's database (set_user_key on create), so its
	// backend user_key mapping is saved even for v2 (update_backend_user_key_to_application_id_mapping).
	var userKey string
	if err := e.sqlDB().QueryRow(`SELECT user_key FROM cinstances WHERE id=?`, v2ID).Scan(&userKey); err != nil || len(userKey) != 32 {
		t.Errorf("v2 user_key in the database: %q %v", userKey, err)
	}
	if got := e.backend.find("PUT", fmt.Sprintf("/internal/services/%d/applications/%s/key/%s", svc.Service.ID, backendID, userKey)); len(got) != 1 {
		t.Errorf("v2 user_key mapping not saved to backend")
	}
	var list struct {
		Applications []map[string]map[string]any `json:"applications"`
	}
	code, body = e.admin("GET", fmt.Sprintf("/admin/api/applications.json?service_id=%d", svc.Service.ID), nil)
	mustJSON(t, 200, code, body, &list)
	if len(list.Applications) != 1 || list.Applications[0]["application"]["application_id"] != backendID {
		t.Errorf("v2 list: %s", body)
	}
	if b, _ := json.Marshal(list); strings.Contains(string(b), `"user_key"`) {
		t.Errorf("v2 list renders user_key: %s", b)
	}
	if code, body := e.admin("DELETE", fmt.Sprintf("/admin/api/services/%d.json", svc.Service.ID), nil); code != 200 {
		t.Errorf("clean-up of the v2 product: %d %s", code, body)
	}
}
