// Package testcluster gives tests the twin's local control plane and node (pkg/twin/cluster),
// started once per test binary by the first test that needs it, so that the tests of the
// same package that need none (-short, or simply not asking) start nothing. It is test
// support: the harness's own code never imports the twin.
package testcluster

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/threescale-chaos/harness/pkg/twin/cluster"
)

// Lazy is a cluster started on first use. The zero value is ready to use; declare one per
// test binary and stop it from TestMain.
type Lazy struct {
	// Prefix names the temporary directory (default "testcluster-").
	Prefix string
	// Node tunes the node (restart backoff).
	Node cluster.NodeOptions
	// StartTimeout bounds the start and Setup (default 3 min).
	StartTimeout time.Duration
	// Setup, when set, runs once on the started cluster (CRDs, clients, binaries); dir is
	// the cluster's temporary directory, which Stop removes.
	Setup func(ctx context.Context, c *cluster.Cluster, dir string) error

	once sync.Once
	err  error
	c    *cluster.Cluster
	dir  string
}

// Get returns the cluster, starting it on the first call. Under -short the test is skipped:
// -short runs only the tests that need no control plane. A cluster that cannot start fails
// the test, and every later one, with the same error.
func (l *Lazy) Get(t testing.TB) *cluster.Cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("needs a local control plane; -short runs only the tests that need none")
	}
	l.once.Do(func() { l.err = l.start() })
	if l.err != nil {
		t.Fatalf("local cluster: %v", l.err)
	}
	return l.c
}

func (l *Lazy) start() error {
	prefix := l.Prefix
	if prefix == "" {
		prefix = "testcluster-"
	}
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		return err
	}
	l.dir = dir
	timeout := l.StartTimeout
	if timeout <= 0 {
		timeout = 3 * time.Minute
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c, err := cluster.Start(ctx, cluster.Config{Dir: filepath.Join(dir, "cluster")}, l.Node)
	if err != nil {
		return err
	}
	l.c = c
	if l.Setup != nil {
		if err := l.Setup(ctx, c, dir); err != nil {
			return fmt.Errorf("set-up: %w", err)
		}
	}
	return nil
}

// Stop stops the cluster if it started and removes its directory; for TestMain, after
// m.Run.
func (l *Lazy) Stop() error {
	var err error
	if l.c != nil {
		err = l.c.Stop()
	}
	if l.dir != "" {
		os.RemoveAll(l.dir)
	}
	return err
}

// BuildTwin builds the threescale-twin binary into dir, for test pods that run one of its
// subcommands (the echo server), and returns its path.
func BuildTwin(dir string) (string, error) {
	bin := filepath.Join(dir, "threescale-twin")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/threescale-chaos/harness/cmd/threescale-twin").CombinedOutput(); err != nil {
		return "", fmt.Errorf("build threescale-twin: %v: %s", err, out)
	}
	return bin, nil
}

// Main runs the tests and then stops the cluster if one started; a cluster that does not
// stop cleanly fails the run. For TestMain: os.Exit(local.Main(m)).
func (l *Lazy) Main(m *testing.M) int {
	code := m.Run()
	if err := l.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stop cluster:", err)
		code = 1
	}
	return code
}
