package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/threescale-chaos/harness/pkg/twin/deploy"
)

func deployCmd() *cobra.Command {
	var kubeconfig, namespace, dataDir, targetPath string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "deploy",
		Short: "Deploy the 3scale twin into a local cluster and wait until every Deployment is Ready",
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
			if err != nil {
				return fmt.Errorf("kubeconfig %s: %w", kubeconfig, err)
			}
			self, err := os.Executable()
			if err != nil {
				return err
			}
			dataDir, err = filepath.Abs(dataDir)
			if err != nil {
				return err
			}
			v, err := deploy.NewValues(namespace, self, dataDir)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			out := cmd.OutOrStdout()
			last := ""
			err = deploy.Up(ctx, cfg, v, func(ready, total int, waiting []string) {
				line := fmt.Sprintf("%d/%d deployments ready", ready, total)
				if len(waiting) > 0 {
					line += "; waiting for " + strings.Join(waiting, ", ")
				}
				if line != last {
					fmt.Fprintln(out, line)
					last = line
				}
			})
			if err != nil {
				return err
			}
			if targetPath != "" {
				abs, _ := filepath.Abs(kubeconfig)
				if err := deploy.WriteTarget(targetPath, deploy.NewTarget(v, abs)); err != nil {
					return err
				}
				fmt.Fprintf(out, "target file: %s\n", targetPath)
			}
			fmt.Fprintf(out, "3scale twin ready in namespace %s\n", namespace)
			return nil
		},
	}
	cmd.Flags().StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig of the local cluster (required)")
	_ = cmd.MarkFlagRequired("kubeconfig")
	cmd.Flags().StringVar(&namespace, "namespace", "3scale", "namespace to deploy into")
	cmd.Flags().StringVar(&dataDir, "data-dir", ".twin/data", "persistent data of the datastores (hostPath volumes)")
	cmd.Flags().StringVar(&targetPath, "target", "", "write the harness's target file here once the twin is ready")
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Minute, "how long to wait for every Deployment to be Ready")
	return cmd
}
