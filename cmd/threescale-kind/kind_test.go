package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	kindv1alpha4 "sigs.k8s.io/kind/pkg/apis/config/v1alpha4"
)

// fakeHost is a machine with the given programs on PATH; run answers from outputs, keyed
// by the program and its first argument ("docker info"), and fails for the keys in fail.
type fakeHost struct {
	onPath  []string
	outputs map[string]string
	fail    map[string]bool
	env     map[string]string
	ran     []string
}

func (f *fakeHost) host() host {
	return host{
		lookPath: func(file string) (string, error) {
			if slices.Contains(f.onPath, file) {
				return "/usr/bin/" + file, nil
			}
			return "", &exec.Error{Name: file, Err: exec.ErrNotFound}
		},
		run: func(_ context.Context, name string, args ...string) ([]byte, error) {
			key := filepath.Base(name)
			if len(args) > 0 {
				key += " " + args[0]
			}
			f.ran = append(f.ran, key)
			if f.fail[key] {
				return []byte(f.outputs[key]), errors.New("exit status 1")
			}
			return []byte(f.outputs[key]), nil
		},
		getenv: func(k string) string { return f.env[k] },
	}
}

func TestKindProgram(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name      string
		h         fakeHost
		bin       string
		wantFound bool
		wantErr   []string
		wantNote  string
	}{
		{"kind v0.33.0 on PATH", fakeHost{onPath: []string{"kind"}, outputs: map[string]string{"kind version": "kind v0.33.0 go1.25.3 linux/amd64\n"}}, "kind", true, nil, ""},
		{"another kind release", fakeHost{onPath: []string{"kind"}, outputs: map[string]string{"kind version": "kind v0.29.0 go1.24.2 linux/amd64\n"}}, "kind", true, nil, "is kind v0.29.0, not v0.33.0"},
		{"kind that cannot say its version", fakeHost{onPath: []string{"kind"}, fail: map[string]bool{"kind version": true}}, "kind", true, nil, "cannot tell which kind release"},
		{"no kind, but Go to install it", fakeHost{onPath: []string{"go"}}, "kind", false, nil, "go install sigs.k8s.io/kind@v0.33.0"},
		{"no kind and no Go", fakeHost{}, "kind", false, []string{"kind is not on PATH", "no Go toolchain", "sigs.k8s.io/kind@v0.33.0", "--kind"}, ""},
		{"a kind path that is not there", fakeHost{onPath: []string{"go"}}, "/opt/kind/bin/kind", false, []string{"kind program /opt/kind/bin/kind"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			found, notes, err := tc.h.host().kindProgram(ctx, tc.bin)
			if len(tc.wantErr) > 0 {
				if err == nil {
					t.Fatalf("no error (found %v, notes %v)", found, notes)
				}
				for _, w := range tc.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not say %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if found != tc.wantFound {
				t.Errorf("found %v, want %v", found, tc.wantFound)
			}
			joined := strings.Join(notes, "\n")
			if tc.wantNote == "" && joined != "" {
				t.Errorf("unexpected notes: %s", joined)
			}
			if tc.wantNote != "" && !strings.Contains(joined, tc.wantNote) {
				t.Errorf("notes %q do not say %q", joined, tc.wantNote)
			}
		})
	}
}

func TestContainerEngine(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		h       fakeHost
		want    string
		wantErr []string
	}{
		{"docker answers", fakeHost{onPath: []string{"docker", "podman"}}, "docker", nil},
		{"podman only", fakeHost{onPath: []string{"podman"}}, "podman", nil},
		{"nerdctl before podman, as kind picks", fakeHost{onPath: []string{"podman", "nerdctl"}}, "nerdctl", nil},
		{"KIND_EXPERIMENTAL_PROVIDER wins", fakeHost{onPath: []string{"docker", "podman"}, env: map[string]string{"KIND_EXPERIMENTAL_PROVIDER": "podman"}}, "podman", nil},
		{"no engine at all", fakeHost{onPath: []string{"kind"}}, "", []string{"no container engine", "docker", "nerdctl", "podman"}},
		{"the chosen provider is missing", fakeHost{onPath: []string{"docker"}, env: map[string]string{"KIND_EXPERIMENTAL_PROVIDER": "podman"}}, "", []string{"KIND_EXPERIMENTAL_PROVIDER=podman", "podman is not on PATH"}},
		{"docker installed, daemon down", fakeHost{onPath: []string{"docker"}, fail: map[string]bool{"docker info": true}, outputs: map[string]string{"docker info": "Client:\n Version:    28.2.2\n Context:    default\n Debug Mode: false\n\nServer:\nCannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?\n"}}, "", []string{"docker is installed but `docker info` failed", "Cannot connect to the Docker daemon"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.h.host().containerEngine(ctx)
			if len(tc.wantErr) > 0 {
				if err == nil {
					t.Fatalf("no error, engine %q", got)
				}
				for _, w := range tc.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not say %q", err, w)
					}
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("engine %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

const testKindConfig = `kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
name: from-config
nodes:
- role: control-plane
  extraPortMappings:
  - {containerPort: 30080, hostPort: 30080}
  - {containerPort: 30081, hostPort: 40081}
  - {containerPort: 30082, hostPort: 30082, protocol: UDP}
`

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestKindConfigChecks(t *testing.T) {
	c, err := readKindConfig(writeFile(t, "kind.yaml", testKindConfig))
	if err != nil {
		t.Fatal(err)
	}
	if got := clusterName("", c); got != "from-config" {
		t.Errorf("cluster name %q, want the configuration's", got)
	}
	if got := clusterName("flag", c); got != "flag" {
		t.Errorf("cluster name %q, want the flag's", got)
	}
	if got := clusterName("", &kindv1alpha4.Cluster{}); got != defaultClusterName {
		t.Errorf("cluster name %q, want the default", got)
	}
	// 30080 is mapped; 30081 goes to another host port; 30082 is UDP; 30083 is absent.
	if got := unmappedNodePorts(c, []int32{30080, 30081, 30082, 30083}); !slices.Equal(got, []int32{30081, 30082, 30083}) {
		t.Errorf("unmapped %v, want [30081 30082 30083]", got)
	}
	for name, cfg := range map[string]string{
		"unknown field": "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnodes:\n- role: control-plane\n  extraPortMapping: []\n",
		"wrong kind":    "kind: Config\napiVersion: kind.x-k8s.io/v1alpha4\n",
	} {
		if _, err := readKindConfig(writeFile(t, "bad.yaml", cfg)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := readKindConfig(filepath.Join(t.TempDir(), "missing.yaml")); err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("missing file: %v", err)
	}
}

// up with no kind and no Go, or no container engine, stops before running anything, with
// a clear error that is bad input (exit 3), and writes no kubeconfig.
func TestUpWithoutKindOrDockerIsBadInput(t *testing.T) {
	ctx := context.Background()
	cfgFile := writeFile(t, "kind.yaml", testKindConfig)
	kubeconfig := filepath.Join(t.TempDir(), "out", "kubeconfig")
	cfg := clusterConfig{config: cfgFile, kubeconfig: kubeconfig, kindBin: "kind", timeout: defaultUpTimeout}
	for _, tc := range []struct {
		name string
		h    fakeHost
		want string
	}{
		{"no kind, no go", fakeHost{onPath: []string{"docker"}}, "kind is not on PATH"},
		{"no container engine", fakeHost{onPath: []string{"kind"}, outputs: map[string]string{"kind version": "kind v0.33.0"}}, "no container engine"},
		{"docker not answering", fakeHost{onPath: []string{"kind", "docker"}, outputs: map[string]string{"kind version": "kind v0.33.0"}, fail: map[string]bool{"docker info": true}}, "`docker info` failed"},
		{"node image not in the engine", fakeHost{onPath: []string{"kind", "docker"},
			outputs: map[string]string{"kind version": "kind v0.33.0", "docker image": "Error: No such image: threescale-chaos/kind-node:v1.35.4"},
			fail:    map[string]bool{"docker image": true}}, "node image threescale-chaos/kind-node:v1.35.4 is not in docker (Error: No such image"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			cfg := cfg
			if strings.HasPrefix(tc.name, "node image") {
				cfg.image = "threescale-chaos/kind-node:v1.35.4"
			}
			err := runUp(ctx, cfg, tc.h.host(), &out)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one saying %q", err, tc.want)
			}
			var bi badInput
			if !errors.As(err, &bi) || report(err) != exitBadInput {
				t.Errorf("%v is not bad input (exit %d)", err, report(err))
			}
			if slices.ContainsFunc(tc.h.ran, func(s string) bool { return strings.HasPrefix(s, "kind create") }) {
				t.Errorf("kind was run: %v", tc.h.ran)
			}
			if _, err := os.Stat(kubeconfig); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a kubeconfig was written: %v", err)
			}
			// The configuration maps only 30080, so up warns about the other node ports.
			if !strings.Contains(out.String(), "does not publish node ports [30081 30082 30083 30084 30085]") {
				t.Errorf("no warning about the unmapped node ports:\n%s", out.String())
			}
		})
	}
	if err := runDown(ctx, cfg, (&fakeHost{}).host(), &bytes.Buffer{}); err == nil || report(err) != exitBadInput {
		t.Errorf("down without kind: %v (exit %d), want bad input", err, report(err))
	}
}

// The real CLI, on a PATH with nothing on it: every command fails with exit 3 and a clear
// message, without a panic and without touching anything.
func TestCLIBadInput(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	t.Setenv("KIND_EXPERIMENTAL_PROVIDER", "")
	dir := t.TempDir()
	cfgFile := writeFile(t, "kind.yaml", testKindConfig)
	unreachable := writeFile(t, "kubeconfig", `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: not-a-real-token}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
`)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"up without kind or go", []string{"up", "--config", cfgFile, "--kubeconfig", filepath.Join(dir, "kc")}, "kind is not on PATH"},
		{"up with a missing kind configuration", []string{"up", "--config", filepath.Join(dir, "nope.yaml")}, "nope.yaml"},
		{"up with a bad timeout", []string{"up", "--config", cfgFile, "--timeout", "0s"}, "--timeout"},
		{"down without kind or go", []string{"down", "--config", cfgFile}, "kind is not on PATH"},
		{"install on an unreachable cluster", []string{"install", "--kubeconfig", unreachable, "--timeout", "1m"}, "127.0.0.1:1"},
		{"install with a missing kubeconfig", []string{"install", "--kubeconfig", filepath.Join(dir, "missing-kubeconfig")}, "missing-kubeconfig"},
		{"install with a bad related image", []string{"install", "--kubeconfig", unreachable, "--related-image", "SYSTEM"}, "NAME=IMAGE"},
		{"install with an unknown related image", []string{"install", "--kubeconfig", unreachable, "--related-image", "PORTA=x"}, "PORTA"},
		{"an unknown flag", []string{"install", "--namespace", "x"}, "unknown flag"},
		{"an argument", []string{"up", "extra"}, "extra"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := newRoot()
			var out bytes.Buffer
			root.SetOut(&out)
			root.SetErr(&out)
			root.SetArgs(tc.args)
			err := root.Execute()
			if err == nil {
				t.Fatalf("succeeded:\n%s", out.String())
			}
			if code := report(err); code != exitBadInput || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("exit %d, error %v; want exit 3 saying %q", code, err, tc.want)
			}
			if strings.Contains(err.Error(), "not-a-real-token") {
				t.Errorf("a credential leaked: %v", err)
			}
		})
	}
}

func TestKindReportedVersion(t *testing.T) {
	for in, want := range map[string]string{
		"kind v0.33.0 go1.25.3 linux/amd64\n": "v0.33.0",
		"v0.33.0":                             "v0.33.0",
		"":                                    "",
	} {
		if got := kindReportedVersion(in); got != want {
			t.Errorf("kindReportedVersion(%q) = %q, want %q", in, got, want)
		}
	}
}
