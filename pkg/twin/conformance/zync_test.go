package conformance

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/threescale-chaos/harness/internal/testsupport"
)

func zyncURL() string { return "http://127.0.0.1:" + strconv.Itoa(values.Ports.Zync) }

// zyncPut sends one of system's calls to zync (research/porta-zync.md §5.1).
func zyncPut(t *testing.T, path string, body any) (int, error) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, err := http.NewRequest("PUT", zyncURL()+path, strings.NewReader(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", `Token token="`+secret(t, "zync", "ZYNC_AUTHENTICATION_TOKEN")+`"`)
	resp, err := httpc.Do(req)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// pendingQueJobs counts que jobs neither finished nor expired (research/porta-zync.md §5.3).
func pendingQueJobs(t *testing.T) (int, error) {
	out, err := psql(t, "SELECT count(*) FROM que_jobs WHERE finished_at IS NULL AND expired_at IS NULL")
	if err != nil {
		return -1, fmt.Errorf("%v: %s", err, out)
	}
	return strconv.Atoi(out)
}

// notifyServices sends n Service notifications (zync records those without asking system).
func notifyServices(t *testing.T, tenant, first, n int) {
	t.Helper()
	if code, err := zyncPut(t, "/tenant", map[string]any{"id": tenant, "endpoint": "http://127.0.0.1:" + strconv.Itoa(values.Ports.SystemProvider), "access_token": "unused"}); err != nil || code/100 != 2 {
		t.Fatalf("PUT /tenant: %d %v", code, err)
	}
	for i := 0; i < n; i++ {
		code, err := zyncPut(t, "/notification", map[string]any{"type": "Service", "id": first + i, "tenant_id": tenant})
		if err != nil || code != 201 {
			t.Fatalf("PUT /notification: %d %v", code, err)
		}
	}
}

// zync at zero: system's PUTs are refused (system retries them, §5.1); back, they are taken.
func TestZyncDown(t *testing.T) {
	scaleDown(t, "zync")
	if _, err := zyncPut(t, "/notification", map[string]any{"type": "Service", "id": 1, "tenant_id": 1}); err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("zync down: want connection refused, got %v", err)
	}
	scaleUp(t, "zync")
	notifyServices(t, 7001, 100, 1)
}

// zync-que at zero: zync keeps accepting notifications and que jobs accumulate in
// zync-database; back, they are all processed (§5.3).
func TestZyncQueDown(t *testing.T) {
	scaleDown(t, "zync-que")
	before, err := pendingQueJobs(t)
	if err != nil {
		t.Fatal(err)
	}
	notifyServices(t, 7002, 200, 5)
	if after, err := pendingQueJobs(t); err != nil || after-before != 5 {
		t.Fatalf("pending que jobs grew by %d (err %v), want 5", after-before, err)
	}
	scaleUp(t, "zync-que")
	testsupport.Eventually(t, 60*time.Second, "que jobs drained after zync-que returns", func(context.Context) (bool, string) {
		n, err := pendingQueJobs(t)
		return err == nil && n == 0, fmt.Sprintf("pending=%d err=%v", n, err)
	})
}
