package main

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/spf13/cobra"

	"github.com/threescale-chaos/harness/pkg/catalog"
	"github.com/threescale-chaos/harness/pkg/scenario"
	"github.com/threescale-chaos/harness/pkg/session"
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
		cmd.Flags().StringSliceVar(&c.components, "component", nil, "only the files of these components, or of these scenarios of several components or variants by name (backend, backend-listener-caching-resilient; repeatable); default all scenario files")
	}
}

// open loads the target file and checks that its cluster answers and its namespace has opted
// in (session.Open); every error is bad input.
func (c *common) open(ctx context.Context) (*session.Cluster, error) {
	cl, err := session.Open(ctx, session.OpenOptions{TargetFile: c.target, Kubeconfig: c.kubeconfig, CheckTimeout: c.checkTimeout})
	if err != nil {
		return nil, bad(err)
	}
	return cl, nil
}

// scenarios loads the scenario files, keeping those asked for: a component (by name or
// alias) selects its own file, and the name of a file of several components or of a variant
// (backend for backend.yaml) selects that file.
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
		if slices.ContainsFunc(all, func(sc scenario.Scenario) bool { return (sc.Multi() || sc.Variant()) && sc.Name == name }) {
			want[name] = true
			continue
		}
		comp, err := catalog.Lookup(name)
		if err != nil {
			return nil, bad(err)
		}
		want[comp.Name] = true
	}
	var out []scenario.Scenario
	for _, sc := range all {
		if want[sc.Name] {
			out = append(out, sc)
			delete(want, sc.Name)
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
