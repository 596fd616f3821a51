package cluster_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/threescale-chaos/harness/internal/testsupport/testcluster"
	"github.com/threescale-chaos/harness/pkg/twin/cluster"
)

// One cluster serves every test of the package; each test works in its own namespace.
var (
	shared   *cluster.Cluster
	client   kubernetes.Interface
	twinBin  string // the threescale-twin binary, for its echo server
	stateDir string
)

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		os.Exit(m.Run()) // a child started by TestFailingTestLeavesNothing
	}
	os.Exit(run(m))
}

func run(m *testing.M) int {
	tmp, err := os.MkdirTemp("", "twin-cluster-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	if twinBin, err = testcluster.BuildTwin(tmp); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	stateDir = filepath.Join(tmp, "cluster")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// A short crash back-off keeps the restart tests quick; the kubelet's 10s is the default.
	shared, err = cluster.Start(ctx, cluster.Config{Dir: stateDir}, cluster.NodeOptions{BackoffInitial: time.Second, BackoffMax: 4 * time.Second})
	if err != nil {
		fmt.Fprintln(os.Stderr, "start cluster:", err)
		return 1
	}
	client = shared.Client
	code := m.Run()
	if err := shared.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stop cluster:", err)
		code = 1
	}
	// Nothing of the cluster may outlive its stop: not etcd, not the API server, not a pod.
	if left, err := cluster.Leftovers(stateDir); err != nil || len(left) > 0 {
		fmt.Fprintf(os.Stderr, "processes left behind after Stop: %v (%v)\n", left, err)
		code = 1
	}
	return code
}
