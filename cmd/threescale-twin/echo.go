package main

import (
	"context"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/threescale-chaos/harness/pkg/twin/echo"
)

func echoCmd() *cobra.Command {
	var cfg echo.Config
	cmd := &cobra.Command{
		Use:   "echo",
		Short: "Run the echo upstream API (answers every request with a JSON description of it)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
			defer stop()
			return echo.Serve(ctx, cfg)
		},
	}
	cmd.Flags().StringVar(&cfg.Addr, "listen", "127.0.0.1:8080", "address to listen on (SO_REUSEPORT: replicas may share it)")
	cmd.Flags().StringVar(&cfg.ReadyFile, "ready-file", "", "when set, /ready answers 200 only while this file exists")
	cmd.Flags().StringVar(&cfg.Name, "name", "", "name reported in answers")
	return cmd
}
