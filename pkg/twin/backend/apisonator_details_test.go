package backend

import (
	"context"
	"net/http"
	"testing"
)

// TestStatusVersion: /status, and the internal API's, answer apisonator's version at the tag,
// a semver clients parse (apisonator@3scale-2.16.4-GA:lib/3scale/backend/version.rb,
// lib/3scale/backend/listener.rb and app/api/internal/internal.rb get '/status').
func TestStatusVersion(t *testing.T) {
	rs := startRedis(t)
	base := startListener(t, rs.url(0), "")
	want := `{"status":"ok","version":{"backend":"3.4.3"}}`
	if r := do(t, mustReq("GET", base+"/status")); r.code != 200 || r.body != want {
		t.Errorf("/status: %s, want %s", r, want)
	}
	if r := mustInternal(t, base, "GET", "/internal/status", nil, 200); !contains(r.body, `"backend":"3.4.3"`) {
		t.Errorf("/internal/status: %s", r)
	}
}

// TestServiceTokenInvalidText: the error names the service id with the token
// (apisonator@3scale-2.16.4-GA:lib/3scale/backend/errors.rb ServiceTokenInvalid).
func TestServiceTokenInvalidText(t *testing.T) {
	rs := startRedis(t)
	base := startListener(t, rs.url(0), "")
	provision(t, base, 0, 3)
	r := authCall(t, base, "/transactions/authrep.xml", params("service_token", "bad", "service_id", "42", "user_key", "uk1"), "")
	want := `<?xml version="1.0" encoding="UTF-8"?><error code="service_token_invalid">service token "bad" or service id "42" is invalid</error>`
	if r.code != 403 || r.body != want {
		t.Errorf("got %s, want 403 %s", r, want)
	}
}

// TestExceededMarksStoredValue: a usage report carries exceeded="true" only when the stored
// value is over the limit, whatever the request's usage and whether it is denied
// (apisonator@3scale-2.16.4-GA:lib/3scale/backend/transactor/usage_report.rb exceeded?,
// current_value; test/integration/authorize/basic_test.rb "does not authorize on eternity
// limits").
func TestExceededMarksStoredValue(t *testing.T) {
	rs := startRedis(t)
	storage := rs.client(0)
	base := startListener(t, rs.url(0), "")
	provision(t, base, 0, 3)
	store := func(v int) {
		t.Helper()
		if err := storage.Set(context.Background(), appEternityKey, v, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	creds := func(kv ...string) map[string][]string {
		return params(append([]string{"service_token", "tok42", "service_id", "42", "user_key", "uk1"}, kv...)...)
	}
	for _, c := range []struct {
		what     string
		stored   int
		endpoint string
		usage    string
		code     int
		exceeded string
		current  int64
	}{
		{"at the limit, denied by this request's usage", 3, "/transactions/authorize.xml", "1", 409, "", 3},
		{"at the limit, authrep denied", 3, "/transactions/authrep.xml", "1", 409, "", 3},
		{"over the limit", 5, "/transactions/authorize.xml", "1", 409, "true", 5},
		{"over the limit, set back under it", 5, "/transactions/authrep.xml", "#1", 200, "true", 1},
	} {
		store(c.stored)
		r := authCall(t, base, c.endpoint, creds("usage[hits]", c.usage), "")
		if r.code != c.code {
			t.Errorf("%s: %s, want %d", c.what, r, c.code)
			continue
		}
		s := parseStatus(t, r)
		if len(s.Reports) != 1 || s.Reports[0].Exceeded != c.exceeded || s.Reports[0].Current != c.current {
			t.Errorf("%s: reports %+v, want exceeded=%q current %d", c.what, s.Reports, c.exceeded, c.current)
		}
	}
}

// TestUsageValues: how apisonator checks usage[metric]=value
// (apisonator@3scale-2.16.4-GA): a usage that is not a hash is a bare 403 (listener.rb
// valid_usage_params?); otherwise the Limits validator, the last one, reads the entries in
// order, each value before its name: digits, optionally after '#', blanks around (403
// usage_value_invalid, with its own text for a blank value: errors.rb UsageValueInvalid), then
// a metric (404 metric_invalid) (metric/collection.rb parse_usage, sane_value?;
// validators.rb). With no_body the names are checked first, before any validator
// (transactor.rb preload_usage_limits). An absolute value reaches the parents too
// (collection.rb process_parents). Only a value of exactly "0" is left out of the report
// job (transactor.rb filter_metrics_without_inc).
func TestUsageValues(t *testing.T) {
	rs := startRedis(t)
	storage := rs.client(0)
	base := startListener(t, rs.url(0), "")
	provision(t, base, 0, 3)
	mustInternal(t, base, "POST", "/internal/services/42/applications/app1/keys/", map[string]any{"application_key": map[string]any{"value": "k1"}}, 201)
	get := func(query, options string) response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, base+"/transactions/authorize.xml?service_token=tok42&service_id=42&"+query, nil)
		if options != "" {
			req.Header.Set("3scale-options", options)
		}
		return do(t, req)
	}
	const head = `<?xml version="1.0" encoding="UTF-8"?>`
	for _, c := range []struct {
		what, query, options string
		code                 int
		body                 string
	}{
		{"a sign", "user_key=uk1&usage%5Bhits%5D=%2B1", "", 403,
			head + `<error code="usage_value_invalid">usage value "+1" for metric "hits" is invalid</error>`},
		{"blank", "user_key=uk1&usage%5Bhits%5D=", "", 403,
			head + `<error code="usage_value_invalid">usage value for metric "hits" can not be empty</error>`},
		{"value before name", "user_key=uk1&usage%5Bnope%5D=x", "", 403,
			head + `<error code="usage_value_invalid">usage value "x" for metric "nope" is invalid</error>`},
		{"in order", "user_key=uk1&usage%5Bnope%5D=1&usage%5Bhits%5D=x", "", 404,
			head + `<error code="metric_invalid">metric "nope" is invalid</error>`},
		{"not a hash", "user_key=uk1&usage=1", "", 403, ""},
		{"blanks around", "user_key=uk1&usage%5Bhits%5D=%201%20", "", 200, ""},
		{"a wrong key comes first", "app_id=app1&app_key=wrong&usage%5Bhits%5D=x", "", 409, ""},
		{"with no_body the names come first", "app_id=app1&app_key=wrong&usage%5Bnope%5D=1", "no_body=1", 404,
			head + `<error code="metric_invalid">metric "nope" is invalid</error>`},
		{"an absolute value reaches the parent", "user_key=uk1&usage%5Bsearch%5D=%235", "", 409, ""},
	} {
		r := get(c.query, c.options)
		if r.code != c.code || (c.body != "" && r.body != c.body) || (c.code == 403 && c.body == "" && r.body != "") {
			t.Errorf("%s (%s): %s, want %d %s", c.what, c.query, r, c.code, c.body)
		}
	}

	req, _ := http.NewRequest(http.MethodGet, base+"/transactions/authrep.xml?service_token=tok42&service_id=42&user_key=uk1&usage%5Bhits%5D=00", nil)
	if r := do(t, req); r.code != 200 || llen(storage, QueuePriority) != 1 {
		t.Errorf("authrep with usage 00: %s, %d jobs queued, want 200 and one", r, llen(storage, QueuePriority))
	}
}
