// Package makefile tests the project's Makefile itself.
package makefile

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// `make -n` prints what a target would do and runs nothing of it. GNU make runs a recipe
// line that names $(MAKE) even under -n (so that the sub-make prints its own commands); the
// targets whose lines mix a sub-make with commands of their own (a trap, the engine test, the
// outage suite, a run of the matrix) name it through $(SUBMAKE) so that those lines are only
// printed. Here go and the Docker engine script are recorders, in a copy of the Makefile
// with nothing else beside it: any of them called, or any make failure, fails the test.
func TestDryRunRunsNothing(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("no make on PATH")
	}
	dir := t.TempDir()
	for _, f := range []string{"Makefile", "go.mod", "kind-config.yaml"} {
		b, err := os.ReadFile(filepath.Join("..", "..", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	calls := filepath.Join(dir, "calls")
	recorder := filepath.Join(dir, "recorder")
	if err := os.WriteFile(recorder, []byte("#!/bin/sh\necho \"$*\" >> "+calls+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, target := range []string{"test", "e2e", "matrix-kind", "demo", "bench"} {
		cmd := exec.Command("make", "-n", target, "GO="+recorder, "DOCKER_ENGINE="+recorder, "XDG_CACHE_HOME="+filepath.Join(dir, "cache"))
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("make -n %s: %v\n%s", target, err, out)
		}
		if b, _ := os.ReadFile(calls); len(b) > 0 {
			t.Errorf("make -n %s ran commands:\n%s", target, strings.TrimSpace(string(b)))
			_ = os.Remove(calls)
		}
	}
	var names []string
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if got := strings.Join(names, " "); got != "Makefile go.mod kind-config.yaml recorder" {
		t.Errorf("make -n left files behind: %s", got)
	}
}
