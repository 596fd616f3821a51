package scenario

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// docClaims is how many behaviours each section of docs/3scale-component-failures.md
// states, counted by hand from the doc: one claim per behaviour a sentence states
// (something that stops, keeps working or happens because the component is down; a
// list of things that stop is one claim per item); a sentence that only says what a
// component is or does when all is well is not a claim. A claim deleted from, or added
// to, a scenario file without the doc changing fails TestRepoClaimsCoverTheDoc.
var docClaims = map[string]int{
	"apicast-production": 1,
	"apicast-staging":    1,
	"backend-cron":       3, // failed jobs wait; not critical; an interrupted purge resumes
	"backend-listener":   3, // everything denied; APIs down; the caching policy mitigates
	"backend-redis":      2, // the listener stops; the worker stops
	"backend-worker":     5, // reports unapplied; limits imprecise; stats stale; alerts; error notices
	"system-app":         6, // admin portal; APIs; developer portals; config download; running gateways serve; new gateways fail
	"system-memcache":    1,
	"system-mysql":       1,
	"system-redis":       5, // jobs not queued: in general, backend sync, zync sync, email, alerts
	"system-sidekiq":     2, // jobs not run; they pile up in system Redis
	"system-sphinx":      4, // accounts, proxy rules, dev portal templates, forum
	"zync":               1, // system retries what zync failed to take
	"zync-database":      1,
	"zync-que":           1,
}

const docClaimsTotal = 37

func TestParseClaims(t *testing.T) {
	data := validFile(map[Capability]string{
		ZyncSync: "{expect: deferred, reason: retried}",
		Alerts:   "{expect: unasserted, reason: nothing to observe}",
	}) + `docGaps:
  - {capability: zync-sync, documented: a, observed: b, citation: research/porta-zync.md}
claims:
  - id: zync/1
    says: System retries for a while.
    cells: {zync-sync: deferred, admin-api-write: kept, production-traffic: kept}
  - id: zync/3
    says: Routes get made.
    cells: {zync-sync: deferred}
    unasserted: routes are not sampled
  - id: zync/2
    says: Something no capability sees.
    unasserted: needs a probe
`
	s, err := Parse("zync.yaml", []byte(data))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if len(s.Claims) != 3 {
		t.Fatalf("Claims = %+v", s.Claims)
	}
	first := s.Claims[0]
	want := []ClaimCell{{ProductionTraffic, Kept}, {AdminAPIWrite, Kept}, {ZyncSync, Deferred}}
	if first.ID != "zync/1" || first.Says != "System retries for a while." || !slices.Equal(first.Cells, want) {
		t.Errorf("claim 0 = %+v, want cells %v in capability order", first, want)
	}
	var statuses []ClaimStatus
	for _, c := range s.Claims {
		statuses = append(statuses, c.Status())
	}
	if !slices.Equal(statuses, []ClaimStatus{Asserted, AssertedInPart, NotAsserted}) {
		t.Errorf("statuses = %v", statuses)
	}
	rows := ClaimTable([]Scenario{s})
	if len(rows) != 3 || rows[0].Component != "zync" || rows[0].Section != "zync" || !slices.Equal(rows[0].DocGaps, []Capability{ZyncSync}) {
		t.Errorf("ClaimTable = %+v", rows)
	}
	total, by := ClaimCounts(rows)
	if total != 3 || by[Asserted] != 1 || by[AssertedInPart] != 1 || by[NotAsserted] != 1 {
		t.Errorf("ClaimCounts = %d %v", total, by)
	}
}

func TestParseRejectsClaims(t *testing.T) {
	file := validFile(map[Capability]string{
		Search: "{expect: lost}",
		Alerts: "{expect: unasserted, reason: nothing to observe}",
	}) + "claims:\n"
	tests := []struct {
		name, claims string
		want         []string
	}{
		{
			name:   "a cell that does not exist",
			claims: "  - {id: zync/1, says: s, cells: {serch: lost}}\n",
			want:   []string{`f.yaml: claims[0].cells.serch: "serch" is not a capability`},
		},
		{
			name:   "a cell with another expectation than the file's",
			claims: "  - {id: zync/1, says: s, cells: {search: kept}}\n",
			want:   []string{"claims[0].cells.search: the claim relies on search being kept, but this file expects lost"},
		},
		{
			name:   "an unasserted cell",
			claims: "  - {id: zync/1, says: s, cells: {alerts: unasserted}}\n",
			want:   []string{"claims[0].cells.alerts: an unasserted cell asserts nothing"},
		},
		{
			name:   "neither cells nor a reason",
			claims: "  - {id: zync/1, says: s}\n",
			want:   []string{"claims[0]: names no cell that asserts it and gives no reason"},
		},
		{
			name:   "a blank reason",
			claims: "  - {id: zync/1, says: s, unasserted: \" \"}\n",
			want:   []string{"claims[0]: names no cell that asserts it and gives no reason"},
		},
		{
			name:   "empty cells",
			claims: "  - {id: zync/1, says: s, cells: {}, unasserted: why}\n",
			want:   []string{"claims[0].cells: is empty"},
		},
		{
			name:   "an id without a number",
			claims: "  - {id: zync, says: s, cells: {search: lost}}\n",
			want:   []string{`claims[0].id: must be <doc section>/<number>, such as zync/1, got "zync"`},
		},
		{
			name:   "an id of another section",
			claims: "  - {id: zync-que/1, says: s, cells: {search: lost}}\n",
			want:   []string{`claims[0].id: "zync-que/1" belongs to the doc section "zync-que", but this file encodes "zync"`},
		},
		{
			name:   "a duplicate id",
			claims: "  - {id: zync/1, says: s, cells: {search: lost}}\n  - {id: zync/1, says: t, cells: {search: lost}}\n",
			want:   []string{"claims[1].id: zync/1 is already claims[0]"},
		},
		{
			name:   "missing says and unknown field",
			claims: "  - {id: zync/1, cells: {search: lost}, cell: x}\n",
			want:   []string{"claims[0].says: is required", "claims[0].cell: unknown field"},
		},
		{
			name:   "not a list",
			claims: "  zync/1: s\n",
			want:   []string{"claims: must be a list"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { wantParseErrors(t, file+tt.claims, tt.want) })
	}
}

func TestLoadDirRejectsAClaimIDInTwoFiles(t *testing.T) {
	dir := t.TempDir()
	claim := "claims:\n  - {id: zync/1, says: s, unasserted: why}\n"
	for name, component := range map[string]string{"a.yaml": "zync", "b.yaml": "zync-que"} {
		data := strings.Replace(validFile(nil), "component: zync", "component: "+component, 1) + claim
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	_, err := LoadDir(dir)
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "b.yaml")+": claims[0].id: zync/1 is already a claim of "+filepath.Join(dir, "a.yaml")) {
		t.Fatalf("err = %v", err)
	}
}

// TestRepoClaimsCoverTheDoc holds the repository's claims to the doc: as many per section
// as docClaims counts, numbered without repeats, each asserted by cells or saying why not.
func TestRepoClaimsCoverTheDoc(t *testing.T) {
	scs, err := LoadDir(scenarioDir)
	if err != nil {
		t.Fatal(err)
	}
	rows := ClaimTable(scs)
	got := map[string]int{}
	for _, r := range rows {
		got[r.Section]++
		if len(r.Cells) == 0 && strings.TrimSpace(r.Unasserted) == "" {
			t.Errorf("%s (%s) has neither cells that assert it nor a reason", r.ID, r.Path)
		}
		if strings.TrimSpace(r.Says) == "" {
			t.Errorf("%s (%s) does not say what the doc claims", r.ID, r.Path)
		}
	}
	sum := 0
	for _, n := range docClaims {
		sum += n
	}
	if sum != docClaimsTotal {
		t.Errorf("docClaims adds up to %d, want %d", sum, docClaimsTotal)
	}
	if len(rows) != docClaimsTotal {
		t.Errorf("%d claims in %s, want the doc's %d", len(rows), scenarioDir, docClaimsTotal)
	}
	for _, sc := range scs {
		if sc.Multi() {
			// A file of several components names their sections and has no claims.
			var sections []string
			for _, c := range sc.Components {
				sections = append(sections, c.DocSection)
			}
			if want := strings.Join(sections, ", "); sc.Doc.Section != want {
				t.Errorf("%s: doc section %q, want its components' sections %q", sc.Path, sc.Doc.Section, want)
			}
			continue
		}
		if _, ok := docClaims[sc.Doc.Section]; !ok {
			t.Errorf("%s: doc section %q is not one docClaims counts", sc.Path, sc.Doc.Section)
		}
	}
	for section, n := range docClaims {
		if got[section] != n {
			t.Errorf("section %s: %d claims in the scenario files, the doc states %d", section, got[section], n)
		}
	}
	total, by := ClaimCounts(rows)
	t.Logf("%d claims: %d asserted, %d asserted in part, %d not asserted", total, by[Asserted], by[AssertedInPart], by[NotAsserted])
}
