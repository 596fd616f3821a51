package conformance

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/threescale-chaos/harness/internal/testsupport"
)

// integrationErrors is GET /internal/services/{id}/errors/ on backend-listener, with the
// internal API's credentials and query (pisoni sends the same parameters in a JSON body).
func integrationErrors(t *testing.T, sid, query string) (response, []map[string]any, int64) {
	t.Helper()
	r, err := call("GET", listenerURL()+"/internal/services/"+sid+"/errors/"+query, nil,
		secret(t, "backend-internal-api", "username"), secret(t, "backend-internal-api", "password"))
	if err != nil {
		t.Fatalf("errors of %s: %v", sid, err)
	}
	var l struct {
		Errors []map[string]any `json:"errors"`
		Count  int64            `json:"count"`
	}
	if r.status == 200 {
		if err := json.Unmarshal([]byte(r.body), &l); err != nil {
			t.Fatalf("errors of %s: %v in %s", sid, err, r.body)
		}
	}
	return r, l.Errors, l.Count
}

// errorsRow is a row of the admin portal's integration errors table, as Slim writes it.
func errorsRow(timestamp, escapedMessage string) string {
	return `<tr role="row"><td data-label="Time (UTC)" role="cell">` + timestamp + `</td><td data-label="Error" role="cell">` + escapedMessage + `</td><td></td></tr>`
}

// Integration errors as 3scale 2.16 keeps and shows them:
//   - backend-worker checks a ReportJob whole, applications first, then usage, and on the first
//     ThreeScale::Backend::Error stores that one error under the service (LPUSH on
//     errors/service_id:<id>) and counts nothing of the job
//     (apisonator@3scale-2.16.4-GA:lib/3scale/backend/transactor/report_job.rb:10-79,
//     lib/3scale/backend/error_storage.rb:10-18; the message wording is errors.rb's);
//   - backend-listener stores the errors of authorize and authrep the same way and answers
//     them unchanged (lib/3scale/backend/listener.rb:149-182);
//   - GET /internal/services/{id}/errors/ pages them newest first with page and per_page, count
//     is the whole list, a per_page not above 0 is 400, and an unknown service is 404 on GET
//     and DELETE (app/api/internal/errors.rb, app/api/internal/internal.rb respond_with_404);
//   - porta's /apiconfig/services/{id}/errors lists a page of them, 20 by default, as
//     app/views/api/errors/index.html.slim renders it, or the "Hooray!" empty state
//     (app/views/shared/_empty_state.html.slim, config/locales/en.yml api.errors.index), for
//     the signed-in provider's products only (porta@3scale-2.16.4-GA:
//     app/controllers/api/errors_controller.rb, app/services/integration_errors_service.rb);
//     backend answering anything but 200, a 404 included, is porta's 500 (pisoni@v1.31.0:
//     lib/3scale/core/service_error.rb load_all).
func TestPortaIntegrationErrors(t *testing.T) {
	ctx := context.Background()
	p := newPortaApp(t, "interr")
	cookie := portaSignIn(t)
	page := func(sid, query string) (int, string) {
		resp, body := portalReq(t, "GET", "/apiconfig/services/"+sid+"/errors"+query, nil, cookie)
		return resp.StatusCode, body
	}

	// A fresh product has no errors: the empty state, and no table.
	testsupport.Eventually(t, 60*time.Second, "the empty errors page of "+p.name, func(context.Context) (bool, string) {
		st, body := page(p.sid, "")
		return st == 200 && strings.Contains(body, `<h1 class="pf-c-title pf-m-lg">Hooray!</h1><div class="pf-c-empty-state__body">No integration errors reported for this service.</div>`) &&
				strings.Contains(body, "<title>Integration Errors for "+strings.TrimSuffix(p.name, " app")+" | ") && !strings.Contains(body, "<table"),
			fmt.Sprintf("%d %s", st, body)
	})

	token := sandboxServiceToken(t, p.sid)
	userKey := fmt.Sprint(p.app["user_key"])
	report := func(txs ...[]string) {
		t.Helper()
		form := url.Values{"service_token": {token}, "service_id": {p.sid}}
		for i, kv := range txs {
			for j := 0; j+1 < len(kv); j += 2 {
				form.Set(fmt.Sprintf("transactions[%d][%s]", i, kv[j]), kv[j+1])
			}
		}
		mustCall(t, "POST", listenerURL()+"/transactions.xml", form, "", "", 202)
	}
	waitErrors := func(n int64) []map[string]any {
		t.Helper()
		var errs []map[string]any
		testsupport.Eventually(t, 60*time.Second, fmt.Sprintf("%d integration errors of product %s", n, p.sid), func(context.Context) (bool, string) {
			r, e, count := integrationErrors(t, p.sid, "")
			errs = e
			return r.status == 200 && count == n && int64(len(e)) == n, r.body
		})
		return errs
	}
	storage := redisClient(t, secret(t, "backend-redis", "REDIS_STORAGE_URL"))
	hits := func() int64 {
		v, _ := storage.Get(ctx, "stats/{service:"+p.sid+"}/metric:"+p.hitsID+"/eternity").Int64()
		return v
	}

	// 1. An unknown metric for a valid key: metric_invalid, shown as a row of the page.
	report([]string{"user_key", userKey, "usage][nope", "1"})
	errs := waitErrors(1)
	if errs[0]["code"] != "metric_invalid" || errs[0]["message"] != `metric "nope" is invalid` {
		t.Fatalf("the report's error: %v", errs[0])
	}
	stamp := fmt.Sprint(errs[0]["timestamp"])
	if !strings.HasSuffix(stamp, " UTC") {
		t.Errorf("timestamp %q, want Ruby's Time#to_s of a UTC time", stamp)
	}
	st, body := page(p.sid, "")
	if st != 200 || !strings.Contains(body, errorsRow(stamp, "metric &quot;nope&quot; is invalid")) ||
		!strings.Contains(body, `<table aria-label="Integration errors table" class="pf-c-table pf-m-grid-lg" data-toolbar-props="{&quot;totalEntries&quot;:1,&quot;pageEntries&quot;:1,`) ||
		!strings.Contains(body, `<thead><tr role="row"><th role="columnheader" scope="col">Time (UTC)</th><th role="columnheader" scope="col">Error</th><td></td></tr></thead><tbody role="rowgroup">`) {
		t.Fatalf("errors page: %d %s", st, body)
	}
	if hits() != 0 {
		t.Errorf("the refused report was counted: %d hits", hits())
	}

	// 2. A job with a good transaction and an unknown key: one error, nothing counted. A good
	// report of 2 hits sent once that error is stored is then the only thing counted.
	report([]string{"user_key", userKey, "usage][hits", "1"}, []string{"user_key", "unknown-" + p.sid, "usage][hits", "1"})
	errs = waitErrors(2)
	if errs[0]["code"] != "user_key_invalid" || errs[0]["message"] != `user key "unknown-`+p.sid+`" is invalid` {
		t.Fatalf("the mixed job's error: %v", errs[0])
	}
	report([]string{"user_key", userKey, "usage][hits", "2"})
	testsupport.Eventually(t, 60*time.Second, "the good report counted", func(context.Context) (bool, string) {
		n := hits()
		return n >= 2, fmt.Sprintf("%d hits", n)
	})
	if n := hits(); n != 2 {
		t.Errorf("hits after the mixed job and a good report of 2: %d, want 2 (the mixed job counts nothing)", n)
	}

	// 3. An authrep with an unknown key: 403 user_key_invalid, and stored.
	r := mustCall(t, "GET", listenerURL()+"/transactions/authrep.xml?service_token="+url.QueryEscape(token)+"&service_id="+p.sid+"&user_key=nope-"+p.sid+"&usage%5Bhits%5D=1", nil, "", "", 403)
	if !strings.Contains(r.body, `<error code="user_key_invalid">user key "nope-`+p.sid+`" is invalid</error>`) {
		t.Errorf("authrep with an unknown key: %s", r.body)
	}
	errs = waitErrors(3)
	if errs[0]["code"] != "user_key_invalid" || errs[0]["message"] != `user key "nope-`+p.sid+`" is invalid` {
		t.Fatalf("the authrep's error: %v", errs[0])
	}

	// 4. The listing: newest first, paged, count of the whole list; per_page 0 is 400; an
	// unknown service is 404.
	r, second, count := integrationErrors(t, p.sid, "?page=2&per_page=1")
	if r.status != 200 || count != 3 || len(second) != 1 || second[0]["code"] != "user_key_invalid" || second[0]["message"] != `user key "unknown-`+p.sid+`" is invalid` {
		t.Errorf("page 2 of 1: %d %s", r.status, r.body)
	}
	if r, last, count := integrationErrors(t, p.sid, "?page=2&per_page=2"); r.status != 200 || count != 3 || len(last) != 1 || last[0]["code"] != "metric_invalid" {
		t.Errorf("page 2 of 2: %d %s", r.status, r.body)
	}
	if r, _, _ := integrationErrors(t, p.sid, "?per_page=0"); r.status != 400 || strings.TrimSpace(r.body) != `{"error":"per_page needs to be > 0"}` {
		t.Errorf("per_page=0: %d %s", r.status, r.body)
	}
	user, pass := secret(t, "backend-internal-api", "username"), secret(t, "backend-internal-api", "password")
	for _, m := range []string{"GET", "DELETE"} {
		r, err := call(m, listenerURL()+"/internal/services/999999999/errors/", nil, user, pass)
		if err != nil || r.status != 404 || strings.TrimSpace(r.body) != `{"status":"not_found","error":"service not found"}` {
			t.Errorf("%s errors of an unknown service: %v %d %s", m, err, r.status, r.body)
		}
	}

	// 5. The page pages too: per_page=1 shows the newest error only.
	st, body = page(p.sid, "?per_page=1")
	if st != 200 || strings.Count(body, `<tr role="row"><td data-label="Time (UTC)"`) != 1 || !strings.Contains(body, `user key &quot;nope-`+p.sid+`&quot; is invalid`) ||
		!strings.Contains(body, `{&quot;totalEntries&quot;:3,&quot;pageEntries&quot;:1,`) {
		t.Errorf("errors page, per_page=1: %d %s", st, body)
	}

	// 6. Another tenant's product is 404; a product backend no longer knows is porta's 500.
	master := secret(t, "system-seed", "MASTER_ACCESS_TOKEN")
	n := fmt.Sprintf("Errtenant%d%d", time.Now().Unix()%100000, productSeq.Add(1))
	sub := strings.ToLower(n)
	signup := masterAPI(t, "POST", "/master/api/providers.json", master,
		url.Values{"org_name": {n}, "username": {"admin" + sub}, "email": {"admin@" + sub + ".test"}, "password": {"secret-" + sub}})
	if signup.status != 201 {
		t.Fatalf("create tenant: %d %s", signup.status, signup.body)
	}
	created := decode(t, signup)
	tid := fmt.Sprint(int64(field(created, "signup", "account", "id").(float64)))
	t.Cleanup(func() { masterAPI(t, "DELETE", "/master/api/providers/"+tid+".json", master, nil) })
	tok := fmt.Sprint(field(created, "signup", "access_token", "value"))
	var list struct {
		Services []struct {
			Service struct {
				ID int64 `json:"id"`
			} `json:"service"`
		} `json:"services"`
	}
	services := tenantAPI(t, sub+"-admin."+values.Domain, tok, "GET", "/admin/api/services.json")
	if err := json.Unmarshal([]byte(services.body), &list); err != nil || len(list.Services) == 0 {
		t.Fatalf("the other tenant's products: %d %s", services.status, services.body)
	}
	if st, body := page(fmt.Sprint(list.Services[0].Service.ID), ""); st != 404 {
		t.Errorf("another tenant's product: %d %s, want 404", st, body)
	}
	internal(t, "DELETE", "/internal/services/"+p.sid, nil, 200)
	if st, body := page(p.sid, ""); st != 500 {
		t.Errorf("a product backend answers 404 for: %d %s, want porta's 500", st, body)
	}
}
