package testcluster

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"github.com/threescale-chaos/harness/pkg/twin/cluster"
	"github.com/threescale-chaos/harness/pkg/twin/deploy"
)

// Twin is the 3scale twin deployed on a Lazy cluster, for the harness's integration tests:
// the harness side sees only the target file and the REST config, as on a real cluster. Its
// ports are shifted by PortShift so that packages with their own twin run side by side
// (the default ports are pkg/twin/conformance's and make twin-up's).
type Twin struct {
	PortShift int

	lazy       Lazy
	targetPath string
	rest       *rest.Config
}

// Get starts the twin on first use (build, cluster, deploy, target file) and returns the
// target file's path and the cluster's REST config; like Lazy.Get it skips under -short and
// fails the test if the twin could not start.
func (w *Twin) Get(t testing.TB) (targetPath string, rc *rest.Config) {
	t.Helper()
	if w.lazy.Setup == nil {
		w.lazy.Prefix = "twin-"
		w.lazy.Node = cluster.NodeOptions{BackoffInitial: time.Second, BackoffMax: 5 * time.Second}
		w.lazy.StartTimeout = 5 * time.Minute
		w.lazy.Setup = w.deploy
	}
	w.lazy.Get(t)
	return w.targetPath, w.rest
}

func (w *Twin) deploy(ctx context.Context, c *cluster.Cluster, dir string) error {
	bin, err := BuildTwin(dir)
	if err != nil {
		return err
	}
	v, err := deploy.NewValues("3scale", bin, filepath.Join(dir, "data"))
	if err != nil {
		return err
	}
	v.Ports = v.Ports.Shifted(w.PortShift)
	if err := deploy.Up(ctx, c.RESTConfig(), v, nil); err != nil {
		return fmt.Errorf("twin not ready: %w", err)
	}
	path := filepath.Join(dir, "target.yaml")
	if err := deploy.WriteTarget(path, deploy.NewTarget(v, cluster.KubeconfigPath(filepath.Join(dir, "cluster")))); err != nil {
		return err
	}
	w.targetPath, w.rest = path, c.RESTConfig()
	return nil
}

// Main runs the tests and stops the twin if it started.
func (w *Twin) Main(m *testing.M) int {
	code := m.Run()
	if err := w.lazy.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stop the twin:", err)
		code = 1
	}
	return code
}
