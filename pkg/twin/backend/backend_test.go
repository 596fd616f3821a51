package backend

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/threescale-chaos/harness/internal/testsupport"
)

type xmlStatus struct {
	XMLName    xml.Name `xml:"status"`
	Authorized bool     `xml:"authorized"`
	Reason     string   `xml:"reason"`
	Plan       string   `xml:"plan"`
	Reports    []struct {
		Metric      string `xml:"metric,attr"`
		Period      string `xml:"period,attr"`
		Exceeded    string `xml:"exceeded,attr"`
		PeriodStart string `xml:"period_start"`
		PeriodEnd   string `xml:"period_end"`
		Max         int64  `xml:"max_value"`
		Current     int64  `xml:"current_value"`
	} `xml:"usage_reports>usage_report"`
}

func parseStatus(t *testing.T, r response) xmlStatus {
	t.Helper()
	var s xmlStatus
	if err := xml.Unmarshal([]byte(r.body), &s); err != nil {
		t.Fatalf("status XML: %v in %s", err, r)
	}
	return s
}

const appOpts = "rejection_reason_header=1&limit_headers=1"

// appEternityKey is the counter the worker writes for app1 and hits (§7).
const appEternityKey = "stats/{service:42}/cinstance:app1/metric:1/eternity"

func TestServiceManagementAPI(t *testing.T) {
	rs := startRedis(t)
	storage := rs.client(0)
	base := startListener(t, rs.url(0), "")
	startWorker(t, rs.url(0), "")
	provision(t, base, 1000, 3)
	mustInternal(t, base, "POST", "/internal/services/42/alert_limits/", map[string]any{"alert_limit": map[string]any{"value": 50}}, 201)
	mustInternal(t, base, "POST", "/internal/services/42/alert_limits/", map[string]any{"alert_limit": map[string]any{"value": 100}}, 201)
	// apisonator@3scale-2.16.4-GA:lib/3scale/backend/alert_limit.rb: any ALERT_BINS value, 0
	// included, is valid; an existing one is not saved again (sadd?) and answers 400, like a
	// value outside the bins.
	mustInternal(t, base, "POST", "/internal/services/42/alert_limits/", map[string]any{"alert_limit": map[string]any{"value": 0}}, 201)
	mustInternal(t, base, "POST", "/internal/services/42/alert_limits/", map[string]any{"alert_limit": map[string]any{"value": 100}}, 400)
	mustInternal(t, base, "POST", "/internal/services/42/alert_limits/", map[string]any{"alert_limit": map[string]any{"value": 55}}, 400)
	mustInternal(t, base, "DELETE", "/internal/services/42/alert_limits/0", nil, 200)

	creds := func(kv ...string) url.Values {
		return params(append([]string{"service_token", "tok42", "service_id", "42"}, kv...)...)
	}

	t.Run("health endpoints need no redis", func(t *testing.T) {
		r := do(t, mustReq("GET", base+"/status"))
		if r.code != 200 || !contains(r.body, `"status":"ok"`) {
			t.Fatalf("/status: %s", r)
		}
		if r := do(t, mustReq("GET", base+"/nope")); r.code != 404 || r.header.Get("Content-Type") != xmlContentType {
			t.Fatalf("unknown path: %s %v", r, r.header)
		}
	})

	t.Run("internal API needs basic auth", func(t *testing.T) {
		if r := do(t, mustReq("GET", base+"/internal/services/42")); r.code != 401 {
			t.Fatalf("no auth: %s", r)
		}
		r := mustInternal(t, base, "GET", "/internal/services/42", nil, 200)
		if !contains(r.body, `"provider_key":"pk42"`) {
			t.Fatalf("service: %s", r)
		}
	})

	t.Run("authrep authorized", func(t *testing.T) {
		r := authCall(t, base, "/transactions/authrep.xml", creds("user_key", "uk1", "usage[hits]", "1"), appOpts)
		if r.code != 200 || r.header.Get("Content-Type") != xmlContentType {
			t.Fatalf("authrep: %s", r)
		}
		if !strings.HasPrefix(r.body, `<?xml version="1.0" encoding="UTF-8"?><status><authorized>true</authorized><plan>Basic</plan><usage_reports>`) {
			t.Fatalf("body: %s", r.body)
		}
		s := parseStatus(t, r)
		if len(s.Reports) != 2 || s.Reports[0].Period != "day" || s.Reports[0].Max != 1000 || s.Reports[0].Current != 1 ||
			s.Reports[1].Period != "eternity" || s.Reports[1].PeriodStart != "" {
			t.Fatalf("usage reports (authrep counts this request): %+v", s.Reports)
		}
		if _, err := time.Parse(timeFormat, s.Reports[0].PeriodStart); err != nil {
			t.Fatalf("period_start %q: %v", s.Reports[0].PeriodStart, err)
		}
		if r.header.Get("3scale-limit-max-value") != "3" || r.header.Get("3scale-limit-remaining") != "2" || r.header.Get("3scale-limit-reset") != "-1" {
			t.Fatalf("limit headers: %v", r.header)
		}
		testsupport.Eventually(t, 5*time.Second, "the worker to count the hit", func(context.Context) (bool, string) {
			v, s := counter(t, storage, appEternityKey)
			return v == 1, s
		})
	})

	t.Run("provider key with default service", func(t *testing.T) {
		r := authCall(t, base, "/transactions/authorize.xml", params("provider_key", "pk42", "user_key", "uk1"), "")
		if r.code != 200 || parseStatus(t, r).Reports[1].Current != 1 {
			t.Fatalf("authorize: %s", r)
		}
	})

	t.Run("unknown user key is 403 user_key_invalid", func(t *testing.T) {
		r := authCall(t, base, "/transactions/authrep.xml", creds("user_key", "nope", "usage[hits]", "1"), appOpts)
		want := `<?xml version="1.0" encoding="UTF-8"?><error code="user_key_invalid">user key "nope" is invalid</error>`
		if r.code != 403 || r.body != want || r.header.Get("3scale-rejection-reason") != "" {
			t.Fatalf("got %s %v", r, r.header)
		}
	})

	t.Run("credential errors", func(t *testing.T) {
		cases := []struct {
			q    url.Values
			code int
			err  string
		}{
			{params("service_token", "bad", "service_id", "42", "user_key", "uk1"), 403, "service_token_invalid"},
			{params("user_key", "uk1"), 403, "provider_key_or_service_token_required"},
			{params("service_token", "tok42", "user_key", "uk1"), 422, "service_id_missing"},
			{params("provider_key", "other", "user_key", "uk1"), 403, "provider_key_invalid_or_service_missing"},
			{creds("user_key", "uk1", "usage[nope]", "1"), 404, "metric_invalid"},
			{creds("user_key", "uk1", "usage[hits]", "x"), 403, "usage_value_invalid"},
		}
		for _, c := range cases {
			r := authCall(t, base, "/transactions/authrep.xml", c.q, "")
			if r.code != c.code || !contains(r.body, `code="`+c.err+`"`) {
				t.Errorf("%v: got %s, want %d %s", c.q, r, c.code, c.err)
			}
		}
	})

	t.Run("app_id and app_key", func(t *testing.T) {
		mustInternal(t, base, "POST", "/internal/services/", map[string]any{"service": map[string]any{
			"id": "7", "provider_key": "pk42", "backend_version": "2"}}, 201)
		mustInternal(t, base, "POST", "/internal/service_tokens/", map[string]any{
			"service_tokens": map[string]any{"tok7": map[string]any{"service_id": "7"}}}, 201)
		mustInternal(t, base, "POST", "/internal/services/7/metrics/70", map[string]any{"metric": map[string]any{"name": "hits"}}, 201)
		mustInternal(t, base, "POST", "/internal/services/7/applications/a7", map[string]any{"application": map[string]any{
			"state": "active", "plan_id": "p7", "plan_name": "Gold"}}, 201)
		mustInternal(t, base, "POST", "/internal/services/7/applications/a7/keys/", map[string]any{"application_key": map[string]any{"value": "k7"}}, 201)
		q := func(kv ...string) url.Values {
			return params(append([]string{"service_token", "tok7", "service_id", "7", "usage[hits]", "1"}, kv...)...)
		}
		r := authCall(t, base, "/transactions/authrep.xml", q("app_id", "a7", "app_key", "wrong"), appOpts)
		if r.code != 409 || r.header.Get("3scale-rejection-reason") != "application_key_invalid" ||
			parseStatus(t, r).Reason != `application key "wrong" is invalid` {
			t.Fatalf("wrong key: %s %v", r, r.header)
		}
		if r := authCall(t, base, "/transactions/authrep.xml", q("app_id", "a7", "app_key", "k7"), appOpts); r.code != 200 {
			t.Fatalf("right key: %s", r)
		}
		if r := authCall(t, base, "/transactions/authrep.xml", q("app_id", "ghost"), ""); r.code != 404 || !contains(r.body, `code="application_not_found"`) {
			t.Fatalf("unknown app: %s", r)
		}
		mustInternal(t, base, "PUT", "/internal/services/7/applications/a7", map[string]any{"application": map[string]any{"state": "suspended"}}, 200)
		r = authCall(t, base, "/transactions/authorize.xml", q("app_id", "a7", "app_key", "k7"), appOpts)
		if r.code != 409 || r.header.Get("3scale-rejection-reason") != "application_not_active" {
			t.Fatalf("suspended: %s %v", r, r.header)
		}
	})

	t.Run("limits exceeded is 409 and alerts fire", func(t *testing.T) {
		// One hit is counted; the eternity limit is 3. Each authrep is followed by waiting for
		// the worker, because the listener only reads counters.
		for want := int64(2); want <= 3; want++ {
			r := authCall(t, base, "/transactions/authrep.xml", creds("user_key", "uk1", "usage[hits]", "1"), appOpts)
			if r.code != 200 {
				t.Fatalf("hit %d: %s", want, r)
			}
			testsupport.Eventually(t, 5*time.Second, "the worker to count", func(context.Context) (bool, string) {
				v, s := counter(t, storage, appEternityKey)
				return v == want, s
			})
		}
		r := authCall(t, base, "/transactions/authrep.xml", creds("user_key", "uk1", "usage[hits]", "1"), appOpts)
		if r.code != 409 || r.header.Get("3scale-rejection-reason") != "limits_exceeded" ||
			r.header.Get("3scale-limit-remaining") != "0" || r.header.Get("3scale-limit-max-value") != "3" {
			t.Fatalf("over limit: %s %v", r, r.header)
		}
		// At the limit is not over it: exceeded stays off (TestExceededMarksStoredValue).
		s := parseStatus(t, r)
		if s.Authorized || s.Reason != "usage limits are exceeded" || s.Reports[1].Exceeded != "" || s.Reports[1].Current != 3 {
			t.Fatalf("over limit body: %+v", s)
		}
		// A child metric counts for its parent, so search is over the limit too.
		if r := authCall(t, base, "/transactions/authrep.xml", creds("user_key", "uk1", "usage[search]", "1", "no_body", "true"), appOpts); r.code != 409 || r.body != "" {
			t.Fatalf("child metric: %s", r)
		}

		var evs struct {
			Status string `json:"status"`
			Events []struct {
				ID     int64          `json:"id"`
				Type   string         `json:"type"`
				Object map[string]any `json:"object"`
			} `json:"events"`
		}
		testsupport.Eventually(t, 5*time.Second, "alert events at 50% and 100%", func(context.Context) (bool, string) {
			r := mustInternal(t, base, "GET", "/internal/events/", nil, 200)
			if err := json.Unmarshal([]byte(r.body), &evs); err != nil {
				return false, err.Error()
			}
			levels := map[float64]bool{}
			for _, e := range evs.Events {
				if e.Type == "alert" {
					levels[e.Object["utilization"].(float64)] = true
				}
			}
			return levels[50] && levels[100] && len(levels) == 2, r.body
		})
		var first, alerts int
		var last int64
		for _, e := range evs.Events {
			switch e.Type {
			case "first_traffic":
				first++
			case "alert":
				alerts++
				if e.Object["application_id"] != "app1" || e.Object["limit"] == "" {
					t.Errorf("alert object: %v", e.Object)
				}
			}
			last = e.ID
		}
		if first != 2 || alerts != 2 { // app1 and a7 had first traffic
			t.Fatalf("events: %+v", evs.Events)
		}
		r = mustInternal(t, base, "DELETE", fmt.Sprintf("/internal/events/?upto_id=%d", last), nil, 200)
		if !contains(r.body, fmt.Sprintf(`"num_events":%d`, len(evs.Events))) {
			t.Fatalf("delete events: %s", r)
		}
		r = mustInternal(t, base, "GET", "/internal/services/42/applications/app1/utilization/", nil, 200)
		if !contains(r.body, `"current_value":3`) {
			t.Fatalf("utilization: %s", r)
		}
	})

	t.Run("report is 202 and counted by the worker", func(t *testing.T) {
		mustInternal(t, base, "PUT", "/internal/services/42/plans/basic/usagelimits/1/eternity", map[string]any{"usagelimit": map[string]any{"eternity": 100}}, 200)
		mustInternal(t, base, "DELETE", "/internal/services/42/errors/", nil, 200)
		good := url.Values{"service_token": {"tok42"}, "service_id": {"42"},
			"transactions[0][user_key]": {"uk1"}, "transactions[0][usage][hits]": {"2"},
			"transactions[1][app_id]": {"app1"}, "transactions[1][usage][search]": {"3"}, "transactions[1][log][code]": {"200"}}
		report := func(form url.Values) {
			t.Helper()
			req, _ := http.NewRequest("POST", base+"/transactions.xml", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if r := do(t, req); r.code != 202 || r.body != "" {
				t.Fatalf("report: %s", r)
			}
		}
		// One transaction with an unknown key makes the whole job an integration error: the
		// good transactions of the job are not counted either, and the job is not failed
		// (apisonator@3scale-2.16.4-GA:lib/3scale/backend/transactor/report_job.rb:10-31).
		mixed := url.Values{}
		for k, v := range good {
			mixed[k] = v
		}
		mixed.Set("transactions[2][user_key]", "unknown")
		mixed.Set("transactions[2][usage][hits]", "1")
		processed, _ := counter(t, storage, statProcessed)
		report(mixed)
		report(good)
		// One worker takes the jobs in order: once both are done, only the second counted.
		testsupport.Eventually(t, 5*time.Second, "both jobs processed", func(context.Context) (bool, string) {
			n, s := counter(t, storage, statProcessed)
			return n >= processed+2, s
		})
		h, s1 := counter(t, storage, appEternityKey)
		c, s2 := counter(t, storage, "stats/{service:42}/response_code:2XX/eternity")
		if h != 8 || c != 1 {
			t.Fatalf("want only the good job counted, child usage included in hits: %s %s", s1, s2)
		}
		r := mustInternal(t, base, "GET", "/internal/services/42/errors/", nil, 200)
		if !contains(r.body, `"code":"user_key_invalid","message":"user key \"unknown\" is invalid"`) || !contains(r.body, `"count":1`) || llen(storage, FailedList) != 0 {
			t.Fatalf("errors: %s, failed=%d", r, llen(storage, FailedList))
		}
		if n := llen(storage, "errors/service_id:42"); n != 1 {
			t.Fatalf("a good report stored errors: %d", n)
		}
	})
}

func mustReq(method, u string) *http.Request {
	r, err := http.NewRequest(method, u, nil)
	if err != nil {
		panic(err)
	}
	return r
}

// TestWorkerOutage: with no worker, authreps keep being authorized against stale counters (rate
// limiting is lost), the priority queue grows by one job per authrep, and once a worker runs
// every hit is counted exactly once.
func TestWorkerOutage(t *testing.T) {
	rs := startRedis(t)
	c := rs.client(0)
	base := startListener(t, rs.url(0), "")
	provision(t, base, 0, 10)

	const n = 25
	for i := 0; i < n; i++ {
		r := authCall(t, base, "/transactions/authrep.xml", params("service_token", "tok42", "service_id", "42",
			"user_key", "uk1", "usage[hits]", "1"), "rejection_reason_header=1&limit_headers=1&no_body=1")
		if r.code != 200 {
			t.Fatalf("authrep %d during worker outage: %s (the limit of 10 is not enforced without the worker)", i, r)
		}
	}
	if got := llen(c, QueuePriority); got != n {
		t.Fatalf("LLEN %s = %d, want %d", QueuePriority, got, n)
	}
	var job struct {
		Class string            `json:"class"`
		Args  []json.RawMessage `json:"args"`
	}
	head, _ := c.LIndex(context.Background(), QueuePriority, 0).Result()
	if err := json.Unmarshal([]byte(head), &job); err != nil || job.Class != reportJobClass || len(job.Args) != 4 ||
		string(job.Args[0]) != `"42"` || string(job.Args[1]) != `{"0":{"app_id":"app1","usage":{"hits":"1"}}}` {
		t.Fatalf("job payload: %s", head)
	}
	if v, s := counter(t, c, appEternityKey); v != 0 {
		t.Fatalf("listener touched counters: %s", s)
	}
	// A denial enqueues nothing. A limit of 0 on the child metric denies it with
	// 3scale-limit-max-value 0, which APIcast turns into a 403 ("disabled metric", §1.1).
	mustInternal(t, base, "PUT", "/internal/services/42/plans/basic/usagelimits/2/eternity", map[string]any{"usagelimit": map[string]any{"eternity": 0}}, 200)
	r := authCall(t, base, "/transactions/authrep.xml", params("service_token", "tok42", "service_id", "42",
		"user_key", "uk1", "usage[search]", "1"), "rejection_reason_header=1&limit_headers=1")
	if r.code != 409 || r.header.Get("3scale-rejection-reason") != "limits_exceeded" || r.header.Get("3scale-limit-max-value") != "0" {
		t.Fatalf("disabled metric: %s %v", r, r.header)
	}
	if got := llen(c, QueuePriority); got != n {
		t.Fatalf("a denied authrep was enqueued: LLEN %d, want %d", got, n)
	}

	startWorker(t, rs.url(0), "")
	now := time.Now().UTC()
	dayKey := "stats/{service:42}/cinstance:app1/metric:1/day:" + compactTime(periodDay.start(now))
	testsupport.Eventually(t, 10*time.Second, "backlog drained and counted", func(context.Context) (bool, string) {
		v, s := counter(t, c, appEternityKey)
		svc, s2 := counter(t, c, "stats/{service:42}/metric:1/eternity")
		return v == n && svc == n && llen(c, QueuePriority) == 0, s + " " + s2
	})
	// Nothing counted twice once the worker is idle.
	if v, s := counter(t, c, dayKey); v != n {
		t.Fatalf("day counter: %s", s)
	}
	ttl, _ := c.TTL(context.Background(), "stats/{service:42}/cinstance:app1/metric:1/minute:"+compactTime(periodMinute.start(time.Now()))).Result()
	if ttl <= 0 || ttl > minuteKeyTTL {
		t.Logf("minute key TTL %v (the minute may have turned)", ttl)
	}
	// Now the limit is enforced again.
	r = authCall(t, base, "/transactions/authrep.xml", params("service_token", "tok42", "service_id", "42",
		"user_key", "uk1", "usage[hits]", "1"), "rejection_reason_header=1")
	if r.code != 409 || r.header.Get("3scale-rejection-reason") != "limits_exceeded" {
		t.Fatalf("after catch-up: %s %v", r, r.header)
	}
}

// TestRedisOutage: with Redis gone the listener answers 500 to data calls and keeps /status at
// 200; when Redis returns, the same listener and worker work again.
func TestRedisOutage(t *testing.T) {
	rs := startRedis(t)
	base := startListener(t, rs.url(0), "")
	startWorker(t, rs.url(0), "")
	provision(t, base, 0, 0)
	q := params("service_token", "tok42", "service_id", "42", "user_key", "uk1", "usage[hits]", "1")
	if r := authCall(t, base, "/transactions/authrep.xml", q, ""); r.code != 200 {
		t.Fatalf("before: %s", r)
	}
	c := rs.client(0)
	testsupport.Eventually(t, 5*time.Second, "first hit counted", func(context.Context) (bool, string) {
		v, s := counter(t, c, appEternityKey)
		return v == 1, s
	})
	rs.save()
	rs.Kill()

	start := time.Now()
	r := authCall(t, base, "/transactions/authrep.xml", q, "")
	if r.code != 500 || r.body != "Internal Server Error\n" || r.header.Get("Content-Type") != "" {
		t.Fatalf("authrep with redis down: %s %v", r, r.header)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("500 took %v", d)
	}
	if r := do(t, mustReq("GET", base+"/status")); r.code != 200 {
		t.Fatalf("/status with redis down: %s", r)
	}
	if r := internal(t, base, "GET", "/internal/services/42", nil); r.code != 500 {
		t.Fatalf("internal API with redis down: %s", r)
	}
	form := url.Values{"service_token": {"tok42"}, "service_id": {"42"}, "transactions[0][user_key]": {"uk1"}}
	req, _ := http.NewRequest("POST", base+"/transactions.xml", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if r := do(t, req); r.code != 500 {
		t.Fatalf("report with redis down: %s", r)
	}

	if err := rs.Start(); err != nil {
		t.Fatal(err)
	}
	testsupport.Eventually(t, 10*time.Second, "authrep 200 again", func(context.Context) (bool, string) {
		r := authCall(t, base, "/transactions/authrep.xml", q, "")
		return r.code == 200, r.String()
	})
	// The first hit was saved before the kill; the hit just authorized is counted by the same
	// worker, which reconnected by itself.
	testsupport.Eventually(t, 10*time.Second, "worker counts again", func(context.Context) (bool, string) {
		v, s := counter(t, c, appEternityKey)
		return v == 2, s
	})
}

// TestFailedJobs uses separate storage and queues servers, so the worker can pop jobs while
// storage is down: they fail into resque:failed in Resque's format, cron puts them back, and
// the worker applies them exactly once. Cron also purges the stats of deleted services.
func TestFailedJobs(t *testing.T) {
	storageRS, queuesRS := startRedis(t), startRedis(t)
	sURL, qURL := storageRS.url(0), queuesRS.url(0)
	queues := queuesRS.client(0)
	base := startListener(t, sURL, qURL)
	provision(t, base, 0, 0)
	const n = 4
	for i := 0; i < n; i++ {
		if r := authCall(t, base, "/transactions/authrep.xml", params("service_token", "tok42", "service_id", "42",
			"user_key", "uk1", "usage[hits]", "1"), ""); r.code != 200 {
			t.Fatalf("authrep: %s", r)
		}
	}
	storageRS.save()
	storageRS.Kill()

	startWorker(t, sURL, qURL)
	testsupport.Eventually(t, 10*time.Second, "jobs failed into resque:failed", func(context.Context) (bool, string) {
		f, q := llen(queues, FailedList), llen(queues, QueuePriority)
		return f == n && q == 0, fmt.Sprintf("failed=%d queued=%d", f, q)
	})
	raw, _ := queues.LIndex(context.Background(), FailedList, 0).Result()
	var f struct {
		FailedAt  string          `json:"failed_at"`
		Payload   json.RawMessage `json:"payload"`
		Exception string          `json:"exception"`
		Error     string          `json:"error"`
		Backtrace []string        `json:"backtrace"`
		Worker    string          `json:"worker"`
		Queue     string          `json:"queue"`
	}
	if err := json.Unmarshal([]byte(raw), &f); err != nil {
		t.Fatalf("failure entry: %v in %s", err, raw)
	}
	if _, err := time.Parse("2006/01/02 15:04:05 MST", f.FailedAt); err != nil || f.Exception != "Redis::CannotConnectError" ||
		f.Queue != "priority" || f.Worker == "" || f.Error == "" || !contains(string(f.Payload), reportJobClass) {
		t.Fatalf("failure entry: %s", raw)
	}

	if err := storageRS.Start(); err != nil {
		t.Fatal(err)
	}
	storage := storageRS.client(0)
	// Malformed jobs fail too: one with bad arguments (cron requeues it, it fails again) and
	// one that is not JSON (cron discards it).
	ctx := context.Background()
	_ = queues.RPush(ctx, QueuePriority, `{"class":"`+reportJobClass+`","args":[]}`, "not json").Err()
	testsupport.Eventually(t, 10*time.Second, "malformed jobs failed", func(context.Context) (bool, string) {
		return llen(queues, FailedList) == n+2, fmt.Sprintf("failed=%d", llen(queues, FailedList))
	})
	all, _ := queues.LRange(ctx, FailedList, n, -1).Result()
	if !contains(all[0], `"exception":"ArgumentError"`) || !contains(all[1], `"exception":"JSON::ParserError"`) {
		t.Fatalf("malformed failures: %v", all)
	}
	if v, s := counter(t, storage, appEternityKey); v != 0 {
		t.Fatalf("failed jobs were counted: %s", s)
	}

	startCron(t, sURL, qURL, 200*time.Millisecond)
	testsupport.Eventually(t, 10*time.Second, "rescheduled jobs counted exactly once", func(context.Context) (bool, string) {
		v, s := counter(t, storage, appEternityKey)
		return v == n, s
	})
	testsupport.Eventually(t, 10*time.Second, "only the bad-arguments job keeps failing", func(context.Context) (bool, string) {
		entries, err := queues.LRange(ctx, FailedList, 0, -1).Result()
		if err != nil {
			return false, err.Error()
		}
		for _, e := range entries {
			if !contains(e, `"args":[]`) {
				return false, fmt.Sprint(entries)
			}
		}
		return true, ""
	})
	if v, s := counter(t, storage, appEternityKey); v != n {
		t.Fatalf("counted twice: %s", s)
	}

	// stats:cleanup: system marks the service's stats deleted, cron purges them.
	mustInternal(t, base, "DELETE", "/internal/services/42/stats", nil, 200)
	testsupport.Eventually(t, 10*time.Second, "stats purged", func(context.Context) (bool, string) {
		keys, _ := storage.Keys(ctx, "stats/{service:42}/*").Result()
		members, _ := storage.SMembers(ctx, DeletedServicesSet).Result()
		return len(keys) == 1 && keys[0] == cinstancesKey("42") && len(members) == 0, fmt.Sprint(keys, members)
	})
}

// TestWorkerMetrics: the liveness endpoint the operator probes (:9421/metrics) answers while
// the worker runs, and stops with it.
func TestWorkerMetrics(t *testing.T) {
	rs := startRedis(t)
	addr := fmt.Sprintf("127.0.0.1:%d", testsupport.FreePort(t))
	stop := run(t, "worker", func(ctx context.Context) error {
		return RunWorker(ctx, WorkerConfig{RedisURL: rs.url(0), MetricsAddr: addr, Logger: testLogger(t)})
	})
	testsupport.Eventually(t, 5*time.Second, "/metrics", func(context.Context) (bool, string) {
		resp, err := httpClient.Get("http://" + addr + "/metrics")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == 200, resp.Status
	})
	stop()
	if _, err := httpClient.Get("http://" + addr + "/metrics"); err == nil {
		t.Fatal("/metrics still served after the worker stopped")
	}
}

// The hierarchy and list_app_keys extensions, as apisonator 3scale-2.16.4-GA answers them: after
// the usage reports, <app_keys app=… svc=…> with a <key id=…/> per application key, then
// <hierarchy> with each usage report's metric and its children by name; an extension is on only
// when its value is exactly "1" (apisonator@3scale-2.16.4-GA:lib/3scale/backend/transactor.rb:
// 109-111, lib/3scale/backend/transactor/status.rb to_xml, add_app_keys_section,
// add_hierarchy_section). 3scale-go-client reads both (threescale/http/client_test.go).
func TestStatusExtensions(t *testing.T) {
	rs := startRedis(t)
	base := startListener(t, rs.url(0), "")
	provision(t, base, 1000, 0)
	mustInternal(t, base, "PUT", "/internal/services/42/applications/app1/key/uk1", nil, 200)
	mustInternal(t, base, "POST", "/internal/services/42/applications/app1/keys/", map[string]any{"application_key": map[string]any{"value": "k2"}}, 201)
	q := params("service_token", "tok42", "service_id", "42", "app_id", "app1", "app_key", "k2")
	r := authCall(t, base, "/transactions/authorize.xml", q, "hierarchy=1&list_app_keys=1")
	want := `</usage_reports><app_keys app="app1" svc="42"><key id="k2"/></app_keys><hierarchy><metric name="hits" children="search"/></hierarchy></status>`
	if r.code != 200 || !strings.HasSuffix(r.body, want) {
		t.Errorf("authorize with hierarchy=1&list_app_keys=1: %s\nwant the body to end with %s", r, want)
	}
	r = authCall(t, base, "/transactions/authorize.xml", q, "hierarchy=true")
	if strings.Contains(r.body, "<hierarchy>") || strings.Contains(r.body, "<app_keys") {
		t.Errorf("hierarchy=true is not \"1\": %s", r)
	}
}
