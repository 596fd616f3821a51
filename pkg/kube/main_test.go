package kube

import (
	"context"
	"fmt"
	"os"
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
// every test; each test works in its own namespace.
var (
	restCfg *rest.Config
	client  *Client
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) (code int) {
	dir, err := os.MkdirTemp("", "kube-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := cluster.Start(ctx, cluster.Config{Dir: dir}, cluster.NodeOptions{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "start cluster:", err)
		return 1
	}
	defer func() {
		if err := c.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stop cluster:", err)
			code = 1
		}
	}()
	restCfg = c.RESTConfig()
	if client, err = NewClient(restCfg); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	// The DeploymentConfig CRD stands in for OpenShift's apps.openshift.io/v1 API: the
	// resource and its scale subresource at the paths OpenShift serves. No controller acts on
	// it, so it never has pods.
	for _, crd := range []string{apiManagerCRD, testsupport.DeploymentConfigCRD} {
		if err := testsupport.ApplyCRDFile(ctx, client.Dynamic, crd); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	return m.Run()
}
