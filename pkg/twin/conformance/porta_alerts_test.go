package conformance

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/threescale-chaos/harness/internal/testsupport"
)

// report sends one usage report for an application through backend-listener, as APIcast or
// the harness does (apisonator's POST /transactions.xml, 202 when accepted).
func (p *portaApp) report(t *testing.T, token string, hits int) {
	t.Helper()
	form := url.Values{"service_token": {token}, "service_id": {p.sid}, "transactions[0][user_key]": {fmt.Sprint(p.app["user_key"])},
		"transactions[0][usage][hits]": {fmt.Sprint(hits)}}
	mustCall(t, "POST", listenerURL()+"/transactions.xml", form, "", "", 202)
}

var alertRow = regexp.MustCompile(`(?s)<tr class="[a-z]+" id="alert_(\d+)" role="row">(.*?)</tr>`)

// alertRowsFor is the alerts page's rows whose Application cell names app.
func alertRowsFor(page, app string) []string {
	var out []string
	for _, m := range alertRow.FindAllStringSubmatch(page, -1) {
		if strings.Contains(m[2], `<td data-label="Application" role="cell"><a href="/p/admin/applications/`) && strings.Contains(m[2], ">"+app+"</a>") {
			out = append(out, m[0])
		}
	}
	return out
}

// Alerts as porta 3scale-2.16.4-GA produces them:
//   - PUT /admin/api/services/{id}.json with notification_settings[web_provider][]=… stores and
//     renders the settings and, after commit, makes backend's alert limits (apisonator's
//     alerts/service_id:<sid>/allowed_set) the union of their levels
//     (porta@3scale-2.16.4-GA:app/controllers/admin/api/services_controller.rb service_params;
//     app/models/service.rb notification_settings=, update_notification_settings);
//   - the alert events backend raises are imported by system-sidekiq, and an Alert row is kept
//     for the provider only for web_provider levels (app/lib/events/importers/alert_importer.rb):
//     a product without notification_settings gets none, although its event is imported;
//   - /apiconfig/alerts shows the provider's alerts as app/views/api/alerts/index.html.slim
//     renders them: tr id=alert_<id> with the application's name and the level.
func TestPortaAlertsFollowWebProviderLevels(t *testing.T) {
	ctx := context.Background()
	withSettings, without := newPortaApp(t, "alerts"), newPortaApp(t, "noalerts")
	for _, p := range []*portaApp{withSettings, without} {
		mustAdmin(t, "POST", "/admin/api/application_plans/"+p.planID+"/metrics/"+p.hitsID+"/limits.json", url.Values{"period": {"day"}, "value": {"10"}}, 201)
	}
	if v := field(mustAdmin(t, "GET", "/admin/api/services/"+without.sid+".json", nil, 200), "service", "notification_settings"); v != nil {
		t.Errorf("a new product renders notification_settings %v", v)
	}
	svc := mustAdmin(t, "PUT", "/admin/api/services/"+withSettings.sid+".json",
		url.Values{"notification_settings[web_provider][]": {"50", "80", "90", "100"}}, 200)
	got := fmt.Sprint(field(svc, "service", "notification_settings"))
	if got != "map[web_provider:[50 80 90 100]]" {
		t.Errorf("notification_settings rendered back: %s", got)
	}
	storage := redisClient(t, secret(t, "backend-redis", "REDIS_STORAGE_URL"))
	allowed, err := storage.SMembers(ctx, "alerts/service_id:"+withSettings.sid+"/allowed_set").Result()
	sort.Strings(allowed)
	if err != nil || !slices.Equal(allowed, []string{"100", "50", "80", "90"}) {
		t.Fatalf("backend alert limits after the PUT: %v %v", allowed, err)
	}
	if n, _ := storage.SCard(ctx, "alerts/service_id:"+without.sid+"/allowed_set").Result(); n != 0 {
		t.Fatalf("a product without notification_settings has %d backend alert limits", n)
	}

	// 9 of 10 hits a day: utilization 90% on both products. Backend alerts only where the
	// level is allowed, so the product without settings gets no alert event to begin with;
	// give its backend the level directly, so that its event is raised and imported too.
	internal(t, "POST", "/internal/services/"+without.sid+"/alert_limits/", map[string]any{"alert_limit": map[string]any{"value": 90}}, 201)
	for _, p := range []*portaApp{withSettings, without} {
		p.report(t, sandboxServiceToken(t, p.sid), 9)
	}
	cookie := portaSignIn(t)
	// Backend pings system's events hook only at the end of a report job and at most once a
	// minute (SET events/ping NX EX 60, apisonator@3scale-2.16.4-GA:
	// lib/3scale/backend/stats/aggregator.rb process, lib/3scale/backend/event_storage.rb
	// pending_ping?): events raised within a minute of an earlier test's report wait for the
	// next report, as they would on an install without traffic. A report of one hit for a
	// third product, without limits, makes that ping once the minute is over; a report of zero
	// hits would not, as backend queues no job for it
	// (apisonator@3scale-2.16.4-GA:lib/3scale/backend/transactor.rb:20-31,190-201).
	pinger := newPortaApp(t, "alertsping")
	nudge := func(ctx context.Context) {
		if n, _ := storage.ZCard(ctx, "events/queue").Result(); n > 0 {
			if pinged, _ := storage.Exists(ctx, "events/ping").Result(); pinged == 0 {
				pinger.report(t, sandboxServiceToken(t, pinger.sid), 1)
			}
		}
	}
	testsupport.Eventually(t, 180*time.Second, "the level-90 alert of "+withSettings.name+" on /apiconfig/alerts", func(ctx context.Context) (bool, string) {
		nudge(ctx)
		resp, page := portalReq(t, "GET", "/apiconfig/alerts", nil, cookie)
		rows := alertRowsFor(page, withSettings.name)
		return resp.StatusCode == 200 && len(rows) == 1 && strings.Contains(rows[0], `<span class="above-90">&ge;&nbsp;90&nbsp;%</span>`),
			fmt.Sprintf("%d, rows %v", resp.StatusCode, rows)
	})
	// Every event backend raised has been imported (backend's events/queue is empty), and the
	// product without web_provider levels has no row.
	testsupport.Eventually(t, 120*time.Second, "backend's events imported", func(ctx context.Context) (bool, string) {
		nudge(ctx)
		n, err := storage.ZCard(ctx, "events/queue").Result()
		return err == nil && n == 0, fmt.Sprintf("events/queue=%d err=%v", n, err)
	})
	testsupport.Eventually(t, 60*time.Second, "system-sidekiq's default queue drained", func(ctx context.Context) (bool, string) {
		n := sidekiqQueue(t, ctx, "default")
		return n == 0, fmt.Sprintf("queue:default=%d", n)
	})
	_, page := portalReq(t, "GET", "/apiconfig/alerts", nil, cookie)
	if rows := alertRowsFor(page, without.name); len(rows) != 0 {
		t.Errorf("an alert of a product without web_provider levels is listed: %v", rows)
	}
}
