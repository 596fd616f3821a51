package report

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// HistoryDir is the report directory's subdirectory that keeps the journals of earlier
// runs: a run overwrites its report directory's journal.json, and `threescale-chaos diff
// --last` compares the two newest journals here.
const HistoryDir = "history"

// HistoryKeep is how many journals WriteHistory keeps.
const HistoryKeep = 20

// historyName matches the names WriteHistory gives; only those are pruned.
var historyName = regexp.MustCompile(`^\d{8}T\d{6}\.\d{9}Z-[A-Za-z0-9._-]+\.json$`)

// WriteHistory writes the journal (redacted, as WriteJSON does) to
// dir/history/<startedAt UTC>-<runId>.json, names that sort by start time, and removes the
// oldest of them beyond keep. It returns the path written.
func (j *Journal) WriteHistory(dir string, keep int) (string, error) {
	h := filepath.Join(dir, HistoryDir)
	name := j.StartedAt.UTC().Format("20060102T150405.000000000Z") + "-" + safeName(j.RunID) + ".json"
	path, err := writeFile(h, name, j.Encode)
	if err != nil {
		return "", err
	}
	entries, err := os.ReadDir(h)
	if err != nil {
		return path, fmt.Errorf("pruning %s: %w", h, err)
	}
	var names []string
	for _, e := range entries {
		if e.Type().IsRegular() && historyName.MatchString(e.Name()) {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names)
	for len(names) > max(keep, 1) {
		if err := os.Remove(filepath.Join(h, names[0])); err != nil {
			return path, fmt.Errorf("pruning %s: %w", h, err)
		}
		names = names[1:]
	}
	return path, nil
}

// safeName keeps a run id usable as part of a file name.
func safeName(s string) string {
	if s == "" {
		return "run"
	}
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
			return r
		}
		return '_'
	}, s)
}
