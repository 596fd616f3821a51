package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/spf13/cobra"

	"github.com/threescale-chaos/harness/pkg/report"
)

// The diff command's exit codes are diff(1)'s, not a run's: 0 when no verdict changed, 1
// when one did, 2 for trouble (a missing file, not a journal, another schema), which writes
// nothing.
const (
	diffChanged = 1
	diffTrouble = 2
)

type diffFlags struct {
	last string
	html string
}

func diffCmd() *cobra.Command {
	var f diffFlags
	cmd := &cobra.Command{
		Use:   "diff OLD NEW | diff --last HISTORY_DIR",
		Short: "What behaves differently in NEW than in OLD (journal files or report directories): verdicts, cells, onset and recovery shifts beyond noise; writes diff.html beside NEW. Exit 0 no verdict changed, 1 a verdict changed, 2 bad input",
		Args:  cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			changed, err := f.run(cmd, args)
			switch {
			case err != nil:
				fmt.Fprintln(cmd.ErrOrStderr(), "threescale-chaos diff:", err)
				return exitCode(diffTrouble)
			case changed:
				return exitCode(diffChanged)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&f.last, "last", "", "compare the two newest journals in this directory (a report directory's history/)")
	cmd.Flags().StringVar(&f.html, "html", "", "where to write the HTML (default diff.html in NEW's report directory)")
	cmd.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		fmt.Fprintln(cmd.ErrOrStderr(), "threescale-chaos diff:", err)
		return exitCode(diffTrouble)
	})
	return cmd
}

// run reads both journals before it writes anything, prints the diff, writes its HTML and
// reports whether a verdict changed.
func (f *diffFlags) run(cmd *cobra.Command, args []string) (bool, error) {
	oldPath, newPath, err := f.paths(args)
	if err != nil {
		return false, err
	}
	oldRun, err := readJournal(oldPath)
	if err != nil {
		return false, fmt.Errorf("OLD %s: %w", oldPath, err)
	}
	newRun, err := readJournal(newPath)
	if err != nil {
		return false, fmt.Errorf("NEW %s: %w", newPath, err)
	}
	d := report.Compare(oldRun, newRun)
	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "OLD %s\nNEW %s\n", oldPath, newPath)
	if err := d.WriteText(out); err != nil {
		return false, err
	}
	html := f.html
	if html == "" {
		html = filepath.Join(reportDirOf(newPath), report.DiffHTMLFile)
	}
	written, err := d.WriteHTML(html)
	if err != nil {
		return false, err
	}
	fmt.Fprintf(out, "\nhtml %s\n", written)
	return d.VerdictChanged(), nil
}

// paths returns OLD and NEW: the two arguments, or the two newest journals under --last
// (history file names sort by start time).
func (f *diffFlags) paths(args []string) (string, string, error) {
	if f.last == "" {
		if len(args) != 2 {
			return "", "", fmt.Errorf("want OLD and NEW (journal files or report directories), or --last DIR; got %d argument(s)", len(args))
		}
		return args[0], args[1], nil
	}
	if len(args) != 0 {
		return "", "", fmt.Errorf("--last takes no OLD and NEW arguments; got %d", len(args))
	}
	js, err := filepath.Glob(filepath.Join(f.last, "*.json"))
	if err != nil {
		return "", "", err
	}
	if _, err := os.Stat(f.last); err != nil {
		return "", "", err
	}
	if len(js) < 2 {
		return "", "", fmt.Errorf("--last %s: want two journals to compare, found %d", f.last, len(js))
	}
	slices.Sort(js)
	return js[len(js)-2], js[len(js)-1], nil
}

// reportDirOf is the report directory a journal argument belongs to: the directory itself,
// the journal file's directory, or for a journal in a report directory's history/ that
// report directory.
func reportDirOf(path string) string {
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return path
	}
	dir := filepath.Dir(path)
	if filepath.Base(dir) == report.HistoryDir {
		return filepath.Dir(dir)
	}
	return dir
}
