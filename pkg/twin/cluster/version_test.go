package cluster_test

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/threescale-chaos/harness/pkg/twin/cluster"
)

// The control plane must be the release that goes with the client-go the harness is built
// with (client-go v0.X.Y goes with Kubernetes v1.X.Y); the Makefile derives the build version
// from go.mod the same way.
func TestKubeVersionMatchesClientGo(t *testing.T) {
	b, err := os.ReadFile("../../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s*k8s\.io/client-go v0\.(\d+\.\d+)`).FindSubmatch(b)
	if m == nil {
		t.Fatal("no k8s.io/client-go requirement in go.mod")
	}
	want := "v1." + string(m[1])
	if cluster.KubeVersion != want {
		t.Fatalf("cluster.KubeVersion is %s but go.mod has client-go v0.%s: they must match (%s)", cluster.KubeVersion, m[1], want)
	}
	if !strings.HasSuffix(cluster.DefaultKubeBinDir(), want) && os.Getenv(cluster.KubeBinDirEnv) == "" {
		t.Fatalf("default kube bin dir %s is not versioned %s", cluster.DefaultKubeBinDir(), want)
	}
}
