package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	e2ekind "sigs.k8s.io/e2e-framework/support/kind"
	kindv1alpha4 "sigs.k8s.io/kind/pkg/apis/config/v1alpha4"
	"sigs.k8s.io/yaml"

	"github.com/threescale-chaos/harness/fixtures"
)

// kindVersion is the kind release the cluster is made with: the sigs.k8s.io/kind release
// go.mod requires, and the one kind-config.yaml's node image (kindest/node v1.35.8, pinned by
// digest) was built for; a node image is supported only with the kind release that built
// it. e2e-framework v0.7.0 would otherwise install its own default, kind v0.26.0
// (third_party/kind/kind.go), so it is always passed.
const kindVersion = "v0.33.0"

// Defaults for up and down, relative to the directory they run in (the repository root, as
// the Makefile runs them).
const (
	defaultKindConfig  = "kind-config.yaml"
	defaultKubeconfig  = ".kind/kubeconfig"
	defaultClusterName = "threescale-chaos"
	defaultUpTimeout   = 10 * time.Minute
	engineCheckTimeout = 20 * time.Second
)

// clusterConfig is what up and down are told.
type clusterConfig struct {
	config     string // kind configuration file
	kubeconfig string // where up writes the cluster's kubeconfig, and down removes it
	name       string // cluster name; the configuration's `name` when empty
	kindBin    string // the kind program
	image      string // node image for every node, in place of the configuration's (up only)
	timeout    time.Duration
}

// Validate checks the flags.
func (c clusterConfig) Validate() error {
	var errs []error
	if c.kindBin == "" {
		errs = append(errs, errors.New("--kind: empty"))
	}
	if c.timeout <= 0 {
		errs = append(errs, fmt.Errorf("--timeout %s: must be positive", c.timeout))
	}
	return errors.Join(errs...)
}

func (c *clusterConfig) bind(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&c.config, "config", defaultKindConfig, "kind cluster configuration")
	f.StringVar(&c.kubeconfig, "kubeconfig", defaultKubeconfig, "the cluster's kubeconfig: written by up, removed by down")
	f.StringVar(&c.name, "name", "", "cluster name (default: the configuration's name, else "+defaultClusterName+")")
	f.StringVar(&c.kindBin, "kind", "kind", "the kind program; when it is not found and Go is, e2e-framework installs sigs.k8s.io/kind@"+kindVersion+" with go install")
	f.DurationVar(&c.timeout, "timeout", defaultUpTimeout, "how long kind may take")
	if cmd.Name() == "up" {
		f.StringVar(&c.image, "image", "", "node image for every node in place of the configuration's (kind create cluster --image): e.g. the one `make kind-node-image` builds without a registry")
	}
}

func upCmd() *cobra.Command {
	cfg := clusterConfig{}
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Create the kind cluster (a no-op when it exists) and write its kubeconfig",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := cfg.Validate(); err != nil {
				return bad(err)
			}
			return runUp(cmd.Context(), cfg, realHost(), cmd.OutOrStdout())
		},
	}
	cfg.bind(cmd)
	return cmd
}

func downCmd() *cobra.Command {
	cfg := clusterConfig{}
	cmd := &cobra.Command{
		Use:   "down",
		Short: "Delete the kind cluster and its kubeconfig",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := cfg.Validate(); err != nil {
				return bad(err)
			}
			return runDown(cmd.Context(), cfg, realHost(), cmd.OutOrStdout())
		},
	}
	cfg.bind(cmd)
	return cmd
}

// host is what up and down need of the machine, replaceable in tests.
type host struct {
	lookPath func(file string) (string, error)
	run      func(ctx context.Context, name string, args ...string) ([]byte, error)
	getenv   func(key string) string
}

func realHost() host {
	return host{
		lookPath: exec.LookPath,
		run: func(ctx context.Context, name string, args ...string) ([]byte, error) {
			return exec.CommandContext(ctx, name, args...).CombinedOutput()
		},
		getenv: os.Getenv,
	}
}

// kindProgram finds the kind program. When it is not there and bin is a bare name, Go must
// be: e2e-framework then runs `go install sigs.k8s.io/kind@<kindVersion>` itself. A kind of
// another release is used with a warning. Errors say what to install.
func (h host) kindProgram(ctx context.Context, bin string) (found bool, notes []string, err error) {
	p, lerr := h.lookPath(bin)
	if lerr != nil {
		if strings.ContainsRune(bin, filepath.Separator) {
			return false, nil, fmt.Errorf("kind program %s: %w", bin, lerr)
		}
		if _, gerr := h.lookPath("go"); gerr != nil {
			return false, nil, fmt.Errorf("kind is not on PATH (%v), and there is no Go toolchain to install it with `go install sigs.k8s.io/kind@%s`: install kind %s (https://kind.sigs.k8s.io/docs/user/quick-start/#installation) or pass --kind /path/to/kind", lerr, kindVersion, kindVersion)
		}
		return false, []string{fmt.Sprintf("kind is not on PATH: e2e-framework will `go install sigs.k8s.io/kind@%s` (into $GOBIN or $GOPATH/bin, which must be on PATH)", kindVersion)}, nil
	}
	out, verr := h.run(ctx, p, "version")
	v := kindReportedVersion(string(out))
	switch {
	case verr != nil:
		notes = append(notes, fmt.Sprintf("%s version failed (%v): cannot tell which kind release it is; %s expects %s", p, verr, defaultKindConfig, kindVersion))
	case v != kindVersion:
		notes = append(notes, fmt.Sprintf("%s is kind %s, not %s: the node image in %s is built for kind %s and may not work with this one", p, v, kindVersion, defaultKindConfig, kindVersion))
	}
	return true, notes, nil
}

// kindReportedVersion takes "kind v0.33.0 go1.25.1 linux/amd64" to "v0.33.0".
func kindReportedVersion(out string) string {
	f := strings.Fields(out)
	if len(f) >= 2 && f[0] == "kind" {
		return f[1]
	}
	return strings.TrimSpace(out)
}

// containerEngine checks there is a container engine that answers, the one kind would pick:
// KIND_EXPERIMENTAL_PROVIDER when set, else the first of docker, nerdctl and podman that is
// installed (kind v0.33.0 pkg/cluster/provider.go DetectNodeProvider,
// pkg/internal/runtime/runtime.go). It returns the engine's name.
func (h host) containerEngine(ctx context.Context) (string, error) {
	candidates := []string{"docker", "nerdctl", "podman"}
	if p := h.getenv("KIND_EXPERIMENTAL_PROVIDER"); p != "" {
		candidates = []string{p}
	}
	var engine string
	for _, c := range candidates {
		if _, err := h.lookPath(c); err == nil {
			engine = c
			break
		}
	}
	if engine == "" {
		if len(candidates) == 1 {
			return "", fmt.Errorf("KIND_EXPERIMENTAL_PROVIDER=%s, but %s is not on PATH: kind runs its nodes as containers", candidates[0], candidates[0])
		}
		return "", fmt.Errorf("no container engine: kind runs its nodes as containers and needs docker, nerdctl or podman on PATH, and none is there")
	}
	ctx, cancel := context.WithTimeout(ctx, engineCheckTimeout)
	defer cancel()
	if out, err := h.run(ctx, engine, "info"); err != nil {
		return "", fmt.Errorf("%s is installed but `%s info` failed (is its daemon running, and may this user use it?): %v: %s", engine, engine, err, complaint(string(out)))
	}
	return engine, nil
}

// complaint picks what an engine's failed `info` says is wrong: its lines that mention an
// error or a failure to connect, else its last lines (the client part comes first).
func complaint(out string) string {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var picked []string
	for _, l := range lines {
		low := strings.ToLower(l)
		if strings.Contains(low, "error") || strings.Contains(low, "cannot") || strings.Contains(low, "permission denied") {
			picked = append(picked, strings.TrimSpace(l))
		}
	}
	if len(picked) == 0 {
		if len(lines) > 3 {
			lines = lines[len(lines)-3:]
		}
		picked = lines
	}
	return strings.Join(picked, " | ")
}

// readKindConfig decodes a kind configuration strictly (an unknown or misspelt field is an
// error, as it is for `kind create cluster`).
func readKindConfig(path string) (*kindv1alpha4.Cluster, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("kind configuration: %w", err)
	}
	var c kindv1alpha4.Cluster
	if err := yaml.UnmarshalStrict(raw, &c); err != nil {
		return nil, fmt.Errorf("kind configuration %s: %w", path, err)
	}
	if c.Kind != "Cluster" || c.APIVersion != "kind.x-k8s.io/v1alpha4" {
		return nil, fmt.Errorf("kind configuration %s: kind %q apiVersion %q, want Cluster kind.x-k8s.io/v1alpha4", path, c.Kind, c.APIVersion)
	}
	return &c, nil
}

// unmappedNodePorts returns the node ports that no node of the configuration publishes on
// the same host port (extraPortMappings containerPort = hostPort = the node port, TCP):
// target.yaml reaches each endpoint at 127.0.0.1:<nodePort>.
func unmappedNodePorts(c *kindv1alpha4.Cluster, ports []int32) []int32 {
	var missing []int32
	for _, p := range ports {
		mapped := false
		for _, n := range c.Nodes {
			for _, m := range n.ExtraPortMappings {
				tcp := m.Protocol == "" || m.Protocol == kindv1alpha4.PortMappingProtocolTCP
				if tcp && m.ContainerPort == p && m.HostPort == p {
					mapped = true
				}
			}
		}
		if !mapped {
			missing = append(missing, p)
		}
	}
	return missing
}

// exposureNodePorts are the node ports of the embedded fixtures/kind manifests.
func exposureNodePorts() ([]int32, error) {
	ms, err := loadManifests(fixtures.Kind, manifestRoot)
	if err != nil {
		return nil, fmt.Errorf("fixtures/kind (embedded): %w", err)
	}
	return nodePorts(ms), nil
}

// clusterName is the --name flag, else the configuration's name, else the default.
func clusterName(flag string, c *kindv1alpha4.Cluster) string {
	switch {
	case flag != "":
		return flag
	case c != nil && c.Name != "":
		return c.Name
	}
	return defaultClusterName
}

func runUp(ctx context.Context, cfg clusterConfig, h host, out io.Writer) error {
	kc, err := readKindConfig(cfg.config)
	if err != nil {
		return bad(err)
	}
	name := clusterName(cfg.name, kc)
	ports, err := exposureNodePorts()
	if err != nil {
		return err
	}
	if missing := unmappedNodePorts(kc, ports); len(missing) > 0 {
		fmt.Fprintf(out, "up: warning: %s does not publish node ports %v on the same host ports; fixtures/kind/target.yaml reaches 3scale at 127.0.0.1:<nodePort>, so add to the node an extraPortMappings entry {containerPort: P, hostPort: P} for each\n", cfg.config, missing)
	}
	found, notes, err := h.kindProgram(ctx, cfg.kindBin)
	if err != nil {
		return bad(err)
	}
	for _, n := range notes {
		fmt.Fprintln(out, "up: note:", n)
	}
	engine, err := h.containerEngine(ctx)
	if err != nil {
		return bad(err)
	}
	// An image the engine lacks would send kind to a registry, which an offline machine
	// (the reason for --image) does not have: say so before kind tries.
	if cfg.image != "" {
		if out, err := h.run(ctx, engine, "image", "inspect", cfg.image); err != nil {
			return bad(fmt.Errorf("node image %s is not in %s (%s): build it with `make kind-node-image`, or load it, before up", cfg.image, engine, complaint(string(out))))
		}
	}
	configPath, err := filepath.Abs(cfg.config)
	if err != nil {
		return bad(err)
	}
	kubeconfig, err := filepath.Abs(cfg.kubeconfig)
	if err != nil {
		return bad(err)
	}
	if err := os.MkdirAll(filepath.Dir(kubeconfig), 0o755); err != nil {
		return bad(fmt.Errorf("kubeconfig directory: %w", err))
	}

	bin := cfg.kindBin
	if !found {
		bin = "kind" // e2e-framework installs it under this name
	}
	cluster := e2ekind.NewCluster(name)
	cluster.WithPath(bin)
	cluster.WithVersion(kindVersion)
	pulled := "a few minutes the first time: the node image is pulled"
	if cfg.image != "" {
		cluster.WithOpts(e2ekind.WithImage(cfg.image))
		pulled = "node image " + cfg.image
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.timeout)
	defer cancel()
	fmt.Fprintf(out, "up: creating kind cluster %s from %s with %s (%s)\n", name, cfg.config, engine, pulled)
	// --kubeconfig keeps kind from writing the user's default kubeconfig; --wait lets kind
	// return only once the control plane is ready. An existing cluster is left as it is.
	tmp, err := cluster.Create(ctx, "--config", configPath, "--kubeconfig", kubeconfig, "--wait", "3m")
	if err != nil {
		return err
	}
	// e2e-framework writes `kind get kubeconfig` to a temporary file, for a new cluster and an
	// existing one alike: that is the kubeconfig to keep.
	if err := moveKubeconfig(tmp, kubeconfig); err != nil {
		return err
	}
	fmt.Fprintf(out, "up: cluster %s is up; kubeconfig %s (context kind-%s)\n", name, kubeconfig, name)
	return nil
}

// moveKubeconfig copies the temporary kubeconfig to its place, readable by the user only,
// and removes the temporary file.
func moveKubeconfig(tmp, dst string) error {
	if tmp == "" {
		return errors.New("kind gave no kubeconfig")
	}
	data, err := os.ReadFile(tmp)
	if err != nil {
		return fmt.Errorf("read kind's kubeconfig: %w", err)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return fmt.Errorf("kind's kubeconfig %s is empty", tmp)
	}
	if err := os.WriteFile(dst, data, 0o600); err != nil {
		return fmt.Errorf("write kubeconfig: %w", err)
	}
	_ = os.Remove(tmp)
	return nil
}

func runDown(ctx context.Context, cfg clusterConfig, h host, out io.Writer) error {
	var kc *kindv1alpha4.Cluster
	if cfg.name == "" {
		c, err := readKindConfig(cfg.config)
		if err != nil {
			return bad(fmt.Errorf("%w (or give --name)", err))
		}
		kc = c
	}
	name := clusterName(cfg.name, kc)
	found, notes, err := h.kindProgram(ctx, cfg.kindBin)
	if err != nil {
		return bad(err)
	}
	for _, n := range notes {
		fmt.Fprintln(out, "down: note:", n)
	}
	if _, err := h.containerEngine(ctx); err != nil {
		return bad(err)
	}
	bin := cfg.kindBin
	if !found {
		bin = "kind"
	}
	cluster := e2ekind.NewCluster(name)
	cluster.WithPath(bin)
	cluster.WithVersion(kindVersion)
	ctx, cancel := context.WithTimeout(ctx, cfg.timeout)
	defer cancel()
	fmt.Fprintf(out, "down: deleting kind cluster %s\n", name)
	if err := cluster.Destroy(ctx); err != nil {
		return err
	}
	if cfg.kubeconfig != "" {
		if err := os.Remove(cfg.kubeconfig); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("remove kubeconfig: %w", err)
		}
	}
	fmt.Fprintf(out, "down: cluster %s deleted\n", name)
	return nil
}
