package main

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/threescale-chaos/harness/pkg/kube"
	"github.com/threescale-chaos/harness/pkg/probe"
	"github.com/threescale-chaos/harness/pkg/report"
	"github.com/threescale-chaos/harness/pkg/session"
	"github.com/threescale-chaos/harness/pkg/threescale/samplers"
	"github.com/threescale-chaos/harness/pkg/timing"
)

type runFlags struct {
	common
	reportDir      string
	restoreFirst   bool
	force          bool
	sampleInterval time.Duration
	stallThreshold time.Duration
	steadyTimeout  time.Duration
	timeouts       map[string]string
	writeInterval  time.Duration
	reloadProd     bool
}

func runCmd() *cobra.Command {
	var f runFlags
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run the outage scenarios and write the journal (JSON) and report (HTML)",
		RunE: func(cmd *cobra.Command, _ []string) error {
			return f.run(cmd)
		},
	}
	f.bind(cmd, true)
	cmd.Flags().StringVar(&f.reportDir, "report-dir", "", "where the journal and report go (default reports/<run-id>); its history/ keeps the last 20 runs' journals for threescale-chaos diff --last")
	cmd.Flags().BoolVar(&f.restoreFirst, "restore-first", false, "restore what an interrupted run left open, and remove the 3scale objects killed runs left, before starting")
	cmd.Flags().BoolVar(&f.force, "force-scale-subresource", false, "scale the workload even where the APIManager owns its replicas (the operator reverts it: the run is INVALID)")
	cmd.Flags().DurationVar(&f.sampleInterval, "sample-interval", time.Second, "how often each capability is sampled")
	cmd.Flags().DurationVar(&f.stallThreshold, "stall-threshold", probe.DefaultStallThreshold, "failures under way while the harness's clock woke this late, or the API server's /readyz took this long or did not answer, are not judged (a stall of the test bed); negative judges every failure")
	cmd.Flags().DurationVar(&f.steadyTimeout, "steady-timeout", timing.Timeouts{}.Get(timing.Steady), "how long every capability may take to be healthy before a fault (the same as --timeout steady=)")
	cmd.Flags().StringToStringVar(&f.timeouts, "timeout", nil,
		"override one of the run's waits, NAME=DURATION, repeatable; over the target file's timeouts. Names: "+strings.Join(timing.Names(), ", ")+" (README: Timeouts)")
	cmd.Flags().DurationVar(&f.writeInterval, "write-interval", samplers.DefaultWriteInterval,
		"the least time between two samples of a capability that writes to 3scale (admin-api-write, search-indexing, mail-queue, zync-sync, alerts, integration-errors): a bound on the run's write rate")
	cmd.Flags().BoolVar(&f.reloadProd, "reload-production-gateway", false,
		"after promoting the run's product, restart apicast-production (as `kubectl rollout restart`, the way 3scale's QE suite does) instead of waiting up to one configuration refresh (APICAST_CONFIGURATION_CACHE, 300 s by the operator)")
	return cmd
}

func (f *runFlags) run(cmd *cobra.Command) error {
	out := cmd.OutOrStdout()
	if f.writeInterval < time.Second {
		return bad(fmt.Errorf("--write-interval %s: want at least 1s (it bounds how often the run writes to 3scale)", f.writeInterval))
	}
	if f.stallThreshold == 0 {
		return bad(errors.New("--stall-threshold 0: want a positive duration, or a negative one to judge every failure"))
	}
	overrides, err := timing.Parse(f.timeouts)
	if err != nil {
		return bad(fmt.Errorf("--timeout: %w", err))
	}
	if cmd.Flags().Changed("steady-timeout") {
		if f.steadyTimeout <= 0 {
			return bad(fmt.Errorf("--steady-timeout %s: want a positive duration", f.steadyTimeout))
		}
		overrides[timing.Steady] = f.steadyTimeout
	}
	scs, err := f.scenarios()
	if err != nil {
		return err
	}
	// SIGINT and SIGTERM end the run; whatever is at zero is restored before exit. A second
	// signal does not skip the restore: the ledger makes `restore` the way out of a SIGKILL.
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cl, err := f.open(ctx)
	if err != nil {
		return err
	}
	if f.restoreFirst {
		restored, rerr := kube.RestoreAll(ctx, cl.Kube, cl.Namespace, "", kube.Options{})
		for _, e := range restored {
			fmt.Fprintf(out, "restored %s\n", e)
		}
		if rerr != nil {
			return fmt.Errorf("restore first: %w", rerr)
		}
		if err := removeLeftovers(ctx, out, cl, ""); err != nil {
			return fmt.Errorf("restore first: %w", err)
		}
	}

	var mu sync.Mutex
	logf := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(out, format+"\n", args...)
	}
	fmt.Fprintf(out, "%d scenario(s) against namespace %s\n", len(scs), cl.Namespace)
	run, err := session.Start(ctx, cl, session.Options{
		ReportDir: f.reportDir, SampleInterval: f.sampleInterval, StallThreshold: f.stallThreshold, Timeouts: overrides,
		WriteInterval: f.writeInterval, ForceScaleSubresource: f.force, ReloadProduction: f.reloadProd,
		Logf: logf,
	})
	if err != nil {
		var open *kube.OpenLedgerError
		if errors.As(err, &open) {
			return bad(fmt.Errorf("%w (run `threescale-chaos restore --target %s`, or pass --restore-first)", err, f.target))
		}
		var in *session.InputError
		if errors.As(err, &in) {
			return bad(err)
		}
		return err
	}
	for _, sc := range scs {
		if ctx.Err() != nil {
			break
		}
		fmt.Fprintf(out, "== %s\n", sc.Name)
		res, _ := run.Scenario(ctx, sc, session.Hooks{Logf: func(format string, args ...any) { logf("   "+format, args...) }})
		fmt.Fprintf(out, "   %s: %s\n", res.Verdict, res.Reason)
	}
	result, ferr := run.Finish(ctx)
	var left *session.UnclearedTenantError
	if ferr != nil && !errors.As(ferr, &left) {
		return ferr
	}
	j := result.Journal
	fmt.Fprintf(out, "%s: %s\njournal %s\nreport  %s\n", j.Verdict, j.Reason, result.JSONPath, result.HTMLPath)
	if ctx.Err() != nil {
		fmt.Fprintln(out, "interrupted: every component touched was restored")
		return exitCode(report.ExitInvalid)
	}
	if code := report.ExitCode(j.Verdict); code != 0 {
		return exitCode(code)
	}
	return nil
}
