package outage

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/client-go/rest"

	"github.com/threescale-chaos/harness/pkg/catalog"
	"github.com/threescale-chaos/harness/pkg/chaos"
	"github.com/threescale-chaos/harness/pkg/kube"
	"github.com/threescale-chaos/harness/pkg/probe"
	"github.com/threescale-chaos/harness/pkg/report"
	"github.com/threescale-chaos/harness/pkg/scenario"
	"github.com/threescale-chaos/harness/pkg/threescale"
)

// Configuration flows one way: flags and env into one config, validated once.
var (
	targetFlag    = flag.String("target", os.Getenv("THREESCALE_CHAOS_TARGET"), "target file")
	scenariosFlag = flag.String("scenarios", "../../scenarios", "directory of scenario files")
	reportFlag    = flag.String("report-dir", envOr("THREESCALE_CHAOS_REPORT_DIR", "../../reports/suite"), "journal, report and diagnostics")
	intervalFlag  = flag.Duration("sample-interval", time.Second, "how often each capability is sampled")
	writeFlag     = flag.Duration("write-interval", threescale.DefaultWriteInterval, "the least time between two samples of a capability that writes to 3scale")
	reloadFlag    = flag.Bool("reload-production-gateway", false, "restart apicast-production after the product is promoted instead of waiting for its configuration refresh")
)

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// The scenario files are read when the tree is built, so that each becomes its own container
// with its own labels; a malformed file fails the suite before anything runs.
var scenarios []scenario.Scenario

func TestOutage(t *testing.T) {
	RegisterFailHandler(Fail)
	var err error
	scenarios, err = scenario.LoadDir(*scenariosFlag)
	if err != nil {
		t.Fatalf("scenario files: %v", err)
	}
	RunSpecs(t, "3scale outage suite")
}

// suite is what every scenario shares: one target, one set of 3scale objects, one journal.
type suite struct {
	target   *threescale.Target
	kube     *kube.Client
	ns       string
	version  catalog.Version
	env      *threescale.Env
	fixture  *threescale.Fixture
	before   threescale.Inventory
	runID    string
	journal  *report.Journal
	usage    report.UsageMark
	samplers map[scenario.Capability]probe.Sampler
	work     map[scenario.Capability]chaos.WorkProbe
}

var s *suite

var _ = BeforeSuite(func(ctx SpecContext) {
	if *targetFlag == "" {
		Skip("no target: pass -args --target FILE or set THREESCALE_CHAOS_TARGET (make e2e does, against the twin)")
	}
	t, err := threescale.LoadTarget(*targetFlag)
	Expect(err).NotTo(HaveOccurred())
	kc := t.Kubeconfig
	if kc != "" && !filepath.IsAbs(kc) {
		kc = filepath.Join(filepath.Dir(*targetFlag), kc)
	}
	rc, err := kube.LoadRESTConfig(kc)
	Expect(err).NotTo(HaveOccurred())
	client, err := kube.NewClient(rc)
	Expect(err).NotTo(HaveOccurred())
	Expect(kube.CheckNamespace(ctx, client, t.Namespace)).To(Succeed())
	Expect(kube.CheckOpenLedger(ctx, client, t.Namespace)).To(Succeed(), "a previous run left a component changed: run threescale-chaos restore")
	s = &suite{target: t, kube: client, ns: t.Namespace, runID: kube.NewRunID(time.Now())}
	if t.Version != "" {
		s.version, err = catalog.ParseVersion(t.Version)
		Expect(err).NotTo(HaveOccurred())
	}
	s.env = connect(ctx, t, rc)
	DeferCleanup(s.env.Close)
	s.journal = report.New(s.runID, time.Now(), report.Target{File: *targetFlag, Namespace: t.Namespace, Version: t.Version})
	s.journal.AddSecrets(s.env.Secrets()...)
	s.usage = report.MarkUsage()

	By("counting the tenant's objects")
	s.before, err = threescale.TakeInventory(ctx, s.env)
	Expect(err).NotTo(HaveOccurred())
	s.journal.Tenant = &report.Tenant{Before: s.before.Counts()}

	By("provisioning the harness's own 3scale objects")
	popts := threescale.ProvisionOptions{}
	if *reloadFlag {
		popts.ReloadProduction = func(ctx context.Context) error {
			return threescale.RestartDeployment(ctx, s.env, threescale.ProductionGateway, 5*time.Minute)
		}
	} else {
		r := kube.ReadPeriod(ctx, s.kube, s.ns, s.version, catalog.ProductionConfigRefresh)
		popts.ProductionRefresh = r.Interval
		GinkgoWriter.Printf("apicast-production refreshes its configuration every %s (%s%s)\n", r.Interval, r.Source, r.Unread)
	}
	s.fixture, err = threescale.ProvisionWith(ctx, s.env, s.runID, popts)
	Expect(err).NotTo(HaveOccurred())
	s.samplers = threescale.Samplers(s.env, s.fixture, threescale.SamplerOptions{WriteInterval: *writeFlag})
	s.work = map[scenario.Capability]chaos.WorkProbe{}
	for c, w := range threescale.WorkProbes(s.env, s.fixture) {
		s.work[c] = w
	}
}, NodeTimeout(12*time.Minute))

func connect(ctx context.Context, t *threescale.Target, rc *rest.Config) *threescale.Env {
	env, err := threescale.Connect(ctx, t, rc)
	Expect(err).NotTo(HaveOccurred())
	return env
}

// AfterSuite removes the run's 3scale objects and counts the tenant again before it writes
// the journal, then fails the suite if the run left anything behind.
var _ = AfterSuite(func(ctx SpecContext) {
	if s == nil || s.journal == nil {
		return
	}
	var cleanupErr error
	if s.journal.Tenant != nil {
		t := s.fixture.Cleanup(ctx, s.env, s.before)
		s.journal.Tenant = &t
		if !t.Clean() {
			cleanupErr = fmt.Errorf("the tenant held %s before the run and %s after it; left behind: %s; clean-up errors: %s", t.Before, t.After, t.LeftBehind, t.Error)
		}
	}
	s.journal.FinishedAt = time.Now()
	u := s.usage.Since()
	s.journal.Usage = &u
	s.journal.Conclude()
	Expect(os.MkdirAll(*reportFlag, 0o755)).To(Succeed())
	_, err := s.journal.WriteJSON(*reportFlag)
	Expect(err).NotTo(HaveOccurred())
	_, err = s.journal.WriteHTML(*reportFlag)
	Expect(err).NotTo(HaveOccurred())
	Expect(cleanupErr).NotTo(HaveOccurred(), "the run must leave the tenant as it found it")
}, NodeTimeout(6*time.Minute))

// One container per scenario file, built from the files, not from code.
var _ = Describe("3scale outage", func() {
	for _, sc := range scenarios {
		Describe(sc.Component.Name, Serial, Label("disruptive", "component:"+sc.Component.Name), func() {
			It(fmt.Sprintf("breaks exactly what %s documents and recovers", sc.Path), func(ctx SpecContext) {
				res := runScenario(ctx, sc)
				for _, p := range report.JUnitProperties(res) {
					AddReportEntry(p.Name, p.Value)
				}
				Expect(res.Verdict).To(Equal(scenario.Pass), "%s: %s\n%s", sc.Component.Name, res.Reason, failingCells(res))
			}, SpecTimeout(20*time.Minute))
		})
	}
})

// runScenario is the spec: the runner does the phases; the suite registers the restore
// right after the fault and writes diagnostics before anything is cleaned up.
func runScenario(ctx context.Context, sc scenario.Scenario) report.ScenarioResult {
	res, err := chaos.Run(ctx, chaos.Input{
		Scenario: sc, Kube: s.kube, Namespace: s.ns, Version: s.version, RunID: s.runID,
		Samplers: s.samplers, Work: s.work,
		Options: chaos.Options{SampleInterval: *intervalFlag},
		Faults: func(f *kube.Fault) {
			DeferCleanup(func(ctx SpecContext) { Expect(f.Restore(ctx)).To(Succeed()) }, NodeTimeout(10*time.Minute))
		},
		Logf: func(format string, args ...any) { GinkgoWriter.Printf(format+"\n", args...) },
	})
	if err != nil && res.Invalid == "" {
		res.Invalid = "the run could not complete: " + err.Error()
		res.Conclude()
	}
	if res.Verdict != scenario.Pass {
		_ = os.MkdirAll(*reportFlag, 0o755)
		if files, derr := chaos.Diagnose(context.WithoutCancel(ctx), s.kube, s.ns, *reportFlag, sc.Component.Name); derr == nil {
			res.Diagnostics = files
		}
	}
	s.journal.Scenarios = append(s.journal.Scenarios, res)
	Expect(err).NotTo(HaveOccurred())
	return res
}

func failingCells(res report.ScenarioResult) string {
	var b strings.Builder
	for _, c := range res.Cells {
		if c.Verdict != scenario.Pass {
			fmt.Fprintf(&b, "  %s (%s): %s %s\n", c.Capability, c.Expect, c.Verdict, c.Reason)
		}
	}
	return b.String()
}
