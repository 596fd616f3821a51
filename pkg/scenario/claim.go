package scenario

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Claim is one behaviour that a component's section of docs/3scale-component-failures.md
// states: something that stops, keeps working or happens because the component is down.
// It lives in the scenario file of that component, next to the cells that assert it, so
// that a cell cannot change its expectation, or lose it, without the claim failing to load.
type Claim struct {
	// ID is "<doc section>/<n>", numbered in the order the section states its
	// behaviours. An id is never reused: a claim that goes leaves a hole.
	ID string
	// Says paraphrases the behaviour; it never copies the doc's sentence.
	Says string
	// Cells are the scenario's cells that assert the claim, in capability order,
	// each with the expectation through which it asserts it. None is unasserted.
	Cells []ClaimCell
	// Unasserted says what nothing asserts and what is missing to assert it:
	// the whole claim when Cells is empty, else the part the cells leave out.
	Unasserted string
}

// ClaimCell names one cell of the claim's scenario and the expectation the claim relies on.
type ClaimCell struct {
	Capability Capability
	Expect     Expect
}

// ClaimStatus is how much of a claim the harness judges.
type ClaimStatus string

// The claim statuses.
const (
	// Asserted: cells judge all of the claim.
	Asserted ClaimStatus = "asserted"
	// AssertedInPart: cells judge the claim, and Unasserted names what they leave out.
	AssertedInPart ClaimStatus = "asserted in part"
	// NotAsserted: nothing judges the claim; Unasserted says why.
	NotAsserted ClaimStatus = "unasserted"
)

// Status says how much of the claim the harness judges.
func (c Claim) Status() ClaimStatus {
	switch {
	case len(c.Cells) == 0:
		return NotAsserted
	case strings.TrimSpace(c.Unasserted) != "":
		return AssertedInPart
	default:
		return Asserted
	}
}

// ClaimRow is one line of the claims table: a claim with the scenario it belongs to.
type ClaimRow struct {
	Claim
	// Component is the catalog name of the scenario's component; Section is the
	// doc's heading, which the claim's id starts with (they differ for system-searchd,
	// which the doc calls system-sphinx).
	Component string
	Section   string
	// Path is the scenario file.
	Path string
	// DocGaps are the cited capabilities for which the scenario records a doc
	// gap: the cell encodes what 3scale's code does, which the doc's sentence
	// does not say, or contradicts.
	DocGaps []Capability
}

// ClaimTable returns every claim of the scenarios, by doc section in the order the scenarios
// first name it and, within a section, by number: a variant's claim (backend-listener/3 in
// backend-listener-caching-resilient.yaml) sits with its section's. Reports and the README
// render it.
func ClaimTable(scs []Scenario) []ClaimRow {
	var rows []ClaimRow
	for _, sc := range scs {
		for _, c := range sc.Claims {
			r := ClaimRow{Claim: c, Component: sc.Component.Name, Section: sc.Doc.Section, Path: sc.Path}
			for _, cell := range c.Cells {
				if slices.ContainsFunc(sc.DocGaps, func(g DocGap) bool { return g.Capability == cell.Capability }) {
					r.DocGaps = append(r.DocGaps, cell.Capability)
				}
			}
			rows = append(rows, r)
		}
	}
	first := map[string]int{}
	for i, r := range rows {
		if _, ok := first[r.Section]; !ok {
			first[r.Section] = i
		}
	}
	slices.SortStableFunc(rows, func(a, b ClaimRow) int {
		if d := first[a.Section] - first[b.Section]; d != 0 {
			return d
		}
		return claimNum(a.ID) - claimNum(b.ID)
	})
	return rows
}

// claimNum is the number of a claim id, <section>/<n>; 0 when it has none.
func claimNum(id string) int {
	_, n, _ := strings.Cut(id, "/")
	v, _ := strconv.Atoi(n)
	return v
}

// ClaimCounts tallies the table: every claim, and how many have each status.
func ClaimCounts(rows []ClaimRow) (total int, by map[ClaimStatus]int) {
	by = map[ClaimStatus]int{}
	for _, r := range rows {
		by[r.Status()]++
	}
	return len(rows), by
}

var claimFields = []string{"id", "says", "cells", "unasserted"}

var claimNumber = regexp.MustCompile(`^[1-9][0-9]*$`)

// claims decodes the claims list of a file whose doc section is section and whose
// cells are cells. A claim must cite cells of this file with the expectation they
// have here, or say why nothing asserts it.
func (d *decoder) claims(raw json.RawMessage, section string, cells map[Capability]Expectation) []Claim {
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		d.fail("claims", "must be a list of {id, says, cells, unasserted}")
		return nil
	}
	out := make([]Claim, 0, len(items))
	seen := map[string]int{}
	for i, item := range items {
		field := fmt.Sprintf("claims[%d]", i)
		fields := d.object(field, item, claimFields)
		if fields == nil {
			continue
		}
		var c Claim
		c.ID = d.requiredText(fields, field, "id")
		if c.ID != "" {
			prefix, n, ok := strings.Cut(c.ID, "/")
			switch {
			case !ok || !claimNumber.MatchString(n):
				d.fail(field+".id", "must be <doc section>/<number>, such as %s/1, got %q", section, c.ID)
			case section != "" && prefix != section:
				d.fail(field+".id", "%q belongs to the doc section %q, but this file encodes %q", c.ID, prefix, section)
			}
			if first, dup := seen[c.ID]; dup {
				d.fail(field+".id", "%s is already claims[%d]", c.ID, first)
			} else {
				seen[c.ID] = i
			}
		}
		c.Says = d.requiredText(fields, field, "says")
		if v, ok := fields["unasserted"]; ok {
			c.Unasserted, _ = d.text(field+".unasserted", v)
		}
		if v, ok := fields["cells"]; ok {
			c.Cells = d.claimCells(field+".cells", v, cells)
		}
		if _, hasCells := fields["cells"]; !hasCells && strings.TrimSpace(c.Unasserted) == "" {
			d.fail(field, "names no cell that asserts it and gives no reason; add cells or unasserted: <what is missing>")
		}
		out = append(out, c)
	}
	return out
}

func (d *decoder) claimCells(field string, raw json.RawMessage, cells map[Capability]Expectation) []ClaimCell {
	entries := d.object(field, raw, nil)
	if entries == nil {
		return nil
	}
	if len(entries) == 0 {
		d.fail(field, "is empty; name the cells that assert the claim, or drop cells and say why in unasserted")
		return nil
	}
	var out []ClaimCell
	for _, key := range sortedKeys(entries) {
		at := field + "." + key
		capability, err := ParseCapability(key)
		if err != nil {
			d.fail(at, "%v", err)
			continue
		}
		name, ok := d.text(at, entries[key])
		if !ok {
			continue
		}
		want, err := ParseExpect(name)
		if err != nil {
			d.fail(at, "%v", err)
			continue
		}
		if want == Unasserted {
			d.fail(at, "an unasserted cell asserts nothing; drop it and say why in the claim's unasserted")
			continue
		}
		if e, ok := cells[capability]; ok && e.Expect != want {
			d.fail(at, "the claim relies on %s being %s, but this file expects %s; review the claim with the cell", key, want, e.Expect)
			continue
		}
		out = append(out, ClaimCell{Capability: capability, Expect: want})
	}
	slices.SortFunc(out, func(a, b ClaimCell) int {
		return slices.Index(allCapabilities, a.Capability) - slices.Index(allCapabilities, b.Capability)
	})
	return out
}
