package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/threescale-chaos/harness/pkg/catalog"
	"github.com/threescale-chaos/harness/pkg/chaos"
	"github.com/threescale-chaos/harness/pkg/kube"
	"github.com/threescale-chaos/harness/pkg/report"
	"github.com/threescale-chaos/harness/pkg/scenario"
	"github.com/threescale-chaos/harness/pkg/threescale"
)

type runFlags struct {
	common
	reportDir      string
	restoreFirst   bool
	force          bool
	sampleInterval time.Duration
	steadyTimeout  time.Duration
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
	cmd.Flags().StringVar(&f.reportDir, "report-dir", "", "where the journal and report go (default reports/<run-id>)")
	cmd.Flags().BoolVar(&f.restoreFirst, "restore-first", false, "restore what an interrupted run left open before starting")
	cmd.Flags().BoolVar(&f.force, "force-scale-subresource", false, "scale the workload even where the APIManager owns its replicas (the operator reverts it: the run is INVALID)")
	cmd.Flags().DurationVar(&f.sampleInterval, "sample-interval", time.Second, "how often each capability is sampled")
	cmd.Flags().DurationVar(&f.steadyTimeout, "steady-timeout", 2*time.Minute, "how long every capability may take to be healthy before a fault")
	cmd.Flags().DurationVar(&f.writeInterval, "write-interval", threescale.DefaultWriteInterval,
		"the least time between two samples of a capability that writes to 3scale (admin-api-write, search-indexing, zync-sync, alerts): a bound on the run's write rate")
	cmd.Flags().BoolVar(&f.reloadProd, "reload-production-gateway", false,
		"after promoting the run's product, restart apicast-production (as `kubectl rollout restart`, the way 3scale's QE suite does) instead of waiting up to one configuration refresh (APICAST_CONFIGURATION_CACHE, 300 s by the operator)")
	return cmd
}

func (f *runFlags) run(cmd *cobra.Command) error {
	out := cmd.OutOrStdout()
	if f.writeInterval < time.Second {
		return bad(fmt.Errorf("--write-interval %s: want at least 1s (it bounds how often the run writes to 3scale)", f.writeInterval))
	}
	scs, err := f.scenarios()
	if err != nil {
		return err
	}
	// SIGINT and SIGTERM end the run; whatever is at zero is restored before exit. A second
	// signal does not skip the restore: the ledger makes `restore` the way out of a SIGKILL.
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	s, err := f.open(ctx)
	if err != nil {
		return err
	}
	if err := kube.CheckOpenLedger(ctx, s.kube, s.ns); err != nil {
		var open *kube.OpenLedgerError
		if !errors.As(err, &open) || !f.restoreFirst {
			return bad(fmt.Errorf("%w (run `threescale-chaos restore --target %s`, or pass --restore-first)", err, f.target))
		}
		restored, rerr := kube.RestoreAll(ctx, s.kube, s.ns, "", kube.Options{})
		for _, e := range restored {
			fmt.Fprintf(out, "restored %s\n", e)
		}
		if rerr != nil {
			return fmt.Errorf("restore first: %w", rerr)
		}
	}

	runID := kube.NewRunID(time.Now())
	reportDir := f.reportDir
	if reportDir == "" {
		reportDir = filepath.Join("reports", runID)
	}
	if err := os.MkdirAll(reportDir, 0o755); err != nil {
		return bad(fmt.Errorf("report dir: %w", err))
	}
	journal := report.New(runID, time.Now(), journalTarget(f.target, s.target))
	usage := report.MarkUsage()

	env, err := threescale.Connect(ctx, s.target, s.rest)
	if err != nil {
		return bad(fmt.Errorf("connect to 3scale: %w", err))
	}
	defer env.Close()
	journal.AddSecrets(env.Secrets()...)
	before, err := threescale.TakeInventory(ctx, env)
	if err != nil {
		return fmt.Errorf("count the tenant's objects before the run: %w", err)
	}
	journal.Tenant = &report.Tenant{Before: before.Counts()}
	fmt.Fprintf(out, "run %s: %d scenario(s) against namespace %s; the tenant holds %s; provisioning the harness's own 3scale objects\n", runID, len(scs), s.ns, before.Counts())
	popts := threescale.ProvisionOptions{}
	if f.reloadProd {
		popts.ReloadProduction = func(ctx context.Context) error {
			fmt.Fprintf(out, "restarting %s so that it loads the run's product\n", threescale.ProductionGateway)
			return threescale.RestartDeployment(ctx, env, threescale.ProductionGateway, 5*time.Minute)
		}
	} else {
		r := kube.ReadPeriod(ctx, s.kube, s.ns, s.ver, catalog.ProductionConfigRefresh)
		popts.ProductionRefresh = r.Interval
		how := fmt.Sprintf("every %s (%s)", r.Interval, r.Source)
		if r.Unread != "" {
			how = fmt.Sprintf("every %s, the operator's default: its setting could not be read (%s)", r.Interval, r.Unread)
		}
		fmt.Fprintf(out, "waiting for %s to load the run's product at its next configuration refresh, %s; --reload-production-gateway restarts it instead\n",
			threescale.ProductionGateway, how)
	}
	fixture, perr := threescale.ProvisionWith(ctx, env, runID, popts)
	// Whatever happens from here, the run's objects are removed and the tenant counted
	// again before the journal is written.
	cleanup := func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Minute)
		defer cancel()
		t := fixture.Cleanup(dctx, env, before)
		journal.Tenant = &t
		if t.LeftBehind != "" {
			fmt.Fprintf(out, "warning: the run left in the tenant: %s\n", t.LeftBehind)
		}
		if t.Error != "" {
			fmt.Fprintf(out, "warning: cleaning up the run's 3scale objects: %s\n", t.Error)
		}
		if t.Clean() {
			fmt.Fprintf(out, "the run's 3scale objects are removed; the tenant holds %s\n", t.After)
		}
	}
	if perr != nil {
		cleanup()
		return fmt.Errorf("provision: %w", perr)
	}
	samplers := threescale.Samplers(env, fixture, threescale.SamplerOptions{WriteInterval: f.writeInterval})
	work := map[scenario.Capability]chaos.WorkProbe{}
	for c, w := range threescale.WorkProbes(env, fixture) {
		work[c] = w
	}

	var mu sync.Mutex
	for _, sc := range scs {
		if ctx.Err() != nil {
			break
		}
		fmt.Fprintf(out, "== %s\n", sc.Component.Name)
		res, err := chaos.Run(ctx, chaos.Input{
			Scenario: sc, Kube: s.kube, Namespace: s.ns, Version: s.ver, RunID: runID,
			Samplers: samplers, Work: work,
			Options: chaos.Options{SampleInterval: f.sampleInterval, SteadyTimeout: f.steadyTimeout, Plan: kube.PlanOptions{ForceScaleSubresource: f.force}},
			Logf: func(format string, args ...any) {
				mu.Lock()
				defer mu.Unlock()
				fmt.Fprintf(out, "   "+format+"\n", args...)
			},
		})
		if err != nil {
			if res.Invalid == "" {
				res.Invalid = "the run could not complete: " + err.Error()
			}
			res.Conclude()
		}
		if res.Verdict != scenario.Pass {
			if files, derr := chaos.Diagnose(context.WithoutCancel(ctx), s.kube, s.ns, reportDir, sc.Component.Name); derr == nil {
				res.Diagnostics = files
			}
		}
		journal.Scenarios = append(journal.Scenarios, res)
		fmt.Fprintf(out, "   %s: %s\n", res.Verdict, res.Reason)
	}
	cleanup()
	journal.FinishedAt = time.Now()
	u := usage.Since()
	journal.Usage = &u
	journal.Conclude()
	jpath, jerr := journal.WriteJSON(reportDir)
	hpath, herr := journal.WriteHTML(reportDir)
	if err := errors.Join(jerr, herr); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	fmt.Fprintf(out, "%s: %s\njournal %s\nreport  %s\n", journal.Verdict, journal.Reason, jpath, hpath)
	if ctx.Err() != nil {
		fmt.Fprintln(out, "interrupted: every component touched was restored")
		return exitCode(report.ExitInvalid)
	}
	if code := report.ExitCode(journal.Verdict); code != 0 {
		return exitCode(code)
	}
	return nil
}

func journalTarget(file string, t *threescale.Target) report.Target {
	rt := report.Target{File: file, Namespace: t.Namespace, Version: t.Version}
	rt.SetEndpoint("gateway-production", t.Gateways.Production.URL)
	rt.SetEndpoint("gateway-staging", t.Gateways.Staging.URL)
	rt.SetEndpoint("admin", t.Admin.URL)
	rt.SetEndpoint("master", t.Master.URL)
	rt.SetEndpoint("developer-portal", t.DeveloperPortal.URL)
	return rt
}
