package deploy_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/threescale-chaos/harness/pkg/twin/cluster"
	"github.com/threescale-chaos/harness/pkg/twin/deploy"
)

// BenchmarkTwinUp measures `make twin-up` from a built state: a fresh local cluster, the twin
// rendered and applied, until every Deployment is Ready ("ms-deploy" is the part after the
// cluster is up). It uses the twin's fixed ports, so it must not run beside a live twin.
func BenchmarkTwinUp(b *testing.B) {
	bin := filepath.Join(b.TempDir(), "threescale-twin")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/threescale-chaos/harness/cmd/threescale-twin").CombinedOutput(); err != nil {
		b.Fatalf("build: %v: %s", err, out)
	}
	var deployTime time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		dir := b.TempDir()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		c, err := cluster.Start(ctx, cluster.Config{Dir: filepath.Join(dir, "cluster")}, cluster.NodeOptions{})
		if err != nil {
			cancel()
			b.Fatal(err)
		}
		start := time.Now()
		v, err := deploy.NewValues("3scale", bin, filepath.Join(dir, "data"))
		if err == nil {
			err = deploy.Up(ctx, c.RESTConfig(), v, nil)
		}
		deployTime += time.Since(start)
		cancel()
		b.StopTimer()
		if stopErr := c.Stop(); stopErr != nil && err == nil {
			err = stopErr
		}
		_ = os.RemoveAll(dir)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(deployTime.Milliseconds())/float64(b.N), "ms-deploy/op")
}
