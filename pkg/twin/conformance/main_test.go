package conformance

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/threescale-chaos/harness/internal/testsupport/testcluster"
	"github.com/threescale-chaos/harness/pkg/twin/cluster"
	"github.com/threescale-chaos/harness/pkg/twin/deploy"
)

const namespace = "3scale"

// The twin every test of the package shares.
var (
	client   kubernetes.Interface
	values   deploy.Values
	stateDir string // the local cluster's state directory
)

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	tmp, err := os.MkdirTemp("", "twin-conformance-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	code := 1
	defer func() {
		// A failed run keeps the twin's state and pod logs for a look afterwards.
		if code != 0 {
			fmt.Fprintln(os.Stderr, "twin state and logs kept in", tmp)
			return
		}
		os.RemoveAll(tmp)
	}()
	bin, err := testcluster.BuildTwin(tmp)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	stateDir = filepath.Join(tmp, "cluster")
	c, err := cluster.Start(ctx, cluster.Config{Dir: stateDir}, cluster.NodeOptions{BackoffInitial: time.Second, BackoffMax: 5 * time.Second})
	if err != nil {
		fmt.Fprintln(os.Stderr, "start cluster:", err)
		return 1
	}
	defer func() {
		if err := c.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stop cluster:", err)
		}
	}()
	client = c.Client
	values, err = deploy.NewValues(namespace, bin, filepath.Join(tmp, "data"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := deploy.Up(ctx, c.RESTConfig(), values, nil); err != nil {
		fmt.Fprintln(os.Stderr, "twin not ready:", err)
		dumpPods(ctx)
		return 1
	}
	code = m.Run()
	return code
}

func dumpPods(ctx context.Context) {
	pods, err := client.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return
	}
	for _, p := range pods.Items {
		fmt.Fprintf(os.Stderr, "%s phase=%s", p.Name, p.Status.Phase)
		for _, cs := range p.Status.ContainerStatuses {
			fmt.Fprintf(os.Stderr, " %s ready=%v restarts=%d waiting=%v terminated=%v", cs.Name, cs.Ready, cs.RestartCount, cs.State.Waiting, cs.LastTerminationState.Terminated)
		}
		fmt.Fprintln(os.Stderr)
	}
}
