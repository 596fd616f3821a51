package system

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/threescale-chaos/harness/internal/testsupport"
	"github.com/threescale-chaos/harness/pkg/twin/system/sidekiq"
)

var alertLimitPath = regexp.MustCompile(`^/internal/services/([^/]+)/alert_limits/?([^/]*)$`)

// alertLimitStandIn answers apisonator's alert limit API from the stand-in's state
// (apisonator@3scale-2.16.4-GA:app/api/internal/alert_limits.rb): GET lists, POST adds a bin
// not yet there (else 400), DELETE removes one (else 404). Called with standInMu held.
func (e *testEnv) alertLimitStandIn(r *http.Request, sid, value string, body []byte) (int, any) {
	set := e.alertLimits[sid]
	if set == nil {
		set = map[string]bool{}
		e.alertLimits[sid] = set
	}
	switch r.Method {
	case http.MethodGet:
		out := []any{}
		for v := range set {
			n, _ := strconv.Atoi(v)
			out = append(out, map[string]any{"service_id": sid, "value": n})
		}
		return 200, map[string]any{"status": "found", "alert_limits": out}
	case http.MethodPost:
		var in struct {
			AlertLimit struct {
				Value json.Number `json:"value"`
			} `json:"alert_limit"`
		}
		_ = json.Unmarshal(body, &in)
		v := in.AlertLimit.Value.String()
		n, err := strconv.Atoi(v)
		if err != nil || !slices.Contains([]int{0, 50, 80, 90, 100, 120, 150, 200, 300}, n) || set[v] {
			return 400, map[string]any{"error": "alert limit is invalid"}
		}
		set[v] = true
		return 201, map[string]any{"status": "created", "alert_limit": map[string]any{"service_id": sid, "value": n}}
	case http.MethodDelete:
		if !set[value] {
			return 404, map[string]any{"status": "not_found", "error": "alert limit not found"}
		}
		delete(set, value)
		return 200, map[string]any{"status": "deleted"}
	}
	return 405, nil
}

// standInLimits is the sorted alert limits the stand-in holds for a service.
func (e *testEnv) standInLimits(sid int64) []int {
	e.standInMu.Lock()
	defer e.standInMu.Unlock()
	var out []int
	for v := range e.alertLimits[strconv.FormatInt(sid, 10)] {
		n, _ := strconv.Atoi(v)
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

func (e *testEnv) setBackendEvents(evs ...any) {
	e.standInMu.Lock()
	defer e.standInMu.Unlock()
	e.backendEvents = evs
}

func alertEvent(id, alertID int64, sid int64, appID string, level int) map[string]any {
	return map[string]any{"id": id, "type": "alert", "timestamp": "2026-05-06 10:11:12 UTC",
		"object": map[string]any{"id": alertID, "utilization": level, "max_utilization": float64(level) + 0.5, "application_id": appID,
			"service_id": strconv.FormatInt(sid, 10), "limit": fmt.Sprintf("hits per day: %d/100", level), "timestamp": "2026-05-06 10:11:12 UTC"}}
}

// TestNotificationSettingsParam pins how porta 3scale-2.16.4-GA reads and normalises
// notification_settings (porta@3scale-2.16.4-GA:app/controllers/admin/api/services_controller.rb
// service_params; app/models/service.rb notification_settings=): the four permitted keys in
// either the flat (wrap_parameters) or the service[…] spelling, values to_i (an empty value is
// 0), given-but-empty is {}, and levels are the union of all keys.
func TestNotificationSettingsParam(t *testing.T) {
	parse := func(q string) (notificationSettings, bool) {
		v, err := url.ParseQuery(q)
		if err != nil {
			t.Fatal(err)
		}
		return notificationSettingsParam(params{v})
	}
	if _, given := parse("description=x"); given {
		t.Error("a request without notification_settings does not touch them")
	}
	ns, given := parse("notification_settings[web_provider][]=50&notification_settings[web_provider][]=80&notification_settings[email_provider][]=")
	if !given || !reflect.DeepEqual(ns, notificationSettings{"web_provider": {50, 80}, "email_provider": {0}}) {
		t.Errorf("flat form: %v %v", ns, given)
	}
	ns, _ = parse("service[notification_settings][web_buyer][]=90&service[notification_settings][bogus][]=1")
	if !reflect.DeepEqual(ns, notificationSettings{"web_buyer": {90}}) {
		t.Errorf("wrapped form, unpermitted key dropped: %v", ns)
	}
	ns, given = parse("notification_settings=")
	if !given || len(ns) != 0 || ns.encode() != "{}" {
		t.Errorf("given but empty: %v %v %q", ns, given, ns.encode())
	}
	ns = notificationSettings{"web_provider": {50, 80}, "email_provider": {80, 0}, "web_buyer": {100}}
	if got := ns.levels(); !reflect.DeepEqual(got, []int{50, 80, 0, 100}) {
		t.Errorf("levels: %v", got)
	}
	if rubyToI("90abc") != 90 || rubyToI("") != 0 || rubyToI("x") != 0 {
		t.Error("String#to_i")
	}
}

// testNotificationSettingsAndAlerts pins porta 3scale-2.16.4-GA's alert path: PUT
// notification_settings stores and renders them and, after commit, makes backend's alert limits
// the union of their levels (Service#update_notification_settings; 500 with the settings saved
// when backend fails); the event import keeps an Alert for the provider only for
// web_provider levels (Events::Importers::AlertImporter); the alerts page renders porta's row
// cells. sid is a product whose application cid ("Second", buyer Zebracorp) exists; cookie is
// a signed-in admin.
func testNotificationSettingsAndAlerts(t *testing.T, e *testEnv, sid, cid int64, cookie string) {
	ctx := context.Background()
	svcPath := fmt.Sprintf("/admin/api/services/%d", sid)
	settingsOf := func() (map[string]any, bool) {
		var out struct {
			Service map[string]any `json:"service"`
		}
		code, body := e.admin("GET", svcPath+".json", nil)
		mustJSON(t, 200, code, body, &out)
		ns, ok := out.Service["notification_settings"].(map[string]any)
		if _, has := out.Service["account_id"]; has {
			t.Errorf("service JSON has account_id, porta's representer has none: %s", body)
		}
		return ns, ok
	}
	if ns, ok := settingsOf(); ok {
		t.Errorf("a new product has no notification_settings, got %v", ns)
	}
	webProvider := url.Values{"notification_settings[web_provider][]": {"50", "80", "90", "100"}}
	limitCalls := func() int {
		n := 0
		for _, r := range e.backend.all() {
			if strings.HasPrefix(r.Path, fmt.Sprintf("/internal/services/%d/alert_limits", sid)) {
				n++
			}
		}
		return n
	}

	code, body := e.admin("PUT", svcPath+".json", webProvider)
	if code != 200 || !strings.Contains(body, `"notification_settings":{"web_provider":[50,80,90,100]}`) {
		t.Fatalf("PUT notification_settings: %d %s", code, body)
	}
	if got := e.standInLimits(sid); !reflect.DeepEqual(got, []int{50, 80, 90, 100}) {
		t.Errorf("backend alert limits after the first PUT: %v", got)
	}
	code, body = e.admin("GET", svcPath+".xml", nil)
	if code != 200 || !strings.Contains(body, "<notification_settings><web_provider>[50, 80, 90, 100]</web_provider></notification_settings>") {
		t.Errorf("service XML: %d %s", code, body)
	}
	// Unchanged settings: no sync (after_commit … if: saved_change_to_notification_settings?).
	before := limitCalls()
	if code, body := e.admin("PUT", svcPath+".json", webProvider); code != 200 {
		t.Fatalf("same settings again: %d %s", code, body)
	}
	if limitCalls() != before {
		t.Errorf("unchanged settings were synced to backend again")
	}
	// Wrapped spelling, a buyer key and an empty e-mail value (to_i → 0): the union is
	// {50, 90, 0}, so 80 and 100 go and 0 comes.
	code, body = e.admin("PUT", svcPath+".json", url.Values{"service[notification_settings][web_provider][]": {"50"},
		"service[notification_settings][web_buyer][]": {"90"}, "service[notification_settings][email_provider][]": {""}})
	if code != 200 {
		t.Fatalf("PUT wrapped settings: %d %s", code, body)
	}
	ns, _ := settingsOf()
	if !reflect.DeepEqual(ns, map[string]any{"web_provider": []any{50.0}, "web_buyer": []any{90.0}, "email_provider": []any{0.0}}) {
		t.Errorf("normalised settings: %v", ns)
	}
	if got := e.standInLimits(sid); !reflect.DeepEqual(got, []int{0, 50, 90}) {
		t.Errorf("backend alert limits after the second change: %v", got)
	}
	// Backend failing: 500 after commit, the settings are saved, the limits are not.
	e.backendDown.Store(true)
	code, _ = e.admin("PUT", svcPath+".json", url.Values{"notification_settings[web_provider][]": {"100"}})
	e.backendDown.Store(false)
	if code != 500 {
		t.Errorf("PUT with backend failing: want 500, got %d", code)
	}
	if ns, _ := settingsOf(); !reflect.DeepEqual(ns, map[string]any{"web_provider": []any{100.0}}) {
		t.Errorf("settings after the failed sync: %v", ns)
	}
	if got := e.standInLimits(sid); !reflect.DeepEqual(got, []int{0, 50, 90}) {
		t.Errorf("backend alert limits after the failed sync: %v", got)
	}
	if code, body := e.admin("PUT", svcPath+".json", webProvider); code != 200 {
		t.Fatalf("restore web_provider levels: %d %s", code, body)
	}
	if got := e.standInLimits(sid); !reflect.DeepEqual(got, []int{50, 80, 90, 100}) {
		t.Errorf("backend alert limits after the restore: %v", got)
	}

	// Import: level 90 is in web_provider (kept for the provider), 120 is not (dropped); no
	// web_buyer level, so no buyer alert; an unknown application is dropped.
	backendID := e.backendAppID(cid)
	e.setBackendEvents(alertEvent(101, 5001, sid, backendID, 90), alertEvent(102, 5002, sid, backendID, 120),
		alertEvent(103, 5003, sid, "nobody", 90))
	type alertRow struct {
		ID, AlertID, Account int64
		Level                int
	}
	alerts := func() []alertRow {
		rows, err := e.sqlDB().QueryContext(ctx, `SELECT id, alert_id, account_id, level FROM alerts WHERE alert_id IN (5001,5002,5003) ORDER BY id`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []alertRow
		for rows.Next() {
			var a alertRow
			if err := rows.Scan(&a.ID, &a.AlertID, &a.Account, &a.Level); err != nil {
				t.Fatal(err)
			}
			out = append(out, a)
		}
		return out
	}
	fetch := func() {
		t.Helper()
		if _, err := sidekiq.Enqueue(ctx, e.rdb, "events", ClassEventsFetch); err != nil {
			t.Fatal(err)
		}
		testsupport.Eventually(t, 30*time.Second, "events persisted and imported", testsupport.NoError(func(context.Context) error {
			var n int
			if err := e.sqlDB().QueryRowContext(ctx, `SELECT COUNT(*) FROM backend_events WHERE backend_event_id IN (101,102,103)`).Scan(&n); err != nil || n != 3 {
				return fmt.Errorf("backend_events=%d err=%v", n, err)
			}
			lens, err := sidekiq.QueueLengths(ctx, e.rdb)
			if err != nil {
				return err
			}
			if lens["default"]+lens["events"] > 0 {
				return fmt.Errorf("queues: %v", lens)
			}
			// An empty queue can still have the import in a worker: wait for its row too.
			if len(alerts()) == 0 {
				return errors.New("no alert imported yet")
			}
			return nil
		}))
	}
	fetch()
	var provider int64
	if err := e.sqlDB().QueryRow(`SELECT account_id FROM services WHERE id=?`, sid).Scan(&provider); err != nil {
		t.Fatal(err)
	}
	got := alerts()
	if len(got) != 1 || got[0].AlertID != 5001 || got[0].Account != provider || got[0].Level != 90 {
		t.Fatalf("alerts kept: %+v, want only alert 5001 (level 90) for the provider %d", got, provider)
	}
	// Backend hands the same events out again (a fetch that failed before its delete): the
	// BackendEvent ids are taken, nothing is imported twice.
	e.setBackendEvents(alertEvent(101, 5001, sid, backendID, 90))
	fetch()
	if again := alerts(); len(again) != 1 {
		t.Errorf("a repeated event was imported again: %+v", again)
	}

	code, page := e.page("/apiconfig/alerts", cookie)
	row := regexp.MustCompile(`<tr class="unread" id="alert_` + strconv.FormatInt(got[0].ID, 10) + `" role="row">(.*?)</tr>`).FindStringSubmatch(page)
	if code != 200 || row == nil {
		t.Fatalf("alerts page has no row alert_%d: %d %s", got[0].ID, code, page)
	}
	for _, cell := range []string{
		`<td data-label="Account" role="cell"><a href="/buyers/accounts/`, `>Zebracorp</a></td>`,
		fmt.Sprintf(`<td data-label="Application" role="cell"><a href="/p/admin/applications/%d">Second</a></td>`, cid),
		`<td data-label="Message" role="cell">hits per day: 90/100</td>`,
		`<td class="utilization" data-label="Level" role="cell"><span class="above-90">&ge;&nbsp;90&nbsp;%</span></td>`,
		`<td data-label="Time (UTC)" role="cell">06 May 2026 10:11:12 UTC</td>`,
	} {
		if !strings.Contains(row[1], cell) {
			t.Errorf("alert row lacks %s:\n%s", cell, row[0])
		}
	}
	if code, page := e.page(fmt.Sprintf("/apiconfig/services/%d/alerts", sid), cookie); code != 200 || !strings.Contains(page, fmt.Sprintf(`id="alert_%d"`, got[0].ID)) {
		t.Errorf("product alerts page: %d", code)
	}
	// The list searches by application (cinstance_id, plain or as search[cinstance_id]) and
	// by buyer account: porta@3scale-2.16.4-GA:app/presenters/api/alerts_index_presenter.rb
	// new_search, app/models/alert.rb allowed_search_scopes. Another application's search
	// finds nothing, and says so without the "All clear" of a tenant with no alerts.
	alertID := fmt.Sprintf(`id="alert_%d"`, got[0].ID)
	for _, q := range []string{fmt.Sprintf("cinstance_id=%d", cid), fmt.Sprintf("search%%5Bcinstance_id%%5D=%d", cid), "per_page=5&cinstance_id=" + strconv.FormatInt(cid, 10)} {
		if code, page := e.page("/apiconfig/alerts?"+q, cookie); code != 200 || !strings.Contains(page, alertID) {
			t.Errorf("alerts of the application (%s): %d, row shown %v", q, code, strings.Contains(page, alertID))
		}
	}
	code, page = e.page(fmt.Sprintf("/apiconfig/alerts?cinstance_id=%d", cid+1000), cookie)
	if code != 200 || strings.Contains(page, alertID) || strings.Contains(page, "All clear") {
		t.Errorf("alerts of another application: %d, row shown %v, all clear %v", code, strings.Contains(page, alertID), strings.Contains(page, "All clear"))
	}
}
