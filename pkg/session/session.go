package session

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"k8s.io/client-go/rest"

	"github.com/threescale-chaos/harness/pkg/catalog"
	"github.com/threescale-chaos/harness/pkg/chaos"
	"github.com/threescale-chaos/harness/pkg/kube"
	"github.com/threescale-chaos/harness/pkg/probe"
	"github.com/threescale-chaos/harness/pkg/report"
	"github.com/threescale-chaos/harness/pkg/scenario"
	"github.com/threescale-chaos/harness/pkg/threescale"
	"github.com/threescale-chaos/harness/pkg/threescale/fixture"
	"github.com/threescale-chaos/harness/pkg/threescale/samplers"
	"github.com/threescale-chaos/harness/pkg/threescale/target"
	"github.com/threescale-chaos/harness/pkg/timing"
)

// InputError marks an error that is the user's input, not the run's outcome: a target file
// that does not load, a cluster that does not answer, a namespace that has not opted in, an
// open ledger, 3scale credentials that cannot be read. The CLI exits 3 on it.
type InputError struct{ Err error }

func (e *InputError) Error() string { return e.Err.Error() }
func (e *InputError) Unwrap() error { return e.Err }

func badInput(err error) error { return &InputError{err} }

// Cluster is a target that answers: the target file, a Kubernetes client, and a namespace
// that has opted in. Opening one changes nothing.
type Cluster struct {
	TargetFile string
	Target     *target.Target
	REST       *rest.Config
	Kube       *kube.Client
	Namespace  string
	Version    catalog.Version
}

// OpenOptions say where the target is.
type OpenOptions struct {
	// TargetFile is the target file (required).
	TargetFile string
	// Kubeconfig overrides the target file's; empty takes the target file's (relative to
	// it), then KUBECONFIG.
	Kubeconfig string
	// CheckTimeout bounds the namespace check (default 10 s).
	CheckTimeout time.Duration
}

// Open loads the target file and checks that its cluster answers and its namespace has opted
// in. Every error is an InputError.
func Open(ctx context.Context, o OpenOptions) (*Cluster, error) {
	if o.TargetFile == "" {
		return nil, badInput(errors.New("no target file"))
	}
	if o.CheckTimeout <= 0 {
		o.CheckTimeout = 10 * time.Second
	}
	t, err := target.Load(o.TargetFile)
	if err != nil {
		return nil, badInput(err)
	}
	kc := o.Kubeconfig
	if kc == "" {
		kc = t.Kubeconfig
		if kc != "" && !filepath.IsAbs(kc) {
			kc = filepath.Join(filepath.Dir(o.TargetFile), kc)
		}
	}
	rc, err := kube.LoadRESTConfig(kc)
	if err != nil {
		return nil, badInput(fmt.Errorf("kubeconfig: %w", err))
	}
	client, err := kube.NewClient(rc)
	if err != nil {
		return nil, badInput(err)
	}
	var ver catalog.Version
	if t.Version != "" {
		if ver, err = catalog.ParseVersion(t.Version); err != nil {
			return nil, badInput(fmt.Errorf("%s: version: %w", o.TargetFile, err))
		}
	}
	cctx, cancel := context.WithTimeout(ctx, o.CheckTimeout)
	defer cancel()
	if err := kube.CheckNamespace(cctx, client, t.Namespace); err != nil {
		return nil, badInput(err)
	}
	return &Cluster{TargetFile: o.TargetFile, Target: t, REST: rc, Kube: client, Namespace: t.Namespace, Version: ver}, nil
}

// Options tune a run. Zero values take the defaults.
type Options struct {
	// ReportDir is where the journal, the report and the diagnostics go (default
	// reports/<run id>); its history/ keeps the journals of the last report.HistoryKeep
	// runs, for `threescale-chaos diff --last`.
	ReportDir string
	// SampleInterval is each capability's cadence (default 1 s).
	SampleInterval time.Duration
	// StallThreshold is chaos.Options.StallThreshold: how late the harness's clock, or
	// how slow the API server's /readyz, makes a stall of the test bed whose failures are
	// not judged (default 1 s; negative judges every failure).
	StallThreshold time.Duration
	// Timeouts override the target file's timeouts, which override the defaults
	// (pkg/timing).
	Timeouts timing.Timeouts
	// WriteInterval is the least time between two samples of a capability that writes to
	// 3scale: a bound on the run's write rate (default samplers.DefaultWriteInterval;
	// at least 1 s).
	WriteInterval time.Duration
	// ForceScaleSubresource scales a workload even where the APIManager owns its replicas
	// (the negative test: the operator reverts it and the scenario is INVALID).
	ForceScaleSubresource bool
	// ReloadProduction restarts apicast-production after the run's product is promoted,
	// instead of waiting up to one configuration refresh.
	ReloadProduction bool
	// Logf reports progress; nil is silent.
	Logf func(format string, args ...any)
}

// Validate says what is wrong with the options, before anything is done.
func (o Options) Validate() error {
	switch {
	case o.WriteInterval != 0 && o.WriteInterval < time.Second:
		return fmt.Errorf("write interval %s: want at least 1s (it bounds how often the run writes to 3scale)", o.WriteInterval)
	case o.SampleInterval < 0:
		return errors.New("negative sample interval")
	}
	for n, d := range o.Timeouts {
		if d <= 0 {
			return fmt.Errorf("timeout %s: %s is not positive", n, d)
		}
	}
	return nil
}

func (o *Options) defaults() {
	if o.WriteInterval == 0 {
		o.WriteInterval = samplers.DefaultWriteInterval
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
}

// Run is one run against one cluster: the harness's own 3scale objects, the samplers and work
// probes over them, and the journal every scenario is added to. The CLI and the suite both
// start one, run scenarios through it and finish it.
type Run struct {
	ID      string
	cluster *Cluster
	opts    Options
	timeout timing.Timeouts // the run-wide bounds: ScenarioTimeouts without a scenario
	env     *threescale.Env
	fixture *fixture.Fixture
	before  fixture.Inventory
	journal *report.Journal
	usage   report.UsageMark

	samplers map[scenario.Capability]probe.Sampler
	work     map[scenario.Capability]probe.WorkProbe
	finished bool

	// promote is how a variant's product chain reaches the gateways: as the run's product did.
	promote fixture.PromoteOptions
	// unreverted is the undo of a variant that failed to put the product back; the next
	// scenario tries it again first and is INVALID while it fails, so that no scenario runs
	// with a chain its file did not ask for.
	unreverted func(context.Context) error
}

// Start connects to 3scale, counts the tenant's objects and provisions the run's own. It
// refuses to start while the ledger has an open entry (an InputError wrapping
// *kube.OpenLedgerError). On a provisioning failure what was made is removed before Start
// returns.
func Start(ctx context.Context, c *Cluster, o Options) (*Run, error) {
	if err := o.Validate(); err != nil {
		return nil, badInput(err)
	}
	o.defaults()
	// An open entry (or a ledger that cannot be read) is for `restore` to clear first.
	if err := kube.CheckOpenLedger(ctx, c.Kube, c.Namespace); err != nil {
		return nil, badInput(err)
	}
	r := &Run{ID: kube.NewRunID(time.Now()), cluster: c, opts: o, usage: report.MarkUsage(),
		timeout: ScenarioTimeouts(c.Target, scenario.Scenario{}, o.Timeouts)}
	if r.opts.ReportDir == "" {
		r.opts.ReportDir = filepath.Join("reports", r.ID)
	}
	if err := os.MkdirAll(r.opts.ReportDir, 0o755); err != nil {
		return nil, badInput(fmt.Errorf("report dir: %w", err))
	}
	r.journal = report.New(r.ID, time.Now(), journalTarget(c.TargetFile, c.Target))
	env, err := threescale.Connect(ctx, c.Target, c.REST)
	if err != nil {
		return nil, badInput(fmt.Errorf("connect to 3scale: %w", err))
	}
	r.env = env
	env.SetAdminRequestTimeout(r.timeout.Get(timing.AdminRequest))
	r.journal.AddSecrets(env.Secrets()...)
	if r.before, err = fixture.TakeInventory(ctx, env); err != nil {
		env.Close()
		return nil, fmt.Errorf("count the tenant's objects before the run: %w", err)
	}
	r.journal.Tenant = &report.Tenant{Before: r.before.Counts()}
	o.Logf("run %s: the tenant holds %s; provisioning the harness's own 3scale objects", r.ID, r.before.Counts())

	popts := fixture.ProvisionOptions{ReadyTimeout: r.timeout.Get(timing.Provision)}
	if o.ReloadProduction {
		popts.ReloadProduction = func(ctx context.Context) error {
			o.Logf("restarting %s so that it loads the run's product", threescale.ProductionGateway)
			return threescale.RestartDeployment(ctx, env, threescale.ProductionGateway, r.timeout.Get(timing.Ready))
		}
	} else {
		p := kube.ReadPeriod(ctx, c.Kube, c.Namespace, c.Version, catalog.ProductionConfigRefresh)
		popts.ProductionRefresh = p.Interval
		how := fmt.Sprintf("every %s (%s)", p.Interval, p.Source)
		if p.Unread != "" {
			how = fmt.Sprintf("every %s, the operator's default: its setting could not be read (%s)", p.Interval, p.Unread)
		}
		o.Logf("waiting for %s to load the run's product at its next configuration refresh, %s; reloading the production gateway restarts it instead",
			threescale.ProductionGateway, how)
	}
	r.promote = fixture.PromoteOptions{ProductionRefresh: popts.ProductionRefresh, ReadyTimeout: popts.ReadyTimeout, Logf: o.Logf}
	if o.ReloadProduction {
		r.promote.ReloadProduction = func(ctx context.Context) error {
			o.Logf("restarting %s so that it loads the product's promoted policy chain", threescale.ProductionGateway)
			return threescale.RestartDeployment(ctx, env, threescale.ProductionGateway, r.timeout.Get(timing.Ready))
		}
	}
	r.fixture, err = fixture.ProvisionWith(ctx, env, r.ID, popts)
	if err != nil {
		r.cleanup(ctx)
		env.Close()
		return nil, fmt.Errorf("provision: %w", err)
	}
	r.samplers = samplers.For(env, r.fixture, samplers.Options{WriteInterval: o.WriteInterval})
	r.work = samplers.WorkProbesWith(env, r.fixture, samplers.WorkOptions{Settle: r.timeout.Get(timing.Settle), MaxWait: r.timeout.Get(timing.WorkMaxWait)})
	return r, nil
}

// Hooks let a caller follow one scenario.
type Hooks struct {
	// Faults hears of the fault right before it is injected, so the caller can register its
	// restore too (Ginkgo's DeferCleanup); the runner restores it whatever happens.
	Faults func(chaos.Fault)
	// OnPhase hears of each phase as it starts (Ginkgo's By).
	OnPhase func(phase string)
	// Logf reports progress; nil takes the run's.
	Logf func(format string, args ...any)
}

// Timeout is the run's bound n: the options', then the target file's, then the default.
func (r *Run) Timeout(n timing.Name) time.Duration { return r.timeout.Get(n) }

// ScenarioTimeouts are the timeouts one scenario runs with: the defaults, under the target
// file's, under the scenario file's, under the command line's (flags).
func ScenarioTimeouts(t *target.Target, sc scenario.Scenario, flags timing.Timeouts) timing.Timeouts {
	return t.TimeoutOverrides().Merge(sc.Timeouts).Merge(flags)
}

// Scenario runs one scenario and adds its result to the journal. An error of the runner
// makes the scenario INVALID with the error as its reason; a scenario that does not pass
// gets its diagnostics (events, pod states, container logs) in the report directory. The
// error is returned too, for a caller that stops on it.
func (r *Run) Scenario(ctx context.Context, sc scenario.Scenario, h Hooks) (report.ScenarioResult, error) {
	logf := h.Logf
	if logf == nil {
		logf = r.opts.Logf
	}
	tm := ScenarioTimeouts(r.cluster.Target, sc, r.opts.Timeouts)
	// The pods as the outage left them, taken as the restore starts (bounded, and kept
	// only for the diagnostics of a scenario that does not pass).
	var held []chaos.PodState
	onPhase := func(phase string) {
		if phase == chaos.PhaseRestore {
			hctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			held, _ = chaos.PodStates(hctx, r.cluster.Kube, r.cluster.Namespace)
			cancel()
		}
		if h.OnPhase != nil {
			h.OnPhase(phase)
		}
	}
	var configure func(ctx context.Context) (func(context.Context) error, error)
	if sc.Variant() {
		configure = r.variant(sc, logf)
	}
	if r.unreverted != nil {
		logf("%s: the product still runs a previous variant's chain; putting it back first", sc.Name)
		if uerr := r.unreverted(ctx); uerr != nil {
			res := report.NewScenario(sc, time.Now())
			res.Invalid = "the run's product still runs a previous variant's policy chain: " + uerr.Error()
			res.Conclude()
			r.journal.Scenarios = append(r.journal.Scenarios, res)
			return res, uerr
		}
		r.unreverted = nil
	}
	res, err := chaos.Run(ctx, chaos.Input{
		Scenario: sc, Kube: r.cluster.Kube, Namespace: r.cluster.Namespace, Version: r.cluster.Version, RunID: r.ID,
		Samplers: r.samplers, Work: r.work,
		Options: chaos.Options{SampleInterval: r.opts.SampleInterval, SteadyTimeout: tm.Get(timing.Steady), StallThreshold: r.opts.StallThreshold,
			Plan:           kube.PlanOptions{ForceScaleSubresource: r.opts.ForceScaleSubresource},
			Kube:           kube.Options{Timeouts: kube.Timeouts{Gone: tm.Get(timing.Gone), Ready: tm.Get(timing.Ready)}},
			RestoreTimeout: 2 * tm.Get(timing.Ready),
		},
		Faults:    h.Faults,
		Configure: configure,
		OnPhase:   onPhase,
		Logf:      logf,
	})
	if err != nil {
		if res.Invalid == "" {
			res.Invalid = "the run could not complete: " + err.Error()
		}
		res.Conclude()
	}
	if res.Verdict != scenario.Pass {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), tm.Get(timing.Diagnose))
		files, derr := chaos.Diagnose(dctx, r.cluster.Kube, r.cluster.Namespace, r.opts.ReportDir, sc.Name, chaos.DiagnoseOptions{Since: res.StartedAt, Redact: r.Redact, Held: held})
		cancel()
		res.Diagnostics = files
		if derr != nil {
			logf("%s: diagnostics incomplete: %v", sc.Name, derr)
		}
	}
	r.journal.Scenarios = append(r.journal.Scenarios, res)
	return res, err
}

// variant configures the run's product as sc asks (fixture.SetPolicies) for chaos.Input.Configure.
// An undo that fails is kept for the next scenario to try first.
func (r *Run) variant(sc scenario.Scenario, logf func(string, ...any)) func(ctx context.Context) (func(context.Context) error, error) {
	return func(ctx context.Context) (func(context.Context) error, error) {
		o := r.promote
		o.Logf = func(format string, args ...any) { logf(sc.Name+": "+format, args...) }
		undo, err := r.fixture.SetPolicies(ctx, r.env, sc.Product.Policies, o)
		if err != nil {
			return nil, err
		}
		return func(ctx context.Context) error {
			if err := undo(ctx); err != nil {
				r.unreverted = undo
				return err
			}
			return nil
		}, nil
	}
}

// Redact blanks the run's secrets (3scale tokens, keys and store passwords) in s, as the
// journal does: for what a caller writes elsewhere, such as JUnit properties and failure
// messages.
func (r *Run) Redact(s string) string { return r.journal.Redact(s) }

// JUnitProperties are the scenario's cells and verdict as JUnit properties, redacted.
func (r *Run) JUnitProperties(res report.ScenarioResult) []report.Property {
	return r.journal.JUnitProperties(res)
}

// Result is what Finish wrote.
type Result struct {
	Journal            *report.Journal
	JSONPath, HTMLPath string
}

// Finish removes the run's 3scale objects, counts the tenant again, and writes the journal
// (and its copy in the report directory's history/) and the report. It runs once; a cancelled ctx still cleans up (with its own bound). The
// error says what could not be written or, as an *UnclearedTenantError, what the run left
// in the tenant.
func (r *Run) Finish(ctx context.Context) (Result, error) {
	if r.finished {
		return Result{Journal: r.journal}, errors.New("run already finished")
	}
	r.finished = true
	defer r.env.Close()
	tenant := r.cleanup(ctx)
	r.journal.FinishedAt = time.Now()
	u := r.usage.Since()
	r.journal.Usage = &u
	r.journal.Conclude()
	res := Result{Journal: r.journal}
	var jerr, herr error
	res.JSONPath, jerr = r.journal.WriteJSON(r.opts.ReportDir)
	res.HTMLPath, herr = r.journal.WriteHTML(r.opts.ReportDir)
	// The report directory's journal.json is the next run's to overwrite; the history
	// keeps it for `threescale-chaos diff --last`.
	_, hisErr := r.journal.WriteHistory(r.opts.ReportDir, report.HistoryKeep)
	if err := errors.Join(jerr, herr, hisErr); err != nil {
		return res, fmt.Errorf("write report: %w", err)
	}
	if !tenant.Clean() {
		return res, &UnclearedTenantError{Tenant: tenant}
	}
	return res, nil
}

// UnclearedTenantError is a run that did not leave the tenant as it found it.
type UnclearedTenantError struct{ Tenant report.Tenant }

func (e *UnclearedTenantError) Error() string {
	t := e.Tenant
	return fmt.Sprintf("the tenant held %s before the run and %s after it; left behind: %s; clean-up errors: %s", t.Before, t.After, t.LeftBehind, t.Error)
}

// cleanup removes the run's objects and records the tenant's counts in the journal.
func (r *Run) cleanup(ctx context.Context) report.Tenant {
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.timeout.Get(timing.Cleanup))
	defer cancel()
	t := r.fixture.Cleanup(dctx, r.env, r.before)
	r.journal.Tenant = &t
	if t.LeftBehind != "" {
		r.opts.Logf("warning: the run left in the tenant: %s", t.LeftBehind)
	}
	if t.Error != "" {
		r.opts.Logf("warning: cleaning up the run's 3scale objects: %s", t.Error)
	}
	if t.Clean() {
		r.opts.Logf("the run's 3scale objects are removed; the tenant holds %s", t.After)
	}
	return t
}

func journalTarget(file string, t *target.Target) report.Target {
	rt := report.Target{File: file, Namespace: t.Namespace, Version: t.Version}
	rt.SetEndpoint("gateway-production", t.Gateways.Production.URL)
	rt.SetEndpoint("gateway-staging", t.Gateways.Staging.URL)
	rt.SetEndpoint("admin", t.Admin.URL)
	rt.SetEndpoint("master", t.Master.URL)
	rt.SetEndpoint("developer-portal", t.DeveloperPortal.URL)
	return rt
}
