package report

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"unicode/utf8"
)

// DiffLegend says how to read a diff; the text and the HTML both end with it.
var DiffLegend = []string{
	"observed: kept = every sample in the fault-held window succeeded; lost N/M = N of its M samples failed.",
	"onset: fault-held mark to the first failing sample; it lies between the last success before that sample and it.",
	"recovery: restore to the first sample from which all later ones succeeded; it lies between the last failure before that sample and it.",
	"A timing shift is listed only when OLD's and NEW's intervals (in parentheses) do not overlap.",
}

// textWidth is the terminal width the text's free-running lines (reasons, legend) wrap at.
const textWidth = 100

// WriteText writes the diff for a terminal, most important first: the runs compared, the
// verdicts that changed, the cells that changed (failures first), the timing shifts
// beyond noise, and the legend; "no differences" when there are none.
func (d *Diff) WriteText(w io.Writer) error {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	for _, r := range []struct {
		label string
		h     RunHeader
	}{{"OLD", d.Old}, {"NEW", d.New}} {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t3scale %s\n", r.label, r.h.RunID, r.h.StartedAt.UTC().Format("2006-01-02 15:04Z"),
			orDash(string(r.h.Verdict)), count(r.h.Scenarios, "scenario"), orDash(r.h.Target.Version))
	}
	tw.Flush()
	if t := d.targetChanges(); len(t) > 0 {
		b.WriteString("the targets differ: behaviour may differ for that reason alone\n")
		for _, c := range t {
			fmt.Fprintf(tw, "  %s\t%s\n", c.name, change(orDash(c.old), orDash(c.new)))
		}
		tw.Flush()
	}
	if d.Empty() {
		b.WriteString("\nno differences\n")
		_, err := io.WriteString(w, b.String())
		return err
	}

	if d.RunVerdictChanged() || len(d.Scenarios) > 0 {
		b.WriteString("\nVERDICTS\n")
		if d.RunVerdictChanged() {
			fmt.Fprintf(tw, "  run\t%s -> %s\n", d.Old.Verdict, d.New.Verdict)
		}
		for _, s := range d.Scenarios {
			switch s.OnlyIn() {
			case "":
				fmt.Fprintf(tw, "  %s\t%s -> %s\n", s.Scenario, s.Old, s.New)
			case "NEW":
				fmt.Fprintf(tw, "  %s\tonly in NEW\t%s, %s\n", s.Scenario, s.New, count(s.Cells, "cell"))
			case "OLD":
				fmt.Fprintf(tw, "  %s\tonly in OLD\t%s, %s\n", s.Scenario, s.Old, count(s.Cells, "cell"))
			}
		}
		tw.Flush()
	}

	if len(d.Cells) > 0 {
		b.WriteString("\nCELLS\n")
		fmt.Fprintf(tw, "  SCENARIO\tCAPABILITY\tCHANGE\tEXPECT\tVERDICT\tOBSERVED\n")
		for _, c := range d.Cells {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\n", c.Scenario, c.Capability, c.Kind,
				change(string(c.Old.Expect), string(c.New.Expect)), change(string(c.Old.Verdict), string(c.New.Verdict)),
				change(outcome(c.Old), outcome(c.New)))
		}
		tw.Flush()
		for _, c := range d.Cells {
			if c.Kind > VerdictChanged {
				continue
			}
			for _, s := range []struct {
				label string
				side  CellSide
			}{{"OLD", c.Old}, {"NEW", c.New}} {
				if s.side.Reason != "" {
					wrap(&b, fmt.Sprintf("%s %s/%s: %s", s.label, c.Scenario, c.Capability, s.side.Reason), "  ", "      ")
				}
			}
		}
	}

	if len(d.Timing) > 0 {
		b.WriteString("\nTIMING (beyond noise)\n")
		fmt.Fprintf(tw, "  SCENARIO\tCAPABILITY\tWHAT\tOLD\tNEW\n")
		for _, t := range d.Timing {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", t.Scenario, t.Capability, t.What, t.Old, t.New)
		}
		tw.Flush()
	}

	b.WriteString("\n")
	for _, l := range DiffLegend {
		wrap(&b, l, "", "  ")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// change is "o -> n", or the one value when they are equal or one side is missing (a
// cell in one run only).
func change(o, n string) string { return changeWith(" -> ", o, n) }

func changeWith(arrow, o, n string) string {
	switch {
	case o == n, n == "":
		return o
	case o == "":
		return n
	}
	return o + arrow + n
}

// count is "1 cell", "2 cells".
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func outcome(s CellSide) string {
	if s.Verdict == "" {
		return ""
	}
	return s.Outcome.String()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// wrap writes s in lines of at most textWidth columns, the first indented by first, the
// others by rest; a word longer than a line gets a line of its own.
func wrap(b *strings.Builder, s, first, rest string) {
	line := first
	for i, w := range strings.Fields(s) {
		if i > 0 && utf8.RuneCountInString(line)+1+utf8.RuneCountInString(w) > textWidth {
			b.WriteString(line + "\n")
			line = rest + w
			continue
		}
		if i > 0 {
			line += " "
		}
		line += w
	}
	b.WriteString(line + "\n")
}
