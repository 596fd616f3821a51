package threescale

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"github.com/threescale-chaos/harness/pkg/twin/cluster"
	"github.com/threescale-chaos/harness/pkg/twin/deploy"
)

// The twin every integration test of the package shares, deployed with ports shifted by
// 200 so that another package's twin at the default ports can run at the same time. The
// harness side only sees targetPath and restConfig, as on a real cluster.
var (
	targetPath string
	restConfig *rest.Config
	twinUp     bool
)

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	flag.Parse()
	if testing.Short() {
		return m.Run()
	}
	tmp, err := os.MkdirTemp("", "threescale-harness-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	bin := filepath.Join(tmp, "threescale-twin")
	build := exec.Command("go", "build", "-o", bin, "github.com/threescale-chaos/harness/cmd/threescale-twin")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build threescale-twin:", err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dir := filepath.Join(tmp, "cluster")
	c, err := cluster.Start(ctx, cluster.Config{Dir: dir}, cluster.NodeOptions{BackoffInitial: time.Second, BackoffMax: 5 * time.Second})
	if err != nil {
		fmt.Fprintln(os.Stderr, "start cluster:", err)
		return 1
	}
	defer func() {
		if err := c.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stop cluster:", err)
		}
	}()
	v, err := deploy.NewValues("3scale", bin, filepath.Join(tmp, "data"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	v.Ports = v.Ports.Shifted(200)
	if err := deploy.Up(ctx, c.RESTConfig(), v, nil); err != nil {
		fmt.Fprintln(os.Stderr, "twin not ready:", err)
		return 1
	}
	targetPath = filepath.Join(tmp, "target.yaml")
	if err := deploy.WriteTarget(targetPath, deploy.NewTarget(v, cluster.KubeconfigPath(dir))); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	restConfig, twinUp = c.RESTConfig(), true
	return m.Run()
}
