package report

import (
	"compress/gzip"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/threescale-chaos/harness/internal/testsupport"
	"github.com/threescale-chaos/harness/pkg/scenario"
)

// shotsEnv names a directory the browser test also writes its screenshots to,
// so they outlive the test's temporary directory.
const shotsEnv = "THREESCALE_CHAOS_REPORT_SHOTS"

// narrowWidth is a window narrower than the matrix and the cells' tables,
// which then scroll sideways; the timelines shrink with the page and their
// labels must still not overlap.
const narrowWidth = 640

// firstScreen is the window the verdict, the doc gaps and the slowest
// recoveries must fit in.
const firstScreenWidth, firstScreenHeight = 1280, 800

// TestReportInBrowser renders reports from real journals (the process-node
// twin's e2e run and a kind run, in testdata), from the synthetic one with a
// FAIL and from one the size of a full matrix (fullMatrix), opens each in headless Chromium at 1280 and 1920 pixels
// wide, takes screenshots, and checks the page's layout from the browser's
// boxes: no two text labels overlap in a timeline or among the headings,
// nothing is wider than the window, every matrix link leads to a section, and
// at 1280×800 the first screen holds the verdict, the doc gaps and the slowest
// recoveries. At 640 pixels, where the tables are wider than the window, it
// checks the labels and links only.
func TestReportInBrowser(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	testsupport.Require(t, err == nil, "Debian's chromium (apt-get install chromium)")

	journals := map[string]*Journal{"synthetic": synthetic(t)}
	for _, name := range []string{"e2e", "matrix-kind"} {
		journals[name] = readGzipJournal(t, filepath.Join("testdata", name+"-journal.json.gz"))
	}
	journals["full-matrix"] = fullMatrix(t, readGzipJournal(t, filepath.Join("testdata", "e2e-journal.json.gz")))

	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	actx, acancel := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(chromium),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.NoFirstRun,
		chromedp.UserDataDir(t.TempDir()),
	)
	defer acancel()
	bctx, bcancel := chromedp.NewContext(actx)
	defer bcancel()

	shots := t.TempDir()
	for _, name := range []string{"e2e", "matrix-kind", "synthetic", "full-matrix"} {
		dir := filepath.Join(t.TempDir(), name)
		path, err := journals[name].WriteHTML(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, width := range []int64{firstScreenWidth, 1920, narrowWidth} {
			if width == narrowWidth && name == "full-matrix" {
				continue // its timelines are e2e's, which are checked narrow
			}
			t.Run(fmt.Sprintf("%s/%d", name, width), func(t *testing.T) {
				if err := chromedp.Do(bctx,
					chromedp.EmulateViewport(width, firstScreenHeight),
					chromedp.Navigate("file://"+path),
				); err != nil {
					t.Fatalf("opening %s: %v", path, err)
				}
				// The layout first: a full-page screenshot may resize the page
				// to its content while it captures.
				l, err := chromedp.Run(bctx, chromedp.Evaluate[layout](layoutJS))
				if err != nil {
					t.Fatalf("reading the layout: %v", err)
				}
				if l.ClientWidth != width {
					t.Fatalf("the window is %d px wide, want %d", l.ClientWidth, width)
				}
				checkLayout(t, l, width)
				for _, shot := range []struct {
					kind string
					take chromedp.Action[[]byte]
				}{{"first", chromedp.CaptureScreenshot()}, {"full", chromedp.FullScreenshot(100)}} {
					png, err := chromedp.Run(bctx, shot.take)
					if err != nil {
						t.Fatalf("screenshot: %v", err)
					}
					saveShot(t, shots, fmt.Sprintf("%s-%d-%s.png", name, width, shot.kind), png)
				}
			})
		}
	}
}

// layout is what layoutJS reads from the page.
type layout struct {
	// Groups are sets of text boxes of which no two may overlap: one per
	// timeline, and one of every heading's text.
	Groups []labelGroup `json:"groups"`
	// ClientWidth is the window's width; ScrollWidth the page's.
	ClientWidth int64 `json:"clientWidth"`
	ScrollWidth int64 `json:"scrollWidth"`
	// Wide lists elements that end right of the window.
	Wide []string `json:"wide"`
	// Links are the matrix's in-page links and whether their target exists.
	Links []pageLink `json:"links"`
	// Sections counts the scenario sections (h2 with an id).
	Sections int `json:"sections"`
	// FirstScreen maps the first screen's parts to their bottom edge, -1
	// when the page lacks the part.
	FirstScreen map[string]float64 `json:"firstScreen"`
}

type labelGroup struct {
	Name  string     `json:"name"`
	Boxes []labelBox `json:"boxes"`
}

type labelBox struct {
	Text string  `json:"text"`
	X0   float64 `json:"x0"`
	Y0   float64 `json:"y0"`
	X1   float64 `json:"x1"`
	Y1   float64 `json:"y1"`
}

type pageLink struct {
	Href   string `json:"href"`
	Target bool   `json:"target"`
}

// layoutJS measures the page. Heading text is measured per text node (a
// Range's boxes), so a heading's verdict badge is a label of its own; a
// timeline's labels are its <text> elements.
const layoutJS = `(() => {
  const abs = r => ({x0: r.left + scrollX, y0: r.top + scrollY, x1: r.right + scrollX, y1: r.bottom + scrollY});
  const groups = [];
  document.querySelectorAll('svg').forEach((svg, i) => {
    const own = e => [...e.childNodes].filter(n => n.nodeType === Node.TEXT_NODE).map(n => n.textContent).join('').trim();
    const boxes = [...svg.querySelectorAll('text')].map(e => Object.assign(abs(e.getBoundingClientRect()), {text: own(e)}));
    groups.push({name: 'timeline ' + (svg.dataset.scenario || i), boxes});
  });
  const heads = [];
  document.querySelectorAll('h1, h2, h3').forEach(h => {
    const w = document.createTreeWalker(h, NodeFilter.SHOW_TEXT);
    for (let n = w.nextNode(); n; n = w.nextNode()) {
      if (!n.textContent.trim()) continue;
      const r = document.createRange();
      r.selectNodeContents(n);
      for (const b of r.getClientRects()) heads.push(Object.assign(abs(b), {text: n.textContent.trim()}));
    }
  });
  groups.push({name: 'headings', boxes: heads});
  const cw = document.documentElement.clientWidth;
  const wide = [];
  document.querySelectorAll('body *').forEach(e => {
    const r = e.getBoundingClientRect();
    if (r.width > 0 && r.right > cw + 0.5 && wide.length < 10) {
      wide.push(e.tagName.toLowerCase() + (e.className && e.className.baseVal === undefined ? '.' + e.className : '') + ' ends at ' + Math.round(r.right) + ': ' + e.textContent.trim().slice(0, 60));
    }
  });
  const links = [...document.querySelectorAll('table.matrix a[href^="#"]')].map(a => ({href: a.getAttribute('href'), target: !!document.getElementById(a.getAttribute('href').slice(1))}));
  const bottom = id => { const e = document.getElementById(id); return e ? e.getBoundingClientRect().bottom + scrollY : -1; };
  return {groups, clientWidth: cw, scrollWidth: document.documentElement.scrollWidth, wide, links,
    sections: document.querySelectorAll('h2[id^="s"]').length,
    firstScreen: {verdict: bottom('verdict'), docgaps: bottom('docgaps'), slowest: bottom('slowest')}};
})()`

func checkLayout(t *testing.T, l layout, width int64) {
	t.Helper()
	for _, g := range l.Groups {
		for i, a := range g.Boxes {
			for _, b := range g.Boxes[i+1:] {
				// Half a pixel either way is rounding, not overlap.
				if min(a.X1, b.X1)-max(a.X0, b.X0) > 0.5 && min(a.Y1, b.Y1)-max(a.Y0, b.Y0) > 0.5 {
					t.Errorf("%s: %q at (%.0f,%.0f)-(%.0f,%.0f) overlaps %q at (%.0f,%.0f)-(%.0f,%.0f)", g.Name,
						a.Text, a.X0, a.Y0, a.X1, a.Y1, b.Text, b.X0, b.Y0, b.X1, b.Y1)
				}
			}
		}
	}
	if width != narrowWidth && (l.ScrollWidth > l.ClientWidth || len(l.Wide) > 0) {
		t.Errorf("the page is %d px wide in a %d px window; past the edge: %s", l.ScrollWidth, l.ClientWidth, strings.Join(l.Wide, "; "))
	}
	if len(l.Links) != l.Sections || l.Sections == 0 {
		t.Errorf("the matrix has %d links for %d scenario sections", len(l.Links), l.Sections)
	}
	for _, k := range l.Links {
		if !k.Target {
			t.Errorf("matrix link %s leads nowhere", k.Href)
		}
	}
	if width != firstScreenWidth {
		return
	}
	for _, part := range []string{"verdict", "docgaps", "slowest"} {
		switch b := l.FirstScreen[part]; {
		case b < 0:
			t.Errorf("the page has no #%s", part)
		case b > firstScreenHeight:
			t.Errorf("#%s ends at %.0f px, below the first %d×%d screen", part, b, firstScreenWidth, firstScreenHeight)
		}
	}
}

// fullMatrix makes a journal the size of a run of every scenario file: each
// file's scenario with the file's doc gaps (about twenty in all) and the
// samples and cells of one of the e2e run's scenarios, one of them turned
// FAIL so a gap is not observed.
func fullMatrix(t *testing.T, e2e *Journal) *Journal {
	t.Helper()
	files, err := scenario.LoadDir(filepath.Join("..", "..", "scenarios"))
	if err != nil {
		t.Fatal(err)
	}
	j := *e2e
	j.Scenarios = nil
	failed := false
	for i, sc := range files {
		r := e2e.Scenarios[i%len(e2e.Scenarios)]
		r.Name, r.Component, r.File = sc.Component.Name, sc.Component.Name, sc.Path
		fresh := NewScenario(sc, r.StartedAt)
		r.DocGaps, r.Claims = fresh.DocGaps, fresh.Claims
		r.Cells = slices.Clone(r.Cells)
		for k, c := range r.Cells {
			if !failed && len(r.DocGaps) > 0 && c.Capability == r.DocGaps[0].Capability {
				c.Verdict, c.Outage.Verdict = scenario.Fail, scenario.Fail
				c.Reason = "outage: expected " + string(c.Expect) + ", but 3 of 90 samples did otherwise (made up for the layout)"
				r.Cells[k], failed = c, true
			}
		}
		r.Conclude()
		j.Scenarios = append(j.Scenarios, r)
	}
	j.Conclude()
	return &j
}

func readGzipJournal(t *testing.T, path string) *Journal {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	z, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	j, err := Decode(z)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return j
}

func saveShot(t *testing.T, dir, name string, png []byte) {
	t.Helper()
	dirs := []string{dir}
	if d := os.Getenv(shotsEnv); d != "" {
		dirs = append(dirs, d)
	}
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(d, name)
		if err := os.WriteFile(p, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot %s", p)
	}
}
