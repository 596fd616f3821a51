package conformance

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/go-sql-driver/mysql"

	"github.com/threescale-chaos/harness/internal/testsupport"
)

// scaleDown takes a component's Deployment to zero, waits until its pods are gone (not only
// the replica count), and registers the restore first, so a failing test never leaves the
// twin broken for the next one.
func scaleDown(t *testing.T, name string) {
	t.Helper()
	t.Cleanup(func() { scaleUp(t, name) })
	setReplicas(t, name, 0)
	testsupport.Eventually(t, 60*time.Second, name+" pods gone", func(ctx context.Context) (bool, string) {
		pods, err := client.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: "deployment=" + name})
		if err != nil {
			return false, err.Error()
		}
		return len(pods.Items) == 0, fmt.Sprintf("%d pods", len(pods.Items))
	})
}

// scaleUp brings a component back to one replica and waits until it is Ready.
func scaleUp(t *testing.T, name string) {
	t.Helper()
	setReplicas(t, name, 1)
	testsupport.Eventually(t, 120*time.Second, name+" Ready again", func(ctx context.Context) (bool, string) {
		d, err := client.AppsV1().Deployments(namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return testsupport.DeploymentRolledOut(d, 1)
	})
}

func setReplicas(t *testing.T, name string, n int32) {
	t.Helper()
	_, err := client.AppsV1().Deployments(namespace).UpdateScale(context.Background(), name, &autoscalingv1.Scale{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		Spec:       autoscalingv1.ScaleSpec{Replicas: n},
	}, metav1.UpdateOptions{})
	if err != nil {
		t.Fatalf("scale %s to %d: %v", name, n, err)
	}
}

// secret reads one key of one of the twin's Secrets.
func secret(t *testing.T, name, key string) string {
	t.Helper()
	s, err := client.CoreV1().Secrets(namespace).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("secret %s: %v", name, err)
	}
	v, ok := s.Data[key]
	if !ok {
		t.Fatalf("secret %s has no key %s", name, key)
	}
	return string(v)
}

var httpc = &http.Client{Timeout: 5 * time.Second}

type response struct {
	status int
	body   string
	header http.Header
}

// call makes one HTTP request; err is a transport error (refused, timeout).
func call(method, rawURL string, form url.Values, user, pass string) (response, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, rawURL, body)
	if err != nil {
		return response{}, err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := httpc.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{status: resp.StatusCode, body: string(b), header: resp.Header}, nil
}

func mustCall(t *testing.T, method, rawURL string, form url.Values, user, pass string, want int) response {
	t.Helper()
	r, err := call(method, rawURL, form, user, pass)
	if err != nil {
		t.Fatalf("%s %s: %v", method, redact(rawURL), err)
	}
	if r.status != want {
		t.Fatalf("%s %s: status %d, want %d: %s", method, redact(rawURL), r.status, want, r.body)
	}
	return r
}

// redact keeps credentials in query strings out of test logs.
func redact(u string) string {
	if i := strings.IndexByte(u, '?'); i >= 0 {
		return u[:i] + "?…"
	}
	return u
}

func podNames(ctx context.Context, name string) []string {
	pods, err := client.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: "deployment=" + name})
	if err != nil {
		return nil
	}
	var out []string
	for _, p := range pods.Items {
		if p.Status.Phase == corev1.PodRunning {
			out = append(out, p.Name)
		}
	}
	return out
}

// sandboxServiceToken deploys the product to staging until its sandbox proxy config carries
// a service token, and returns it. porta creates a product's token in a Sidekiq job after the
// product is committed (porta@3scale-2.16.4-GA:app/events/services/service_created_event.rb
// after_commit → app/workers/create_service_token_worker.rb), so a config deployed before the
// job ran has backend_authentication_value null and a later deploy picks the token up.
func sandboxServiceToken(t *testing.T, sid string) string {
	t.Helper()
	var token string
	testsupport.Eventually(t, 60*time.Second, "a sandbox config of product "+sid+" with its service token", func(context.Context) (bool, string) {
		if r, err := admin(t, "POST", "/admin/api/services/"+sid+"/proxy/deploy.json", nil); err != nil || r.status != 201 {
			return false, fmt.Sprintf("deploy: %v %d", err, r.status)
		}
		r, err := admin(t, "GET", "/admin/api/services/"+sid+"/proxy/configs/sandbox/latest.json", nil)
		if err != nil || r.status != 200 {
			return false, fmt.Sprintf("latest: %v %d", err, r.status)
		}
		var cfg struct {
			ProxyConfig struct {
				Content struct {
					Value *string `json:"backend_authentication_value"`
				} `json:"content"`
			} `json:"proxy_config"`
		}
		if err := json.Unmarshal([]byte(r.body), &cfg); err != nil {
			return false, err.Error()
		}
		if v := cfg.ProxyConfig.Content.Value; v != nil && *v != "" {
			token = *v
			return true, ""
		}
		return false, "backend_authentication_value null"
	})
	return token
}

// systemDB opens system-mysql with the URL of the system-database Secret (porta's
// DATABASE_URL, mysql2://user:pass@host:port/db), for checks the API does not expose.
func systemDB(t *testing.T) *sql.DB {
	t.Helper()
	u, err := url.Parse(secret(t, "system-database", "URL"))
	if err != nil {
		t.Fatalf("system-database URL: %v", err)
	}
	pass, _ := u.User.Password()
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd, cfg.Net, cfg.Addr = u.User.Username(), pass, "tcp", u.Host
	cfg.DBName = strings.TrimPrefix(u.Path, "/")
	cfg.ParseTime, cfg.Timeout = true, 3*time.Second
	db, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
