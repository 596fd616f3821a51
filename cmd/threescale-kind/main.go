// Command threescale-kind makes a kind cluster with 3scale 2.16 on it, for the chaos harness:
//
//	threescale-kind up      [--config kind-config.yaml] [--kubeconfig .kind/kubeconfig]   create the cluster
//	threescale-kind install [--kubeconfig .kind/kubeconfig] [--timeout 30m]               apply fixtures/kind, wait for 3scale
//	threescale-kind down    [--config kind-config.yaml] [--kubeconfig .kind/kubeconfig]   delete the cluster
//
// `up` drives kind through sigs.k8s.io/e2e-framework's kind support, which runs the kind
// binary (and, when kind is not on PATH, installs sigs.k8s.io/kind with `go install`).
// `install` server-side applies the manifests embedded from fixtures/kind in file-name
// order, CRDs first, then waits until every 3scale Deployment in the namespace is Available;
// fixtures/kind/target.yaml is the harness's target file for the result.
//
// Exit codes: 0 done, 1 failed (kind failed, an apply was rejected, 3scale did not come up in
// time), 3 bad input (a flag, a missing kind binary or container engine, an unreadable kind
// configuration or kubeconfig).
package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
)

// Exit codes.
const (
	exitFailed   = 1
	exitBadInput = 3
)

// badInput marks errors that are the user's input or machine, not the run's outcome.
type badInput struct{ err error }

func (b badInput) Error() string { return b.err.Error() }
func (b badInput) Unwrap() error { return b.err }

func bad(err error) error {
	if err == nil {
		return nil
	}
	return badInput{err}
}

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "threescale-kind",
		Short:         "A kind cluster with 3scale 2.16 for the chaos harness",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(upCmd(), installCmd(), downCmd())
	return root
}

func main() {
	err := newRoot().Execute()
	code := report(err)
	switch code {
	case 0:
	case exitBadInput:
		fmt.Fprintln(os.Stderr, "threescale-kind: bad input:", err)
	default:
		fmt.Fprintln(os.Stderr, "threescale-kind:", err)
	}
	os.Exit(code)
}

// report returns the exit code for a command's error.
func report(err error) int {
	if err == nil {
		return 0
	}
	var bi badInput
	if errors.As(err, &bi) || isFlagError(err) {
		return exitBadInput
	}
	return exitFailed
}

// isFlagError recognises cobra's own errors for flags and commands.
func isFlagError(err error) bool {
	msg := err.Error()
	for _, p := range []string{"unknown flag", "unknown command", "required flag", "invalid argument", "flag needs an argument", "unknown shorthand", "accepts "} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}
