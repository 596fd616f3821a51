package main

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/rest"

	"github.com/threescale-chaos/harness/pkg/catalog"
	"github.com/threescale-chaos/harness/pkg/kube"
	"github.com/threescale-chaos/harness/pkg/scenario"
	"github.com/threescale-chaos/harness/pkg/threescale"
)

// common are the flags every command takes.
type common struct {
	target       string
	kubeconfig   string
	scenarioDir  string
	components   []string
	checkTimeout time.Duration
}

func (c *common) bind(cmd *cobra.Command, withScenarios bool) {
	cmd.Flags().StringVar(&c.target, "target", "", "target file: how to reach the 3scale install (required)")
	_ = cmd.MarkFlagRequired("target")
	cmd.Flags().StringVar(&c.kubeconfig, "kubeconfig", "", "kubeconfig (default: the target file's, then KUBECONFIG)")
	cmd.Flags().DurationVar(&c.checkTimeout, "check-timeout", 10*time.Second, "how long to wait for the cluster to answer before giving up")
	if withScenarios {
		cmd.Flags().StringVar(&c.scenarioDir, "scenarios", "scenarios", "directory of scenario files")
		cmd.Flags().StringSliceVar(&c.components, "component", nil, "only these components (repeatable); default all scenario files")
	}
}

// session is what every command starts from: the target, a cluster that answers, and a
// namespace that has opted in.
type session struct {
	target *threescale.Target
	rest   *rest.Config
	kube   *kube.Client
	ns     string
	ver    catalog.Version
}

func (c *common) open(ctx context.Context) (*session, error) {
	t, err := threescale.LoadTarget(c.target)
	if err != nil {
		return nil, bad(err)
	}
	kc := c.kubeconfig
	if kc == "" {
		kc = t.Kubeconfig
		if kc != "" && !filepath.IsAbs(kc) {
			kc = filepath.Join(filepath.Dir(c.target), kc)
		}
	}
	rc, err := kube.LoadRESTConfig(kc)
	if err != nil {
		return nil, bad(fmt.Errorf("kubeconfig: %w", err))
	}
	client, err := kube.NewClient(rc)
	if err != nil {
		return nil, bad(err)
	}
	var ver catalog.Version
	if t.Version != "" {
		if ver, err = catalog.ParseVersion(t.Version); err != nil {
			return nil, bad(fmt.Errorf("%s: version: %w", c.target, err))
		}
	}
	cctx, cancel := context.WithTimeout(ctx, c.checkTimeout)
	defer cancel()
	if err := kube.CheckNamespace(cctx, client, t.Namespace); err != nil {
		return nil, bad(err)
	}
	return &session{target: t, rest: rc, kube: client, ns: t.Namespace, ver: ver}, nil
}

// scenarios loads the scenario files, keeping the components asked for (by name or alias).
func (c *common) scenarios() ([]scenario.Scenario, error) {
	all, err := scenario.LoadDir(c.scenarioDir)
	if err != nil {
		return nil, bad(err)
	}
	if len(c.components) == 0 {
		return all, nil
	}
	want := map[string]bool{}
	for _, name := range c.components {
		comp, err := catalog.Lookup(name)
		if err != nil {
			return nil, bad(err)
		}
		want[comp.Name] = true
	}
	var out []scenario.Scenario
	for _, sc := range all {
		if want[sc.Component.Name] {
			out = append(out, sc)
			delete(want, sc.Component.Name)
		}
	}
	if len(want) > 0 {
		var missing []string
		for n := range want {
			missing = append(missing, n)
		}
		sort.Strings(missing)
		return nil, bad(fmt.Errorf("no scenario file in %s for %v", c.scenarioDir, missing))
	}
	return out, nil
}
