package conformance

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/threescale-chaos/harness/pkg/twin/cluster"
)

// BenchmarkTwinMemoryAtRest reports the resident memory of the whole twin at rest: the
// control plane (etcd, API server, controllers) and every pod process, read from
// /proc/<pid>/status (VmRSS). The node agent runs inside the test process and is not
// counted. Each op is one reading; the metrics are what matters.
func BenchmarkTwinMemoryAtRest(b *testing.B) {
	var controlPlane, pods int64
	for i := 0; i < b.N; i++ {
		pids, err := cluster.Leftovers(stateDir)
		if err != nil {
			b.Fatal(err)
		}
		controlPlane, pods = 0, 0
		for _, pid := range pids {
			rss := vmRSS(pid)
			if isPod(pid) {
				pods += rss
			} else {
				controlPlane += rss
			}
		}
	}
	b.ReportMetric(float64(controlPlane)/(1<<20), "MiB-controlplane")
	b.ReportMetric(float64(pods)/(1<<20), "MiB-pods")
	b.ReportMetric(float64(controlPlane+pods)/(1<<20), "MiB-total")
}

func vmRSS(pid int) int64 {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(s.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// isPod tells pod processes (which carry the node's marker) from the control plane's.
func isPod(pid int) bool {
	env, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
	return bytes.Contains(env, []byte(cluster.MarkerEnv+"="))
}
