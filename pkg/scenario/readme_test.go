package scenario

import (
	"flag"
	"os"
	"strings"
	"testing"
)

var updateREADME = flag.Bool("update-readme", false, "rewrite the README's scenario matrix and claims table from the scenario files")

const (
	readmePath   = "../../README.md"
	matrixBegin  = "<!-- scenario-matrix:begin (generated from scenarios/*.yaml by `make docs`; do not edit) -->\n"
	matrixEnd    = "<!-- scenario-matrix:end -->"
	claimsBegin  = "<!-- doc-claims:begin (generated from the claims in scenarios/*.yaml by `make docs`; do not edit) -->\n"
	claimsEnd    = "<!-- doc-claims:end -->"
	scenariosDir = "../../scenarios"
)

// TestREADMEScenarioMatrix keeps the README's "what each scenario asserts" section equal to
// what the scenario files say. `make docs` (-update-readme) rewrites it.
func TestREADMEScenarioMatrix(t *testing.T) {
	scs, err := LoadDir(scenariosDir)
	if err != nil {
		t.Fatal(err)
	}
	checkREADMESection(t, matrixBegin, matrixEnd, MarkdownMatrix(scs))
}

// TestREADMEClaims keeps the README's table of the doc's claims equal to the claims in the
// scenario files. `make docs` (-update-readme) rewrites it.
func TestREADMEClaims(t *testing.T) {
	scs, err := LoadDir(scenariosDir)
	if err != nil {
		t.Fatal(err)
	}
	checkREADMESection(t, claimsBegin, claimsEnd, MarkdownClaims(scs))
}

// checkREADMESection compares the README between begin and end with want, and rewrites it
// under -update-readme.
func checkREADMESection(t *testing.T, begin, end, want string) {
	t.Helper()
	raw, err := os.ReadFile(readmePath)
	if err != nil {
		t.Fatal(err)
	}
	readme := string(raw)
	i, j := strings.Index(readme, begin), strings.Index(readme, end)
	if i < 0 || j < i {
		t.Fatalf("README.md lacks the markers %q ... %q", strings.TrimSpace(begin), end)
	}
	got := readme[i+len(begin) : j]
	if got == want {
		return
	}
	if *updateREADME {
		if err := os.WriteFile(readmePath, []byte(readme[:i+len(begin)]+want+readme[j:]), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("README.md's section %q differs from scenarios/*.yaml; run `make docs`.\n--- README\n%s\n--- generated\n%s", strings.TrimSpace(begin), got, want)
}

func TestMarkdownMatrixRows(t *testing.T) {
	scs, err := LoadDir(scenariosDir)
	if err != nil {
		t.Fatal(err)
	}
	md := MarkdownMatrix(scs)
	rows := 0
	for _, line := range strings.Split(md, "\n") {
		if strings.HasPrefix(line, "| **") {
			rows++
		}
	}
	if rows != len(scs) || rows != 19 {
		t.Errorf("%d rows for %d scenario files, want 19", rows, len(scs))
	}
	for _, want := range []string{"| **backend-worker** |", "| **backend** (backend-listener + backend-worker + backend-cron + backend-redis, down together) |", "`rate-limiting`", "`analytics`", "(its work too)",
		"| **backend-listener-caching-allow** (backend-listener; the product runs caching{caching_type: allow}, then the APIcast policy) |"} {
		if !strings.Contains(md, want) {
			t.Errorf("matrix lacks %q", want)
		}
	}
}

func TestMarkdownClaimsRows(t *testing.T) {
	scs, err := LoadDir(scenariosDir)
	if err != nil {
		t.Fatal(err)
	}
	md := MarkdownClaims(scs)
	rows := 0
	for _, line := range strings.Split(md, "\n") {
		if strings.HasPrefix(line, "| `") {
			rows++
		}
	}
	if rows != docClaimsTotal {
		t.Errorf("%d claim rows, want %d", rows, docClaimsTotal)
	}
	for _, want := range []string{
		"| `backend-cron/2` |", "every kept cell (22)", // a claim over every kept cell is summed up
		"`rate-limiting` lost (doc gap)",                            // a cell whose doc gap the file records is marked
		"| `system-sphinx/4` | The developer portal's forum search", // an unasserted claim keeps its row
		"The forum is gone at 2.15 and 2.16",
		"| `backend-listener/3` | APIcast's caching policy can soften the outage, at a cost each installation must weigh. | `production-traffic` kept (doc gap), `staging-traffic` kept, `rate-limiting` lost (doc gap) |", // asserted by a variant's cells
	} {
		if !strings.Contains(md, want) {
			t.Errorf("claims table lacks %q", want)
		}
	}
}
