package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/threescale-chaos/harness/pkg/kube"
)

func restoreCmd() *cobra.Command {
	var c common
	var runID string
	cmd := &cobra.Command{
		Use:   "restore",
		Short: "Put back every component an interrupted run left changed, from the restore ledger in the cluster",
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
			return nil
		},
	}
	c.bind(cmd, false)
	cmd.Flags().StringVar(&runID, "run-id", "", "restore only this run's entries (default: every open entry)")
	return cmd
}
