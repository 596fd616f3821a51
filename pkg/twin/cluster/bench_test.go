package cluster_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/threescale-chaos/harness/internal/testsupport"
	"github.com/threescale-chaos/harness/pkg/twin/cluster"
)

// BenchmarkColdStart measures a whole local cluster start from nothing: etcd, the API server
// answering /readyz, controller manager and scheduler healthy (the "readyz" metric), and the
// node agent's Node Ready (the op itself). Stopping is not timed.
func BenchmarkColdStart(b *testing.B) {
	var readyz time.Duration
	for i := 0; i < b.N; i++ {
		dir := filepath.Join(b.TempDir(), "cluster")
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		start := time.Now()
		cp, err := cluster.StartControlPlane(ctx, cluster.Config{Dir: dir})
		if err != nil {
			cancel()
			b.Fatal(err)
		}
		readyz += time.Since(start)
		b.StopTimer()
		_ = cp.Stop()
		b.StartTimer()

		c, err := cluster.Start(ctx, cluster.Config{Dir: dir}, cluster.NodeOptions{})
		cancel()
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		_ = c.Stop()
		b.StartTimer()
	}
	// The op covers two starts (control plane alone, then with the node): report each.
	b.ReportMetric(float64(readyz.Milliseconds())/float64(b.N), "ms-controlplane/op")
}

// BenchmarkDeploymentZeroToReady measures a Deployment scaled from 0 to 1 until its replica
// is Ready (scale subresource write to readyReplicas=1), on the shared cluster. The readiness
// probe runs every second, as many real probes do, which bounds the resolution.
func BenchmarkDeploymentZeroToReady(b *testing.B) {
	ctx := context.Background()
	ns := fmt.Sprintf("bench-zero-to-ready-%d", time.Now().UnixNano())
	if _, err := client.CoreV1().Namespaces().Create(ctx, nsObj(ns), metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	defer client.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{})
	port := testsupport.FreePort(b)
	if err := waitSA(ctx, ns); err != nil {
		b.Fatal(err)
	}
	if _, err := client.AppsV1().Deployments(ns).Create(ctx, echoDeployment("bench", 0, port, ""), metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := scaleTo(ctx, ns, "bench", 1); err != nil {
			b.Fatal(err)
		}
		if err := waitReplicas(ctx, ns, "bench", 1); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if err := scaleTo(ctx, ns, "bench", 0); err != nil {
			b.Fatal(err)
		}
		if err := waitReplicas(ctx, ns, "bench", 0); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}
