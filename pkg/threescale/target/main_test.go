package target

import (
	"os"
	"testing"

	"k8s.io/client-go/rest"

	"github.com/threescale-chaos/harness/internal/testsupport/testcluster"
)

// The twin the integration tests of the package share, deployed with ports shifted by
// 400 so that another package's twin (at the default ports, or pkg/threescale/samplers', at 200)
// can run at the same time. It starts with the first test that needs it (needTwin), so
// the pure tests (target parsing, merge) start nothing. The harness side only sees
// targetPath and restConfig, as on a real cluster.
var (
	twin       = &testcluster.Twin{PortShift: 400}
	targetPath string
	restConfig *rest.Config
)

func TestMain(m *testing.M) { os.Exit(twin.Main(m)) }

// needTwin starts the shared twin on first use; under -short it skips the test.
func needTwin(t *testing.T) {
	t.Helper()
	targetPath, restConfig = twin.Get(t)
}
