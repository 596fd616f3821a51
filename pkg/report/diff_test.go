package report

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/threescale-chaos/harness/pkg/scenario"
)

// cellSpec is one cell of a small scenario: its capability sampled every `every` from
// `offset` over a minute, failing from `failFrom` until `failTo` (zero: never).
type cellSpec struct {
	capability       scenario.Capability
	expect           scenario.Expect
	every, offset    time.Duration
	failFrom, failTo time.Duration
}

// The fault holds from 10 s to 40 s in every small scenario.
var diffWindow = scenario.Window{Start: t0.Add(10 * time.Second), End: t0.Add(40 * time.Second)}

// smallScenario judges the cells' samples with pkg/scenario, as a run does.
func smallScenario(component string, cells ...cellSpec) ScenarioResult {
	r := ScenarioResult{Name: component, Component: component, StartedAt: t0}
	r.SetWindow(diffWindow)
	var samples []scenario.Sample
	for _, c := range cells {
		var own []scenario.Sample
		for at := c.offset; at < time.Minute; at += c.every {
			fail := c.failTo > 0 && at >= c.failFrom && at < c.failTo
			own = append(own, scenario.Sample{Capability: c.capability, Time: t0.Add(at), OK: !fail, Latency: time.Millisecond})
		}
		exp := scenario.Expectation{Capability: c.capability, Expect: c.expect, RecoveryBudget: 20 * time.Second, MinSamples: 1}
		if c.expect == scenario.Lost {
			// Long enough for every onset these tests use: the cell passes wherever it fails.
			exp.OnsetGrace = 19 * time.Second
		}
		r.AddCell(scenario.EvaluateCell(exp, diffWindow, own, nil))
		samples = append(samples, own...)
	}
	r.SetSamples(samples)
	r.Conclude()
	return r
}

func smallRun(id string, scs ...ScenarioResult) *Journal {
	j := New(id, t0, Target{Namespace: "3scale", Version: "2.16.3"})
	j.Scenarios = scs
	j.Conclude()
	return j
}

var (
	kept   = cellSpec{capability: scenario.ProductionTraffic, expect: scenario.Kept, every: time.Second}
	broken = cellSpec{capability: scenario.ProductionTraffic, expect: scenario.Kept, every: time.Second, failFrom: 20 * time.Second, failTo: 25 * time.Second}
	lost   = cellSpec{capability: scenario.StagingTraffic, expect: scenario.Lost, every: time.Second, failFrom: 11 * time.Second, failTo: 41 * time.Second}
	read   = cellSpec{capability: scenario.AdminAPIRead, expect: scenario.Kept, every: time.Second}
)

// kinds lists the diff's cells as "scenario/capability: kind".
func kinds(d *Diff) []string {
	var out []string
	for _, c := range d.Cells {
		out = append(out, c.Scenario+"/"+string(c.Capability)+": "+c.Kind.String())
	}
	return out
}

func text(t *testing.T, d *Diff) string {
	t.Helper()
	var b bytes.Buffer
	if err := d.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(b.String(), "\n") {
		if n := len([]rune(l)); n > 100 {
			t.Errorf("a line of %d columns:\n%s", n, l)
		}
	}
	return b.String()
}

func TestDiffFlippedVerdict(t *testing.T) {
	pass := smallRun("old", smallScenario("backend-worker", kept, lost, read))
	fail := smallRun("new", smallScenario("backend-worker", broken, lost, read))
	if fail.Verdict != scenario.Fail {
		t.Fatalf("the broken run is %s, want FAIL: %s", fail.Verdict, fail.Reason)
	}

	d := Compare(pass, fail)
	if !d.RunVerdictChanged() || !d.VerdictChanged() {
		t.Fatalf("no verdict change found: %+v", d)
	}
	want := []ScenarioChange{{Scenario: "backend-worker", Old: scenario.Pass, New: scenario.Fail}}
	if !reflect.DeepEqual(d.Scenarios, want) {
		t.Errorf("scenarios %+v, want %+v", d.Scenarios, want)
	}
	if got, want := kinds(d), []string{"backend-worker/production-traffic: new failure"}; !slices.Equal(got, want) {
		t.Errorf("cells %q, want %q", got, want)
	}
	c := d.Cells[0]
	if c.Old.Outcome.String() != "kept" || c.New.Outcome.String() != "lost 5/30" || c.New.Reason == "" {
		t.Errorf("cell sides %+v -> %+v, want kept -> lost 5/30 with the new reason", c.Old, c.New)
	}
	out := text(t, d)
	for _, s := range []string{"run             PASS -> FAIL", "backend-worker  PASS -> FAIL", "new failure", "kept -> lost 5/30"} {
		if !strings.Contains(out, s) {
			t.Errorf("the text lacks %q:\n%s", s, out)
		}
	}
	if i, j := strings.Index(out, "VERDICTS"), strings.Index(out, "CELLS"); i < 0 || j < i {
		t.Errorf("verdicts do not come before cells:\n%s", out)
	}

	// The other way round the failure vanished; it is still a verdict change.
	back := Compare(fail, pass)
	if got, want := kinds(back), []string{"backend-worker/production-traffic: vanished failure"}; !slices.Equal(got, want) || !back.VerdictChanged() {
		t.Errorf("reversed: cells %q, verdict changed %v; want %q and true", got, back.VerdictChanged(), want)
	}
}

// Scenarios and cells are matched by identity: the same run with its scenarios and cells
// in another order has no differences.
func TestDiffMatchesByIdentity(t *testing.T) {
	a := smallRun("old", smallScenario("backend-worker", kept, lost, read), smallScenario("zync", read, lost))
	b := smallRun("new", smallScenario("zync", lost, read), smallScenario("backend-worker", lost, read, kept))
	d := Compare(a, b)
	if !d.Empty() || d.VerdictChanged() {
		t.Fatalf("reordered runs differ: %q %+v %+v", kinds(d), d.Scenarios, d.Timing)
	}
	if out := text(t, d); !strings.Contains(out, "\nno differences\n") {
		t.Errorf("the text does not say there are no differences:\n%s", out)
	}
}

func TestDiffOnsetShift(t *testing.T) {
	// OLD samples every 5 s from 0 s and staging-traffic fails from 12 s: the first
	// failing sample is at 15 s, the last success at 10 s, so the onset (from the 10 s
	// mark) lies in [0 s, 5 s].
	old := lost
	old.every, old.failFrom = 5*time.Second, 12*time.Second
	base := smallRun("old", smallScenario("apicast-staging", kept, old))

	for _, tc := range []struct {
		name     string
		offset   time.Duration
		failFrom time.Duration
		want     []TimingShift
	}{
		// Sampled 2 s later and failing 2 s later: the onset reads 7 s instead of 5 s,
		// but it lies in [2 s, 7 s], which overlaps [0 s, 5 s]: noise.
		{"within noise", 2 * time.Second, 14 * time.Second, nil},
		// Failing from 24 s: first failure at 27 s, last success at 22 s, so [12 s, 17 s].
		{"beyond noise", 2 * time.Second, 24 * time.Second, []TimingShift{{
			Scenario: "apicast-staging", Capability: scenario.StagingTraffic, What: "onset",
			Old: Interval{Lo: 0, Hi: 5 * time.Second}, New: Interval{Lo: 12 * time.Second, Hi: 17 * time.Second},
		}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := lost
			c.every, c.offset, c.failFrom = 5*time.Second, tc.offset, tc.failFrom
			d := Compare(base, smallRun("new", smallScenario("apicast-staging", kept, c)))
			if len(d.Cells) != 0 || d.VerdictChanged() || base.Verdict != scenario.Pass {
				t.Fatalf("cells changed: %q (OLD %s: %s)", kinds(d), base.Verdict, base.Reason)
			}
			if !reflect.DeepEqual(d.Timing, tc.want) {
				t.Fatalf("timing %+v, want %+v", d.Timing, tc.want)
			}
			out := text(t, d)
			if tc.want == nil && !strings.Contains(out, "no differences") {
				t.Errorf("a shift within noise is printed:\n%s", out)
			}
			if tc.want != nil && !strings.Contains(out, "onset  5s (0s-5s)  17s (12s-17s)") {
				t.Errorf("the shift is not printed as expected:\n%s", out)
			}
		})
	}
}

func TestDiffRecoveryShift(t *testing.T) {
	// Staging traffic fails until 41 s in OLD and until 52 s in NEW: restored at 40 s,
	// recovered in [0 s, 1 s] and then in [11 s, 12 s].
	late := lost
	late.failTo = 52 * time.Second
	d := Compare(smallRun("old", smallScenario("apicast-staging", lost)), smallRun("new", smallScenario("apicast-staging", late)))
	want := []TimingShift{{Scenario: "apicast-staging", Capability: scenario.StagingTraffic, What: "recovery",
		Old: Interval{Lo: 0, Hi: time.Second}, New: Interval{Lo: 11 * time.Second, Hi: 12 * time.Second}}}
	if !reflect.DeepEqual(d.Timing, want) {
		t.Fatalf("timing %+v, want %+v", d.Timing, want)
	}
}

func TestDiffOnlyInOneRun(t *testing.T) {
	old := smallRun("old", smallScenario("backend-worker", kept, lost))
	added := smallScenario("zync", kept)
	d := Compare(old, smallRun("new", smallScenario("backend-worker", kept, lost, read), added))
	want := []ScenarioChange{{Scenario: "zync", New: scenario.Pass, Cells: 1}}
	if !reflect.DeepEqual(d.Scenarios, want) || d.Scenarios[0].OnlyIn() != "NEW" {
		t.Errorf("scenarios %+v, want %+v", d.Scenarios, want)
	}
	if got, want := kinds(d), []string{"backend-worker/admin-api-read: only in NEW"}; !slices.Equal(got, want) {
		t.Errorf("cells %q, want %q", got, want)
	}
	// Neither a scenario nor a cell in one run only is a verdict change.
	if d.VerdictChanged() {
		t.Error("a scenario or cell in one run only counted as a verdict change")
	}
	out := text(t, d)
	if !strings.Contains(out, "zync  only in NEW  PASS, 1 cell\n") {
		t.Errorf("the added scenario is not printed:\n%s", out)
	}

	gone := Compare(smallRun("new", smallScenario("backend-worker", kept, lost, read), added), old)
	if len(gone.Scenarios) != 1 || gone.Scenarios[0].OnlyIn() != "OLD" || !slices.Equal(kinds(gone), []string{"backend-worker/admin-api-read: only in OLD"}) {
		t.Errorf("removed: scenarios %+v, cells %q", gone.Scenarios, kinds(gone))
	}
}

func TestDiffExpectationAndBehaviour(t *testing.T) {
	// An edited scenario: production-traffic now expected lost. It was kept: FAIL.
	wrong := kept
	wrong.expect = scenario.Lost
	d := Compare(smallRun("old", smallScenario("apicast-staging", kept)), smallRun("new", smallScenario("apicast-staging", wrong)))
	if got, want := kinds(d), []string{"apicast-staging/production-traffic: new failure"}; !slices.Equal(got, want) {
		t.Fatalf("cells %q, want %q", got, want)
	}
	if c := d.Cells[0]; c.Old.Expect != scenario.Kept || c.New.Expect != scenario.Lost {
		t.Errorf("expectations %s -> %s, want kept -> lost", c.Old.Expect, c.New.Expect)
	}

	// An unasserted cell passes whatever happens; its behaviour still shows.
	quiet := cellSpec{capability: scenario.Alerts, expect: scenario.Unasserted, every: time.Second}
	noisy := quiet
	noisy.failFrom, noisy.failTo = 15*time.Second, 20*time.Second
	d = Compare(smallRun("old", smallScenario("backend-listener", quiet)), smallRun("new", smallScenario("backend-listener", noisy)))
	if got, want := kinds(d), []string{"backend-listener/alerts: behaviour changed"}; !slices.Equal(got, want) || d.VerdictChanged() {
		t.Errorf("cells %q (verdict changed %v), want %q", got, d.VerdictChanged(), want)
	}
}

func TestDiffTargetsInHeader(t *testing.T) {
	a := smallRun("old", smallScenario("zync", kept))
	b := smallRun("new", smallScenario("zync", kept))
	b.Target.Version, b.Target.Cluster = "2.15.4", "kind-threescale"
	d := Compare(a, b)
	if got := d.TargetsDiffer(); !slices.Equal(got, []string{"3scale version", "cluster"}) {
		t.Errorf("targets differ in %q", got)
	}
	out := text(t, d)
	for _, s := range []string{"3scale version  2.16.3 -> 2.15.4", "cluster         - -> kind-threescale", "no differences"} {
		if !strings.Contains(out, s) {
			t.Errorf("the text lacks %q:\n%s", s, out)
		}
	}
}

func TestDiffHTML(t *testing.T) {
	d := Compare(smallRun("old", smallScenario("backend-worker", kept)), smallRun("new", smallScenario("backend-worker", broken)))
	path, err := d.WriteHTML(filepath.Join(t.TempDir(), "sub", DiffHTMLFile))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	page := string(b)
	css := reportCSS()
	if !strings.Contains(css, ".banner") {
		t.Fatalf("report.html's template has no style sheet to reuse: %q", css)
	}
	for _, s := range []string{css, "verdicts changed", "backend-worker", "production-traffic", "new failure", "kept → lost 5/30", DiffLegend[3]} {
		if !strings.Contains(page, strings.ReplaceAll(s, "'", "&#39;")) && !strings.Contains(page, s) {
			t.Errorf("the page lacks %q", s)
		}
	}
	if strings.Contains(page, "<script") || strings.Contains(page, "http://") || strings.Contains(page, "https://") {
		t.Error("the page is not self-contained")
	}
}

// The two real journals: the full matrix on the process-node twin (all PASS) and on kind
// (backend-worker FAIL: one admin-api-write sample got a 500). Trimmed by hand to the
// verdicts, windows and cells, with staging-traffic's samples of apicast-staging only
// (testdata/README). The kind run ran zync-database before zync: matching is by identity.
func TestDiffRealJournals(t *testing.T) {
	twin, kind := readTestdata(t, "twin-e2e.json"), readTestdata(t, "kind-matrix.json")
	d := Compare(twin, kind)
	if !d.RunVerdictChanged() {
		t.Error("the run's PASS -> FAIL is not found")
	}
	want := []ScenarioChange{{Scenario: "backend-worker", Old: scenario.Pass, New: scenario.Fail}}
	if !reflect.DeepEqual(d.Scenarios, want) {
		t.Errorf("scenarios %+v, want exactly %+v", d.Scenarios, want)
	}
	// The one new failure, and one unasserted cell that behaved differently on kind:
	// alerts failed in 7 of 9 samples while backend-listener was down.
	if got, want := kinds(d), []string{"backend-worker/admin-api-write: new failure", "backend-listener/alerts: behaviour changed"}; !slices.Equal(got, want) {
		t.Errorf("cells %q, want exactly %q", got, want)
	}
	if c := d.Cells[0]; c.Old.Outcome.String() != "kept" || c.New.Outcome.String() != "lost 1/18" || !strings.Contains(c.New.Reason, "status 500") {
		t.Errorf("admin-api-write %+v -> %+v, want kept -> lost 1/18 with the 500", c.Old, c.New)
	}
	// Only staging-traffic kept its samples; on kind the staging gateway took 33 s to
	// serve again after the restore, on the twin under a second.
	if len(d.Timing) != 1 || d.Timing[0].Scenario != "apicast-staging" || d.Timing[0].What != "recovery" ||
		d.Timing[0].New.Lo < 30*time.Second || d.Timing[0].Old.Hi > time.Second {
		t.Errorf("timing %+v, want apicast-staging staging-traffic's recovery, under 1 s -> over 30 s", d.Timing)
	}
	out := text(t, d)
	for _, s := range []string{"backend-worker  PASS -> FAIL", "target file  /tmp/ci/.twin/target.yaml -> /tmp/tk/target.yaml"} {
		if !strings.Contains(out, s) {
			t.Errorf("the text lacks %q:\n%s", s, out)
		}
	}
	if back := Compare(kind, twin); !slices.Equal(kinds(back), []string{"backend-worker/admin-api-write: vanished failure", "backend-listener/alerts: behaviour changed"}) {
		t.Errorf("kind -> twin: cells %q", kinds(back))
	}
}

// One scenario run twice on the twin, the second time from a scenario file edited to expect
// production-traffic lost: the diff is that one cell, its expectation and verdict changed, its
// behaviour (kept) and the onsets unchanged.
func TestDiffEditedScenario(t *testing.T) {
	d := Compare(readTestdata(t, "apicast-staging.json"), readTestdata(t, "apicast-staging-edited.json"))
	if got, want := kinds(d), []string{"apicast-staging/production-traffic: new failure"}; !slices.Equal(got, want) {
		t.Fatalf("cells %q, want exactly %q", got, want)
	}
	c := d.Cells[0]
	if c.Old.Expect != scenario.Kept || c.New.Expect != scenario.Lost || c.Old.Outcome.String() != "kept" || c.New.Outcome.String() != "kept" {
		t.Errorf("cell %+v -> %+v, want expect kept -> lost, observed kept in both", c.Old, c.New)
	}
	want := []ScenarioChange{{Scenario: "apicast-staging", Old: scenario.Pass, New: scenario.Fail}}
	if !reflect.DeepEqual(d.Scenarios, want) || !d.RunVerdictChanged() {
		t.Errorf("scenarios %+v, want exactly %+v", d.Scenarios, want)
	}
	// staging-traffic failed at once both times (onsets 158 ms and 82 ms, sampled each
	// second): noise.
	if len(d.Timing) != 0 {
		t.Errorf("timing %+v, want none", d.Timing)
	}
	// ... and not because the onsets went uncompared: the journal's times to fail were
	// measured on the monotonic clock, the samples' times are wall-clock.
	for _, name := range []string{"apicast-staging.json", "apicast-staging-edited.json"} {
		j := readTestdata(t, name)
		c, _ := j.Scenarios[0].Cell(scenario.StagingTraffic)
		if iv, ok := onsetInterval(&j.Scenarios[0], c); !ok || iv.Hi > time.Second {
			t.Errorf("%s: staging-traffic's onset %v, %v; want one under a second", name, iv, ok)
		}
		if iv, ok := recoveryInterval(&j.Scenarios[0], c); !ok || iv.Hi > 2*time.Second {
			t.Errorf("%s: staging-traffic's recovery %v, %v; want one under two seconds", name, iv, ok)
		}
	}
}

func readTestdata(t *testing.T, name string) *Journal {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	j, err := Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func TestWriteHistoryKeepsTheNewest(t *testing.T) {
	dir := t.TempDir()
	var written []string
	for i := range 5 {
		j := smallRun("run-"+string(rune('a'+i)), smallScenario("zync", kept))
		j.StartedAt = t0.Add(time.Duration(i) * time.Hour)
		p, err := j.WriteHistory(dir, 3)
		if err != nil {
			t.Fatal(err)
		}
		written = append(written, filepath.Base(p))
	}
	if written[0] != "20260501T120000.000000000Z-run-a.json" {
		t.Errorf("history name %q", written[0])
	}
	got, err := filepath.Glob(filepath.Join(dir, HistoryDir, "*"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range got {
		got[i] = filepath.Base(got[i])
	}
	if !slices.Equal(got, written[2:]) {
		t.Errorf("history holds %q, want the newest three %q", got, written[2:])
	}
	f, err := os.Open(filepath.Join(dir, HistoryDir, written[4]))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if j, err := Decode(f); err != nil || j.RunID != "run-e" {
		t.Errorf("the newest history journal: %v, %v", j, err)
	}
}
