package conformance

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/threescale-chaos/harness/pkg/twin/cluster"
	"github.com/threescale-chaos/harness/pkg/twin/deploy"
)

// porta renders the CSRF token of its React login page only in the layout's
// <meta name="csrf-token" content="…"> (porta@3scale-2.16.4-GA
// app/views/layouts/provider/login.html.slim:6, csrf_meta_tag); an older twin page carried it
// in a hidden authenticity_token input. signIn reads the meta tag first and falls back.
var (
	csrfMeta  = regexp.MustCompile(`<meta[^>]*name="csrf-token"[^>]*content="([^"]+)"`)
	csrfInput = regexp.MustCompile(`name="authenticity_token"[^>]*value="([^"]+)"`)
)

// signIn signs in to the admin portal as porta's form login does: GET /p/login for the Rails
// session and its CSRF token, POST /p/sessions with username, password and the token. It
// returns the POST's status and the user_session cookie it set ("" when it set none).
func signIn(user, pass string) (int, string, error) {
	noFollow := &http.Client{Timeout: httpc.Timeout, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	send := func(method, path string, form url.Values, cookie string) (*http.Response, string, error) {
		var body io.Reader
		if form != nil {
			body = strings.NewReader(form.Encode())
		}
		req, err := http.NewRequest(method, adminBase()+path, body)
		if err != nil {
			return nil, "", err
		}
		req.Host = adminHost()
		req.Header.Set("X-Forwarded-Proto", "https")
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		if cookie != "" {
			req.Header.Set("Cookie", cookie)
		}
		resp, err := noFollow.Do(req)
		if err != nil {
			return nil, "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp, string(b), err
	}
	resp, page, err := send("GET", "/p/login", nil, "")
	if err != nil {
		return 0, "", fmt.Errorf("GET /p/login: %w", err)
	}
	m := csrfMeta.FindStringSubmatch(page)
	if m == nil {
		m = csrfInput.FindStringSubmatch(page)
	}
	var rails string
	for _, c := range resp.Cookies() {
		if c.Name == "_system_session" {
			rails = c.Name + "=" + c.Value
		}
	}
	if resp.StatusCode != http.StatusOK || m == nil || rails == "" {
		return resp.StatusCode, "", fmt.Errorf("GET /p/login: status %d, CSRF token found %v, Rails session found %v", resp.StatusCode, m != nil, rails != "")
	}
	resp, _, err = send("POST", "/p/sessions", url.Values{"username": {user}, "password": {pass}, "authenticity_token": {m[1]}}, rails)
	if err != nil {
		return 0, "", fmt.Errorf("POST /p/sessions: %w", err)
	}
	for _, c := range resp.Cookies() {
		if c.Name == "user_session" && c.Value != "" {
			return resp.StatusCode, c.Value, nil
		}
	}
	return resp.StatusCode, "", nil
}

// A second deploy on the same data (what a second `make twin-up` on one checkout does) keeps
// the credentials the data was seeded with: system-seed's ADMIN_USER/ADMIN_PASSWORD still
// sign in and ADMIN_ACCESS_TOKEN still reads the API. The real operator never replaces a
// Secret value it generated (operator@3scale-2.16.3-GA pkg/reconcilers/secret.go
// DefaultsOnlySecretMutator) and porta seeds only an empty database
// (porta@3scale-2.16.4-GA lib/tasks/db.rake db:deploy runs db:seed only when no migration ran).
func TestRedeployOnExistingDataKeepsCredentials(t *testing.T) {
	before := map[string]string{}
	for _, k := range []string{"ADMIN_PASSWORD", "ADMIN_ACCESS_TOKEN", "MASTER_ACCESS_TOKEN"} {
		before[k] = secret(t, "system-seed", k)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", cluster.KubeconfigPath(stateDir))
	if err != nil {
		t.Fatal(err)
	}
	again, err := deploy.NewValues(namespace, values.Bin, values.DataDir)
	if err != nil {
		t.Fatalf("second deploy's values: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := deploy.Up(ctx, cfg, again, nil); err != nil {
		t.Fatalf("second deploy: %v", err)
	}
	for k, v := range before {
		if got := secret(t, "system-seed", k); got != v {
			t.Errorf("system-seed %s changed on the second deploy", k)
		}
	}
	user, pass := secret(t, "system-seed", "ADMIN_USER"), secret(t, "system-seed", "ADMIN_PASSWORD")
	status, session, err := signIn(user, pass)
	if err != nil || session == "" || status != http.StatusFound {
		t.Fatalf("sign in with system-seed's ADMIN_USER/ADMIN_PASSWORD after the second deploy: status %d, session set %v, %v", status, session != "", err)
	}
	mustAdmin(t, "GET", "/admin/api/services.json", nil, 200)
}
