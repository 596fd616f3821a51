package main

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/threescale-chaos/harness/pkg/twin/cluster"
)

var bin string

func TestMain(m *testing.M) {
	tmp, err := os.MkdirTemp("", "twin-cli-")
	if err != nil {
		panic(err)
	}
	bin = filepath.Join(tmp, "threescale-twin")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		panic(string(out))
	}
	code := m.Run()
	os.RemoveAll(tmp)
	os.Exit(code)
}

// twin runs the CLI with a deadline, so a hang is a test failure and not a stuck CI job.
func twin(t *testing.T, timeout time.Duration, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("threescale-twin %v did not finish within %s: %s", args, timeout, out)
	}
	return string(out), err
}

func noLeftovers(t *testing.T, dir string) {
	t.Helper()
	if left, err := cluster.Leftovers(dir); err != nil || len(left) > 0 {
		t.Fatalf("processes left behind in %s: %v %v", dir, left, err)
	}
}

// up runs in the background and answers on its kubeconfig; a second up on the same directory
// is refused; down stops everything.
func TestUpTwiceThenDown(t *testing.T) {
	dir := t.TempDir()
	t.Cleanup(func() { _, _ = twin(t, 90*time.Second, "cluster", "down", "--dir", dir) })
	out, err := twin(t, 3*time.Minute, "cluster", "up", "--dir", dir)
	if err != nil {
		t.Fatalf("up: %v: %s", err, out)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", filepath.Join(dir, "kubeconfig"))
	if err != nil {
		t.Fatal(err)
	}
	cs := kubernetes.NewForConfigOrDie(cfg)
	nodes, err := cs.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
	if err != nil || len(nodes.Items) != 1 {
		t.Fatalf("nodes through the written kubeconfig: %v %v", nodes, err)
	}

	out, err = twin(t, 30*time.Second, "cluster", "up", "--dir", dir)
	if err == nil || !strings.Contains(out, "already running in "+dir) {
		t.Fatalf("a second up on the same directory must be refused clearly; got err=%v: %s", err, out)
	}
	if _, err := cs.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{}); err != nil {
		t.Fatalf("the refused second up disturbed the running cluster: %v", err)
	}

	out, err = twin(t, 90*time.Second, "cluster", "down", "--dir", dir)
	if err != nil || !strings.Contains(out, "cluster is down") {
		t.Fatalf("down: %v: %s", err, out)
	}
	noLeftovers(t, dir)
}

// After the supervisor is SIGKILLed (so nothing stops gracefully), down still removes every
// process of the cluster.
func TestDownAfterSupervisorKilled(t *testing.T) {
	dir := t.TempDir()
	if out, err := twin(t, 3*time.Minute, "cluster", "up", "--dir", dir); err != nil {
		t.Fatalf("up: %v: %s", err, out)
	}
	running, pid := cluster.Running(dir)
	if !running || pid == 0 {
		t.Fatalf("no supervisor recorded after up")
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	out, err := twin(t, 90*time.Second, "cluster", "down", "--dir", dir)
	if err != nil {
		t.Fatalf("down after SIGKILL: %v: %s", err, out)
	}
	noLeftovers(t, dir)
}

// Bad input is a clear error, quickly, and starts nothing.
func TestBadInput(t *testing.T) {
	t.Run("missing binary", func(t *testing.T) {
		dir := t.TempDir()
		out, err := twin(t, 30*time.Second, "cluster", "up", "--dir", dir, "--kube-bin-dir", "/nonexistent/kube")
		if err == nil || !strings.Contains(out, "missing binary /nonexistent/kube/kube-apiserver") || !strings.Contains(out, "make deps") {
			t.Fatalf("want a missing-binary error that says how to fix it; got err=%v: %s", err, out)
		}
		noLeftovers(t, dir)
	})
	t.Run("port in use", func(t *testing.T) {
		dir := t.TempDir()
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
		out, err := twin(t, 30*time.Second, "cluster", "up", "--dir", dir, "--api-port", port)
		if err == nil || !strings.Contains(out, "port "+port+" on 127.0.0.1 is already in use") {
			t.Fatalf("want a port-in-use error; got err=%v: %s", err, out)
		}
		noLeftovers(t, dir)
	})
	t.Run("missing dir flag", func(t *testing.T) {
		out, err := twin(t, 30*time.Second, "cluster", "up")
		if err == nil || !strings.Contains(out, `"dir" not set`) {
			t.Fatalf("want a missing --dir error; got err=%v: %s", err, out)
		}
	})
	t.Run("production config cache", func(t *testing.T) {
		for _, bad := range []string{"0s", "1.5s"} {
			data := filepath.Join(t.TempDir(), "data")
			out, err := twin(t, 30*time.Second, "deploy", "--kubeconfig", "/nonexistent/kubeconfig", "--data-dir", data, "--production-config-cache", bad)
			if err == nil || !strings.Contains(out, "--production-config-cache "+bad+": want a whole number of seconds") {
				t.Fatalf("--production-config-cache %s: want a clear error; got err=%v: %s", bad, err, out)
			}
			if _, err := os.Stat(data); !os.IsNotExist(err) {
				t.Errorf("--production-config-cache %s: the refused deploy made %s (%v)", bad, data, err)
			}
		}
	})
	t.Run("node ports", func(t *testing.T) {
		for _, c := range []struct {
			args []string
			want string
		}{
			{[]string{"--platform", "kubelet", "--image", "x", "--node-port-base", "32763"}, "--node-port-base 32763: want six ports within the default NodePort range"},
			{[]string{"--platform", "kubelet", "--image", "x", "--node-port-base", "8080"}, "--node-port-base 8080: want six ports"},
			{[]string{"--node-port-base", "30180"}, "only a kubelet has NodePorts"},
			{[]string{"--node-address", "10.0.0.1"}, "only a kubelet has NodePorts"},
		} {
			data := filepath.Join(t.TempDir(), "data")
			args := append([]string{"deploy", "--kubeconfig", "/nonexistent/kubeconfig", "--data-dir", data}, c.args...)
			out, err := twin(t, 30*time.Second, args...)
			if err == nil || !strings.Contains(out, c.want) {
				t.Fatalf("%v: want %q; got err=%v: %s", c.args, c.want, err, out)
			}
			if _, err := os.Stat(data); !os.IsNotExist(err) {
				t.Errorf("%v: the refused deploy made %s (%v)", c.args, data, err)
			}
		}
	})
	t.Run("down without a cluster", func(t *testing.T) {
		out, err := twin(t, 30*time.Second, "cluster", "down", "--dir", filepath.Join(t.TempDir(), "nothing-here"))
		if err == nil || !strings.Contains(out, "no cluster directory") {
			t.Fatalf("want a clear error for a directory that does not exist; got err=%v: %s", err, out)
		}
	})
}
