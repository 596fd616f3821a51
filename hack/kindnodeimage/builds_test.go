// Package kindnodeimage tests hack/kind-node-image.sh's binary builds with go, docker and
// debootstrap replaced by recorders: what the script asks of the Go toolchain, not the builds
// themselves (`make kind-test` runs the real ones and the image they make).
package kindnodeimage

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// components is how many builds COMPONENTS_ONLY=1 runs: containerd (with ctr and the
// shim), crictl, CoreDNS, local-path-provisioner, etcd and pause.
const components = 6

// fakeGo answers `go mod download -json` with the directories the script reads kubeadm's and
// kind's files from, and stands in for `go install` and `go build`: each records its pid in
// STATE/started.*, waits until BARRIER builds have started (so builds run one at a time
// never get past the first: it gives up after 15 s), then fails when an argument contains
// FAIL_ON, hangs when HANG is set, or writes the binaries it was asked for.
const fakeGo = `#!/bin/bash
set -u
echo "$*" >> "$STATE/calls"
case "$1" in
mod)
	case "${@: -1}" in
	k8s.io/kubernetes@*) echo "  \"Dir\": \"$SRC/kubernetes\"," ;;
	sigs.k8s.io/kind@*) echo "  \"Dir\": \"$SRC/kind\"," ;;
	*) echo "unexpected module ${@: -1}" >&2; exit 1 ;;
	esac
	exit 0 ;;
install|build) ;;
*) echo "unexpected go $*" >&2; exit 1 ;;
esac
echo $$ > "$STATE/started.$$"
for i in $(seq 150); do
	[ "$(ls "$STATE" | grep -c '^started\.')" -ge "$BARRIER" ] && break
	[ "$i" -eq 150 ] && { echo "ran alone: no other build started within 15 s" >&2; exit 3; }
	sleep 0.1
done
case "$*" in *"$FAIL_ON"*) echo "compile error in $FAIL_ON (fake)" >&2; exit 2 ;; esac
[ -z "${HANG:-}" ] || exec sleep 300
if [ "$1" = install ]; then
	for a in "$@"; do case "$a" in *@*) p=${a%@*}; echo fake > "$GOBIN/${p##*/}"; chmod +x "$GOBIN/${p##*/}" ;; esac; done
else
	while [ $# -gt 0 ]; do [ "$1" = -o ] && { echo fake > "$2"; chmod +x "$2"; break; }; shift; done
fi
`

type bed struct {
	dir, state, cache, bin string
	env                    []string
}

func newBed(t *testing.T) *bed {
	t.Helper()
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	dir := t.TempDir()
	b := &bed{dir: dir, state: filepath.Join(dir, "state"), cache: filepath.Join(dir, "cache")}
	b.bin = filepath.Join(b.cache, "bin")
	fakebin := filepath.Join(dir, "fakebin")
	src := filepath.Join(dir, "src")
	for _, d := range []string{b.state, fakebin, filepath.Join(src, "kubernetes/cmd/kubeadm/app/constants"), filepath.Join(src, "kind/images/base/files")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	files := map[string]string{
		filepath.Join(fakebin, "go"):                                            fakeGo,
		filepath.Join(fakebin, "docker"):                                        "#!/bin/sh\necho \"docker $*\" >> \"$STATE/calls\"\nexit 1\n",
		filepath.Join(fakebin, "debootstrap"):                                   "#!/bin/sh\necho \"debootstrap $*\" >> \"$STATE/calls\"\nexit 1\n",
		filepath.Join(src, "kubernetes/cmd/kubeadm/app/constants/constants.go"): "package constants\n\nconst (\n\tDefaultEtcdVersion = \"3.6.6-0\"\n\tCoreDNSVersion = \"v1.13.1\"\n\tPauseVersion = \"3.10.1\"\n)\n",
	}
	for name, body := range files {
		if err := os.WriteFile(name, []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	b.env = append(os.Environ(),
		"PATH="+fakebin+":"+os.Getenv("PATH"),
		"STATE="+b.state, "SRC="+src, "FAIL_ON=\x01none", "HANG=",
		"COMPONENTS_ONLY=1", "KUBE_VERSION=v1.35.4", "KIND_VERSION=v0.33.0",
		"KUBE_BIN_DIR="+filepath.Join(dir, "kube"), "KIND_NODE_CACHE="+b.cache,
		"BARRIER="+strconv.Itoa(components))
	return b
}

func (b *bed) command(extra ...string) *exec.Cmd {
	cmd := exec.Command("bash", filepath.Join("..", "kind-node-image.sh"))
	cmd.Env = append(append([]string{}, b.env...), extra...)
	return cmd
}

func (b *bed) built(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir(b.bin)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names
}

func (b *bed) goCalls(t *testing.T, verb string) []string {
	t.Helper()
	data, _ := os.ReadFile(filepath.Join(b.state, "calls"))
	var calls []string
	for _, l := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(l, verb+" ") {
			calls = append(calls, l)
		}
	}
	return calls
}

// The six builds run side by side (the fake's barrier lets none finish before all have
// started), containerd's three commands in one go install, and every binary lands in the
// cache under its versioned name; a second run finds them all and builds nothing.
func TestComponentsBuildSideBySide(t *testing.T) {
	b := newBed(t)
	out, err := b.command().CombinedOutput()
	if err != nil {
		t.Fatalf("kind-node-image.sh: %v\n%s", err, out)
	}
	got := strings.Join(b.built(t), " ")
	for _, want := range []string{"containerd-v2.3.4", "ctr-v2.3.4", "containerd-shim-runc-v2-v2.3.4", "crictl-v1.36.0",
		"local-path-provisioner-v0.0.30", "etcd-v3.6.6", "coredns-v1.13.1-", "pause-"} {
		if !strings.Contains(got, want) {
			t.Errorf("no %s in the cache: %s", want, got)
		}
	}
	installs := b.goCalls(t, "install")
	var containerd []string
	for _, c := range installs {
		if strings.Contains(c, "containerd/v2/cmd/") {
			containerd = append(containerd, c)
		}
	}
	if len(containerd) != 1 || strings.Count(containerd[0], "@v2.3.4") != 3 {
		t.Errorf("containerd, ctr and the shim should be one go install, got %q", containerd)
	}
	if docker := b.goCalls(t, "docker"); len(docker) > 0 {
		t.Errorf("COMPONENTS_ONLY=1 used the engine: %q", docker)
	}

	if err := os.Remove(filepath.Join(b.state, "calls")); err != nil {
		t.Fatal(err)
	}
	out, err = b.command().CombinedOutput()
	if err != nil {
		t.Fatalf("second run: %v\n%s", err, out)
	}
	if again := append(b.goCalls(t, "install"), b.goCalls(t, "build")...); len(again) > 0 {
		t.Errorf("the second run built again: %q", again)
	}
}

// A failing build fails the script, which names it and shows its log's end; the others
// finish and stay cached.
func TestAFailedComponentIsNamed(t *testing.T) {
	b := newBed(t)
	out, err := b.command("FAIL_ON=sigs.k8s.io/cri-tools").CombinedOutput()
	if err == nil {
		t.Fatalf("kind-node-image.sh succeeded with crictl failing:\n%s", out)
	}
	for _, want := range []string{"failed to build: crictl", "compile error in sigs.k8s.io/cri-tools (fake)"} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	got := strings.Join(b.built(t), " ")
	if strings.Contains(got, "crictl") || !strings.Contains(got, "etcd-v3.6.6") || !strings.Contains(got, "containerd-v2.3.4") {
		t.Errorf("cache after the failure: %s (want every binary but crictl)", got)
	}
}

// SIGTERM while the builds run stops every one of them, not only the script: no compile
// goes on orphaned.
func TestTerminationStopsTheBuilds(t *testing.T) {
	b := newBed(t)
	cmd := b.command("HANG=1")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pids := waitFor(t, 30*time.Second, func() []int {
		p := b.startedPids()
		if len(p) < components {
			return nil
		}
		return p
	})
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err == nil {
		t.Errorf("the script exited 0 after SIGTERM")
	}
	waitFor(t, 10*time.Second, func() []int {
		for _, pid := range pids {
			if syscall.Kill(pid, 0) == nil {
				return nil
			}
		}
		return pids
	})
}

func (b *bed) startedPids() []int {
	entries, _ := os.ReadDir(b.state)
	var pids []int
	for _, e := range entries {
		if p, ok := strings.CutPrefix(e.Name(), "started."); ok {
			if n, err := strconv.Atoi(p); err == nil {
				pids = append(pids, n)
			}
		}
	}
	return pids
}

// waitFor polls cond until it returns non-nil or the timeout passes.
func waitFor(t *testing.T, timeout time.Duration, cond func() []int) []int {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if v := cond(); v != nil {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s", timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
