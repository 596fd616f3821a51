package kube

import (
	"context"
	"os"
	"testing"

	"k8s.io/client-go/rest"

	"github.com/threescale-chaos/harness/internal/testsupport"
	"github.com/threescale-chaos/harness/internal/testsupport/testcluster"
	"github.com/threescale-chaos/harness/pkg/twin/cluster"
)

// apiManagerCRD is the twin's APIManager CRD fixture: same group, version and names as the
// real operator's, which is all this package relies on.
const apiManagerCRD = "../../fixtures/twin/crds/apimanager.yaml"

// One cluster (control plane and a node that runs hostNetwork pods as processes) serves
// every test that needs one; each works in its own namespace, which namespace() creates after
// local.Get. The cluster starts with the first such test, so the pure tests (ledger, plan,
// scale retries) run without one: go test -run 'Ledger|Plan|SetScale' ./pkg/kube starts
// nothing.
var (
	restCfg *rest.Config
	client  *Client

	local = &testcluster.Lazy{Prefix: "kube-test-", Setup: func(ctx context.Context, c *cluster.Cluster, _ string) error {
		restCfg = c.RESTConfig()
		var err error
		if client, err = NewClient(restCfg); err != nil {
			return err
		}
		return applyCRDs(ctx)
	}}
)

func TestMain(m *testing.M) { os.Exit(local.Main(m)) }

func applyCRDs(ctx context.Context) error {
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
