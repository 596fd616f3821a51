package scenario

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// MarkdownMatrix renders what each scenario asserts as a Markdown table, one row per
// scenario (a component, or several down together), followed by the documentation gaps the files record. The README embeds its
// output between markers and a test keeps the two equal, so the README cannot drift from
// the files.
func MarkdownMatrix(scs []Scenario) string {
	var b strings.Builder
	b.WriteString("| component | must break (lost) | deferred: applied after recovery | degraded | not asserted | keeps working | held / recovery budget |\n")
	b.WriteString("|---|---|---|---|---|---|---|\n")
	for _, sc := range scs {
		by := map[Expect][]string{}
		for _, e := range sc.Cells() {
			name := "`" + string(e.Capability) + "`"
			if e.Expect == Lost && e.LostWork {
				name += " (its work too)"
			}
			by[e.Expect] = append(by[e.Expect], name)
		}
		keeps := "all others"
		if len(by[Lost])+len(by[Deferred])+len(by[Degraded])+len(by[Unasserted]) == 0 {
			keeps = "everything"
		}
		if len(by[Kept]) == 0 {
			keeps = "-"
		}
		held := short(sc.Timing.Observe)
		for _, e := range sc.Cells() {
			if e.Spans != "" {
				held += fmt.Sprintf(" (at least one %s + %s)", e.Spans, short(sc.Timing.PeriodMargin))
				break
			}
		}
		name := "**" + sc.Name + "**"
		if sc.Multi() {
			name += " (" + strings.Join(sc.ComponentNames(), " + ") + ", down together)"
		}
		if sc.Variant() {
			name += " (" + sc.Component.Name + "; the product runs " + sc.Product.String() + ")"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s (%d) | %s / %s |\n", name,
			list(by[Lost]), list(by[Deferred]), list(by[Degraded]), list(by[Unasserted]), keeps, len(by[Kept]),
			held, short(sc.Timing.RecoveryBudget))
	}
	var gaps []string
	for _, sc := range scs {
		for _, g := range sc.DocGaps {
			gaps = append(gaps, fmt.Sprintf("- **%s**, `%s`: the doc says: %s What 3scale does: %s (%s)",
				sc.Name, g.Capability, sentence(g.Documented), sentence(g.Observed), g.Citation))
		}
	}
	if len(gaps) > 0 {
		b.WriteString("\nWhere the documentation and 3scale's code disagree, the scenario encodes the code and records the gap:\n\n")
		b.WriteString(strings.Join(gaps, "\n"))
		b.WriteString("\n")
	}
	return b.String()
}

func list(xs []string) string {
	if len(xs) == 0 {
		return "-"
	}
	return strings.Join(xs, ", ")
}

// short writes a duration in seconds, as the scenario files do.
func short(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	if d%time.Second == 0 {
		return fmt.Sprintf("%ds", int64(d/time.Second))
	}
	return d.String()
}

// sentence ends s with a full stop.
func sentence(s string) string {
	s = strings.TrimSpace(s)
	if s == "" || strings.HasSuffix(s, ".") {
		return s
	}
	return s + "."
}

// MarkdownClaims renders the claims table (ClaimTable) as Markdown: a count by status,
// then one row per claim with the cells that assert it, or why nothing does. The README
// embeds it between markers, kept equal by a test, like MarkdownMatrix.
func MarkdownClaims(scs []Scenario) string {
	rows := ClaimTable(scs)
	total, by := ClaimCounts(rows)
	var b strings.Builder
	fmt.Fprintf(&b, "%d behaviours stated by the doc: %d asserted, %d asserted in part, %d not asserted (each with what is missing).\n\n",
		total, by[Asserted], by[AssertedInPart], by[NotAsserted])
	b.WriteString("| claim | the doc says (paraphrased) | asserted by | not asserted |\n")
	b.WriteString("|---|---|---|---|\n")
	kept := map[string]int{}
	for _, sc := range scs {
		for _, e := range sc.Cells() {
			if e.Expect == Kept {
				kept[sc.Path]++
			}
		}
	}
	for _, r := range rows {
		var cells []string
		nKept := 0
		for _, c := range r.Cells {
			if c.Expect == Kept {
				nKept++
			}
		}
		if nKept == len(r.Cells) && nKept == kept[r.Path] && nKept > 4 {
			cells = append(cells, fmt.Sprintf("every kept cell (%d)", nKept))
		} else {
			for _, c := range r.Cells {
				s := fmt.Sprintf("`%s` %s", c.Capability, c.Expect)
				if slices.Contains(r.DocGaps, c.Capability) {
					s += " (doc gap)"
				}
				cells = append(cells, s)
			}
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", r.ID, cell(r.Says), list(cells), cell(r.Unasserted))
	}
	return b.String()
}

// cell makes free text fit a table cell.
func cell(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if s == "" {
		return "-"
	}
	return sentence(strings.ToUpper(s[:1]) + strings.ReplaceAll(s[1:], "|", `\|`))
}
