package conformance

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/threescale-chaos/harness/internal/testsupport"
)

// A proxy as porta 3scale-2.16.4-GA keeps it: its error answers have the column defaults of
// porta@3scale-2.16.4-GA:db/schema.rb create_table "proxies" (403 "Authentication failed",
// 403 "Authentication parameters missing", 404 "No Mapping Rule matched", 429 "Usage limit
// exceeded", each "text/plain; charset=us-ascii"), api_test_path "/" and lock_version 0, which
// Rails' optimistic locking raises by one on every update; its secret_token is made on create
// (app/models/proxy.rb create_default_secret_token); ProxyRepresenter shows these and no id
// (app/representers/proxy_representer.rb). The config carries them, so APIcast answers a
// request without credentials with porta's 403, not its own default 401
// (APIcast@3scale-2.16.3-GA:gateway/src/apicast/configuration.lua auth_missing_status).
// The old twin showed error fields only once set, an empty secret_token and an id, and its
// gateway answered 401 with text/plain; charset=utf-8.
func TestPortaProxyDefaults(t *testing.T) {
	p := provisionProduct(t)
	proxy, _ := mustAdmin(t, "GET", "/admin/api/services/"+p.id+"/proxy.json", nil, 200)["proxy"].(map[string]any)
	want := map[string]any{
		"error_auth_failed": "Authentication failed", "error_status_auth_failed": 403.0,
		"error_auth_missing": "Authentication parameters missing", "error_status_auth_missing": 403.0,
		"error_no_match": "No Mapping Rule matched", "error_status_no_match": 404.0,
		"error_limits_exceeded": "Usage limit exceeded", "error_status_limits_exceeded": 429.0,
		"api_test_path": "/",
	}
	for _, f := range []string{"auth_failed", "auth_missing", "no_match", "limits_exceeded"} {
		want["error_headers_"+f] = "text/plain; charset=us-ascii"
	}
	for k, v := range want {
		if proxy[k] != v {
			t.Errorf("proxy %s = %#v, want %#v", k, proxy[k], v)
		}
	}
	if _, ok := proxy["id"]; ok {
		t.Errorf("proxy JSON has an id: %v", proxy["id"])
	}
	if tok, _ := proxy["secret_token"].(string); !regexp.MustCompile(`^Shared_secret_sent_from_proxy_to_API_backend_[0-9a-f]{16}$`).MatchString(tok) {
		t.Errorf("secret_token = %q, want porta's generated token", tok)
	}
	lock, _ := proxy["lock_version"].(float64)
	upd, _ := mustAdmin(t, "PATCH", "/admin/api/services/"+p.id+"/proxy.json", url.Values{"error_auth_failed": {"nope"}}, 200)["proxy"].(map[string]any)
	if upd["lock_version"] != lock+1 || upd["error_auth_failed"] != "nope" {
		t.Errorf("after an update: lock_version %v error_auth_failed %v, want %v and nope", upd["lock_version"], upd["error_auth_failed"], lock+1)
	}

	mustAdmin(t, "POST", "/admin/api/services/"+p.id+"/proxy/deploy.json", nil, 201)
	req, err := http.NewRequest("GET", "http://127.0.0.1:"+strconv.Itoa(values.Ports.ApicastStaging)+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = p.stagingHost
	testsupport.Eventually(t, 30*time.Second, "staging answers a request without credentials with porta's default", func(ctx context.Context) (bool, string) {
		resp, err := httpc.Do(req.WithContext(ctx))
		if err != nil {
			return false, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		ct := resp.Header.Get("Content-Type")
		return resp.StatusCode == 403 && string(b) == "Authentication parameters missing" && ct == "text/plain; charset=us-ascii",
			strconv.Itoa(resp.StatusCode) + " " + ct + " " + string(b)
	})
}
