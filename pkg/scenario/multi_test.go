package scenario

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func multiFile(components string) string {
	return strings.Replace(validFile(nil), "component: zync\n", "components: "+components+"\n", 1)
}

func TestParseSeveralComponents(t *testing.T) {
	s, err := Parse("scenarios/zync-all.yaml", []byte(multiFile("[zync, zync-que, zync-database]")))
	if err != nil {
		t.Fatal(err)
	}
	if got := s.ComponentNames(); !slices.Equal(got, []string{"zync", "zync-que", "zync-database"}) {
		t.Errorf("components %v, want the file's order", got)
	}
	if !s.Multi() || s.Name != "zync-all" || s.Component.Name != "zync" {
		t.Errorf("multi %v, name %q, component %q; want true, the file's base name, the first component", s.Multi(), s.Name, s.Component.Name)
	}

	one, err := Parse("scenarios/whatever.yaml", []byte(validFile(nil)))
	if err != nil {
		t.Fatal(err)
	}
	if one.Multi() || one.Name != "zync" || !slices.Equal(one.ComponentNames(), []string{"zync"}) {
		t.Errorf("single file: multi %v, name %q, components %v; want false, the component's name, [zync]", one.Multi(), one.Name, one.ComponentNames())
	}

	alias, err := Parse("s.yaml", []byte(multiFile("[system-sphinx, system-app]")))
	if err != nil {
		t.Fatal(err)
	}
	if got := alias.ComponentNames(); !slices.Equal(got, []string{"system-searchd", "system-app"}) {
		t.Errorf("components %v, want the alias resolved", got)
	}
}

func TestParseRejectsBadComponents(t *testing.T) {
	tests := []struct {
		name, data, want string
	}{
		{"both fields", strings.Replace(validFile(nil), "component: zync\n", "component: zync\ncomponents: [zync, zync-que]\n", 1),
			"f.yaml: components: a file names its component in component: or its components in components:, not both"},
		{"neither", strings.Replace(validFile(nil), "component: zync\n", "", 1), "f.yaml: component: is required"},
		{"unknown", multiFile("[zync, nope]"), `f.yaml: components[1]: unknown 3scale component "nope"`},
		{"duplicate", multiFile("[zync, zync-que, zync]"), "f.yaml: components[2]: zync is already components[0]; a component is named once"},
		{"duplicate through an alias", multiFile("[system-searchd, system-sphinx]"), "f.yaml: components[1]: system-searchd is already components[0]"},
		{"one", multiFile("[zync]"), "f.yaml: components: names 1 component(s); a list names at least two (a single component goes in component:)"},
		{"empty", multiFile("[]"), "f.yaml: components: names 0 component(s)"},
		{"not a list", multiFile("zync"), `f.yaml: components: must be a list of component names, got "zync"`},
		{"not a string", multiFile("[zync, 3]"), "f.yaml: components[1]: must be a string, got 3"},
		{"claims", multiFile("[zync, zync-que]") + "claims:\n  - id: zync/1\n    says: x\n    unasserted: y\n",
			"f.yaml: claims: a file of several components has no claims"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("f.yaml", []byte(tt.data))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

// A file of several components may share them with the single-component files; two files
// with the same base name cannot both load.
func TestLoadDirSeveralComponents(t *testing.T) {
	dir := t.TempDir()
	for name, data := range map[string]string{
		"zync.yaml":     validFile(nil),
		"zync-all.yaml": multiFile("[zync, zync-que]"),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Name != "zync-all" || got[1].Name != "zync" {
		t.Fatalf("LoadDir = %d scenarios", len(got))
	}
	if err := os.WriteFile(filepath.Join(dir, "zync-all.yml"), []byte(multiFile("[zync-que, zync-database]")), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadDir(dir); err == nil || !strings.Contains(err.Error(), "zync-all.yml: components: zync-all is already covered by "+filepath.Join(dir, "zync-all.yaml")) {
		t.Fatalf("err = %v, want the second zync-all refused", err)
	}
}
