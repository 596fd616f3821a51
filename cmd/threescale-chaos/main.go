// Command threescale-chaos takes 3scale components to zero one at a time and proves that
// exactly the documented failures happen and that everything recovers:
//
//	threescale-chaos plan    --target FILE [--component NAME]...   what would be done; changes nothing
//	threescale-chaos run     --target FILE [--component NAME]... [--report-dir DIR]
//	threescale-chaos restore --target FILE [--run-id ID]           put back what a killed run left at zero
//	threescale-chaos summary JOURNAL...                            verdicts, onsets, harness CPU and memory
//	threescale-chaos diff    OLD NEW | --last DIR                  what behaves differently in NEW than in OLD
//	threescale-chaos discover --namespace NS [--override FILE] [--output FILE]   write a target file from the cluster
//
// Exit codes: 0 PASS, 1 FAIL, 2 INVALID (the experiment did not happen as planned), 3 bad
// input (an unknown component, a malformed file, an unreachable cluster, a namespace that has
// not opted in, an open ledger). diff's are diff(1)'s: 0 no verdict changed, 1 one did, 2 bad
// input.
package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/threescale-chaos/harness/pkg/report"
	"github.com/threescale-chaos/harness/pkg/threescale"
)

// badInput marks errors that are the user's input, not the run's outcome: exit code 3.
type badInput struct{ err error }

func (b badInput) Error() string { return b.err.Error() }
func (b badInput) Unwrap() error { return b.err }

func bad(err error) error {
	if err == nil {
		return nil
	}
	return badInput{err}
}

// exitCode carries a run's verdict out of cobra.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit %d", int(e)) }

func main() {
	threescale.SilenceRedisClientLog()
	root := &cobra.Command{
		Use:           "threescale-chaos",
		Short:         "Outage experiments for 3scale API Management",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(planCmd(), runCmd(), restoreCmd(), summaryCmd(), diffCmd(), discoverCmd())
	err := root.Execute()
	var code exitCode
	var bi badInput
	switch {
	case err == nil:
		os.Exit(0)
	case errors.As(err, &code):
		os.Exit(int(code))
	case errors.As(err, &bi):
		fmt.Fprintln(os.Stderr, "threescale-chaos: bad input:", err)
		os.Exit(report.ExitBadInput)
	default:
		// Flag errors from cobra are bad input too; anything else is a harness failure,
		// which is not a PASS: report it as INVALID.
		fmt.Fprintln(os.Stderr, "threescale-chaos:", err)
		if isFlagError(err) {
			os.Exit(report.ExitBadInput)
		}
		os.Exit(report.ExitInvalid)
	}
}

func isFlagError(err error) bool {
	msg := err.Error()
	for _, p := range []string{"unknown flag", "unknown command", "required flag", "invalid argument", "flag needs an argument", "unknown shorthand"} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}
