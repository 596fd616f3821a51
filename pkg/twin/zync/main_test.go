package zync

import (
	"os"
	"path/filepath"
	"testing"
)

// TestMain removes the shared initdb template once every test has copied what it needs.
func TestMain(m *testing.M) {
	code := m.Run()
	if template.dir != "" {
		_ = os.RemoveAll(filepath.Dir(template.dir))
	}
	os.Exit(code)
}
