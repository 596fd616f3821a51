// Package enginetest runs hack/docker-engine.sh end to end: our own dockerd comes up in a
// temporary state directory, runs a privileged container (what kind does for its nodes, and
// what fails on the project's machines without hack/runc-wrapper), and goes down leaving no
// dockerd, DOCKER chain or bridge behind.
package enginetest

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/threescale-chaos/harness/internal/testsupport"
)

// timeout bounds the whole test: up, a Go build, an import, two runs, down.
const timeout = 3 * time.Minute

// capSysAdmin and capSysResource are capability bit numbers (linux/capability.h).
const (
	capSysAdmin    = 21
	capSysResource = 24
)

// hello prints a marker and the capabilities it runs with; `hello wait` waits to be killed
// (a container to exec into).
const hello = `package main

import (
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "wait" {
		stop := make(chan os.Signal, 1)
		signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
		<-stop
		return
	}
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		panic(err)
	}
	for _, l := range strings.Split(string(status), "\n") {
		if strings.HasPrefix(l, "CapEff:") {
			fmt.Println("hello from the engine test", strings.TrimSpace(strings.TrimPrefix(l, "CapEff:")))
		}
	}
}
`

func TestEngineUpRunDown(t *testing.T) {
	testsupport.RequireRoot(t)
	for _, bin := range []string{"dockerd", "docker", "iptables", "ip", "go"} {
		_, err := exec.LookPath(bin)
		testsupport.Require(t, err == nil, "docker engine: "+bin+" on PATH (make engine-deps installs Debian's docker.io)")
	}
	if pids := processes("dockerd"); len(pids) > 0 {
		// Two engines on one host share docker0 and the DOCKER chains; down would remove
		// the other's.
		t.Skipf("a dockerd already runs (PID %v): the test starts its own only on a machine without one", pids)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()

	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(repo, "hack", "docker-engine.sh")
	state := t.TempDir()
	// The runtime directory holds unix sockets (containerd's among them, deeper down), whose
	// paths must stay under 108 bytes: t.TempDir's can be longer.
	run, err := os.MkdirTemp("", "tce")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(run) })
	ourHost := "unix://" + filepath.Join(run, "docker.sock")
	env := append(os.Environ(),
		"THREESCALE_DOCKER_STATE="+state,
		"THREESCALE_DOCKER_RUN="+run,
		// Nothing answers there, so up cannot take some other engine for the user's.
		"DOCKER_HOST=unix://"+filepath.Join(state, "nothing.sock"),
	)
	engineWith := func(ctx context.Context, env []string, args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, script, args...)
		cmd.Env = env
		cmd.Dir = repo
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	engine := func(ctx context.Context, args ...string) (string, error) { return engineWith(ctx, env, args...) }
	docker := func(stdin []byte, args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, "docker", args...)
		cmd.Env = append(os.Environ(), "DOCKER_HOST="+ourHost)
		cmd.Stdin = bytes.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	log := func() string {
		b, _ := os.ReadFile(filepath.Join(state, "dockerd.log"))
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		return strings.Join(lines[max(0, len(lines)-20):], "\n")
	}
	// Down whatever happens; it is a no-op once the test's own down has run. Not ctx: a
	// cleanup outlives the test's deadline.
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if out, err := engine(ctx, "down", "--purge"); err != nil {
			t.Errorf("cleanup: docker-engine.sh down --purge: %v\n%s", err, out)
		}
	})

	start := time.Now()
	out, err := engine(ctx, "up")
	if err != nil {
		t.Fatalf("docker-engine.sh up: %v\n%s\ndockerd.log:\n%s", err, out, log())
	}
	t.Logf("up in %v", time.Since(start).Round(time.Millisecond))
	if !strings.Contains(out, "export DOCKER_HOST="+ourHost) {
		t.Fatalf("up did not print our DOCKER_HOST %s:\n%s", ourHost, out)
	}
	envFile, err := os.ReadFile(filepath.Join(state, "docker.env"))
	if err != nil || strings.TrimSpace(string(envFile)) != "export DOCKER_HOST="+ourHost {
		t.Errorf("docker.env = %q (%v), want export DOCKER_HOST=%s", envFile, err, ourHost)
	}
	pid := dockerdPID(t, run)

	out, err = engine(ctx, "up")
	if err != nil || !strings.Contains(out, "ours already runs (PID "+strconv.Itoa(pid)+")") {
		t.Errorf("a second up with ours running: %v\n%s\nwant it to leave PID %d alone", err, out, pid)
	}
	// An engine that answers and is not ours (here ours, seen from another state directory,
	// through the user's DOCKER_HOST) is used as is, and down leaves it alone.
	otherRun, err := os.MkdirTemp("", "tce")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(otherRun) })
	other := append(os.Environ(), "THREESCALE_DOCKER_STATE="+t.TempDir(), "THREESCALE_DOCKER_RUN="+otherRun, "DOCKER_HOST="+ourHost)
	t.Cleanup(func() { // a no-op unless that up started an engine after all
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if out, err := engineWith(ctx, other, "down", "--purge"); err != nil {
			t.Errorf("cleanup: docker-engine.sh down --purge (other state directory): %v\n%s", err, out)
		}
	})
	out, err = engineWith(ctx, other, "up")
	if err != nil || !strings.Contains(out, "used as is") || len(mentioning(otherRun)) > 0 {
		t.Errorf("up with another engine answering at DOCKER_HOST: %v\n%s\nwant it used as is, no dockerd of its own", err, out)
	}
	if out, err := engineWith(ctx, other, "down"); err != nil || dockerdPID(t, run) != pid || !processAlive(pid) {
		t.Errorf("down from the other state directory: %v\n%s\nwant ours (PID %d) left running", err, out, pid)
	}
	if out, err := docker(nil, "network", "inspect", "-f", `{{index .Options "com.docker.network.bridge.enable_ip_masquerade"}}`, "kind"); err != nil || strings.TrimSpace(out) != "false" {
		t.Errorf("kind network's masquerade option: %q (%v), want false", out, err)
	}

	image := "threescale-chaos/engine-test:latest"
	if out, err := docker(helloImage(t, ctx), "import", "-", image); err != nil {
		t.Fatalf("docker import: %v\n%s", err, out)
	}
	// kind's nodes: privileged, every capability the host allows.
	out, err = docker(nil, "run", "--rm", "--privileged", image, "/hello")
	if err != nil {
		t.Fatalf("docker run --privileged: %v\n%s\ndockerd.log:\n%s", err, out, log())
	}
	checkHello(t, "docker run --privileged", out)
	// kind runs kubeadm with docker exec --privileged: containerd hands runc a process file.
	id, err := docker(nil, "run", "-d", "--privileged", image, "/hello", "wait")
	if err != nil {
		t.Fatalf("docker run -d --privileged: %v\n%s", err, id)
	}
	out, err = docker(nil, "exec", "--privileged", strings.TrimSpace(id), "/hello")
	if err != nil {
		t.Fatalf("docker exec --privileged: %v\n%s\ndockerd.log:\n%s", err, out, log())
	}
	checkHello(t, "docker exec --privileged", out)
	if !hostHasCap(t, capSysResource) {
		// The machine quirk the wrapper is for: show that plain runc fails here, so the
		// run above passed because of the wrapper.
		out, err := docker(nil, "run", "--rm", "--privileged", "--runtime", "runc", image, "/hello")
		if err == nil || !strings.Contains(out, "unable to apply caps") {
			t.Errorf("without the wrapper (--runtime runc), on a host lacking CAP_SYS_RESOURCE: %v\n%s\nwant unable to apply caps", err, out)
		}
	}

	start = time.Now()
	if out, err := engine(ctx, "down"); err != nil {
		t.Fatalf("docker-engine.sh down: %v\n%s", err, out)
	}
	t.Logf("down in %v", time.Since(start).Round(time.Millisecond))
	if processAlive(pid) {
		t.Errorf("dockerd PID %d still there after down", pid)
	}
	if left := mentioning(run); len(left) > 0 {
		t.Errorf("after down, processes of ours still run: %v", left)
	}
	for _, table := range []string{"filter", "nat"} {
		rules, err := exec.CommandContext(ctx, "iptables", "-t", table, "-S").Output()
		if err != nil {
			t.Fatalf("iptables -t %s -S: %v", table, err)
		}
		if strings.Contains(string(rules), "DOCKER") || strings.Contains(string(rules), "br-") || strings.Contains(string(rules), "docker0") {
			t.Errorf("after down, the %s table still has Docker's rules:\n%s", table, rules)
		}
	}
	links, err := exec.CommandContext(ctx, "ip", "-o", "link", "show", "type", "bridge").Output()
	if err != nil {
		t.Fatalf("ip link: %v", err)
	}
	if strings.Contains(string(links), "docker0") || strings.Contains(string(links), " br-") {
		t.Errorf("after down, Docker's bridges remain:\n%s", links)
	}
	if _, err := os.Stat(run); !os.IsNotExist(err) {
		t.Errorf("after down, the runtime directory %s remains (stat: %v)", run, err)
	}
	if _, err := os.Stat(filepath.Join(state, "data")); err != nil {
		t.Errorf("down without --purge removed the data-root: %v", err)
	}
}

// checkHello checks what hello printed: its marker, and the capabilities of a privileged
// process.
func checkHello(t *testing.T, what, out string) {
	t.Helper()
	fields := strings.Fields(out)
	if len(fields) != 6 || strings.Join(fields[:5], " ") != "hello from the engine test" {
		t.Fatalf("%s printed %q, want the hello line", what, out)
	}
	capEff, err := strconv.ParseUint(fields[5], 16, 64)
	if err != nil {
		t.Fatalf("%s: CapEff %q: %v", what, fields[5], err)
	}
	if capEff&(1<<capSysAdmin) == 0 {
		t.Errorf("%s: CapEff %x lacks CAP_SYS_ADMIN, so the process is not privileged", what, capEff)
	}
}

// helloImage is a docker import tarball holding /hello, a static build of the hello program.
func helloImage(t *testing.T, ctx context.Context) []byte {
	t.Helper()
	dir := t.TempDir()
	for name, body := range map[string]string{"go.mod": "module hello\n\ngo 1.22\n", "main.go": hello} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	build := exec.CommandContext(ctx, "go", "build", "-o", "hello", ".")
	build.Dir = dir
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOWORK=off", "GOFLAGS=")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build hello: %v\n%s", err, out)
	}
	bin, err := os.ReadFile(filepath.Join(dir, "hello"))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: "hello", Mode: 0o755, Size: int64(len(bin)), Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Write(bin); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// dockerdPID reads our dockerd's pidfile.
func dockerdPID(t *testing.T, run string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(run, "dockerd.pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("dockerd.pid: %v", err)
	}
	return pid
}

// processes lists the running processes whose command name is one of names, as "name PID".
func processes(names ...string) []string {
	var found []string
	comms, _ := filepath.Glob("/proc/[0-9]*/comm")
	for _, c := range comms {
		b, err := os.ReadFile(c)
		if err != nil {
			continue
		}
		comm := strings.TrimSpace(string(b))
		for _, n := range names {
			if comm == n {
				found = append(found, comm+" "+filepath.Base(filepath.Dir(c)))
			}
		}
	}
	return found
}

// processAlive reports whether process pid exists.
func processAlive(pid int) bool {
	_, err := os.Stat(filepath.Join("/proc", strconv.Itoa(pid)))
	return err == nil
}

// mentioning lists the running processes whose command line mentions s (our dockerd and the
// containerd it supervises name the runtime directory), as "PID command line".
func mentioning(s string) []string {
	var found []string
	cmdlines, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, c := range cmdlines {
		b, err := os.ReadFile(c)
		if err != nil || !bytes.Contains(b, []byte(s)) {
			continue
		}
		found = append(found, filepath.Base(filepath.Dir(c))+" "+string(bytes.ReplaceAll(b, []byte{0}, []byte(" "))))
	}
	return found
}

// hostHasCap reports whether capability bit is in this process's bounding set.
func hostHasCap(t *testing.T, bit uint) bool {
	t.Helper()
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(l, "CapBnd:"); ok {
			bnd, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			if err != nil {
				t.Fatalf("CapBnd %q: %v", v, err)
			}
			return bnd&(1<<bit) != 0
		}
	}
	t.Fatal("no CapBnd in /proc/self/status")
	return false
}
