package report

import (
	"bytes"
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"slices"
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
// CSS and SVG, no scripts, no external assets) with the run's verdict, the
// matrix of components × capabilities (cell colour is the verdict, hovering
// shows the reason), and per scenario a timeline strip per capability drawn
// from the samples with the phase marks, the cells, work checks, load counts
// and doc gaps. It is rendered from the redacted journal.
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
}

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
}

type legendItem struct {
	Label, Color string
}

// Strip geometry, in SVG user units.
const (
	stripLabel  = 230.0
	stripWidth  = 900.0
	stripRow    = 16.0
	stripBar    = 12.0
	stripHeader = 30.0
)

type strip struct {
	Width, Height, Left, PlotWidth float64
	Empty                          bool
	Span                           string
	Window                         *rect
	Rows                           []stripRowView
	Marks                          []markView
}

type stripRowView struct {
	Y, TextY float64
	Label    string
	Runs     []runView
}

type runView struct {
	X, W, Y, H float64
	Color      string
	Title      string
}

type markView struct {
	X, Y1, Y2, TextY float64
	Label            string
	Title            string
}

type rect struct {
	X, Y, W, H float64
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
		v.Scenarios = append(v.Scenarios, scenarioView{S: s, Anchor: anchor, Strip: buildStrip(s)})
	}
	v.Legend = append(v.Legend, legendItem{"ok", okColor})
	for _, c := range []scenario.ErrorClass{scenario.ErrRefused, scenario.ErrTimeout, scenario.ErrReset, scenario.Err5xx,
		scenario.Err4xx, scenario.ErrWrongStatus, scenario.ErrWrongBody, scenario.ErrNotApplied, scenario.ErrOther} {
		v.Legend = append(v.Legend, legendItem{string(c), classColors[c]})
	}
	return v
}

// buildStrip draws one row per capability: consecutive samples with the same
// outcome and class are one bar from the first one's start to the start of the
// sample after the run (or the end of the last one), so a long run stays small.
func buildStrip(s ScenarioResult) strip {
	st := strip{Left: stripLabel, PlotWidth: stripWidth, Width: stripLabel + stripWidth + 10}
	var from, to time.Time
	widen := func(t time.Time) {
		if t.IsZero() {
			return
		}
		if from.IsZero() || t.Before(from) {
			from = t
		}
		if to.IsZero() || t.After(to) {
			to = t
		}
	}
	for _, ser := range s.Samples {
		for _, x := range ser.Samples {
			widen(x.Time)
			widen(x.Time.Add(x.Latency))
		}
	}
	for _, p := range s.Phases {
		widen(p.At)
	}
	if from.IsZero() || !to.After(from) {
		st.Empty = true
		return st
	}
	span := to.Sub(from)
	st.Span = fmt.Sprintf("%s from %s", span.Round(time.Millisecond), fmtTime(from))
	x := func(t time.Time) float64 {
		return stripLabel + stripWidth*float64(t.Sub(from))/float64(span)
	}
	st.Height = stripHeader + stripRow*float64(len(s.Samples)) + 6

	if !s.Window.Start.IsZero() && s.Window.End.After(s.Window.Start) {
		st.Window = &rect{X: x(s.Window.Start), Y: stripHeader - 4, W: x(s.Window.End) - x(s.Window.Start), H: stripRow*float64(len(s.Samples)) + 6}
	}
	for i, ser := range s.Samples {
		y := stripHeader + stripRow*float64(i)
		row := stripRowView{Y: y, TextY: y + stripBar - 2, Label: string(ser.Capability)}
		if c, ok := s.Cell(ser.Capability); ok {
			row.Label += " (" + string(c.Expect) + ")"
		}
		ss := ser.Samples
		for a := 0; a < len(ss); {
			b := a + 1
			for b < len(ss) && ss[b].OK == ss[a].OK && ss[b].ErrorClass == ss[a].ErrorClass {
				b++
			}
			end := ss[b-1].Time.Add(ss[b-1].Latency)
			if b < len(ss) {
				end = ss[b].Time
			}
			x0, x1 := x(ss[a].Time), x(end)
			w := max(x1-x0, 1)
			outcome := "ok"
			if !ss[a].OK {
				outcome = "failed (" + string(ss[a].ErrorClass) + ")"
			}
			title := fmt.Sprintf("%s: %s × %d, T+%s to T+%s", ser.Capability, outcome, b-a,
				ss[a].Time.Sub(from).Round(time.Millisecond), end.Sub(from).Round(time.Millisecond))
			if d := ss[a].String(); !ss[a].OK {
				title += "\nfirst: " + d
			}
			row.Runs = append(row.Runs, runView{X: x0, W: w, Y: y, H: stripBar, Color: colorOf(ss[a]), Title: title})
			a = b
		}
		st.Rows = append(st.Rows, row)
	}
	phases := slices.Clone(s.Phases)
	slices.SortStableFunc(phases, func(a, b Phase) int { return a.At.Compare(b.At) })
	for i, p := range phases {
		textY := 10.0
		if i%2 == 1 {
			textY = 21
		}
		st.Marks = append(st.Marks, markView{X: x(p.At), Y1: stripHeader - 6, Y2: st.Height, TextY: textY, Label: p.Name,
			Title: fmt.Sprintf("%s at %s (T+%s)", p.Name, fmtTime(p.At), p.At.Sub(from).Round(time.Millisecond))})
	}
	return st
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
