package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/threescale-chaos/harness/pkg/kube"
	"github.com/threescale-chaos/harness/pkg/session"
	"github.com/threescale-chaos/harness/pkg/threescale"
	"github.com/threescale-chaos/harness/pkg/threescale/fixture"
)

func restoreCmd() *cobra.Command {
	var c common
	var runID string
	var keepObjects bool
	cmd := &cobra.Command{
		Use:   "restore",
		Short: "Put back every component an interrupted run left changed, from the restore ledger in the cluster, and remove the 3scale objects killed runs left in the tenant",
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runID != "" {
				if err := kube.ValidateRunID(runID); err != nil {
					return bad(err)
				}
			}
			s, err := c.open(cmd.Context())
			if err != nil {
				return err
			}
			restored, err := kube.RestoreAll(cmd.Context(), s.Kube, s.Namespace, runID, kube.Options{})
			out := cmd.OutOrStdout()
			for _, e := range restored {
				fmt.Fprintf(out, "restored %s\n", e)
			}
			if err != nil {
				return fmt.Errorf("restore: %w", err)
			}
			if len(restored) == 0 {
				fmt.Fprintln(out, "nothing to restore: no open ledger entry")
			}
			if keepObjects {
				return nil
			}
			return removeLeftovers(cmd.Context(), out, s, runID)
		},
	}
	c.bind(cmd, false)
	cmd.Flags().StringVar(&runID, "run-id", "", "restore only this run's entries and objects (default: every open entry, every run's objects)")
	cmd.Flags().BoolVar(&keepObjects, "keep-objects", false, "leave the 3scale objects of killed runs in the tenant")
	return cmd
}

// removeLeftovers deletes the 3scale objects that runs which could not clean up (SIGKILL, a
// crash) left in the tenant: all of them, or only runID's. Like restore itself, it is for
// when no run is going.
func removeLeftovers(ctx context.Context, out io.Writer, s *session.Cluster, runID string) error {
	env, err := threescale.Connect(ctx, s.Target, s.REST)
	if err != nil {
		return fmt.Errorf("connect to 3scale to remove the objects of killed runs (--keep-objects skips this): %w", err)
	}
	defer env.Close()
	found, err := fixture.FindLeftovers(ctx, env.Admin)
	if err != nil {
		return fmt.Errorf("list the objects of killed runs: %w", err)
	}
	var errs []error
	removed := 0
	for _, l := range found {
		if runID != "" && l.Token != fixture.RunToken(runID) {
			continue
		}
		if err := l.Delete(ctx, env); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", l, err))
			continue
		}
		removed++
		fmt.Fprintf(out, "removed the 3scale objects of %s\n", l)
	}
	if removed == 0 && len(errs) == 0 {
		fmt.Fprintln(out, "no 3scale objects left by a run")
	}
	return errors.Join(errs...)
}
