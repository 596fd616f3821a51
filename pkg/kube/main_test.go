package kube

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"github.com/threescale-chaos/harness/internal/testsupport"
	"github.com/threescale-chaos/harness/pkg/twin/cluster"
)

// apiManagerCRD is the twin's APIManager CRD fixture: same group, version and names as the
// real operator's, which is all this package relies on.
const apiManagerCRD = "../../fixtures/twin/crds/apimanager.yaml"

// One cluster (control plane and a node that runs hostNetwork pods as processes) serves
// every test that needs one; each works in its own namespace, which namespace() creates after
// needCluster. The cluster starts with the first such test, so the pure tests (ledger, plan,
// scale retries) run without one: go test -run 'Ledger|Plan|SetScale' ./pkg/kube starts
// nothing.
var (
	restCfg *rest.Config
	client  *Client

	clusterOnce sync.Once
	clusterErr  error
	stopCluster = func() error { return nil }
)

func TestMain(m *testing.M) {
	code := m.Run()
	if err := stopCluster(); err != nil {
		fmt.Fprintln(os.Stderr, "stop cluster:", err)
		code = 1
	}
	os.Exit(code)
}

// needCluster starts the shared cluster on first use (with the APIManager and
// DeploymentConfig CRDs Established) and fails the test if it could not.
func needCluster(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("needs a local control plane; -short runs only the tests that need none")
	}
	clusterOnce.Do(func() { clusterErr = startCluster() })
	if clusterErr != nil {
		t.Fatalf("start cluster: %v", clusterErr)
	}
}

func startCluster() error {
	dir, err := os.MkdirTemp("", "kube-test-")
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := cluster.Start(ctx, cluster.Config{Dir: dir}, cluster.NodeOptions{})
	if err != nil {
		_ = os.RemoveAll(dir)
		return err
	}
	stopCluster = func() error {
		defer os.RemoveAll(dir)
		return c.Stop()
	}
	restCfg = c.RESTConfig()
	if client, err = NewClient(restCfg); err != nil {
		return err
	}
	// The DeploymentConfig CRD stands in for OpenShift's apps.openshift.io/v1 API: the
	// resource and its scale subresource at the paths OpenShift serves. No controller acts on
	// it, so it never has pods.
	for _, crd := range []string{apiManagerCRD, testsupport.DeploymentConfigCRD} {
		if err := testsupport.ApplyCRDFile(ctx, client.Dynamic, crd); err != nil {
			return err
		}
	}
	return nil
}
