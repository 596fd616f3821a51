package chaos

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/threescale-chaos/harness/pkg/catalog"
	"github.com/threescale-chaos/harness/pkg/kube"
	"github.com/threescale-chaos/harness/pkg/probe"
	"github.com/threescale-chaos/harness/pkg/report"
	"github.com/threescale-chaos/harness/pkg/scenario"
)

// Options tune a run. Zero values take the defaults, which suit the local twin.
type Options struct {
	// SampleInterval and SampleTimeout are each capability's cadence and per-sample bound.
	SampleInterval, SampleTimeout time.Duration
	// SteadyTimeout bounds the wait for every capability to be healthy before the fault;
	// SteadySamples is how many consecutive healthy samples each needs.
	SteadyTimeout time.Duration
	SteadySamples int
	// Plan chooses how to inject (ForceScaleSubresource for the negative test).
	Plan kube.PlanOptions
	// Kube bounds the fault's waits.
	Kube kube.Options
	// RestoreTimeout bounds the whole restore, which runs even when the run is cancelled
	// (default 10 min).
	RestoreTimeout time.Duration
	// RecoveryMargin is added to the largest recovery budget before the runner stops
	// waiting for recovery.
	RecoveryMargin time.Duration
	// StallThreshold is how late the harness's clock may wake, and how long the test bed's
	// control may take, before the failures then under way are not judged
	// (probe.StallWatch; default probe.DefaultStallThreshold). Negative watches nothing:
	// every failure is judged.
	StallThreshold time.Duration
}

func (o *Options) defaults() {
	if o.SampleInterval == 0 {
		o.SampleInterval = time.Second
	}
	if o.SampleTimeout == 0 {
		o.SampleTimeout = 5 * time.Second
	}
	if o.SteadyTimeout == 0 {
		o.SteadyTimeout = 2 * time.Minute
	}
	if o.SteadySamples == 0 {
		o.SteadySamples = 2
	}
	if o.RestoreTimeout == 0 {
		o.RestoreTimeout = 10 * time.Minute
	}
	if o.RecoveryMargin == 0 {
		o.RecoveryMargin = 5 * time.Second
	}
	if o.StallThreshold == 0 {
		o.StallThreshold = probe.DefaultStallThreshold
	}
}

// Input is one scenario to run against one target.
type Input struct {
	Scenario  scenario.Scenario
	Kube      *kube.Client
	Namespace string
	// Version is the 3scale version for workload names; zero detects it.
	Version  catalog.Version
	RunID    string
	Samplers map[scenario.Capability]probe.Sampler
	Work     map[scenario.Capability]probe.WorkProbe
	Options  Options
	// Fault is what to break. Nil is the scenario's components scaled to zero together in
	// Namespace (ScaleToZero with Options.Plan and Options.Kube).
	Fault Fault
	// Periods reads a period a kept claim rests on (how long to hold the fault). Nil reads
	// it from the cluster (kube.ReadPeriod), which never fails.
	Periods func(ctx context.Context, p catalog.Period) catalog.PeriodReading
	// Faults, when set, hears of the fault right before it is injected, so the caller can
	// register its restore too (Ginkgo's DeferCleanup, a signal handler). The runner
	// restores it whatever happens; Restore is idempotent.
	Faults func(Fault)
	// Configure, when set, changes what the scenario runs against before the samplers start
	// (a variant scenario's product chain) and returns the undo. Run calls the undo on every
	// way out once Configure has returned, failure and cancellation included, after the fault
	// is restored, with its own context bounded by Options.RestoreTimeout. When Configure
	// fails, it has put back what it changed; Run returns its error.
	Configure func(ctx context.Context) (undo func(ctx context.Context) error, err error)
	// Control checks the test bed beside the samplers (probe.StallWatch.Control): something
	// every sample's path goes through that no 3scale component is behind. Nil is the
	// Kubernetes API server's /readyz through Kube, or the harness's clock alone without
	// Kube. ControlName names it in reports.
	Control     func(ctx context.Context) error
	ControlName string
	// OnPhase, when set, hears of each phase as it starts (the suite's By).
	OnPhase func(phase string)
	// Logf reports progress; nil is silent.
	Logf func(format string, args ...any)
}

// Phase names, as marked on the timeline and in the journal.
const (
	PhaseSteady    = probe.PhaseSteady
	PhaseInject    = probe.PhaseInject
	PhaseFaultHeld = probe.PhaseFaultHeld
	PhaseRestore   = probe.PhaseRestore
	PhaseRecovered = probe.PhaseRecovered
	PhaseVerify    = probe.PhaseVerifyWork
)

// Run runs the scenario and returns its result with the verdict concluded. An error means
// the harness itself could not proceed (bad input, a cluster it cannot reach); the result
// is still filled as far as the run went. The component is always restored before Run
// returns when it was scaled, whatever happened.
func Run(ctx context.Context, in Input) (res report.ScenarioResult, err error) {
	in.Options.defaults()
	logf := in.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	sc := in.Scenario
	res = report.NewScenario(sc, time.Now())
	usage := report.MarkUsage()
	defer func() {
		res.FinishedAt = time.Now()
		u := usage.Since()
		res.Usage = &u
		res.Conclude()
	}()
	if err := checkInput(in); err != nil {
		return res, err
	}

	// Preflight: what is there, and how it will be taken down. Nothing changes yet.
	fault := in.Fault
	if fault == nil {
		fault = ScaleToZero(in.Kube, in.Namespace, in.Version, in.RunID, sc.Components, in.Options.Plan, in.Options.Kube)
	}
	pf, err := fault.Prepare(ctx)
	if err != nil {
		return res, err
	}
	res.Workload = pf.Workload
	res.Method = report.Method(pf.Method)
	res.OriginalReplicas = &pf.OriginalReplicas
	if pf.Invalid != "" {
		res.Invalid = pf.Invalid
		return res, nil
	}
	// How long to hold: the file's observe, or a period of the process a kept claim rests
	// on, read from the cluster now, before anything is scaled.
	periods := in.Periods
	if periods == nil {
		periods = func(ctx context.Context, p catalog.Period) catalog.PeriodReading {
			return kube.ReadPeriod(ctx, in.Kube, in.Namespace, in.Version, p)
		}
	}
	obs := observe(ctx, sc, periods)
	res.SetObservation(obs)
	for _, u := range obs.Unread {
		logf("%s: period not read, the operator's default is used: %s", sc.Name, u)
	}

	// A variant's configuration, before any sample, undone after the fault's restore (a
	// deferred call runs before the ones registered earlier).
	if in.Configure != nil {
		logf("%s: configuring the scenario's variant", sc.Name)
		undo, cerr := in.Configure(ctx)
		if cerr != nil {
			return res, fmt.Errorf("configure the variant: %w", cerr)
		}
		defer func() {
			uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), in.Options.RestoreTimeout)
			defer cancel()
			logf("%s: putting the variant's configuration back", sc.Name)
			if uerr := undo(uctx); uerr != nil {
				err = errors.Join(err, fmt.Errorf("undo the variant of %s: %w", sc.Name, uerr))
			}
		}()
	}

	// Samples flow from here to the end, in every phase.
	runner, err := newRunner(in)
	if err != nil {
		return res, err
	}
	sampleCtx, stopSampling := context.WithCancel(ctx)
	var sampling sync.WaitGroup
	sampling.Add(1)
	go func() { defer sampling.Done(); _ = runner.Run(sampleCtx) }()
	stalls := stallWatch(in)
	if stalls != nil {
		sampling.Add(1)
		go func() { defer sampling.Done(); stalls.Run(sampleCtx) }()
	}
	defer func() {
		stopSampling()
		sampling.Wait()
		res.SetSamples(runner.Timeline().All())
		for _, m := range runner.Timeline().Marks() {
			res.AddPhase(m.Name, m.At)
		}
	}()
	if err := runner.WaitReady(ctx); err != nil {
		return res, fmt.Errorf("samplers: %w", err)
	}
	mark := func(phase string) time.Time {
		t := runner.Mark(phase)
		if in.OnPhase != nil {
			in.OnPhase(phase)
		}
		return t
	}

	// Steady state: every capability healthy, or the experiment is not worth running.
	mark(PhaseSteady)
	logf("%s: waiting for a healthy steady state", sc.Name)
	if unhealthy := waitSteady(ctx, runner.Timeline(), capabilities(in), in.Options); unhealthy != "" {
		res.Invalid = "steady state not healthy before the fault: " + unhealthy
		return res, nil
	}
	work := judgedWork(sc, in.Work)
	for c, w := range work {
		if err := w.Baseline(ctx); err != nil {
			res.Invalid = fmt.Sprintf("baseline for %s: %v", c, err)
			return res, nil
		}
	}

	// Inject: the ledger is written before anything changes, and the component is restored
	// on every way out of this function from here on.
	mark(PhaseInject)
	logf("%s: %s", sc.Name, strings.ReplaceAll(pf.Plan, "\n", "; "))
	restored := false
	restore := func() error {
		if restored {
			return nil
		}
		restored = true
		// A cancelled run still restores: give restore its own bounded context.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), in.Options.RestoreTimeout)
		defer cancel()
		return fault.Restore(rctx)
	}
	defer func() {
		if rerr := restore(); rerr != nil {
			err = errors.Join(err, fmt.Errorf("restore %s: %w", sc.Name, rerr))
		}
	}()
	if in.Faults != nil {
		in.Faults(fault)
	}
	if err := fault.Inject(ctx); err != nil {
		if errors.Is(err, kube.ErrFaultNotHeld) || errors.Is(err, kube.ErrCannotHold) {
			res.Invalid = err.Error()
			return res, nil
		}
		return res, fmt.Errorf("inject: %w", err)
	}

	// The fault holds from here: observe while the samplers run, create deferred work, and
	// watch that nothing scales the component back.
	t0 := mark(PhaseFaultHeld)
	logf("%s: pods gone; %s", sc.Name, obs)
	holdDone := make(chan kube.HoldReport, 1)
	go func() {
		rep, herr := fault.Hold(ctx, obs.Effective)
		if herr != nil {
			rep.Violations = append(rep.Violations, kube.Violation{At: time.Now(), Kind: kube.ViolationKind("watch"), Detail: herr.Error()})
		}
		holdDone <- rep
	}()
	submitted := submitWork(ctx, work, logf)
	hold := <-holdDone
	if ctx.Err() != nil {
		return res, ctx.Err()
	}
	endWindow(ctx, work, submitted, logf)
	t1 := mark(PhaseRestore)
	window := scenario.Window{Start: t0, End: t1}
	res.SetWindow(window)
	if !hold.Held() {
		res.Invalid = "the fault did not hold: " + hold.Err().Error()
	}

	logf("%s: restoring", sc.Name)
	if err := restore(); err != nil {
		return res, fmt.Errorf("restore: %w", err)
	}
	waitRecovered(ctx, runner.Timeline(), sc, t1, in.Options)
	mark(PhaseRecovered)

	// Deferred work: what was submitted during the outage must have been applied by now
	// (or, where the documentation says it is lost, must not have been).
	mark(PhaseVerify)
	checks := checkWork(ctx, sc, work, submitted)
	for _, c := range scenario.Capabilities() { // report order
		if wc, ok := checks[c]; ok {
			res.AddWork(*wc)
		}
	}

	// The verdicts, without the failures the harness's own work, or a stall of the test
	// bed, caused.
	stopSampling()
	sampling.Wait()
	var disturbances []scenario.Disturbance
	for _, c := range scenario.Capabilities() { // report order
		if d, ok := work[c].(probe.Disturber); ok {
			disturbances = append(disturbances, d.Disturbances()...)
		}
	}
	if stalls != nil {
		ds := stalls.Stalls()
		res.TestBed = stallSummary(stalls, ds)
		logf("%s: %s", sc.Name, res.TestBed)
		disturbances = append(disturbances, ds...)
	}
	res.SetDisturbances(disturbances)
	for _, exp := range sc.Cells() {
		samples := runner.Timeline().Samples(exp.Capability)
		res.AddCell(scenario.EvaluateCell(exp, window, samples, workFor(exp, checks), disturbances...))
	}
	return res, nil
}

// Observation reads from the cluster the periods that the scenario's kept claims rest on
// (Expectation.Spans; kube.ReadPeriod, which never fails: an unreadable setting is reported
// and its default used) and returns how long to hold the fault once the pods are gone.
// The plan command shows the same.
func Observation(ctx context.Context, c *kube.Client, namespace string, v catalog.Version, sc scenario.Scenario) scenario.Observation {
	return observe(ctx, sc, func(ctx context.Context, p catalog.Period) catalog.PeriodReading {
		return kube.ReadPeriod(ctx, c, namespace, v, p)
	})
}

func observe(ctx context.Context, sc scenario.Scenario, read func(context.Context, catalog.Period) catalog.PeriodReading) scenario.Observation {
	readings := map[string]catalog.PeriodReading{}
	for _, name := range sc.Periods() {
		if p, err := catalog.LookupPeriod(name); err == nil { // the file was validated against the same list
			readings[name] = read(ctx, p)
		}
	}
	return sc.Observation(readings)
}

// checkWork runs the work checks after recovery, all at once: each may wait up to its
// settle bound for work to land (or, for lost work, to be sure it never does), and they are
// independent. Work that could not even be submitted is reported as such, except where the
// capability is expected lost: nothing can be applied later, and the samples judge the cell.
func checkWork(ctx context.Context, sc scenario.Scenario, work map[scenario.Capability]probe.WorkProbe, submitted map[scenario.Capability]error) map[scenario.Capability]*scenario.WorkCheck {
	var mu sync.Mutex
	checks := map[scenario.Capability]*scenario.WorkCheck{}
	var wg sync.WaitGroup
	for c, w := range work {
		if serr := submitted[c]; serr != nil {
			if exp, _ := sc.Expectation(c); exp.Expect != scenario.Lost {
				checks[c] = &scenario.WorkCheck{Capability: c, What: "submit during the outage", CheckedAt: time.Now(), Detail: serr.Error()}
			}
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			exp, _ := sc.Expectation(c)
			wc, err := w.Check(ctx, exp.RecoveryBudget)
			if err != nil {
				wc = scenario.WorkCheck{Capability: c, What: "check after recovery", CheckedAt: time.Now(), Detail: err.Error()}
			}
			mu.Lock()
			checks[c] = &wc
			mu.Unlock()
		}()
	}
	wg.Wait()
	return checks
}

// judgedWork keeps the work probes of the cells judged on work: deferred ones (the work must
// be applied after recovery) and lost ones whose work is lost too (it must never be).
func judgedWork(sc scenario.Scenario, all map[scenario.Capability]probe.WorkProbe) map[scenario.Capability]probe.WorkProbe {
	out := map[scenario.Capability]probe.WorkProbe{}
	for c, w := range all {
		if exp, ok := sc.Expectation(c); ok && (exp.Expect == scenario.Deferred || exp.Expect == scenario.Lost && exp.LostWork) {
			out[c] = w
		}
	}
	return out
}

// workFor hands a cell its work check when the expectation is judged on work: deferred
// always, lost when its work is lost too (work that must not be applied later).
func workFor(exp scenario.Expectation, checks map[scenario.Capability]*scenario.WorkCheck) *scenario.WorkCheck {
	if exp.Expect == scenario.Deferred || exp.Expect == scenario.Lost && exp.LostWork {
		return checks[exp.Capability]
	}
	return nil
}

func checkInput(in Input) error {
	var missing []string
	for _, exp := range in.Scenario.Cells() {
		if _, ok := in.Samplers[exp.Capability]; !ok {
			missing = append(missing, string(exp.Capability))
		}
	}
	switch {
	case in.Fault == nil && in.Kube == nil:
		return errors.New("chaos: no fault and no Kubernetes client")
	case in.Fault == nil && in.Namespace == "":
		return errors.New("chaos: no fault and no namespace")
	case in.Fault == nil && in.RunID == "":
		return errors.New("chaos: no run id")
	case in.Periods == nil && in.Kube == nil:
		return errors.New("chaos: no period reader and no Kubernetes client")
	case len(missing) > 0:
		sort.Strings(missing)
		return fmt.Errorf("chaos: no sampler for capabilities %s", strings.Join(missing, ", "))
	}
	return nil
}

func capabilities(in Input) []scenario.Capability {
	var cs []scenario.Capability
	for _, exp := range in.Scenario.Cells() {
		cs = append(cs, exp.Capability)
	}
	return cs
}

// stallWatch is the run's watch of the test bed, nil when Options.StallThreshold is negative.
func stallWatch(in Input) *probe.StallWatch {
	if in.Options.StallThreshold < 0 {
		return nil
	}
	w := &probe.StallWatch{
		Interval: in.Options.SampleInterval, Timeout: in.Options.SampleTimeout, Threshold: in.Options.StallThreshold,
		Control: in.Control, ControlName: in.ControlName, Capabilities: capabilities(in),
	}
	if w.Control == nil && in.Kube != nil {
		w.Control, w.ControlName = readyzControl(in.Kube), "the Kubernetes API server's /readyz"
	}
	if w.Control != nil && w.ControlName == "" {
		w.ControlName = "the test bed's control"
	}
	return w
}

// readyzControl checks the API server's /readyz. An answer that forbids the check, or a
// server without it, makes the control unavailable: that answer came, so it is no stall.
func readyzControl(c *kube.Client) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		err := c.Readyz(ctx)
		if errors.Is(err, kube.ErrNoHealthClient) || apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err) || apierrors.IsNotFound(err) {
			return fmt.Errorf("%w: %w", probe.ErrControlUnavailable, err)
		}
		return err
	}
}

// stallSummary is the log line of a run's watch of the test bed.
func stallSummary(w *probe.StallWatch, ds []scenario.Disturbance) string {
	var b strings.Builder
	checks, slowest := w.Checks()
	switch why := w.Unavailable(); {
	case w.Control == nil:
		b.WriteString("no control of the test bed, the harness's clock watched alone")
	case why != "":
		fmt.Fprintf(&b, "%s given up (%s), the harness's clock watched alone", w.ControlName, why)
	default:
		fmt.Fprintf(&b, "%s checked %d times, slowest %s", w.ControlName, checks, scenario.Readable(slowest))
	}
	var stalled time.Duration
	for _, d := range ds {
		stalled += d.End.Sub(d.Start)
	}
	fmt.Fprintf(&b, "; %d stalls of the test bed (%s in all)", len(ds), scenario.Readable(stalled))
	return b.String()
}

func newRunner(in Input) (*probe.Runner, error) {
	var probes []probe.Probe
	for _, c := range capabilities(in) {
		probes = append(probes, probe.Probe{Sampler: in.Samplers[c]})
	}
	return probe.NewRunner(probe.Options{Interval: in.Options.SampleInterval, Timeout: in.Options.SampleTimeout}, probes...)
}

// endWindow lets the work probes that watch the end of the fault-held window (probe.WindowEnder)
// look at their work before the component is restored, those whose Submit succeeded only.
func endWindow(ctx context.Context, work map[scenario.Capability]probe.WorkProbe, submitted map[scenario.Capability]error, logf func(string, ...any)) {
	for c, w := range work {
		we, ok := w.(probe.WindowEnder)
		if !ok || submitted[c] != nil {
			continue
		}
		if err := we.WindowEnd(ctx); err != nil {
			logf("work for %s at the end of the outage: %v", c, err)
		}
	}
}

// submitWork asks each work probe to create its work during the outage, in parallel, and
// returns the ones that could not.
func submitWork(ctx context.Context, work map[scenario.Capability]probe.WorkProbe, logf func(string, ...any)) map[scenario.Capability]error {
	var mu sync.Mutex
	errs := map[scenario.Capability]error{}
	var wg sync.WaitGroup
	for c, w := range work {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := w.Submit(ctx); err != nil {
				logf("work for %s could not be submitted: %v", c, err)
				mu.Lock()
				errs[c] = err
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errs
}
