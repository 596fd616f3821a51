// Command threescale-twin runs the 3scale twin: a local Kubernetes cluster whose node runs
// pods as local processes (`cluster up|down`), and, in later subcommands, the 3scale
// processes themselves.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

func main() {
	root := &cobra.Command{
		Use:           "threescale-twin",
		Short:         "A local Kubernetes cluster and 3scale twin for the chaos harness",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(clusterCmd(), echoCmd(), apicastCmd(), backendListenerCmd(), backendWorkerCmd(), backendCronCmd(), deployCmd(), zyncCmd(), zyncQueCmd(), operatorCmd(), systemAppCmd(), systemSidekiqCmd(), systemSearchdCmd())
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "threescale-twin:", err)
		os.Exit(1)
	}
}
