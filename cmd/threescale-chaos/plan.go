package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"

	"github.com/spf13/cobra"

	"github.com/threescale-chaos/harness/pkg/chaos"
	"github.com/threescale-chaos/harness/pkg/kube"
	"github.com/threescale-chaos/harness/pkg/scenario"
	"github.com/threescale-chaos/harness/pkg/session"
	"github.com/threescale-chaos/harness/pkg/timing"
)

func planCmd() *cobra.Command {
	var c common
	var force bool
	var timeouts map[string]string
	cmd := &cobra.Command{
		Use:   "plan",
		Short: "Show what each scenario would scale, how, and every expectation; changes nothing",
		RunE: func(cmd *cobra.Command, _ []string) error {
			flags, err := timing.Parse(timeouts)
			if err != nil {
				return bad(fmt.Errorf("--timeout: %w", err))
			}
			scs, err := c.scenarios()
			if err != nil {
				return err
			}
			s, err := c.open(cmd.Context())
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			routesOnce := sync.OnceValue(func() *bool { return routesServed(s.Kube.Kube.Discovery()) })
			fmt.Fprintf(out, "target %s: namespace %s, 3scale %s\n\n", c.target, s.Namespace, s.Target.Version)
			for _, sc := range scs {
				// Each component as the run would take it down, with its own method.
				var plans []kube.Plan
				var unresolved []string
				for _, comp := range sc.Components {
					t, err := kube.Resolve(cmd.Context(), s.Kube, comp, s.Namespace, s.Version)
					switch {
					case err != nil && sc.Multi():
						unresolved = append(unresolved, fmt.Sprintf("%s: %v", comp.Name, err))
					case err != nil:
						unresolved = append(unresolved, err.Error())
					default:
						plans = append(plans, kube.NewPlan(t, kube.PlanOptions{ForceScaleSubresource: force}))
					}
				}
				if len(unresolved) > 0 {
					fmt.Fprintf(out, "== %s: cannot be resolved: %s\n\n", sc.Name, strings.Join(unresolved, "; "))
					continue
				}
				var obs scenario.Observation
				if !slices.ContainsFunc(plans, func(p kube.Plan) bool { return p.Invalid != "" }) {
					obs = chaos.Observation(cmd.Context(), s.Kube, s.Namespace, s.Version, sc)
				}
				var notes []string
				if zyncScenario(sc) {
					notes = zyncNotes(routesOnce())
				}
				printPlan(out, sc, plans, obs, session.ScenarioTimeouts(s.Target, sc, flags), notes...)
			}
			return nil
		},
	}
	c.bind(cmd, true)
	cmd.Flags().BoolVar(&force, "force-scale-subresource", false, "plan as run would with this flag")
	cmd.Flags().StringToStringVar(&timeouts, "timeout", nil, "plan as run would with these timeouts, NAME=DURATION, repeatable")
	return cmd
}

// printPlan shows a scenario's plan: one per component, in the file's order. obs is the
// observation the run would choose; for a plan that is INVALID by design there is none,
// and the file's observe is shown. notes are shown before the cells.
func printPlan(w io.Writer, sc scenario.Scenario, plans []kube.Plan, obs scenario.Observation, tm timing.Timeouts, notes ...string) {
	fmt.Fprintf(w, "== %s (%s)\n", sc.Name, sc.Path)
	if sc.Multi() {
		fmt.Fprintf(w, "   %d components down together: all recorded in the ledger first, then taken down, then restored together\n", len(sc.Components))
	}
	if sc.Variant() {
		fmt.Fprintf(w, "   variant: the run's product runs %s from before the steady state (set through the policies API, promoted to production), put back after the scenario\n", sc.Product)
	}
	for _, p := range plans {
		for _, line := range strings.Split(strings.TrimSpace(p.String()), "\n") {
			fmt.Fprintf(w, "   %s\n", line)
		}
	}
	if obs.Planned == 0 {
		obs = scenario.Observation{Planned: sc.Timing.Observe, Effective: sc.Timing.Observe}
	}
	fmt.Fprintf(w, "   %s\n", obs)
	for _, u := range obs.Unread {
		fmt.Fprintf(w, "   period not read, the operator's default is used: %s\n", u)
	}
	fmt.Fprintf(w, "   recovery budget %s\n", sc.Timing.RecoveryBudget)
	var bounds []string
	for _, n := range timing.Names() {
		if !timing.RunScoped[timing.Name(n)] {
			bounds = append(bounds, fmt.Sprintf("%s %s", n, tm.Get(timing.Name(n))))
		}
	}
	fmt.Fprintf(w, "   timeouts: %s\n", strings.Join(bounds, ", "))
	for _, n := range notes {
		fmt.Fprintf(w, "   %s\n", n)
	}
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
		if e.Spans != "" {
			line += " spans " + e.Spans
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
