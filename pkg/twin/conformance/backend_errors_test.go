package conformance

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// apisonator's answers to requests a client gets wrong, as 3scale-2.16.4-GA maps them:
//   - an authrep with both user_key and app_id: 403 authentication_error; with neither: 404
//     application_not_found, whatever the backend version
//     (apisonator@3scale-2.16.4-GA:lib/3scale/backend/application.rb with_app_id_from_params);
//   - a report whose body is JSON: 400 content_type_invalid, before the credentials are read
//     (lib/3scale/backend/listener.rb check_post_content_type!);
//   - a report with a transaction's user_id: 400 end_users_no_longer_supported
//     (listener.rb check_transactions_validity; lib/3scale/backend/errors.rb).
func TestBackendErrorMapping(t *testing.T) {
	f := newBackendFixture(t)
	base := listenerURL() + "/transactions/authrep.xml?service_token=" + f.token + "&service_id=" + f.sid + "&usage%5Bhits%5D=1"
	for _, c := range []struct {
		what, url string
		status    int
		code      string
	}{
		{"both credentials", base + "&user_key=" + f.userKey + "&app_id=" + f.appID, 403, "authentication_error"},
		{"no credentials", base, 404, "application_not_found"},
		{"user_id", base + "&user_key=" + f.userKey + "&user_id=u1", 400, "end_users_no_longer_supported"},
	} {
		r, err := call("GET", c.url, nil, "", "")
		if err != nil || r.status != c.status || !strings.Contains(r.body, `code="`+c.code+`"`) {
			t.Errorf("%s: %d %s %v, want %d and code %s", c.what, r.status, r.body, err, c.status, c.code)
		}
	}

	report := func(contentType, body string) (int, string) {
		req, err := http.NewRequest("POST", listenerURL()+"/transactions.xml", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", contentType)
		resp, err := httpc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	form := url.Values{"service_token": {f.token}, "service_id": {f.sid}, "transactions[0][user_key]": {f.userKey}, "transactions[0][usage][hits]": {"1"}}
	if st, body := report("application/json", `{"service_token":"`+f.token+`"}`); st != 400 || !strings.Contains(body, `code="content_type_invalid"`) {
		t.Errorf("JSON report: %d %s, want 400 content_type_invalid", st, body)
	}
	withUser := url.Values{}
	for k, v := range form {
		withUser[k] = v
	}
	withUser.Set("transactions[0][user_id]", "u1")
	if st, body := report("application/x-www-form-urlencoded", withUser.Encode()); st != 400 || !strings.Contains(body, `code="end_users_no_longer_supported"`) {
		t.Errorf("report with user_id: %d %s, want 400 end_users_no_longer_supported", st, body)
	}
	if st, body := report("application/x-www-form-urlencoded", form.Encode()); st != 202 {
		t.Errorf("a valid report: %d %s, want 202", st, body)
	}
}
