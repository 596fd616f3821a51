package scenario

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// validFile returns a scenario file for zync with every capability kept except
// the ones in override, whose values are YAML flow mappings.
func validFile(override map[Capability]string) string {
	var b strings.Builder
	b.WriteString("component: zync\n")
	b.WriteString("doc:\n  section: zync\n  summary: zync syncs routes.\n")
	b.WriteString("timing:\n  observe: 45s\n  recoveryBudget: 60s\n")
	b.WriteString("expectations:\n")
	for _, c := range Capabilities() {
		v := "{expect: kept}"
		if o, ok := override[c]; ok {
			if o == "" {
				continue
			}
			v = o
		}
		fmt.Fprintf(&b, "  %s: %s\n", c, v)
	}
	return b.String()
}

func TestParseValidFile(t *testing.T) {
	data := validFile(map[Capability]string{
		ZyncSync:    "{expect: deferred, recoveryBudget: 2m, reason: retried}",
		Search:      "{expect: lost, onsetGrace: 5s, onsetPasses: 2}",
		AdminPortal: "{expect: degraded, maxLatency: 500ms}",
		Alerts:      "{expect: unasserted, reason: nothing to observe}",
	}) + `docGaps:
  - capability: zync-sync
    documented: retried for some time
    observed: 25 retries over 6.8 days
    citation: "research/porta-zync.md §5.1 (porta app/workers/zync_worker.rb)"
`
	s, err := Parse("zync.yaml", []byte(data))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if s.Component.Name != "zync" || s.Path != "zync.yaml" || s.Doc.Section != "zync" {
		t.Errorf("component/path/section = %s %s %s", s.Component.Name, s.Path, s.Doc.Section)
	}
	if s.Timing.Observe != 45*time.Second || s.Timing.RecoveryBudget != time.Minute || s.Timing.MinSamples != DefaultMinSamples {
		t.Errorf("timing = %+v", s.Timing)
	}
	if len(s.Cells()) != len(Capabilities()) || s.Cells()[0].Capability != ProductionTraffic {
		t.Errorf("Cells() = %d cells starting with %s", len(s.Cells()), s.Cells()[0].Capability)
	}
	checks := []struct {
		c    Capability
		want Expectation
	}{
		{ZyncSync, Expectation{Capability: ZyncSync, Expect: Deferred, Reason: "retried", RecoveryBudget: 2 * time.Minute, MinSamples: 3}},
		{Search, Expectation{Capability: Search, Expect: Lost, OnsetGrace: 5 * time.Second, OnsetPasses: 2, RecoveryBudget: time.Minute, MinSamples: 3}},
		{AdminPortal, Expectation{Capability: AdminPortal, Expect: Degraded, MaxLatency: 500 * time.Millisecond, RecoveryBudget: time.Minute, MinSamples: 3}},
		{ProductionTraffic, Expectation{Capability: ProductionTraffic, Expect: Kept, RecoveryBudget: time.Minute, MinSamples: 3}},
	}
	for _, c := range checks {
		got, ok := s.Expectation(c.c)
		if !ok || got != c.want {
			t.Errorf("%s = %+v, want %+v", c.c, got, c.want)
		}
	}
	if len(s.DocGaps) != 1 || s.DocGaps[0].Capability != ZyncSync {
		t.Errorf("DocGaps = %+v", s.DocGaps)
	}
}

func TestParseAcceptsAnAlias(t *testing.T) {
	data := strings.Replace(validFile(nil), "component: zync", "component: system-sphinx", 1)
	s, err := Parse("x.yaml", []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	if s.Component.Name != "system-searchd" {
		t.Errorf("component = %s, want system-searchd", s.Component.Name)
	}
}

func TestParseRejects(t *testing.T) {
	tests := []struct {
		name string
		data string
		// want are substrings, each of which some reported problem must contain.
		want []string
	}{
		{
			name: "misspelt expectation",
			data: validFile(map[Capability]string{Search: "{expect: lsot}"}),
			want: []string{`f.yaml: expectations.search.expect: "lsot" is not one of lost, kept, degraded, deferred, unasserted`},
		},
		{
			name: "missing capabilities",
			data: validFile(map[Capability]string{Analytics: "", Alerts: ""}),
			want: []string{"f.yaml: expectations: no expectation for analytics, alerts; every capability must be listed"},
		},
		{
			name: "unknown capability",
			data: validFile(nil) + "  teleportation: {expect: kept}\n",
			want: []string{`f.yaml: expectations.teleportation: "teleportation" is not a capability; valid ones are production-traffic`},
		},
		{
			name: "unknown component",
			data: strings.Replace(validFile(nil), "component: zync", "component: zinc", 1),
			want: []string{`f.yaml: component: unknown 3scale component "zinc": valid names are apicast-production`},
		},
		{
			name: "unasserted without reason",
			data: validFile(map[Capability]string{Alerts: "{expect: unasserted}"}),
			want: []string{"f.yaml: expectations.alerts.reason: an unasserted expectation needs a reason"},
		},
		{
			name: "unasserted with blank reason",
			data: validFile(map[Capability]string{Alerts: `{expect: unasserted, reason: "  "}`}),
			want: []string{"expectations.alerts.reason: an unasserted expectation needs a reason"},
		},
		{
			name: "negative onset grace",
			data: validFile(map[Capability]string{Search: "{expect: lost, onsetGrace: -5s}"}),
			want: []string{"expectations.search.onsetGrace: must not be negative, got -5s"},
		},
		{
			name: "negative observe",
			data: strings.Replace(validFile(nil), "observe: 45s", "observe: -1m", 1),
			want: []string{"timing.observe: must not be negative"},
		},
		{
			name: "zero recovery budget",
			data: strings.Replace(validFile(nil), "recoveryBudget: 60s", "recoveryBudget: 0s", 1),
			want: []string{"timing.recoveryBudget: must be greater than zero"},
		},
		{
			name: "negative cell recovery budget",
			data: validFile(map[Capability]string{Search: "{expect: kept, recoveryBudget: -1s}"}),
			want: []string{"expectations.search.recoveryBudget: must not be negative"},
		},
		{
			name: "negative onset passes",
			data: validFile(map[Capability]string{Search: "{expect: lost, onsetPasses: -1}"}),
			want: []string{"expectations.search.onsetPasses: must not be negative"},
		},
		{
			name: "lost work on a kept cell",
			data: validFile(map[Capability]string{Search: "{expect: kept, lostWork: true}"}),
			want: []string{"expectations.search.lostWork: applies only to lost expectations, not kept"},
		},
		{
			name: "lost work not a boolean",
			data: validFile(map[Capability]string{Search: "{expect: lost, lostWork: sometimes}"}),
			want: []string{"expectations.search.lostWork: must be true or false"},
		},
		{
			name: "duration without unit",
			data: strings.Replace(validFile(nil), "observe: 45s", "observe: 45", 1),
			want: []string{`timing.observe: must be a duration string such as "30s" or "2m", got 45`},
		},
		{
			name: "malformed duration",
			data: strings.Replace(validFile(nil), "observe: 45s", "observe: soon", 1),
			want: []string{`timing.observe: "soon" is not a duration`},
		},
		{
			name: "onset grace on a kept cell",
			data: validFile(map[Capability]string{Search: "{expect: kept, onsetGrace: 5s}"}),
			want: []string{"expectations.search.onsetGrace: applies only to lost expectations, not kept"},
		},
		{
			name: "onset grace longer than the window",
			data: validFile(map[Capability]string{Search: "{expect: lost, onsetGrace: 45s}"}),
			want: []string{"expectations.search.onsetGrace: 45s leaves nothing to judge in the 45s observation window"},
		},
		{
			name: "max latency on a kept cell",
			data: validFile(map[Capability]string{Search: "{expect: kept, maxLatency: 1s}"}),
			want: []string{"expectations.search.maxLatency: applies only to degraded expectations, not kept"},
		},
		{
			name: "unknown field in an expectation",
			data: validFile(map[Capability]string{Search: "{expect: kept, grace: 5s}"}),
			want: []string{"f.yaml: expectations.search.grace: unknown field; allowed fields here are expect, reason"},
		},
		{
			name: "unknown top-level field",
			data: validFile(nil) + "owner: me\n",
			want: []string{"f.yaml: owner: unknown field; allowed fields here are component, components, doc, timing, expectations, docGaps"},
		},
		{
			name: "duplicate key",
			data: validFile(nil) + "  search: {expect: lost}\n",
			want: []string{"f.yaml: not valid YAML", "search"},
		},
		{
			name: "expectation is not a mapping",
			data: validFile(map[Capability]string{Search: "lost"}),
			want: []string{`expectations.search: must be a mapping, got "lost"`},
		},
		{
			name: "missing sections",
			data: "component: zync\n",
			want: []string{"f.yaml: doc: is required", "f.yaml: timing: is required", "f.yaml: expectations: is required"},
		},
		{
			name: "empty summary",
			data: strings.Replace(validFile(nil), "summary: zync syncs routes.", `summary: ""`, 1),
			want: []string{"doc.summary: must not be empty"},
		},
		{
			name: "empty file",
			data: "\n",
			want: []string{"f.yaml: file is empty"},
		},
		{
			name: "not a mapping",
			data: "- component: zync\n",
			want: []string{"f.yaml: must be a mapping with the fields component"},
		},
		{
			name: "doc gap without research citation",
			data: validFile(nil) + "docGaps:\n  - {capability: search, documented: a, observed: b, citation: \"porta app/x.rb\"}\n",
			want: []string{"docGaps[0].citation: must name the research file"},
		},
		{
			name: "doc gap with unknown capability and missing field",
			data: validFile(nil) + "docGaps:\n  - {capability: serch, documented: a, citation: research/x.md}\n",
			want: []string{`docGaps[0].capability: "serch" is not a capability`, "docGaps[0].observed: is required"},
		},
		{
			name: "zero min samples",
			data: strings.Replace(validFile(nil), "recoveryBudget: 60s\n", "recoveryBudget: 60s\n  minSamples: 0\n", 1),
			want: []string{"timing.minSamples: must be at least 1, got 0"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { wantParseErrors(t, tt.data, tt.want) })
	}
}

func TestParseReportsEveryProblem(t *testing.T) {
	data := validFile(map[Capability]string{
		Search:    "{expect: lsot}",
		Alerts:    "{expect: unasserted}",
		Analytics: "",
	})
	_, err := Parse("f.yaml", []byte(data))
	if err == nil {
		t.Fatal("want errors")
	}
	for _, w := range []string{"expectations.search.expect", "expectations.alerts.reason", "no expectation for analytics"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error does not mention %q:\n%v", w, err)
		}
	}
}

func TestLoadDir(t *testing.T) {
	write := func(t *testing.T, dir, name, data string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("loads yaml and yml, skips others, sorted", func(t *testing.T) {
		dir := t.TempDir()
		write(t, dir, "b.yml", strings.Replace(validFile(nil), "component: zync", "component: zync-que", 1))
		write(t, dir, "a.yaml", validFile(nil))
		write(t, dir, "README.md", "not a scenario")
		got, err := LoadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[0].Component.Name != "zync" || got[1].Component.Name != "zync-que" {
			t.Fatalf("LoadDir = %d scenarios", len(got))
		}
		if got[0].Path != filepath.Join(dir, "a.yaml") {
			t.Errorf("Path = %s", got[0].Path)
		}
	})

	t.Run("duplicate component through an alias", func(t *testing.T) {
		dir := t.TempDir()
		write(t, dir, "a.yaml", strings.Replace(validFile(nil), "component: zync", "component: system-searchd", 1))
		write(t, dir, "b.yaml", strings.Replace(validFile(nil), "component: zync", "component: system-sphinx", 1))
		_, err := LoadDir(dir)
		if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "b.yaml")+": component: system-searchd is already covered by "+filepath.Join(dir, "a.yaml")) {
			t.Fatalf("err = %v", err)
		}
	})

	t.Run("reports every bad file", func(t *testing.T) {
		dir := t.TempDir()
		write(t, dir, "a.yaml", "component: zync\n")
		write(t, dir, "b.yaml", "component: nope\n")
		_, err := LoadDir(dir)
		if err == nil || !strings.Contains(err.Error(), "a.yaml: doc: is required") || !strings.Contains(err.Error(), `b.yaml: component: unknown 3scale component "nope"`) {
			t.Fatalf("err = %v", err)
		}
	})

	t.Run("empty directory", func(t *testing.T) {
		if _, err := LoadDir(t.TempDir()); err == nil {
			t.Fatal("want an error for a directory without scenarios")
		}
	})

	t.Run("missing directory", func(t *testing.T) {
		if _, err := LoadDir(filepath.Join(t.TempDir(), "nope")); err == nil {
			t.Fatal("want an error")
		}
	})
}

func TestLoadFileMissing(t *testing.T) {
	_, err := LoadFile(filepath.Join(t.TempDir(), "nope.yaml"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("err = %v, want os.ErrNotExist", err)
	}
}

// wantParseErrors parses data as f.yaml and wants a *FieldError naming the file whose text
// contains every one of want.
func wantParseErrors(t *testing.T, data string, want []string) {
	t.Helper()
	_, err := Parse("f.yaml", []byte(data))
	if err == nil {
		t.Fatalf("Parse succeeded, want errors containing %q", want)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error does not contain %q:\n%v", w, err)
		}
	}
	var fe *FieldError
	if !errors.As(err, &fe) || fe.File != "f.yaml" {
		t.Errorf("error is not a *FieldError naming the file: %#v", err)
	}
}
