package target

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"github.com/threescale-chaos/harness/pkg/twin/cluster"
	"github.com/threescale-chaos/harness/pkg/twin/deploy"
)

// The twin the integration tests of the package share, deployed with ports shifted by
// 400 so that another package's twin (at the default ports, or pkg/threescale/samplers', at 200)
// can run at the same time. It starts with the first test that needs it (needTwin), so
// the pure tests (target parsing, merge) start nothing. The harness side only sees
// targetPath and restConfig, as on a real cluster.
var (
	targetPath string
	restConfig *rest.Config

	twinOnce sync.Once
	twinErr  error
	stopTwin = func() error { return nil }
)

func TestMain(m *testing.M) {
	code := m.Run()
	if err := stopTwin(); err != nil {
		fmt.Fprintln(os.Stderr, "stop cluster:", err)
		code = 1
	}
	os.Exit(code)
}

// needTwin starts the shared twin on first use and fails the test if it could not; under
// -short it skips the test instead.
func needTwin(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("no twin (-short)")
	}
	twinOnce.Do(func() { twinErr = startTwin() })
	if twinErr != nil {
		t.Fatalf("start the twin: %v", twinErr)
	}
}

// startTwin builds threescale-twin, starts a cluster and deploys the twin on it, and writes
// the target file the twin describes itself with.
func startTwin() error {
	tmp, err := os.MkdirTemp("", "threescale-harness-")
	if err != nil {
		return err
	}
	// The context lives until the tests end, as the twin does: it bounds the start and the
	// deploy, and what they leave running is stopped with it.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	stopTwin = func() error {
		cancel()
		return os.RemoveAll(tmp)
	}
	bin := filepath.Join(tmp, "threescale-twin")
	build := exec.Command("go", "build", "-o", bin, "github.com/threescale-chaos/harness/cmd/threescale-twin")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("build threescale-twin: %w", err)
	}
	dir := filepath.Join(tmp, "cluster")
	c, err := cluster.Start(ctx, cluster.Config{Dir: dir}, cluster.NodeOptions{BackoffInitial: time.Second, BackoffMax: 5 * time.Second})
	if err != nil {
		return fmt.Errorf("start cluster: %w", err)
	}
	stopTwin = func() error {
		defer os.RemoveAll(tmp)
		defer cancel()
		return c.Stop()
	}
	v, err := deploy.NewValues("3scale", bin, filepath.Join(tmp, "data"))
	if err != nil {
		return err
	}
	v.Ports = v.Ports.Shifted(400)
	if err := deploy.Up(ctx, c.RESTConfig(), v, nil); err != nil {
		return fmt.Errorf("twin not ready: %w", err)
	}
	targetPath = filepath.Join(tmp, "target.yaml")
	if err := deploy.WriteTarget(targetPath, deploy.NewTarget(v, cluster.KubeconfigPath(dir))); err != nil {
		return err
	}
	restConfig = c.RESTConfig()
	return nil
}
