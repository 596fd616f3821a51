package scenario

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// upstreamSource finds a source named as <repo>@<tag>:<path> in a citation. The repository
// names are those of 3scale's GitHub repositories, spelled as GitHub spells them; the tag
// must be a 3scale GA tag. It must start the citation or follow a space, bracket or
// separator, so that a word merely ending in a repository name does not count.
var upstreamSource = regexp.MustCompile(`(?:^|[\s(;,])(porta|apisonator|APIcast|zync|3scale-operator)@(3scale-2\.1[0-9]\.[0-9]+-GA):([A-Za-z0-9_.][A-Za-z0-9_./-]*)`)

// userTags are the GA tags users run; they, not master, are the reference for every
// behaviour claim. The tag may differ per repository: APIcast and the operator have no
// 2.16.4 tag.
var userTags = map[string]string{
	"porta":           "3scale-2.16.4-GA",
	"apisonator":      "3scale-2.16.4-GA",
	"zync":            "3scale-2.16.4-GA",
	"APIcast":         "3scale-2.16.3-GA",
	"3scale-operator": "3scale-2.16.3-GA",
}

// previousTag is the older release the citations were also checked at; a citation may name
// it where it differs.
const previousTag = "3scale-2.15.1-GA"

// citationProblems says what keeps a doc gap's citation from pointing at 3scale's code as
// users run it: no <repo>@<tag>:<path> at all, a tag that repository was not read at (a
// typo, or a tag that does not exist for it, such as APIcast@3scale-2.16.4-GA), or only
// sources at the previous release. It returns nil for a citation that is fine.
func citationProblems(citation string) []string {
	matches := upstreamSource.FindAllStringSubmatch(citation, -1)
	if len(matches) == 0 {
		return []string{"names no source as <repo>@<tag>:<path> with repo one of porta, apisonator, APIcast, zync, 3scale-operator and tag 3scale-2.1x.y-GA"}
	}
	var problems []string
	atUserTag := false
	for _, m := range matches {
		repo, tag, path := m[1], m[2], m[3]
		switch tag {
		case userTags[repo]:
			atUserTag = true
		case previousTag:
		default:
			problems = append(problems, fmt.Sprintf("%s@%s:%s: %s is read at %s (or %s), not %s", repo, tag, path, repo, userTags[repo], previousTag, tag))
		}
	}
	if !atUserTag && len(problems) == 0 {
		var want []string
		for _, m := range matches {
			want = append(want, m[1]+"@"+userTags[m[1]])
		}
		slices.Sort(want)
		problems = append(problems, "cites only "+previousTag+"; name the tag users run too ("+strings.Join(slices.Compact(want), ", ")+")")
	}
	return problems
}

// TestRepoDocGapsCiteSourcesAtGATags keeps every doc gap in scenarios/ tied to 3scale's
// code at a tag users run, not to the research notes alone (which were partly read at
// porta master).
func TestRepoDocGapsCiteSourcesAtGATags(t *testing.T) {
	scs, err := LoadDir(scenariosDir)
	if err != nil {
		t.Fatal(err)
	}
	gaps := 0
	for _, s := range scs {
		for i, g := range s.DocGaps {
			gaps++
			for _, p := range citationProblems(g.Citation) {
				t.Errorf("%s docGaps[%d] (%s): citation %s\n\tcitation: %q", s.Path, i, g.Capability, p, g.Citation)
			}
		}
	}
	// The scenario files carry about twenty gaps; none would mean the loop checked nothing.
	if gaps == 0 {
		t.Fatalf("no doc gaps in %s: nothing was checked", scenariosDir)
	}
}

func TestCitationProblems(t *testing.T) {
	for _, tc := range []struct {
		name     string
		citation string
		want     string // a substring of the only problem; empty for none
	}{
		{"research and repository path without a tag (the old form)",
			"research/porta-zync.md §3.2 (porta app/lib/search_support.rb, app/models/contract.rb by_account_query)",
			"names no source"},
		{"porta at the tag users run",
			"porta@3scale-2.16.4-GA:app/lib/search_support.rb (rescues searchd errors); research/porta-zync.md §3.2", ""},
		{"line numbers after the path",
			"apisonator@3scale-2.16.4-GA:lib/3scale/backend/listener.rb:429-435; research/apicast-apisonator.md §4.1", ""},
		{"operator and APIcast at 2.16.3, a dotted path",
			"3scale-operator@3scale-2.16.3-GA:pkg/3scale/amp/component/zync.go:424; zync@3scale-2.16.4-GA:.s2i/bin/run:7", ""},
		{"the previous release beside the current one",
			"APIcast@3scale-2.16.3-GA:gateway/src/apicast/proxy.lua; APIcast@3scale-2.15.1-GA:gateway/src/apicast/proxy.lua", ""},
		{"only the previous release",
			"porta@3scale-2.15.1-GA:app/models/access_token.rb; research/porta-zync.md §7",
			"name the tag users run too (porta@3scale-2.16.4-GA)"},
		{"a tag the repository does not have",
			"APIcast@3scale-2.16.4-GA:gateway/src/apicast/proxy.lua",
			"APIcast is read at 3scale-2.16.3-GA"},
		{"master is not a GA tag",
			"porta@master:app/lib/search_support.rb", "names no source"},
		{"a tag without the patch number",
			"porta@3scale-2.16-GA:app/lib/search_support.rb", "names no source"},
		{"a repository outside 3scale's",
			"sidekiq@3scale-2.16.4-GA:lib/sidekiq/job_retry.rb", "names no source"},
		{"the repository misspelt",
			"apicast@3scale-2.16.3-GA:gateway/src/apicast/proxy.lua", "names no source"},
		{"a word ending in a repository name",
			"myporta@3scale-2.16.4-GA:app/x.rb", "names no source"},
		{"no path",
			"porta@3scale-2.16.4-GA: see the research", "names no source"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := citationProblems(tc.citation)
			switch {
			case tc.want == "" && len(got) != 0:
				t.Errorf("citationProblems(%q) = %q, want none", tc.citation, got)
			case tc.want != "" && (len(got) != 1 || !strings.Contains(got[0], tc.want)):
				t.Errorf("citationProblems(%q) = %q, want one problem containing %q", tc.citation, got, tc.want)
			}
		})
	}
}
