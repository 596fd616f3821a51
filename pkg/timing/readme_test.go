package timing

import (
	"os"
	"strings"
	"testing"
)

// The README's timeouts table is Defaults rendered: a default changed in code and not in the
// README (or the reverse) fails here.
func TestREADMETimeoutsTable(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	const begin, end = "<!-- timeouts:begin -->\n", "<!-- timeouts:end -->"
	s := string(b)
	i, j := strings.Index(s, begin), strings.Index(s, end)
	if i < 0 || j < i {
		t.Fatalf("README.md has no %q ... %q block", begin, end)
	}
	if got, want := s[i+len(begin):j], Table(); got != want {
		t.Errorf("README.md's timeouts table differs from timing.Defaults; want:\n%s", want)
	}
}
