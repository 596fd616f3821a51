package outage

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/threescale-chaos/harness/pkg/chaos"
	"github.com/threescale-chaos/harness/pkg/report"
	"github.com/threescale-chaos/harness/pkg/scenario"
	"github.com/threescale-chaos/harness/pkg/session"
	"github.com/threescale-chaos/harness/pkg/threescale"
	"github.com/threescale-chaos/harness/pkg/threescale/samplers"
	"github.com/threescale-chaos/harness/pkg/threescale/target"
	"github.com/threescale-chaos/harness/pkg/timing"
)

// Configuration flows one way: flags and env into one config, validated once.
var (
	targetFlag    = flag.String("target", os.Getenv("THREESCALE_CHAOS_TARGET"), "target file")
	scenariosFlag = flag.String("scenarios", "../../scenarios", "directory of scenario files")
	reportFlag    = flag.String("report-dir", envOr("THREESCALE_CHAOS_REPORT_DIR", "../../reports/suite"), "journal, report and diagnostics")
	intervalFlag  = flag.Duration("sample-interval", time.Second, "how often each capability is sampled")
	writeFlag     = flag.Duration("write-interval", samplers.DefaultWriteInterval, "the least time between two samples of a capability that writes to 3scale")
	reloadFlag    = flag.Bool("reload-production-gateway", false, "restart apicast-production after the product is promoted instead of waiting for its configuration refresh")
	timeoutsFlag  = flag.String("timeouts", "", "NAME=DURATION,... over the target file's timeouts (pkg/timing; README: Timeouts)")
)

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// The scenario files and the timeouts are read when the tree is built, so that each file
// becomes its own container with its own labels and spec timeout; a malformed file or
// timeout fails the suite before anything runs.
var (
	scenarios []scenario.Scenario
	tgt       *target.Target  // nil without a target: the suite skips
	timeouts  timing.Timeouts // the -timeouts flag's
)

func TestOutage(t *testing.T) {
	RegisterFailHandler(Fail)
	var err error
	scenarios, err = scenario.LoadDir(*scenariosFlag)
	if err != nil {
		t.Fatalf("scenario files: %v", err)
	}
	if timeouts, err = parseTimeouts(*timeoutsFlag); err != nil {
		t.Fatalf("-timeouts: %v", err)
	}
	if *targetFlag != "" {
		if tgt, err = target.Load(*targetFlag); err != nil {
			t.Fatal(err)
		}
	}
	RunSpecs(t, "3scale outage suite")
}

// parseTimeouts reads "provision=5m,ready=8m".
func parseTimeouts(s string) (timing.Timeouts, error) {
	m := map[string]string{}
	for _, kv := range strings.Split(s, ",") {
		if kv = strings.TrimSpace(kv); kv == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, fmt.Errorf("%q: want NAME=DURATION", kv)
		}
		m[strings.TrimSpace(k)] = v
	}
	return timing.Parse(m)
}

// run is what every scenario shares: one target, one set of 3scale objects, one journal
// (session.Run, the CLI's run path too).
var run *session.Run

var _ = BeforeSuite(func(ctx SpecContext) {
	if *targetFlag == "" {
		Skip("no target: pass -args --target FILE or set THREESCALE_CHAOS_TARGET (make e2e does, against the twin)")
	}
	threescale.SilenceRedisClientLog() // the outages' dial failures are in the samples, classified
	cl, err := session.Open(ctx, session.OpenOptions{TargetFile: *targetFlag})
	Expect(err).NotTo(HaveOccurred())
	By("counting the tenant's objects and provisioning the harness's own")
	run, err = session.Start(ctx, cl, session.Options{
		ReportDir: *reportFlag, SampleInterval: *intervalFlag, WriteInterval: *writeFlag, ReloadProduction: *reloadFlag, Timeouts: timeouts,
		Logf: func(format string, args ...any) { GinkgoWriter.Printf(format+"\n", args...) },
	})
	Expect(err).NotTo(HaveOccurred(), "start the run (an open ledger means a killed run: run threescale-chaos restore)")
}, NodeTimeout(12*time.Minute))

// AfterSuite removes the run's 3scale objects and counts the tenant again before it writes
// the journal, then fails the suite if the run left anything behind.
var _ = AfterSuite(func(ctx SpecContext) {
	if run == nil {
		return
	}
	_, err := run.Finish(ctx)
	Expect(err).NotTo(HaveOccurred(), "the run must write its report and leave the tenant as it found it")
}, NodeTimeout(6*time.Minute))

// One container per scenario file, built from the files, not from code.
var _ = Describe("3scale outage", func() {
	for _, sc := range scenarios {
		tm := session.ScenarioTimeouts(tgt, sc, timeouts)
		// scenario:<name> picks one file (make e2e COMPONENT=); component:<each> every file
		// that takes that component down.
		labels := []string{"disruptive", "scenario:" + sc.Name}
		for _, c := range sc.Components {
			labels = append(labels, "component:"+c.Name)
		}
		if sc.Multi() {
			labels = append(labels, "multi")
		}
		if sc.Variant() {
			// The same component's outage with the run's product configured differently.
			labels = append(labels, "variant")
		}
		Describe(sc.Name, Serial, Label(labels...), func() {
			It(fmt.Sprintf("breaks exactly what %s documents and recovers", sc.Path), func(ctx SpecContext) {
				res, err := run.Scenario(ctx, sc, session.Hooks{
					// The restore is registered right before the fault, so an interrupted spec
					// restores too; the runner's own restore makes this one a no-op.
					Faults: func(f chaos.Fault) {
						DeferCleanup(func(ctx SpecContext) { Expect(f.Restore(ctx)).To(Succeed()) }, NodeTimeout(2*tm.Get(timing.Ready)))
					},
					OnPhase: func(phase string) { By(sc.Name + ": " + phase) },
					Logf:    func(format string, args ...any) { GinkgoWriter.Printf(format+"\n", args...) },
				})
				for _, p := range run.JUnitProperties(res) {
					AddReportEntry(p.Name, p.Value)
				}
				Expect(err).NotTo(HaveOccurred())
				Expect(res.Verdict).To(Equal(scenario.Pass), func() string {
					return run.Redact(fmt.Sprintf("%s: %s\n%s", sc.Name, res.Reason, failingCells(res)))
				})
			}, SpecTimeout(tm.Get(timing.Spec)))
		})
	}
})

func failingCells(res report.ScenarioResult) string {
	var b strings.Builder
	for _, c := range res.Cells {
		if c.Verdict != scenario.Pass {
			fmt.Fprintf(&b, "  %s (%s): %s %s\n", c.Capability, c.Expect, c.Verdict, c.Reason)
		}
	}
	return b.String()
}
