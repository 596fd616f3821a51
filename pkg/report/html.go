package report

import (
	"bytes"
	"cmp"
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/threescale-chaos/harness/pkg/scenario"
)

//go:embed report.html.tmpl
var reportTemplate string

// WriteHTML writes the report page to dir/report.html (creating dir) and returns
// the path.
func (j *Journal) WriteHTML(dir string) (string, error) {
	return writeFile(dir, HTMLFile, j.RenderHTML)
}

// RenderHTML writes the report page: one self-contained HTML document (inline
// CSS and SVG, no scripts, no external assets). It opens with what release
// qualification reads first: the run's verdict and the cells that decided it,
// each doc gap with its citation and whether this run observed the behaviour
// the scenario file encodes, and the slowest recoveries against their budgets.
// The matrix of components × capabilities follows (cell colour is the verdict,
// hovering shows the reason), then per scenario a timeline strip per capability
// drawn from the samples with the phase marks and deferred-work checks labelled
// in lanes, each cell's time to fail and time to recover as bars against the
// time held and the budget, work checks, load counts and doc gaps. It is
// rendered from the redacted journal.
func (j *Journal) RenderHTML(w io.Writer) error {
	r, err := j.redacted()
	if err != nil {
		return err
	}
	t, err := template.New("report").Funcs(template.FuncMap{
		"ts":      func(t time.Time) string { return fmtTime(t) },
		"summary": CellSummary,
		"lower":   func(v scenario.Verdict) string { return verdictClass(v) },
	}).Parse(reportTemplate)
	if err != nil {
		return fmt.Errorf("parsing report template: %w", err)
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, buildView(r)); err != nil {
		return fmt.Errorf("rendering report: %w", err)
	}
	_, err = w.Write(buf.Bytes())
	return err
}

type view struct {
	J            *Journal
	Capabilities []scenario.Capability
	Rows         []matrixRow
	Scenarios    []scenarioView
	Legend       []legendItem
	// Tally counts the cells by verdict ("34 cells: 33 PASS, 1 FAIL").
	Tally string
	// Why lists the cells and scenarios that are not PASS, worst first.
	Why     []whyItem
	WhyMore int
	Gaps    []gapView
	// GapsMore counts the doc gaps past gapsShown, shown only in their scenarios' sections.
	GapsMore int
	// GapsCompact puts each doc gap on one line, its full text in a
	// tooltip, when there are too many to fit the first screen in full.
	GapsCompact bool
	Slowest     []slowView
	// Claims are the documented behaviours of the run's scenarios, and
	// ClaimTally counts them by what this run saw.
	Claims     []claimView
	ClaimTally string
}

// claimView is one documented behaviour and what this run saw of it.
type claimView struct {
	Anchor, Scenario string
	C                ClaimRecord
	// Cells lists the cited cells as "capability expect VERDICT"; Summary
	// counts them, for a claim that cites many ("16 cells: 16 PASS").
	Cells   []string
	Summary string
	// Held is "held", "did not hold", "not judged" (a cited cell INVALID) or
	// "not asserted"; HeldClass its colour class.
	Held, HeldClass string
}

// whyItem is a cell or a scenario that decided a verdict other than PASS.
type whyItem struct {
	Anchor, Where string
	Verdict       scenario.Verdict
	Reason        string
}

// gapView is one doc gap on the first screen: the scenario file's claim and
// whether this run saw 3scale behave as the file encodes.
type gapView struct {
	Anchor, Scenario string
	G                DocGap
	// Seen is "observed", "not observed" or "not sampled"; SeenClass its
	// colour class.
	Seen, SeenClass string
	// Cite is the first source location the citation names, CiteShort the
	// same as repository and file name; More how many further references
	// follow it.
	Cite, CiteShort string
	More            int
}

// slowView is one of the slowest recoveries.
type slowView struct {
	Anchor, Scenario string
	Capability       scenario.Capability
	Bar              barView
}

// barView is a duration drawn against what it is measured against: Pct is
// its share of the scale (capped at 100), Text says both, Class colours it.
type barView struct {
	Pct   float64
	Text  string
	Class string
	// Tick, when set, marks a limit inside the scale (a lost cell's onset
	// grace) at TickPct.
	Tick    bool
	TickPct float64
	key     float64 // what the slowest recoveries sort by
}

// slowestShown is how many recoveries the first screen lists.
const slowestShown = 5

// whyShown is how many non-PASS items the first screen lists.
const whyShown = 5

// gapsInFull is how many doc gaps the first screen shows in full; with more
// (a full matrix has about twenty) each takes one line.
const gapsInFull = 6

// gapsShown is how many doc gaps the first screen lists, one line each: a full matrix with
// the caching variants has 28, which push the list below a 1280×800 screen. The rest are
// counted, and listed in their scenarios' sections.
const gapsShown = 20

type matrixRow struct {
	Name    string
	Anchor  string
	Verdict scenario.Verdict
	Cells   []matrixCell
}

type matrixCell struct {
	Present bool
	Expect  scenario.Expect
	Verdict scenario.Verdict
	Title   string
}

type scenarioView struct {
	S      ScenarioResult
	Anchor string
	Strip  strip
	Bars   []cellBars
	Work   []workView
}

// cellBars is a cell's time to fail, against the fault-held window it had to
// fail in, and its time to recover, against its recovery budget.
type cellBars struct {
	C             Cell
	Fail, Recover barView
}

// workView is a deferred-work check with when it was made, from restore.
type workView struct {
	W     WorkRecord
	After string
	Class string
}

type legendItem struct {
	Label, Color string
}

var classColors = map[scenario.ErrorClass]string{
	scenario.ErrRefused:     "#c62828",
	scenario.ErrTimeout:     "#ef6c00",
	scenario.ErrReset:       "#ad1457",
	scenario.Err5xx:         "#b71c1c",
	scenario.Err4xx:         "#7b1fa2",
	scenario.ErrWrongStatus: "#5e35b1",
	scenario.ErrWrongBody:   "#6d4c41",
	scenario.ErrNotApplied:  "#1565c0",
	scenario.ErrOther:       "#424242",
}

const okColor = "#2e7d32"

func colorOf(s scenario.Sample) string {
	if s.OK {
		return okColor
	}
	if c, ok := classColors[s.ErrorClass]; ok {
		return c
	}
	return classColors[scenario.ErrOther]
}

func buildView(j *Journal) view {
	v := view{J: j}
	seen := map[scenario.Capability]bool{}
	for _, s := range j.Scenarios {
		for _, c := range s.Cells {
			seen[c.Capability] = true
		}
	}
	v.Capabilities = orderCapabilities(seen)
	tally := map[scenario.Verdict]int{}
	cells := 0
	for i, s := range j.Scenarios {
		anchor := fmt.Sprintf("s%d", i)
		if s.Invalid != "" {
			v.Why = append(v.Why, whyItem{Anchor: anchor, Where: s.Name, Verdict: scenario.Invalid, Reason: s.Invalid})
		}
		for _, c := range s.Cells {
			cells++
			tally[c.Verdict]++
			if c.Verdict != scenario.Pass {
				v.Why = append(v.Why, whyItem{Anchor: anchor, Where: s.Name + " × " + string(c.Capability), Verdict: c.Verdict, Reason: c.Reason})
			}
		}
		for _, g := range s.DocGaps {
			gv := gapView{Anchor: anchor, Scenario: s.Name, G: g}
			gv.Seen, gv.SeenClass = gapSeen(s, g)
			gv.Cite, gv.More = firstCitation(g.Citation)
			gv.CiteShort = shortLocation(gv.Cite)
			v.Gaps = append(v.Gaps, gv)
		}
		for _, cl := range s.Claims {
			v.Claims = append(v.Claims, claimViewOf(anchor, s, cl))
		}
		for _, c := range s.Cells {
			if c.Recovery.Budget == 0 && c.Recovery.TimeToRecover == nil {
				continue
			}
			v.Slowest = append(v.Slowest, slowView{Anchor: anchor, Scenario: s.Name, Capability: c.Capability, Bar: recoverBar(c)})
		}
	}
	slices.SortStableFunc(v.Why, func(a, b whyItem) int { return verdictRank(b.Verdict) - verdictRank(a.Verdict) })
	// Not observed first: 3scale no longer does what the scenario file
	// says its source does.
	slices.SortStableFunc(v.Gaps, func(a, b gapView) int { return gapRank(a.Seen) - gapRank(b.Seen) })
	v.GapsCompact = len(v.Gaps) > gapsInFull
	if len(v.Gaps) > gapsShown {
		v.GapsMore, v.Gaps = len(v.Gaps)-gapsShown, v.Gaps[:gapsShown]
	}
	if len(v.Why) > whyShown {
		v.WhyMore, v.Why = len(v.Why)-whyShown, v.Why[:whyShown]
	}
	// Not recovered first, then the longest times to recover.
	slices.SortStableFunc(v.Slowest, func(a, b slowView) int { return cmp.Compare(b.Bar.key, a.Bar.key) })
	v.Slowest = v.Slowest[:min(len(v.Slowest), slowestShown)]
	v.ClaimTally = claimTally(v.Claims)
	v.Tally = fmt.Sprintf("%d scenarios, %d cells", len(j.Scenarios), cells)
	for i, vd := range []scenario.Verdict{scenario.Pass, scenario.Fail, scenario.Invalid} {
		if i == 0 {
			v.Tally += ":"
		} else {
			v.Tally += ","
		}
		v.Tally += fmt.Sprintf(" %d %s", tally[vd], vd)
	}
	for i, s := range j.Scenarios {
		anchor := fmt.Sprintf("s%d", i)
		row := matrixRow{Name: s.Name, Anchor: anchor, Verdict: s.Verdict}
		for _, c := range v.Capabilities {
			cell, ok := s.Cell(c)
			mc := matrixCell{Present: ok}
			if ok {
				mc.Expect, mc.Verdict = cell.Expect, cell.Verdict
				mc.Title = fmt.Sprintf("%s × %s\n%s\n%s", s.Name, c, CellSummary(cell), cell.Reason)
			}
			row.Cells = append(row.Cells, mc)
		}
		v.Rows = append(v.Rows, row)
		sv := scenarioView{S: s, Anchor: anchor, Strip: buildStrip(s)}
		held := s.Window.End.Sub(s.Window.Start)
		for _, c := range s.Cells {
			sv.Bars = append(sv.Bars, cellBars{C: c, Fail: failBar(c, held), Recover: recoverBar(c)})
		}
		restore := phaseAt(s, "restore")
		for _, w := range s.Work {
			wv := workView{W: w, Class: "pass"}
			if w.Applied < w.Submitted {
				wv.Class = "fail"
			}
			if !restore.IsZero() && !w.CheckedAt.IsZero() {
				wv.After = "restore + " + Duration(w.CheckedAt.Sub(restore)).String()
			}
			sv.Work = append(sv.Work, wv)
		}
		v.Scenarios = append(v.Scenarios, sv)
	}
	v.Legend = append(v.Legend, legendItem{"ok", okColor})
	for _, c := range []scenario.ErrorClass{scenario.ErrRefused, scenario.ErrTimeout, scenario.ErrReset, scenario.Err5xx,
		scenario.Err4xx, scenario.ErrWrongStatus, scenario.ErrWrongBody, scenario.ErrNotApplied, scenario.ErrOther} {
		v.Legend = append(v.Legend, legendItem{string(c), classColors[c]})
	}
	return v
}

// gapSeen says whether the run saw 3scale do what the doc gap's cell encodes:
// observed when the cell's outage verdict (and its work verdict, if any) is
// PASS, not observed when one of them is FAIL, and not sampled when the cell is
// missing, had no samples and no work check, or is INVALID. Recovery does not
// count: a gap is about the outage.
func claimViewOf(anchor string, s ScenarioResult, cl ClaimRecord) claimView {
	cv := claimView{Anchor: anchor, Scenario: s.Name, C: cl}
	by := map[string]int{}
	for _, cc := range cl.Cells {
		verdict := "not run"
		if c, ok := s.Cell(cc.Capability); ok {
			verdict = string(c.Verdict)
		}
		cv.Cells = append(cv.Cells, fmt.Sprintf("%s %s %s", cc.Capability, cc.Expect, verdict))
		by[verdict]++
	}
	cv.Summary = fmt.Sprintf("%d cells:", len(cl.Cells))
	for _, v := range []string{string(scenario.Pass), string(scenario.Fail), string(scenario.Invalid), "not run"} {
		if by[v] > 0 {
			cv.Summary += fmt.Sprintf(" %d %s", by[v], v)
		}
	}
	switch {
	case len(cl.Cells) == 0:
		cv.Held, cv.HeldClass = "not asserted", "none"
	case cl.Verdict == scenario.Pass:
		cv.Held, cv.HeldClass = "held", "pass"
	case cl.Verdict == scenario.Fail:
		cv.Held, cv.HeldClass = "did not hold", "fail"
	default:
		cv.Held, cv.HeldClass = "not judged", "invalid"
	}
	return cv
}

// claimTally counts claims by what the run saw: "37 claims: 27 held, 0 did not hold, ...".
func claimTally(cs []claimView) string {
	if len(cs) == 0 {
		return ""
	}
	n := map[string]int{}
	inPart := 0
	for _, c := range cs {
		n[c.Held]++
		if c.C.Status == scenario.AssertedInPart {
			inPart++
		}
	}
	return fmt.Sprintf("%d claims: %d held (%d of them asserted in part), %d did not hold, %d not judged, %d not asserted",
		len(cs), n["held"], inPart, n["did not hold"], n["not judged"], n["not asserted"])
}

func gapSeen(s ScenarioResult, g DocGap) (string, string) {
	c, ok := s.Cell(g.Capability)
	if !ok || (c.Outage.Counts.Total == 0 && c.Work == nil) {
		return "not sampled", "none"
	}
	parts := []scenario.Verdict{c.Outage.Verdict}
	if c.Work != nil {
		parts = append(parts, c.Work.Verdict)
	}
	switch {
	case slices.Contains(parts, scenario.Fail):
		return "not observed", "fail"
	case !slices.ContainsFunc(parts, func(v scenario.Verdict) bool { return v != scenario.Pass }):
		return "observed", "pass"
	}
	return "not sampled", "none"
}

// firstCitation returns the first source location a citation names (up to its
// first parenthesis) and how many more references, separated by "; ", follow.
func firstCitation(c string) (string, int) {
	refs := strings.Split(c, "; ")
	first, _, _ := strings.Cut(refs[0], " (")
	return first, len(refs) - 1
}

// shortLocation shortens "apisonator@3scale-2.16.4-GA:lib/3scale/backend/transactor.rb:125-146"
// to "apisonator transactor.rb:125-146"; anything else is returned as it is.
func shortLocation(loc string) string {
	repo, rest, ok := strings.Cut(loc, "@")
	if !ok || strings.ContainsAny(repo, " /") {
		return loc
	}
	_, path, ok := strings.Cut(rest, ":")
	if !ok {
		return loc
	}
	return repo + " " + path[strings.LastIndex(path, "/")+1:]
}

// recoverBar draws the time to recover against the budget; a cell that never
// recovered is a full red bar.
func recoverBar(c Cell) barView {
	budget := time.Duration(c.Recovery.Budget)
	if c.Recovery.TimeToRecover == nil {
		return barView{Pct: 100, Text: "not recovered (budget " + c.Recovery.Budget.String() + ")", Class: "fail", key: math.Inf(1)}
	}
	d := time.Duration(*c.Recovery.TimeToRecover)
	b := barView{Text: c.Recovery.TimeToRecover.String() + " of " + c.Recovery.Budget.String(), Class: "pass", key: float64(d)}
	if budget > 0 {
		b.Pct = min(100, 100*float64(d)/float64(budget))
	}
	if d > budget {
		b.Class = "fail"
	}
	return b
}

// failBar draws the time to fail against the fault-held window, with a lost
// cell's onset grace marked on it when it has one.
func failBar(c Cell, held time.Duration) barView {
	b := barView{Text: "never failed", Class: "none"}
	if c.Outage.TimeToFail != nil {
		d := time.Duration(*c.Outage.TimeToFail)
		b = barView{Text: c.Outage.TimeToFail.String(), Class: "onset", key: float64(d)}
		if held > 0 {
			b.Text += " of " + Duration(held).String() + " held"
			b.Pct = min(100, 100*float64(d)/float64(held))
		}
	}
	if g := time.Duration(c.Outage.OnsetGrace); g > 0 && held > 0 {
		b.Tick, b.TickPct = true, min(100, 100*float64(g)/float64(held))
		b.Text += ", grace " + c.Outage.OnsetGrace.String()
	}
	return b
}

func phaseAt(s ScenarioResult, name string) time.Time {
	for _, p := range s.Phases {
		if p.Name == name {
			return p.At
		}
	}
	return time.Time{}
}

func gapRank(seen string) int {
	switch seen {
	case "not observed":
		return 0
	case "not sampled":
		return 1
	}
	return 2
}

func verdictRank(v scenario.Verdict) int {
	switch v {
	case scenario.Fail:
		return 3
	case scenario.Invalid:
		return 2
	case scenario.Pass:
		return 0
	}
	return 1
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "–"
	}
	return t.UTC().Format("2006-01-02 15:04:05.000Z")
}

func verdictClass(v scenario.Verdict) string {
	switch v {
	case scenario.Pass:
		return "pass"
	case scenario.Fail:
		return "fail"
	case scenario.Invalid:
		return "invalid"
	}
	return "none"
}
