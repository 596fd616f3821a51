package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/threescale-chaos/harness/pkg/report"
)

func summaryCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "summary JOURNAL...",
		Short: "Condense journals (journal.json files or the report directories holding them): verdicts, fault-held windows, time to fail per lost capability, the harness's CPU and memory",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var js []*report.Journal
			for _, a := range args {
				j, err := readJournal(a)
				if err != nil {
					return bad(fmt.Errorf("%s: %w", a, err))
				}
				js = append(js, j)
			}
			return report.Summarize(js...).WriteText(cmd.OutOrStdout())
		},
	}
}

// readJournal takes a journal file or the report directory it is in.
func readJournal(path string) (*report.Journal, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if fi.IsDir() {
		return report.ReadJSON(path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return report.Decode(f)
}
