package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// reportDirs copies the real journals of pkg/report's testdata into report directories:
// twin (the full matrix on the process-node twin, PASS) and kind (backend-worker FAIL).
func reportDirs(t *testing.T) (root, twin, kind string) {
	t.Helper()
	root = t.TempDir()
	for name, file := range map[string]string{"twin": "twin-e2e.json", "kind": "kind-matrix.json"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "pkg", "report", "testdata", file))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(root, name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, name, "journal.json"), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root, filepath.Join(root, "twin"), filepath.Join(root, "kind")
}

// files lists every file under dir, relative to it.
func files(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestDiffCommand(t *testing.T) {
	root, twin, kind := reportDirs(t)

	out, code := cli(t, time.Minute, "diff", twin, kind)
	if code != 1 {
		t.Fatalf("a verdict changed: want exit 1, got %d:\n%s", code, out)
	}
	for _, s := range []string{"backend-worker  PASS -> FAIL", "admin-api-write", "new failure", "TIMING (beyond noise)"} {
		if !strings.Contains(out, s) {
			t.Errorf("the diff lacks %q:\n%s", s, out)
		}
	}
	if _, err := os.Stat(filepath.Join(kind, "diff.html")); err != nil {
		t.Errorf("no diff.html beside NEW's report: %v", err)
	}

	html := filepath.Join(root, "elsewhere", "same.html")
	out, code = cli(t, time.Minute, "diff", "--html", html, filepath.Join(kind, "journal.json"), kind)
	if code != 0 || !strings.Contains(out, "no differences") {
		t.Errorf("a journal against itself: want exit 0 and no differences, got %d:\n%s", code, out)
	}
	if _, err := os.Stat(html); err != nil {
		t.Errorf("--html not written: %v", err)
	}
}

// --last compares the two newest journals of a history directory and writes diff.html in
// the report directory that holds it.
func TestDiffLast(t *testing.T) {
	root, twin, kind := reportDirs(t)
	hist := filepath.Join(root, "reports", "history")
	if err := os.MkdirAll(hist, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, src := range map[string]string{
		"20261205T020000.000000000Z-oldest.json": kind,
		"20261205T025024.383040885Z-kind.json":   kind,
		"20261205T033712.278390085Z-twin.json":   twin,
	} {
		b, err := os.ReadFile(filepath.Join(src, "journal.json"))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(hist, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out, code := cli(t, time.Minute, "diff", "--last", hist)
	if code != 1 || !strings.Contains(out, "backend-worker  FAIL -> PASS") || !strings.Contains(out, "vanished failure") {
		t.Fatalf("want kind -> twin (the two newest), exit 1, got %d:\n%s", code, out)
	}
	if _, err := os.Stat(filepath.Join(root, "reports", "diff.html")); err != nil {
		t.Errorf("no diff.html in the report directory: %v", err)
	}
}

// Bad input is exit 2 with one line on what is wrong, and writes nothing.
func TestDiffBadInput(t *testing.T) {
	root, twin, kind := reportDirs(t)
	notJournal := filepath.Join(root, "target.yaml")
	otherSchema := filepath.Join(root, "v0.json")
	oneJournal := filepath.Join(root, "one")
	for path, body := range map[string]string{
		notJournal:                          "namespace: 3scale\n",
		otherSchema:                         `{"schema": "threescale-chaos.journal/v0", "runId": "r"}`,
		filepath.Join(oneJournal, "a.json"): `{}`,
	} {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	before := files(t, root)

	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"missing OLD", []string{filepath.Join(root, "nope"), kind}, "nope"},
		{"missing NEW", []string{twin, filepath.Join(root, "nope.json")}, "nope.json"},
		{"not a journal", []string{twin, notJournal}, "target.yaml"},
		{"another schema", []string{otherSchema, kind}, "threescale-chaos.journal/v0"},
		{"a report directory without a journal", []string{twin, root}, "journal.json"},
		{"one argument", []string{twin}, "got 1 argument"},
		{"--last with one journal", []string{"--last", oneJournal}, "found 1"},
		{"--last of a missing directory", []string{"--last", filepath.Join(root, "nohistory")}, "nohistory"},
		{"--last and arguments", []string{"--last", oneJournal, twin}, "no OLD and NEW"},
		{"unknown flag", []string{"--htm", "x", twin, kind}, "unknown flag"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, code := cli(t, time.Minute, append([]string{"diff"}, tc.args...)...)
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if code != 2 || len(lines) != 1 || !strings.Contains(out, tc.want) {
				t.Errorf("want exit 2 and one line mentioning %q, got %d:\n%s", tc.want, code, out)
			}
			if after := files(t, root); !slices.Equal(after, before) {
				t.Errorf("files before %q, after %q", before, after)
			}
		})
	}
}
