package conformance

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/threescale-chaos/harness/internal/testsupport"
)

func deletePod(t *testing.T, name string) {
	t.Helper()
	if err := client.CoreV1().Pods(namespace).Delete(context.Background(), name, metav1.DeleteOptions{}); err != nil {
		t.Fatalf("delete pod %s: %v", name, err)
	}
}

func onlyPod(ctx context.Context, deployment string) (corev1.Pod, bool) {
	pods, err := client.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: "deployment=" + deployment})
	if err != nil || len(pods.Items) != 1 {
		return corev1.Pod{}, false
	}
	return pods.Items[0], true
}

// sidekiqQueue is the length of one of Sidekiq's queues in system-redis (porta-zync.md §4.1).
func sidekiqQueue(t *testing.T, ctx context.Context, q string) int64 {
	t.Helper()
	n, err := redisClient(t, secret(t, "system-redis", "URL")).LLen(ctx, "queue:"+q).Result()
	if err != nil {
		t.Fatalf("LLEN queue:%s: %v", q, err)
	}
	return n
}

func signup(t *testing.T, org string) {
	t.Helper()
	mustAdmin(t, "POST", "/admin/api/signup.json", url.Values{"org_name": {org}, "username": {org}, "email": {org + "@example.com"}, "password": {"secret-" + org}}, 201)
}

// accountQuery is the API's searchd-backed search of applications by account
// (porta-zync.md §3.2, §4.4).
func accountQuery(t *testing.T, org string) (response, error) {
	return admin(t, "GET", "/admin/api/applications.json", url.Values{"account_query": {org}})
}

// accountSearch is the admin portal's searchd-backed accounts search bar (§3.2), which lists
// accounts, so it finds an account that has no application.
func accountSearch(t *testing.T, org string) (response, error) {
	return portalPage(t, "/buyers/accounts", url.Values{"search[query]": {org}})
}

// system-sidekiq at zero: writes still succeed, their jobs pile up in system-redis's queues;
// back, the queues drain and the work is done (an account created meanwhile becomes
// searchable).
func TestSystemSidekiqDown(t *testing.T) {
	ctx := context.Background()
	scaleDown(t, "system-sidekiq")
	before := sidekiqQueue(t, ctx, "default")
	org := fmt.Sprintf("sidekiqdown%d", time.Now().UnixNano()%1000000)
	signup(t, org)
	if after := sidekiqQueue(t, ctx, "default"); after <= before {
		t.Fatalf("queue:default did not grow with system-sidekiq down: %d -> %d", before, after)
	}
	if r, err := accountSearch(t, org); err != nil || r.status != 200 || strings.Contains(r.body, org) {
		t.Fatalf("the account is searchable before any job ran: %d %v", r.status, err)
	}
	scaleUp(t, "system-sidekiq")
	testsupport.Eventually(t, 60*time.Second, "queue:default drained and the account indexed", func(ctx context.Context) (bool, string) {
		n := sidekiqQueue(t, ctx, "default")
		r, err := accountSearch(t, org)
		return n == 0 && err == nil && strings.Contains(r.body, org), fmt.Sprintf("queue:default=%d search=%d %v", n, r.status, err)
	})
}

// system-searchd at zero: the API's account search answers 500 and the admin search page 503,
// while plain listings work; an account created meanwhile is indexed once searchd is back
// (the index job retries with back-off).
func TestSystemSearchdDown(t *testing.T) {
	scaleDown(t, "system-searchd")
	if r, err := accountQuery(t, "anything"); err != nil || r.status != 500 {
		t.Fatalf("account_query with searchd down: %d %v, want 500", r.status, err)
	}
	mustAdmin(t, "GET", "/admin/api/accounts.json", nil, 200)
	page, err := portalPage(t, "/buyers/accounts", url.Values{"search[query]": {"anything"}})
	if err != nil || page.status != 503 || !strings.Contains(page.body, "Search is temporarily offline") {
		t.Fatalf("admin search page with searchd down: %d %v", page.status, err)
	}
	org := fmt.Sprintf("searchddown%d", time.Now().UnixNano()%1000000)
	signup(t, org)
	scaleUp(t, "system-searchd")
	testsupport.Eventually(t, 90*time.Second, "the account created during the outage indexed", func(context.Context) (bool, string) {
		r, err := accountSearch(t, org)
		return err == nil && r.status == 200 && strings.Contains(r.body, org), fmt.Sprintf("%d %v", r.status, err)
	})
}

// system-redis at zero, seen from system: a write whose job cannot be enqueued answers 500
// after its transaction committed, so the object exists (porta-zync.md §4.3 path A).
func TestSystemRedisDownWriteAnswers500AfterCommit(t *testing.T) {
	scaleDown(t, "system-redis")
	name := fmt.Sprintf("redisdown%d", time.Now().UnixNano()%1000000)
	r, err := admin(t, "POST", "/admin/api/services.json", url.Values{"name": {name}, "system_name": {name}})
	if err != nil || r.status != 500 {
		t.Fatalf("service create with system-redis down: %d %v, want 500", r.status, err)
	}
	list := mustAdmin(t, "GET", "/admin/api/services.json", url.Values{"per_page": {"500"}}, 200)
	if !strings.Contains(fmt.Sprint(list), name) {
		t.Fatalf("the service created with system-redis down does not exist: the 500 came before the commit")
	}
	scaleUp(t, "system-redis")
}
