package operator_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/threescale-chaos/harness/internal/testsupport"
	"github.com/threescale-chaos/harness/pkg/twin/cluster"
)

// crdFile is the fixture under test, applied exactly as the twin applies it.
const crdFile = "../../../fixtures/twin/crds/apimanager.yaml"

// One control plane (no node: Deployments and their replicas are all the
// operator touches) serves every test; each test has its own namespace and its
// own operator.
var (
	restCfg *rest.Config
	kube    kubernetes.Interface
	dyn     dynamic.Interface
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) (code int) {
	dir, err := os.MkdirTemp("", "twin-operator-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cp, err := cluster.StartControlPlane(ctx, cluster.Config{Dir: dir})
	if err != nil {
		fmt.Fprintln(os.Stderr, "start control plane:", err)
		return 1
	}
	defer func() {
		if err := cp.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stop control plane:", err)
			code = 1
		}
		if left, err := cluster.Leftovers(dir); err != nil || len(left) > 0 {
			fmt.Fprintf(os.Stderr, "processes left behind after Stop: %v (%v)\n", left, err)
			code = 1
		}
	}()
	restCfg = cp.RESTConfig()
	if kube, err = kubernetes.NewForConfig(restCfg); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if dyn, err = dynamic.NewForConfig(restCfg); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := testsupport.ApplyCRDFile(ctx, dyn, crdFile); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}
