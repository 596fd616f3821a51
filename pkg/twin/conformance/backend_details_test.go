package conformance

import (
	"strings"
	"testing"
)

// What a client reads of apisonator besides authorizations, as 3scale-2.16.4-GA answers it:
//   - /status carries the version, a semver (apisonator@3scale-2.16.4-GA:
//     lib/3scale/backend/version.rb, lib/3scale/backend/listener.rb get '/status');
//   - an unknown service token names the service id too (lib/3scale/backend/errors.rb
//     ServiceTokenInvalid);
//   - a usage value is checked by the Limits validator, after the application's key
//     (lib/3scale/backend/validators.rb; metric/collection.rb sane_value?, digits with an
//     optional '#'): a wrong key is the 409 denial whatever the usage, a bad value with the
//     right key is 403 usage_value_invalid.
func TestBackendStatusAndUsageChecks(t *testing.T) {
	if r := mustCall(t, "GET", listenerURL()+"/status", nil, "", "", 200); r.body != `{"status":"ok","version":{"backend":"3.4.3"}}` {
		t.Errorf("/status: %s", r.body)
	}
	f := newBackendFixture(t)
	r, err := call("GET", listenerURL()+"/transactions/authrep.xml?service_token=not-a-token&service_id="+f.sid+"&user_key="+f.userKey, nil, "", "")
	if want := `service token "not-a-token" or service id "` + f.sid + `" is invalid`; err != nil || r.status != 403 || !strings.Contains(r.body, want) {
		t.Errorf("unknown service token: %d %s %v, want 403 with %s", r.status, r.body, err, want)
	}
	appKey := "app-key-" + f.sid
	internal(t, "POST", "/internal/services/"+f.sid+"/applications/"+f.appID+"/keys/", map[string]any{"application_key": map[string]any{"value": appKey}}, 201)
	base := listenerURL() + "/transactions/authrep.xml?service_token=" + f.token + "&service_id=" + f.sid + "&app_id=" + f.appID
	for _, c := range []struct {
		what, query string
		status      int
		want        string
	}{
		{"wrong key, bad usage", "&app_key=wrong-key&usage%5Bhits%5D=x", 409, `application key "wrong-key" is invalid`},
		{"bad usage", "&app_key=" + appKey + "&usage%5Bhits%5D=%2B1", 403, `code="usage_value_invalid"`},
	} {
		r, err := call("GET", base+c.query, nil, "", "")
		if err != nil || r.status != c.status || !strings.Contains(r.body, c.want) {
			t.Errorf("%s: %d %s %v, want %d %s", c.what, r.status, r.body, err, c.status, c.want)
		}
	}
}
