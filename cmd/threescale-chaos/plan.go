package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/threescale-chaos/harness/pkg/kube"
	"github.com/threescale-chaos/harness/pkg/scenario"
)

func planCmd() *cobra.Command {
	var c common
	var force bool
	cmd := &cobra.Command{
		Use:   "plan",
		Short: "Show what each scenario would scale, how, and every expectation; changes nothing",
		RunE: func(cmd *cobra.Command, _ []string) error {
			scs, err := c.scenarios()
			if err != nil {
				return err
			}
			s, err := c.open(cmd.Context())
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "target %s: namespace %s, 3scale %s\n\n", c.target, s.ns, s.target.Version)
			for _, sc := range scs {
				t, err := kube.Resolve(cmd.Context(), s.kube, sc.Component, s.ns, s.ver)
				if err != nil {
					fmt.Fprintf(out, "== %s: cannot be resolved: %v\n\n", sc.Component.Name, err)
					continue
				}
				printPlan(out, sc, kube.NewPlan(t, kube.PlanOptions{ForceScaleSubresource: force}))
			}
			return nil
		},
	}
	c.bind(cmd, true)
	cmd.Flags().BoolVar(&force, "force-scale-subresource", false, "plan as run would with this flag")
	return cmd
}

func printPlan(w io.Writer, sc scenario.Scenario, p kube.Plan) {
	fmt.Fprintf(w, "== %s (%s)\n", sc.Component.Name, sc.Path)
	for _, line := range strings.Split(strings.TrimSpace(p.String()), "\n") {
		fmt.Fprintf(w, "   %s\n", line)
	}
	fmt.Fprintf(w, "   observe %s, recovery budget %s\n", sc.Timing.Observe, sc.Timing.RecoveryBudget)
	for _, e := range sc.Cells() {
		line := fmt.Sprintf("   %-26s %-10s", e.Capability, e.Expect)
		if e.OnsetGrace > 0 {
			line += fmt.Sprintf(" grace %s", e.OnsetGrace)
		}
		if e.OnsetPasses > 0 {
			line += fmt.Sprintf(" passes %d", e.OnsetPasses)
		}
		if e.RecoveryBudget != sc.Timing.RecoveryBudget {
			line += fmt.Sprintf(" recovery %s", e.RecoveryBudget)
		}
		if e.Expect == scenario.Unasserted && e.Reason != "" {
			line += " (" + e.Reason + ")"
		}
		fmt.Fprintln(w, strings.TrimRight(line, " "))
	}
	for _, g := range sc.DocGaps {
		fmt.Fprintf(w, "   doc gap %s: %s [%s]\n", g.Capability, g.Observed, g.Citation)
	}
	fmt.Fprintln(w)
}
