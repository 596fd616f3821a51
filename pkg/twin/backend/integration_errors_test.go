package backend

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/threescale-chaos/harness/internal/testsupport"
)

// storedError is one ErrorStorage entry as the internal API lists it.
type storedError struct {
	Code        string         `json:"code"`
	Message     string         `json:"message"`
	Timestamp   string         `json:"timestamp"`
	ContextInfo map[string]any `json:"context_info"`
}

type errorsListing struct {
	Status string        `json:"status"`
	Errors []storedError `json:"errors"`
	Count  int64         `json:"count"`
}

func listStoredErrors(t *testing.T, base, sid, query string) errorsListing {
	t.Helper()
	r := mustInternal(t, base, "GET", "/internal/services/"+sid+"/errors/"+query, nil, 200)
	var l errorsListing
	if err := json.Unmarshal([]byte(r.body), &l); err != nil {
		t.Fatalf("errors of %s: %v in %s", sid, err, r)
	}
	return l
}

func postReport(t *testing.T, base string, form url.Values) {
	t.Helper()
	req, _ := http.NewRequest("POST", base+"/transactions.xml", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if r := do(t, req); r.code != 202 {
		t.Fatalf("report %v: %s", form, r)
	}
}

// rubyTimeUTC is Ruby's Time#to_s of a UTC time, which ErrorStorage writes as the timestamp.
var rubyTimeUTC = regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$`)

// A ReportJob is checked whole before anything of it is counted, in apisonator's order: every
// transaction's application (Application.extract_id!), then every usage
// (Metric::Collection#process_usage), then every timestamp (Transaction#ensure_on_time!). The
// first error is the job's only ErrorStorage entry, with context_info {}, and the job is not a
// failed job (apisonator@3scale-2.16.4-GA:lib/3scale/backend/transactor/report_job.rb:10-79,
// transactor/process_job.rb, application.rb:87-96,152-163, metric/collection.rb,
// transaction.rb, error_storage.rb, errors.rb).
func TestReportJobIntegrationErrors(t *testing.T) {
	rs := startRedis(t)
	storage := rs.client(0)
	base := startListener(t, rs.url(0), "")
	startWorker(t, rs.url(0), "")
	provision(t, base, 0, 0)
	// A key whose mapping outlives its application: extract_id! finds the id, then no app.
	if err := storage.Set(context.Background(), userKeyKey("42", "dangling"), "gone", 0).Err(); err != nil {
		t.Fatal(err)
	}
	creds := url.Values{"service_token": {"tok42"}, "service_id": {"42"}}
	// tx sets transaction i's fields; "usage[hits]" is transactions[i][usage][hits].
	tx := func(form url.Values, i int, kv ...string) {
		for j := 0; j+1 < len(kv); j += 2 {
			name := strings.TrimSuffix(strings.Replace(kv[j], "[", "][", 1), "]")
			form.Set(fmt.Sprintf("transactions[%d][%s]", i, name), kv[j+1])
		}
	}
	old := time.Now().UTC().Add(-25 * time.Hour).Format("2006-01-02 15:04:05 -0700")
	ahead := time.Now().UTC().Add(2 * time.Hour).Format("2006-01-02 15:04:05 -0700")
	cases := []struct {
		name      string
		txs       [][]string
		code, msg string
	}{
		{"unknown metric", [][]string{{"user_key", "uk1", "usage[nope]", "1"}},
			"metric_invalid", `metric "nope" is invalid`},
		{"applications before usage", [][]string{{"user_key", "uk1", "usage[nope]", "1"}, {"user_key", "unknown", "usage[hits]", "1"}},
			"user_key_invalid", `user key "unknown" is invalid`},
		{"unknown app_id", [][]string{{"app_id", "ghost", "usage[hits]", "1"}},
			"application_not_found", `application with id="ghost" was not found`},
		{"key mapped to no application", [][]string{{"user_key", "dangling", "usage[hits]", "1"}},
			"application_not_found", `application with id="gone" was not found`},
		{"both credentials", [][]string{{"user_key", "uk1", "app_id", "app1", "usage[hits]", "1"}},
			"authentication_error", "either app_id or user_key is allowed, not both"},
		{"bad usage value", [][]string{{"user_key", "uk1", "usage[hits]", "x"}},
			"usage_value_invalid", `usage value "x" for metric "hits" is invalid`},
		{"usage before timestamps", [][]string{{"user_key", "uk1", "usage[hits]", "1", "timestamp", old}, {"app_id", "app1", "usage[nope]", "1"}},
			"metric_invalid", `metric "nope" is invalid`},
		{"too old", [][]string{{"user_key", "uk1", "usage[hits]", "1"}, {"user_key", "uk1", "usage[hits]", "1", "timestamp", old}},
			"transaction_timestamp_too_old", "reporting transactions older than 86400 seconds is not allowed"},
		{"too new", [][]string{{"user_key", "uk1", "usage[hits]", "1", "timestamp", ahead}},
			"transaction_timestamp_too_new", "reporting transactions more than 3600 seconds in the future is not allowed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			mustInternal(t, base, "DELETE", "/internal/services/42/errors/", nil, 200)
			form := url.Values{}
			for k, v := range creds {
				form[k] = v
			}
			for i, kv := range c.txs {
				tx(form, i, kv...)
			}
			postReport(t, base, form)
			testsupport.Eventually(t, 5*time.Second, "the job's integration error", func(context.Context) (bool, string) {
				return llen(storage, errorsKey("42")) > 0, "none yet"
			})
			l := listStoredErrors(t, base, "42", "")
			if l.Count != 1 || len(l.Errors) != 1 || l.Errors[0].Code != c.code || l.Errors[0].Message != c.msg {
				t.Fatalf("stored errors: %+v, want one %s %q", l, c.code, c.msg)
			}
			if !rubyTimeUTC.MatchString(l.Errors[0].Timestamp) || l.Errors[0].ContextInfo == nil || len(l.Errors[0].ContextInfo) != 0 {
				t.Errorf("entry: %+v, want a Time#to_s timestamp and context_info {}", l.Errors[0])
			}
			if n, s := counter(t, storage, appEternityKey); n != 0 {
				t.Errorf("part of the job was counted: %s", s)
			}
			if n := llen(storage, FailedList); n != 0 {
				t.Errorf("%d failed jobs", n)
			}
		})
	}

	t.Run("no usage, bad timestamp", func(t *testing.T) {
		// A transaction without usage counts nothing, not even its response code; a timestamp
		// that does not parse is the processing time (report_job.rb compose_transaction,
		// transaction.rb timestamp=).
		mustInternal(t, base, "DELETE", "/internal/services/42/errors/", nil, 200)
		form := url.Values{}
		for k, v := range creds {
			form[k] = v
		}
		tx(form, 0, "user_key", "uk1", "log[code]", "500")
		tx(form, 1, "user_key", "uk1", "usage[hits]", "2", "timestamp", "not a time")
		postReport(t, base, form)
		testsupport.Eventually(t, 5*time.Second, "the job counted", func(context.Context) (bool, string) {
			n, s := counter(t, storage, appEternityKey)
			return n == 2, s
		})
		if n, s := counter(t, storage, "stats/{service:42}/response_code:5XX/eternity"); n != 0 {
			t.Errorf("a transaction without usage counted its response code: %s", s)
		}
		if n := llen(storage, errorsKey("42")); n != 0 {
			t.Errorf("%d errors stored", n)
		}
	})
}

// do_api_method's rescue: an error of authorize or authrep is stored under the request's
// service (service_id when params[:provider_key] owns it, else the provider key's default
// service) with request_info as context_info, and the answer is unchanged; when the service
// does not resolve nothing is stored. Denials are not errors
// (apisonator@3scale-2.16.4-GA:lib/3scale/backend/listener.rb:149-182,544-566).
func TestAuthErrorsStored(t *testing.T) {
	rs := startRedis(t)
	storage := rs.client(0)
	base := startListener(t, rs.url(0), "")
	provision(t, base, 1, 0)
	ctx := context.Background()
	lens := func() string {
		var b strings.Builder
		for _, sid := range []string{"42", "999"} {
			fmt.Fprintf(&b, "%s:%d ", sid, llen(storage, errorsKey(sid)))
		}
		return strings.TrimSpace(b.String())
	}
	cases := []struct {
		name     string
		endpoint string
		q        url.Values
		status   int
		code     string
		stored   string // errors list lengths after the call
	}{
		{"unknown key, service token", "/transactions/authrep.xml", params("service_token", "tok42", "service_id", "42", "user_key", "nope", "usage[hits]", "1"), 403, "user_key_invalid", "42:1 999:0"},
		{"unknown key, provider key and default service", "/transactions/authorize.xml", params("provider_key", "pk42", "user_key", "nope"), 403, "user_key_invalid", "42:2 999:0"},
		{"unknown metric", "/transactions/authrep.xml", params("provider_key", "pk42", "service_id", "42", "user_key", "uk1", "usage[nope]", "1"), 404, "metric_invalid", "42:3 999:0"},
		{"user_id with provider key", "/transactions/authrep.xml", params("provider_key", "pk42", "user_key", "uk1", "user_id", "u"), 400, "end_users_no_longer_supported", "42:4 999:0"},
		{"denial", "/transactions/authorize.xml", params("provider_key", "pk42", "user_key", "uk1", "usage[hits]", "5"), 409, "", "42:4 999:0"},
		{"unknown provider key", "/transactions/authrep.xml", params("provider_key", "nope", "user_key", "nope"), 403, "provider_key_invalid_or_service_missing", "42:4 999:0"},
		{"user_id with service token", "/transactions/authrep.xml", params("service_token", "tok42", "service_id", "42", "user_key", "uk1", "user_id", "u"), 400, "end_users_no_longer_supported", "42:4 999:0"},
		{"bad service token", "/transactions/authrep.xml", params("service_token", "bad", "service_id", "42", "user_key", "uk1"), 403, "service_token_invalid", "42:4 999:0"},
		{"service of no provider, no provider key", "/transactions/authrep.xml", params("service_token", "bad", "service_id", "999", "user_key", "uk1"), 403, "service_token_invalid", "42:4 999:1"},
	}
	for _, c := range cases {
		r := authCall(t, base, c.endpoint, c.q, "")
		if r.code != c.status || (c.code != "" && !contains(r.body, `<error code="`+c.code+`">`)) {
			t.Errorf("%s: answer %s, want %d %s", c.name, r, c.status, c.code)
		}
		if got := lens(); got != c.stored {
			t.Errorf("%s: stored errors %s, want %s", c.name, got, c.stored)
		}
	}
	raw, err := storage.LIndex(ctx, errorsKey("42"), -1).Result()
	if err != nil && err != redis.Nil {
		t.Fatal(err)
	}
	var first storedError
	if err := json.Unmarshal([]byte(raw), &first); err != nil {
		t.Fatalf("oldest entry %q: %v", raw, err)
	}
	ci := first.ContextInfo
	if first.Code != "user_key_invalid" || first.Message != `user key "nope" is invalid` || !rubyTimeUTC.MatchString(first.Timestamp) ||
		ci["method"] != "GET" || !strings.HasPrefix(fmt.Sprint(ci["url"]), base+"/transactions/authrep.xml?") || ci["ip"] != "127.0.0.1" ||
		ci["form_vars"] != nil {
		t.Errorf("oldest entry: %s", raw)
	}
	if !strings.HasPrefix(raw, `{"code":"user_key_invalid","message":"user key \"nope\" is invalid","timestamp":"`) {
		t.Errorf("entry's keys are not in ErrorStorage's order: %s", raw)
	}
}

// GET and DELETE /internal/services/:id/errors/: 404 for a service that does not exist;
// page (default 1) and per_page (default 100, from the query or pisoni's JSON body) select
// newest first, count is the whole list, and a per_page not above 0 is 400
// (apisonator@3scale-2.16.4-GA:app/api/internal/errors.rb, error_storage.rb:20-49,
// internal.rb respond_with_404).
func TestErrorsListing(t *testing.T) {
	rs := startRedis(t)
	storage := rs.client(0)
	base := startListener(t, rs.url(0), "")
	provision(t, base, 0, 0)
	ctx := context.Background()
	for i := 1; i <= 5; i++ {
		e := &apiError{403, "user_key_invalid", fmt.Sprintf(`user key "k%d" is invalid`, i)}
		if err := storeIntegrationError(ctx, storage, "42", e, map[string]any{}, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	msgs := func(l errorsListing) string {
		var out []string
		for _, e := range l.Errors {
			out = append(out, strings.TrimSuffix(strings.TrimPrefix(e.Message, `user key "`), `" is invalid`))
		}
		return strings.Join(out, ",")
	}
	for _, c := range []struct {
		query string
		body  any
		want  string
	}{
		{"", nil, "k5,k4,k3,k2,k1"},
		{"?per_page=2", nil, "k5,k4"},
		{"?page=2&per_page=2", nil, "k3,k2"},
		{"?page=3&per_page=2", nil, "k1"},
		{"?page=4&per_page=2", nil, ""},
		{"", map[string]any{"page": "2", "per_page": 2}, "k3,k2"},
		{"?page=1&per_page=2", map[string]any{"page": 3}, "k1"},
		// page 0 is the range -per_page..-1: the oldest entries.
		{"?page=0&per_page=2", nil, "k2,k1"},
	} {
		r := mustInternal(t, base, "GET", "/internal/services/42/errors/"+c.query, c.body, 200)
		var l errorsListing
		if err := json.Unmarshal([]byte(r.body), &l); err != nil {
			t.Fatal(err)
		}
		if got := msgs(l); got != c.want || l.Count != 5 || l.Status != "found" || l.Errors == nil {
			t.Errorf("%s %v: %s, want %s and count 5", c.query, c.body, r.body, c.want)
		}
		if !strings.HasPrefix(r.body, `{"status":"found","errors":[`) {
			t.Errorf("%s: key order: %s", c.query, r.body)
		}
	}
	for _, c := range []struct {
		query string
		body  any
	}{{"?per_page=0", nil}, {"?per_page=-1", nil}, {"?per_page=x", nil}, {"?per_page=", nil}, {"", map[string]any{"per_page": 0}}} {
		r := internal(t, base, "GET", "/internal/services/42/errors/"+c.query, c.body)
		if r.code != 400 || strings.TrimSpace(r.body) != `{"error":"per_page needs to be > 0"}` {
			t.Errorf("%s %v: %s, want 400", c.query, c.body, r)
		}
	}
	for _, m := range []string{"GET", "DELETE"} {
		r := internal(t, base, m, "/internal/services/999/errors/", nil)
		if r.code != 404 || strings.TrimSpace(r.body) != `{"status":"not_found","error":"service not found"}` {
			t.Errorf("%s unknown service: %s", m, r)
		}
	}
	mustInternal(t, base, "DELETE", "/internal/services/42/errors/", nil, 200)
	if l := listStoredErrors(t, base, "42", ""); l.Count != 0 || len(l.Errors) != 0 {
		t.Errorf("after DELETE: %+v", l)
	}
}

// A report whose usage is all "0" is accepted and queues nothing: Transactor.report drops the
// "0" values, then the transactions left without usage, and returns before the enqueue when
// none is left; a transaction without usage stays (apisonator@3scale-2.16.4-GA:
// lib/3scale/backend/transactor.rb:20-31,190-201). No worker runs here, so the queue shows it.
func TestReportDropsZeroUsage(t *testing.T) {
	rs := startRedis(t)
	queues := rs.client(0)
	base := startListener(t, rs.url(0), "")
	provision(t, base, 0, 0)
	creds := func(kv ...string) url.Values {
		form := url.Values{"service_token": {"tok42"}, "service_id": {"42"}}
		for i := 0; i+1 < len(kv); i += 2 {
			form.Set(kv[i], kv[i+1])
		}
		return form
	}
	queued := func() []string {
		jobs, err := queues.LRange(context.Background(), QueuePriority, 0, -1).Result()
		if err != nil {
			t.Fatal(err)
		}
		return jobs
	}
	postReport(t, base, creds("transactions[0][user_key]", "uk1", "transactions[0][usage][hits]", "0"))
	if jobs := queued(); len(jobs) != 0 {
		t.Fatalf("a zero-hits report queued %d jobs: %q", len(jobs), jobs)
	}
	postReport(t, base, creds("transactions[0][user_key]", "uk1", "transactions[0][usage][hits]", "0",
		"transactions[1][user_key]", "uk1", "transactions[1][usage][hits]", "0", "transactions[1][usage][search]", "2",
		"transactions[2][user_key]", "uk1"))
	jobs := queued()
	if len(jobs) != 1 {
		t.Fatalf("%d jobs queued, want 1", len(jobs))
	}
	var job struct {
		Args []json.RawMessage `json:"args"`
	}
	if err := json.Unmarshal([]byte(jobs[0]), &job); err != nil || len(job.Args) < 2 {
		t.Fatalf("job %s: %v", jobs[0], err)
	}
	var txs map[string]jobTransaction
	if err := json.Unmarshal(job.Args[1], &txs); err != nil {
		t.Fatal(err)
	}
	if _, ok := txs["0"]; ok || len(txs) != 2 || len(txs["1"].Usage) != 1 || txs["1"].Usage["search"] != "2" || txs["2"].Usage != nil {
		t.Errorf("transactions queued %+v; want 1 with search only and 2 without usage", txs)
	}
}
