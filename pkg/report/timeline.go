package report

import (
	"fmt"
	"slices"
	"time"

	"github.com/threescale-chaos/harness/pkg/scenario"
)

// Timeline geometry, in SVG user units (the SVG scales to the page width, so
// these are proportions, not pixels).
const (
	stripLabel = 230.0
	stripWidth = 900.0
	stripRow   = 16.0
	stripBar   = 12.0
	// A mark's label sits in a lane above the rows; laneHeight is one lane.
	laneHeight = 14.0
	// labelCharWidth bounds the advance of one character of the timeline's
	// 11px sans-serif text (m and w are the widest at about 9; the names and
	// counts used here average under 6), and labelGap is the room kept
	// between two labels in one lane.
	labelCharWidth = 7.0
	labelGap       = 6.0
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

// markView is a vertical line at a phase mark or a deferred-work check, and
// its label at TextX (anchored at Anchor) in its lane.
type markView struct {
	X, Y1, Y2, TextX, TextY float64
	Anchor                  string
	Label                   string
	Title                   string
	Color                   string
}

type rect struct {
	X, Y, W, H float64
}

// mark is a labelled instant on the timeline before layout.
type mark struct {
	at           time.Time
	label, title string
	color        string
}

// buildStrip draws one row per capability: consecutive samples with the same
// outcome and class are one bar from the first one's start to the start of the
// sample after the run (or the end of the last one), so a long run stays small.
// Above the rows, each phase mark and deferred-work check has a label in a
// lane of its own choosing (placeLabels), so no two labels overlap however
// close their instants are.
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
	for _, w := range s.Work {
		widen(w.CheckedAt)
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

	var marks []mark
	for _, p := range s.Phases {
		marks = append(marks, mark{at: p.At, label: p.Name, color: "#1a237e",
			title: fmt.Sprintf("%s at %s (T+%s)", p.Name, fmtTime(p.At), p.At.Sub(from).Round(time.Millisecond))})
	}
	for _, w := range s.Work {
		if w.CheckedAt.IsZero() {
			continue
		}
		color := okColor
		if w.Applied < w.Submitted {
			color = classColors[scenario.ErrNotApplied]
		}
		marks = append(marks, mark{at: w.CheckedAt, label: fmt.Sprintf("%s %d/%d", w.Capability, w.Applied, w.Submitted), color: color,
			title: fmt.Sprintf("%s: %s, %d submitted, %d applied, checked at %s (T+%s)", w.Capability, w.What, w.Submitted, w.Applied,
				fmtTime(w.CheckedAt), w.CheckedAt.Sub(from).Round(time.Millisecond))})
	}
	slices.SortStableFunc(marks, func(a, b mark) int { return a.at.Compare(b.at) })
	xs := make([]float64, len(marks))
	labels := make([]string, len(marks))
	for i, m := range marks {
		xs[i], labels[i] = x(m.at), m.label
	}
	placed, lanes := placeLabels(xs, labels, stripLabel+stripWidth)
	header := laneHeight*float64(lanes) + 8
	rows := stripRow*float64(len(s.Samples)) + 6
	st.Height = header + rows

	if !s.Window.Start.IsZero() && s.Window.End.After(s.Window.Start) {
		st.Window = &rect{X: x(s.Window.Start), Y: header - 4, W: x(s.Window.End) - x(s.Window.Start), H: rows}
	}
	for i, ser := range s.Samples {
		y := header + stripRow*float64(i)
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
	for i, m := range marks {
		p := placed[i]
		textY := laneHeight*float64(p.lane+1) - 3
		st.Marks = append(st.Marks, markView{X: xs[i], Y1: textY + 3, Y2: st.Height, TextX: p.textX, TextY: textY,
			Anchor: p.anchor, Label: m.label, Title: m.title, Color: m.color})
	}
	return st
}

type placedLabel struct {
	lane   int
	textX  float64
	anchor string
}

// labelWidth is the most room label can take on the timeline.
func labelWidth(label string) float64 {
	return labelCharWidth * float64(len([]rune(label)))
}

// placeLabels lays out labels, one per instant xs[i] (sorted ascending), in
// lanes: a label starts just right of its instant, or ends just left of it
// when it would pass right, and goes in the first lane
// whose labels all end labelGap before it starts. It returns each label's
// place and the number of lanes used. Widths are labelWidth's upper bound, so
// two labels placed apart here are apart on the page.
func placeLabels(xs []float64, labels []string, right float64) ([]placedLabel, int) {
	out := make([]placedLabel, len(xs))
	var laneEnd []float64 // the rightmost edge taken in each lane
	for i, x := range xs {
		w := labelWidth(labels[i])
		x0, textX, anchor := x+2, x+2, "start"
		if x0+w > right {
			x0, textX, anchor = x-2-w, x-2, "end"
		}
		lane := slices.IndexFunc(laneEnd, func(end float64) bool { return end+labelGap <= x0 })
		if lane < 0 {
			lane = len(laneEnd)
			laneEnd = append(laneEnd, 0)
		}
		laneEnd[lane] = x0 + w
		out[i] = placedLabel{lane: lane, textX: textX, anchor: anchor}
	}
	return out, len(laneEnd)
}
