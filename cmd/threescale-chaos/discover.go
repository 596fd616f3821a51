package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/yaml"

	"github.com/threescale-chaos/harness/pkg/kube"
	"github.com/threescale-chaos/harness/pkg/threescale/target"
)

// discoverFlags are the discover command's inputs. The override file is the one place
// for anything discovery cannot know or gets wrong; --version and --upstream are
// shortcuts for its two most common fields.
type discoverFlags struct {
	namespace, kubeconfig, context string
	override, output               string
	version, upstream              string
	nodeAddress                    string
	timeout                        time.Duration
}

func discoverCmd() *cobra.Command {
	var f discoverFlags
	cmd := &cobra.Command{
		Use:   "discover",
		Short: "Write a target file from what the cluster shows (APIManager, Secrets, Routes, Ingresses, Services); changes nothing",
		Long: `discover reads the 3scale install in --namespace and writes a target file: the
wildcard domain and tenant from the APIManager and Secret system-seed, each endpoint from
the Route or Ingress for its host (or, failing that, a NodePort Service in front of its
pods, or else the in-cluster Service, with a Host header), the Secrets holding the tokens
and store URLs, and the version. How each field was found is printed to stderr and kept as
comments in the file.

A Route counts only once a router has admitted it (status.ingress with Admitted=True, the
operator's own test): the operator creates Route backend on any cluster that serves the
Route API, a kind cluster with the stand-in CRD included, where nothing serves it.

NodePort Services (fixtures/kind/60-exposure.yaml) are used when no admitted Route and no
Ingress serves an endpoint and the address at which this machine reaches the nodes is
known: --node-address gives it; without it, a kind cluster is recognised by its Nodes'
providerID (kind://...) and its node ports are taken to be published on 127.0.0.1 at the
same port, as the project's kind-config.yaml does with extraPortMappings. On any other
cluster, without --node-address, NodePort Services are named in the notes and not used.
Recognising kind needs list on Nodes; without it, pass --node-address.

--override names a partial target file (same schema, unknown fields rejected) whose fields
replace what was discovered; its wildcardDomain and operator.apiManager also guide the
discovery. The result must validate, or nothing is written and the missing fields are
listed (exit 3).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return f.run(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.namespace, "namespace", "", "namespace 3scale is installed in (required)")
	_ = cmd.MarkFlagRequired("namespace")
	fl.StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig (default: KUBECONFIG, then ~/.kube/config)")
	fl.StringVar(&f.context, "context", "", "kubeconfig context (default: the current one)")
	fl.StringVar(&f.override, "override", "", "partial target file whose fields replace the discovered ones")
	fl.StringVar(&f.output, "output", "", "where to write the target file (default stdout)")
	fl.StringVar(&f.version, "version", "", "3scale version, e.g. 2.16 (default: detected)")
	fl.StringVar(&f.upstream, "upstream", "", "URL of the echo API the harness's product proxies to (cannot be discovered)")
	fl.StringVar(&f.nodeAddress, "node-address", "", "host or IP at which this machine reaches the nodes' ports, to use NodePort Services (default: 127.0.0.1 on a kind cluster, else NodePorts are not used)")
	fl.DurationVar(&f.timeout, "timeout", time.Minute, "how long discovery may take before giving up")
	return cmd
}

func (f *discoverFlags) run(ctx context.Context, stdout, stderr io.Writer) error {
	// The override is read first: a malformed one is a mistake to report before talking
	// to any cluster, and its wildcardDomain, operator.apiManager, version and upstream
	// are what discovery should work from.
	var ov *target.Override
	if f.override != "" {
		var err error
		if ov, err = target.LoadOverride(f.override); err != nil {
			return bad(err)
		}
		if ov.Target.Namespace != "" && ov.Target.Namespace != f.namespace {
			return bad(fmt.Errorf("override file %s: namespace %q differs from --namespace %q", f.override, ov.Target.Namespace, f.namespace))
		}
	}
	rc, err := loadRESTConfig(f.kubeconfig, f.context)
	if err != nil {
		return bad(fmt.Errorf("kubeconfig: %w", err))
	}
	if f.nodeAddress != "" && (strings.ContainsAny(f.nodeAddress, "/:?#@ ") && net.ParseIP(f.nodeAddress) == nil) {
		return bad(fmt.Errorf("--node-address %q: want a host name or an IP address, without scheme or port", f.nodeAddress))
	}
	opts := target.DiscoverOptions{Version: f.version, Upstream: f.upstream, NodeAddress: f.nodeAddress}
	if f.kubeconfig != "" && f.context == "" {
		// Recorded so that later commands reach the same cluster. With --context it is
		// not: the target file has no context field, and the file's current context may
		// be another cluster.
		if opts.Kubeconfig, err = filepath.Abs(f.kubeconfig); err != nil {
			return bad(err)
		}
	}
	if ov != nil {
		opts.WildcardDomain = ov.Target.WildcardDomain
		if ov.Target.Operator != nil {
			opts.APIManager = ov.Target.Operator.APIManager
		}
		if opts.Version == "" {
			opts.Version = ov.Target.Version
		}
		if opts.Upstream == "" {
			opts.Upstream = ov.Target.Upstream.URL
		}
	}

	dctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	t, notes, err := target.Discover(dctx, rc, f.namespace, opts)
	if f.context != "" {
		notes = append(notes, "kubeconfig: left empty although --context was given; the target file cannot name a context, so later commands use the current one unless given --kubeconfig")
	}
	if ov != nil {
		for _, field := range ov.Fields() {
			notes = append(notes, field+": from override "+f.override)
		}
	}
	for _, n := range notes {
		fmt.Fprintln(stderr, "discover:", n)
	}
	if err != nil {
		return bad(err)
	}
	if ov != nil {
		t, err = ov.Apply(t)
	} else {
		t, err = target.Merge(t, "")
	}
	if err != nil {
		return bad(fmt.Errorf("%w\n(set the missing fields in a partial target file and pass it with --override)", err))
	}

	b, err := yaml.Marshal(t)
	if err != nil {
		return err
	}
	var out strings.Builder
	fmt.Fprintf(&out, "# Target file written by `threescale-chaos discover` from namespace %s on %s.\n", f.namespace, rc.Host)
	out.WriteString("# Tokens are read from the named Secrets; none is stored here. How each field was found:\n")
	for _, n := range notes {
		fmt.Fprintf(&out, "#   %s\n", n)
	}
	out.Write(b)
	if f.output == "" {
		_, err := io.WriteString(stdout, out.String())
		return err
	}
	if err := os.WriteFile(f.output, []byte(out.String()), 0o644); err != nil {
		return bad(fmt.Errorf("write target file: %w", err))
	}
	fmt.Fprintln(stderr, "discover: wrote", f.output)
	return nil
}

// loadRESTConfig is kube.LoadRESTConfig with a context other than the current one.
func loadRESTConfig(path, context string) (*rest.Config, error) {
	if context == "" {
		return kube.LoadRESTConfig(path)
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if path != "" {
		rules.ExplicitPath = path
	}
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: context}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("load kubeconfig %q context %q: %w", path, context, err)
	}
	return cfg, nil
}
