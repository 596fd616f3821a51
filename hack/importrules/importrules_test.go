// Package importrules checks the project's import boundaries, as Kubernetes keeps its
// .import-restrictions with import-boss: the harness never imports the twin (it reaches any
// cluster through a kubeconfig and a target file, README "Layout"), and pkg/ returns errors
// and leaves asserting to suites/, so no package under pkg/ depends on Ginkgo or Gomega.
// Only non-test code is held to this: tests may start a twin's control plane to run
// against.
package importrules

import (
	"bufio"
	"bytes"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/threescale-chaos/harness"

// rule refuses, for the packages in or under one of from (and in or under none of except), a
// dependency (direct or transitive) in or under one of deny.
type rule struct {
	why    string
	from   []string
	except []string
	deny   []string
}

var rules = []rule{
	{
		why:  "the harness reaches a cluster through a kubeconfig and a target file, never by importing the twin",
		from: []string{module},
		// testcluster starts the twin's control plane for tests; the next rule keeps it (and
		// all of testsupport) out of anything but tests.
		except: []string{module + "/pkg/twin", module + "/cmd/threescale-twin", module + "/hack", module + "/internal/testsupport/testcluster"},
		deny:   []string{module + "/pkg/twin"},
	},
	{
		why:    "test support is for tests: no program or library depends on it",
		from:   []string{module},
		except: []string{module + "/internal/testsupport"},
		deny:   []string{module + "/internal/testsupport"},
	},
	{
		why:  "pkg/ returns errors; only suites/ assert",
		from: []string{module + "/pkg"},
		deny: []string{"github.com/onsi/ginkgo", "github.com/onsi/gomega"},
	},
}

// under reports whether the import path pkg is one of roots or below one.
func under(pkg string, roots []string) bool {
	for _, p := range roots {
		if pkg == p || strings.HasPrefix(pkg, p+"/") {
			return true
		}
	}
	return false
}

// violations applies the rules to `go list -deps` output: one line per package, its import
// path then its dependencies.
func violations(list string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(list))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		pkg, deps := f[0], f[1:]
		for _, r := range rules {
			if !under(pkg, r.from) || under(pkg, r.except) {
				continue
			}
			for _, d := range deps {
				if under(d, r.deny) {
					out = append(out, pkg+" depends on "+d+": "+r.why)
					break
				}
			}
		}
	}
	return out
}

func TestImportRules(t *testing.T) {
	cmd := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Deps " "}}`, module+"/...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	list, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	if !strings.Contains(string(list), module+"/pkg/chaos ") {
		t.Fatalf("go list did not list the harness packages:\n%.500s", list)
	}
	for _, v := range violations(string(list)) {
		t.Error(v)
	}
}

// TestViolations shows the rules catch what they are for.
func TestViolations(t *testing.T) {
	list := strings.Join([]string{
		module + "/pkg/chaos context " + module + "/pkg/twin/cluster",
		module + "/pkg/probe fmt github.com/onsi/gomega/types",
		module + "/suites/outage github.com/onsi/ginkgo/v2",
		module + "/pkg/twin/system " + module + "/pkg/twin/backend",
		module + "/cmd/threescale-twin " + module + "/pkg/twin/cluster",
		module + "/pkg/twinkle " + module + "/pkg/twin",
		module + "/internal/testsupport/testcluster " + module + "/pkg/twin/cluster " + module + "/internal/testsupport",
		module + "/pkg/session " + module + "/internal/testsupport",
	}, "\n")
	got := violations(list)
	want := []string{module + "/pkg/chaos", module + "/pkg/probe", module + "/pkg/twinkle", module + "/pkg/session"}
	if len(got) != len(want) {
		t.Fatalf("violations: %q, want one each for %q", got, want)
	}
	for i, w := range want {
		if !strings.HasPrefix(got[i], w+" depends on") {
			t.Errorf("violation %d: %q, want %s", i, got[i], w)
		}
	}
}
