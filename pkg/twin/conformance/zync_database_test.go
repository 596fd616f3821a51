package conformance

import (
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/threescale-chaos/harness/internal/testsupport"
)

// psql runs one statement against zync-database with Debian's psql client.
func psql(t *testing.T, sql string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "psql", "-h", "127.0.0.1", "-p", strconv.Itoa(values.Ports.ZyncDatabase), "-U", "zync", "-d", "zync_production", "-tAc", sql)
	cmd.Env = append(cmd.Environ(), "PGPASSWORD="+secret(t, "zync", "ZYNC_DATABASE_PASSWORD"), "PGCONNECT_TIMEOUT=3")
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// zync-database at zero: connections are refused; back, it is a new, empty database: its data
// was on an emptyDir, as the operator has it (research/3scale-operator.md §1.2, §4.3).
func TestZyncDatabaseDown(t *testing.T) {
	if out, err := psql(t, "CREATE TABLE conformance_marker (id int); INSERT INTO conformance_marker VALUES (1);"); err != nil {
		t.Fatalf("write marker: %v: %s", err, out)
	}
	scaleDown(t, "zync-database")
	if out, err := psql(t, "SELECT 1"); err == nil || !strings.Contains(out, "refused") {
		t.Fatalf("zync-database down: want connection refused, got %v: %s", err, out)
	}
	scaleUp(t, "zync-database")
	testsupport.Eventually(t, 30*time.Second, "zync-database answering", func(context.Context) (bool, string) {
		out, err := psql(t, "SELECT 1")
		return err == nil && out == "1", fmt.Sprintf("%v %s", err, out)
	})
	out, err := psql(t, "SELECT count(*) FROM conformance_marker")
	if err == nil || !strings.Contains(out, "does not exist") {
		t.Fatalf("zync-database kept its data across a scale to zero (emptyDir must lose it): %v %s", err, out)
	}
	// zync's schema went with the data: its liveness check fails until zync restarts and
	// creates it again. Its liveness probe would restart it after about 100s; the test
	// restarts it at once so the twin is whole for the next test.
	testsupport.Eventually(t, 30*time.Second, "zync /status/live failing on the empty database", func(context.Context) (bool, string) {
		r, err := call("GET", zyncURL()+"/status/live", nil, "", "")
		return err == nil && r.status >= 500, fmt.Sprintf("%d %v", r.status, err)
	})
	scaleDown(t, "zync")
	scaleUp(t, "zync")
	mustCall(t, "GET", zyncURL()+"/status/live", nil, "", "", 200)
}
