package conformance

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/threescale-chaos/harness/internal/testsupport"
)

// apicast-production at zero: production traffic is gone, staging is not (doc §apicast-*).
func TestApicastProductionDown(t *testing.T) {
	p := newProduct(t)
	scaleDown(t, "apicast-production")
	p.expectTraffic(t, "production", 0)
	p.expectTraffic(t, "staging", 200)
	scaleUp(t, "apicast-production")
	p.expectTraffic(t, "production", 200)
}

func TestApicastStagingDown(t *testing.T) {
	p := newProduct(t)
	scaleDown(t, "apicast-staging")
	p.expectTraffic(t, "staging", 0)
	p.expectTraffic(t, "production", 200)
	scaleUp(t, "apicast-staging")
	p.expectTraffic(t, "staging", 200)
}

// backend-listener at zero, seen through the gateways: with the default strict cache a key
// cached as authorized passes exactly once more per gateway process, then every request gets
// 403 Authentication failed; an unknown key is denied at once: the gateway never fails open
// (research/apicast-apisonator.md §1.3).
func TestBackendListenerDownThroughGateways(t *testing.T) {
	p := newProduct(t)
	for _, env := range []string{"production", "staging"} {
		p.expectTraffic(t, env, 200) // cache the key as authorized
	}
	scaleDown(t, "backend-listener")
	for _, env := range []string{"production", "staging"} {
		if r, err := p.call(env, "unknown-key"); err != nil || r.status != 403 {
			t.Fatalf("%s: an unknown key with backend down: %d %v, want 403", env, r.status, err)
		}
		first, err := p.call(env, p.userKey)
		if err != nil || first.status != 200 {
			t.Fatalf("%s: the cached key's one more pass: %d %v, want 200", env, first.status, err)
		}
		for i := 0; i < 3; i++ {
			r, err := p.call(env, p.userKey)
			if err != nil || r.status != 403 || !strings.Contains(r.body, "Authentication failed") {
				t.Fatalf("%s: request %d after the grace: %d %q %v, want 403 Authentication failed", env, i+2, r.status, r.body, err)
			}
		}
	}
	scaleUp(t, "backend-listener")
	for _, env := range []string{"production", "staging"} {
		p.expectTraffic(t, env, 200)
	}
}

// system-app at zero: the admin API is gone; production keeps serving the configuration it
// booted with, staging (lazy loader, no cache) cannot load any; and a new production pod
// cannot start: it waits in its init container for system-master
// (research/apicast-apisonator.md §2, research/3scale-operator.md §4.2).
func TestSystemAppDown(t *testing.T) {
	p := newProduct(t)
	scaleDown(t, "system-app")
	if _, err := admin(t, "GET", "/admin/api/services.json", nil); err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("admin API with system-app down: want connection refused, got %v", err)
	}
	p.expectTraffic(t, "production", 200)
	if r, err := p.call("staging", p.userKey); err != nil || r.status != 404 {
		t.Fatalf("staging with system-app down: %d %v, want 404 (no configuration for the host)", r.status, err)
	}

	// A new production pod waits for system-master and serves nothing.
	old := podNames(context.Background(), "apicast-production")
	if len(old) != 1 {
		t.Fatalf("apicast-production pods: %v", old)
	}
	deletePod(t, old[0])
	testsupport.Eventually(t, 60*time.Second, "the new apicast-production pod held in its init container", func(ctx context.Context) (bool, string) {
		pod, ok := onlyPod(ctx, "apicast-production")
		if !ok {
			return false, "no single pod"
		}
		if pod.Name == old[0] {
			return false, "old pod still there"
		}
		ics := pod.Status.InitContainerStatuses
		if len(ics) != 1 || ics[0].State.Running == nil {
			return false, fmt.Sprintf("init containers %v", ics)
		}
		return true, ""
	})
	p.expectTraffic(t, "production", 0)

	scaleUp(t, "system-app")
	scaleUp(t, "apicast-production")
	p.expectTraffic(t, "production", 200)
	p.expectTraffic(t, "staging", 200)
	mustAdmin(t, "GET", "/admin/api/services.json", nil, 200)
}

// system-mysql at zero: system answers 500 on everything that needs its database while
// /check.txt stays ok; production keeps serving its configuration; staging cannot load one.
func TestSystemMySQLDown(t *testing.T) {
	p := newProduct(t)
	scaleDown(t, "system-mysql")
	if r, err := admin(t, "GET", "/admin/api/services.json", nil); err != nil || r.status != 500 {
		t.Fatalf("admin API with system-mysql down: %d %v, want 500", r.status, err)
	}
	mustCall(t, "GET", adminBase()+"/check.txt", nil, "", "", 200)
	p.expectTraffic(t, "production", 200)
	if r, err := p.call("staging", p.userKey); err != nil || r.status == 200 {
		t.Fatalf("staging with system-mysql down: %d %v, want a failure", r.status, err)
	}
	scaleUp(t, "system-mysql")
	testsupport.Eventually(t, 60*time.Second, "admin API back", func(context.Context) (bool, string) {
		r, err := admin(t, "GET", "/admin/api/services.json", nil)
		return err == nil && r.status == 200, fmt.Sprintf("%d %v", r.status, err)
	})
	p.expectTraffic(t, "staging", 200)
}

// system-memcache at zero: system works without its cache.
func TestSystemMemcacheDownAdminKeepsWorking(t *testing.T) {
	scaleDown(t, "system-memcache")
	mustAdmin(t, "GET", "/admin/api/services.json", nil, 200)
	mustAdmin(t, "GET", "/admin/api/accounts.json", nil, 200)
	scaleUp(t, "system-memcache")
}
