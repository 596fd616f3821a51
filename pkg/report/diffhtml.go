package report

import (
	"bytes"
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/threescale-chaos/harness/pkg/scenario"
)

// DiffHTMLFile is the name the diff command writes beside NEW's report.
const DiffHTMLFile = "diff.html"

//go:embed diff.html.tmpl
var diffTemplate string

// WriteHTML writes the diff page to path (creating its directory) and returns the path.
func (d *Diff) WriteHTML(path string) (string, error) {
	return writeFile(filepath.Dir(path), filepath.Base(path), d.RenderHTML)
}

// RenderHTML writes the diff as one self-contained HTML page (inline CSS, no scripts),
// styled with report.html's own style sheet, in the text's order: the runs, the verdicts,
// the cells, the timing shifts, the legend.
func (d *Diff) RenderHTML(w io.Writer) error {
	t, err := template.New("diff").Funcs(template.FuncMap{
		"ts":      func(t time.Time) string { return fmtTime(t) },
		"lower":   func(v scenario.Verdict) string { return verdictClass(v) },
		"change":  func(o, n string) string { return changeWith(" → ", o, n) },
		"outcome": outcome,
		"cells":   func(n int) string { return count(n, "cell") },
		"css":     func() template.CSS { return template.CSS(reportCSS()) },
	}).Parse(diffTemplate)
	if err != nil {
		return fmt.Errorf("parsing diff template: %w", err)
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, struct {
		D      *Diff
		Legend []string
	}{d, DiffLegend}); err != nil {
		return fmt.Errorf("rendering diff: %w", err)
	}
	_, err = w.Write(buf.Bytes())
	return err
}

// reportCSS is the style sheet of report.html's template, so both pages look alike
// without a second copy to keep in step; empty if the template has none.
func reportCSS() string {
	_, rest, ok := strings.Cut(reportTemplate, "<style>")
	if !ok {
		return ""
	}
	css, _, ok := strings.Cut(rest, "</style>")
	if !ok {
		return ""
	}
	return css
}
