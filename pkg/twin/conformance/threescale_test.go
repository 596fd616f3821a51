package conformance

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/threescale-chaos/harness/internal/testsupport"
)

// Raw calls to system and the gateways, as research/porta-zync.md §1-§2 and
// research/apicast-apisonator.md §1 describe them: no harness code.

func adminBase() string { return "http://127.0.0.1:" + strconv.Itoa(values.Ports.SystemProvider) }
func adminHost() string { return values.TenantName + "-admin." + values.Domain }

// admin calls the Account Management API on the provider's admin host, with the https
// header porta's production mode requires (§1.3).
// porta's sign-in page carries the CSRF token only in <meta name="csrf-token">; the form is
// drawn in the browser (porta@3scale-2.16.4-GA:app/views/layouts/provider/login.html.slim).
var authenticityToken = regexp.MustCompile(`<meta name="csrf-token" content="([^"]+)" />`)

// portalPage GETs an admin portal page as a signed-in admin: portal pages take a login
// session, not an access token (porta FrontendController). It signs in with system-seed's
// ADMIN_USER and ADMIN_PASSWORD (signIn) and sends the user_session cookie.
func portalPage(t *testing.T, path string, query url.Values) (response, error) {
	t.Helper()
	resp, body, session, err := signIn(secret(t, "system-seed", "ADMIN_USER"), secret(t, "system-seed", "ADMIN_PASSWORD"))
	if err != nil {
		if resp != nil {
			return response{status: resp.StatusCode, body: body}, err
		}
		return response{}, err
	}
	if session == nil {
		return response{status: resp.StatusCode, body: body}, fmt.Errorf("login: status %d, no user_session", resp.StatusCode)
	}
	if len(query) > 0 {
		path += "?" + query.Encode()
	}
	resp, body, err = portalDo("GET", path, nil, session)
	if err != nil {
		return response{}, err
	}
	return response{status: resp.StatusCode, body: body, header: resp.Header}, nil
}

func admin(t *testing.T, method, path string, form url.Values) (response, error) {
	t.Helper()
	if form == nil {
		form = url.Values{}
	}
	form.Set("access_token", secret(t, "system-seed", "ADMIN_ACCESS_TOKEN"))
	var req *http.Request
	var err error
	if method == "GET" {
		req, err = http.NewRequest(method, adminBase()+path+"?"+form.Encode(), nil)
	} else {
		req, err = http.NewRequest(method, adminBase()+path, strings.NewReader(form.Encode()))
		if req != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
	}
	if err != nil {
		return response{}, err
	}
	req.Host = adminHost()
	req.Header.Set("X-Forwarded-Proto", "https")
	resp, err := httpc.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	var b strings.Builder
	_, _ = fmt.Fprint(&b, readAll(resp))
	return response{status: resp.StatusCode, body: b.String(), header: resp.Header}, nil
}

func mustAdmin(t *testing.T, method, path string, form url.Values, want int) map[string]any {
	t.Helper()
	r, err := admin(t, method, path, form)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	if r.status != want {
		t.Fatalf("%s %s: %d, want %d: %s", method, path, r.status, want, r.body)
	}
	var m map[string]any
	_ = json.Unmarshal([]byte(r.body), &m)
	return m
}

func field(m map[string]any, path ...string) any {
	var v any = m
	for _, p := range path {
		mm, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = mm[p]
	}
	return v
}

func idOf(m map[string]any, kind string) string {
	return fmt.Sprint(int64(field(m, kind, "id").(float64)))
}

var productSeq atomic.Int64

// product is a 3scale product provisioned through the Account Management API, promoted to
// production, with an application whose user key the gateways accept.
type product struct {
	id, systemName, userKey string
	stagingHost, prodHost   string
}

// newProduct provisions a product and rolls apicast-production out so that it serves it:
// production loads its configuration at boot and refreshes it only every
// APICAST_CONFIGURATION_CACHE=300s, as the operator deploys it (platform_apicast_test.go), so a
// test that waited for the refresh would wait up to five minutes. 3scale QE's suite restarts
// the production gateway after a promote the same way.
func newProduct(t *testing.T) *product {
	t.Helper()
	p := provisionProduct(t)
	restartProduction(t)
	testsupport.Eventually(t, 30*time.Second, "production gateway serving product "+p.systemName, func(context.Context) (bool, string) {
		r, err := p.call("production", p.userKey)
		return err == nil && r.status == 200, fmt.Sprintf("%d %v", r.status, err)
	})
	return p
}

// provisionProduct creates a product through the Account Management API with a published
// plan and an application, deploys it to staging and promotes it to production.
func provisionProduct(t *testing.T) *product {
	t.Helper()
	n := fmt.Sprintf("conf%d%d", time.Now().Unix()%100000, productSeq.Add(1))
	p := &product{systemName: n}
	svc := mustAdmin(t, "POST", "/admin/api/services.json", url.Values{"name": {n}, "system_name": {n}}, 201)
	p.id = idOf(svc, "service")
	mustAdmin(t, "PATCH", "/admin/api/services/"+p.id+"/proxy.json", url.Values{"api_backend": {"http://127.0.0.1:" + strconv.Itoa(values.Ports.EchoAPI)}}, 200)
	plan := mustAdmin(t, "POST", "/admin/api/services/"+p.id+"/application_plans.json", url.Values{"name": {"basic"}, "state_event": {"publish"}}, 201)
	mustAdmin(t, "POST", "/admin/api/signup.json", url.Values{"org_name": {n}, "username": {n}, "email": {n + "@example.com"}, "password": {"secret-" + n}, "application_plan_id": {idOf(plan, "application_plan")}}, 201)
	apps := mustAdmin(t, "GET", "/admin/api/applications.json", url.Values{"service_id": {p.id}}, 200)
	list, _ := apps["applications"].([]any)
	if len(list) != 1 {
		t.Fatalf("want one application for product %s, got %v", n, apps)
	}
	p.userKey = fmt.Sprint(field(list[0].(map[string]any), "application", "user_key"))
	sandboxServiceToken(t, p.id) // the token comes from a Sidekiq job; deploy once it is there
	proxy := mustAdmin(t, "POST", "/admin/api/services/"+p.id+"/proxy/deploy.json", nil, 201)
	p.stagingHost = hostOf(t, fmt.Sprint(field(proxy, "proxy", "sandbox_endpoint")))
	p.prodHost = hostOf(t, fmt.Sprint(field(proxy, "proxy", "endpoint")))
	latest := mustAdmin(t, "GET", "/admin/api/services/"+p.id+"/proxy/configs/sandbox/latest.json", nil, 200)
	version := fmt.Sprint(int64(field(latest, "proxy_config", "version").(float64)))
	mustAdmin(t, "POST", "/admin/api/services/"+p.id+"/proxy/configs/sandbox/"+version+"/promote.json", url.Values{"to": {"production"}}, 201)
	return p
}

func hostOf(t *testing.T, endpoint string) string {
	t.Helper()
	u, err := url.Parse(endpoint)
	if err != nil || u.Hostname() == "" {
		t.Fatalf("endpoint %q: %v", endpoint, err)
	}
	return u.Hostname()
}

// call sends one request through a gateway with a user key.
func (p *product) call(env, key string) (response, error) {
	port, host := values.Ports.ApicastProduction, p.prodHost
	if env == "staging" {
		port, host = values.Ports.ApicastStaging, p.stagingHost
	}
	req, err := http.NewRequest("GET", "http://127.0.0.1:"+strconv.Itoa(port)+"/conformance?user_key="+url.QueryEscape(key), nil)
	if err != nil {
		return response{}, err
	}
	req.Host = host
	resp, err := httpc.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	return response{status: resp.StatusCode, body: readAll(resp), header: resp.Header}, nil
}

func readAll(resp *http.Response) string {
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			return b.String()
		}
	}
}

// expectTraffic checks one gateway answers want (0: the connection is refused).
func (p *product) expectTraffic(t *testing.T, env string, want int) {
	t.Helper()
	r, err := p.call(env, p.userKey)
	switch {
	case want == 0 && (err == nil || !strings.Contains(err.Error(), "connection refused")):
		t.Fatalf("%s traffic: want connection refused, got %d %v", env, r.status, err)
	case want != 0 && err != nil:
		t.Fatalf("%s traffic: want %d, got %v", env, want, err)
	case want != 0 && r.status != want:
		t.Fatalf("%s traffic: want %d, got %d %q", env, want, r.status, r.body)
	}
}
