package report

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/threescale-chaos/harness/pkg/catalog"
	"github.com/threescale-chaos/harness/pkg/scenario"
)

var t0 = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

const token = "tok-0b6f2c9e4a71d3385f"

func at(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

// series samples c every second for n seconds; failing(i) says which fail.
func series(c scenario.Capability, n int, failing func(i int) bool, class scenario.ErrorClass) []scenario.Sample {
	var out []scenario.Sample
	for i := range n {
		s := scenario.Sample{Capability: c, Time: at(i*1000 + i%7), OK: !failing(i), Status: 200,
			Latency: time.Duration(3_000_000 + i*1_234_567 + 1)}
		if !s.OK {
			s.Status, s.ErrorClass, s.Detail = 0, class, "Get: dial tcp 10.0.0.7:8080: connect: connection refused"
		}
		out = append(out, s)
	}
	return out
}

// synthetic builds a journal of two scenarios judged by pkg/scenario: one that
// passes and one with a kept cell that broke and a doc gap.
func synthetic(t *testing.T) *Journal {
	t.Helper()
	j := New("run-42", t0, Target{File: "target.yaml", Namespace: "3scale", Version: "2.15"})
	j.Target.SetEndpoint("admin", "https://3scale-admin.apps.example/?access_token="+token)
	j.AddSecrets(token)
	w := scenario.Window{Start: at(10_000), End: at(40_000)}
	outage := func(i int) bool { return i >= 10 && i < 40 }
	never := func(int) bool { return false }

	build := func(component string, cells map[scenario.Capability]scenario.Expect, samples []scenario.Sample, gaps []scenario.DocGap) ScenarioResult {
		comp, err := catalog.Lookup(component)
		if err != nil {
			t.Fatal(err)
		}
		sc := scenario.Scenario{Path: "scenarios/" + component + ".yaml", Name: component, Component: comp, Components: []catalog.Component{comp},
			Doc: scenario.Doc{Section: comp.DocSection}, DocGaps: gaps}
		r := NewScenario(sc, t0)
		r.Method, r.Workload = MethodCRPatch, "deployment/"+component
		one := int32(1)
		r.OriginalReplicas = &one
		for _, p := range []struct {
			name string
			ms   int
		}{{"steady", 0}, {"inject", 9_000}, {"fault-held", 10_000}, {"observe", 10_001}, {"restore", 40_000}, {"recovered", 45_000}} {
			r.AddPhase(p.name, at(p.ms))
		}
		r.SetWindow(w)
		r.SetSamples(samples)
		for _, c := range scenario.Capabilities() {
			e, ok := cells[c]
			if !ok {
				continue
			}
			exp := scenario.Expectation{Capability: c, Expect: e, RecoveryBudget: 10 * time.Second, Reason: "no traffic reaches it"}
			if e == scenario.Lost {
				exp.OnsetGrace = 2 * time.Second
			}
			var work *scenario.WorkCheck
			if e == scenario.Deferred {
				work = &scenario.WorkCheck{Capability: c, What: "hits", Submitted: 120, Applied: 120, CheckedAt: at(50_000)}
				r.AddWork(*work)
			}
			r.AddCell(scenario.EvaluateCell(exp, w, samples, work))
		}
		r.Load = []LoadRecord{{Load: "production-gateway", Phase: "fault-held", Sent: 300, OK: 0, Failed: 300,
			ByClass: map[scenario.ErrorClass]int{scenario.ErrRefused: 300}}}
		r.Delays = []DelayRecord{{Capability: scenario.ProductionTraffic, Due: at(12_000), Started: at(14_500), Skipped: 2}}
		r.Disturbances = []DisturbanceRecord{{Start: at(20_000), End: at(22_500), Capabilities: []scenario.Capability{scenario.ProductionTraffic, scenario.RateLimiting},
			What: "gateway-rollout's rollout of apicast-production stopped pod apicast-production-7d9f-abcde"}}
		r.TestBed = "the Kubernetes API server's /readyz checked 80 times, slowest 223ms; 0 stalls of the test bed (0s in all)"
		r.Conclude()
		return r
	}

	var s1 []scenario.Sample
	s1 = append(s1, series(scenario.ProductionTraffic, 50, outage, scenario.ErrRefused)...)
	s1 = append(s1, series(scenario.AdminAPIRead, 50, never, "")...)
	s1 = append(s1, series(scenario.Analytics, 50, never, "")...)
	j.Scenarios = append(j.Scenarios, build("apicast-production", map[scenario.Capability]scenario.Expect{
		scenario.ProductionTraffic: scenario.Lost, scenario.AdminAPIRead: scenario.Kept, scenario.Analytics: scenario.Deferred,
	}, s1, nil))

	var s2 []scenario.Sample
	s2 = append(s2, series(scenario.StagingTraffic, 50, outage, scenario.Err5xx)...)
	s2 = append(s2, series(scenario.AdminAPIRead, 50, outage, scenario.ErrTimeout)...)
	s2[len(s2)-1].Detail = "token " + token + " rejected" // a secret in a sample
	j.Scenarios = append(j.Scenarios, build("system-app", map[scenario.Capability]scenario.Expect{
		scenario.StagingTraffic: scenario.Lost, scenario.AdminAPIRead: scenario.Kept, scenario.Alerts: scenario.Unasserted,
	}, s2, []scenario.DocGap{{Capability: scenario.StagingTraffic, Documented: "staging keeps serving",
		Observed: "staging loads its config lazily; with key " + token + " it fails", Citation: "research/apicast.md §3"}}))
	j.FinishedAt = at(60_000)
	j.Conclude()
	return j
}

func encode(t *testing.T, j *Journal) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := j.Encode(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestSyntheticVerdicts(t *testing.T) {
	j := synthetic(t)
	if s := j.Scenarios[0]; s.Verdict != scenario.Pass {
		t.Errorf("apicast-production = %s: %s", s.Verdict, s.Reason)
	}
	s := j.Scenarios[1]
	if s.Verdict != scenario.Fail || !strings.Contains(s.Reason, "admin-api-read (expected kept") {
		t.Errorf("system-app = %s: %s; want FAIL naming admin-api-read", s.Verdict, s.Reason)
	}
	if s.DocGaps[0].Verdict != scenario.Pass {
		t.Errorf("doc gap verdict = %q, want the staging cell's PASS", s.DocGaps[0].Verdict)
	}
	if j.Verdict != scenario.Fail || j.Reason != "1 of 2 scenarios FAIL: system-app" {
		t.Errorf("overall = %s: %s", j.Verdict, j.Reason)
	}
	c, _ := j.Scenarios[0].Cell(scenario.ProductionTraffic)
	if c.Outage.TimeToFail == nil || *c.Outage.TimeToFail != Duration(3*time.Millisecond) || c.Recovery.TimeToRecover == nil {
		t.Errorf("production-traffic cell = %+v, want ttf and ttr", c)
	}
}

func TestJournalRoundTrip(t *testing.T) {
	j := synthetic(t)
	j.secrets = nil // compare without redaction
	// Brackets inside strings must survive the one-line rows.
	j.Scenarios[0].Samples[0].Samples[0].Detail = "odd ] [ {\"a\": [1]} detail\nsecond line"
	first := encode(t, j)
	got, err := Decode(bytes.NewReader(first))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, j) {
		for i := range j.Scenarios {
			if !reflect.DeepEqual(got.Scenarios[i], j.Scenarios[i]) {
				t.Errorf("scenario %d differs after a round trip:\n got %+v\nwant %+v", i, got.Scenarios[i], j.Scenarios[i])
			}
		}
		t.Fatal("journal differs after a round trip")
	}
	if second := encode(t, got); !bytes.Equal(first, second) {
		t.Error("re-encoding a decoded journal changed it")
	}

	var raw map[string]any
	if err := json.Unmarshal(first, &raw); err != nil {
		t.Fatal(err)
	}
	if raw["schema"] != Schema || raw["verdict"] != "FAIL" {
		t.Errorf("schema/verdict = %v/%v", raw["schema"], raw["verdict"])
	}
	if !bytes.Contains(first, []byte(`"columns": [`)) || !bytes.Contains(first, []byte(`"timeToFail": "3ms"`)) {
		t.Errorf("journal lacks the compact sample columns or a readable time to fail")
	}

	if _, err := Decode(strings.NewReader(`{"schema":"threescale-chaos.journal/v0"}`)); err == nil {
		t.Error("a journal of another schema decoded")
	}
}

func TestSeriesKeepsNanoseconds(t *testing.T) {
	in := Series{Capability: scenario.Search, Samples: []scenario.Sample{
		{Capability: scenario.Search, Time: t0.Add(123456789), OK: true, Latency: 1},
		{Capability: scenario.Search, Time: t0.Add(123456789 + 1000000001), Latency: 999999, ErrorClass: scenario.ErrTimeout, Detail: `a "quoted", detail`},
		{Capability: scenario.Search, Time: t0.Add(123456789 + 5*time.Hour), OK: true, Status: 204, Latency: 2 * time.Second},
	}}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `[1000.000001,0,0,0.999999,"timeout","a \"quoted\", detail"]`) {
		t.Errorf("unexpected row encoding: %s", b)
	}
	var out Series
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Errorf("round trip:\n got %+v\nwant %+v", out, in)
	}
	for _, bad := range []string{
		`{"capability":"search","columns":["x"],"rows":[]}`,
		`{"capability":"search","columns":["offsetMs","ok","status","latencyMs","class","detail"],"rows":[["a",1,0,0,"",""]]}`,
		`{"capability":"search","columns":["offsetMs","ok","status","latencyMs","class","detail"],"rows":[[1.0000001,1,0,0,"",""]]}`,
	} {
		if err := json.Unmarshal([]byte(bad), &out); err == nil {
			t.Errorf("decoded %s", bad)
		}
	}
}

func TestTokenNeverAppears(t *testing.T) {
	j := synthetic(t)
	j.Scenarios[0].Reason += " (while using " + token + ")"
	j.Scenarios[0].Load[0].ByClass = nil
	j.Target.Endpoints["master "+token] = "x" // even as a map key
	js := encode(t, j)
	var html bytes.Buffer
	if err := j.RenderHTML(&html); err != nil {
		t.Fatal(err)
	}
	props := fmt.Sprint(JUnitProperties(j.Scenarios[0], token))
	for name, out := range map[string]string{"json": string(js), "html": html.String(), "junit": props} {
		if strings.Contains(out, token) {
			t.Errorf("the token appears in the %s output", name)
		}
		if name != "junit" && !strings.Contains(out, Redacted) {
			t.Errorf("the %s output shows no redaction", name)
		}
	}
	// The journal in memory is untouched.
	if !strings.Contains(j.Scenarios[0].Reason, token) {
		t.Error("encoding changed the journal itself")
	}
}

func TestRedact(t *testing.T) {
	if got := Redact("a abcdef abc", "abc", "abcdef", ""); got != "a [REDACTED] [REDACTED]" {
		t.Errorf("Redact = %q", got)
	}
	for in, want := range map[string]string{
		"https://gw.example/path?user_key=k1&page=2":          "https://gw.example/path?page=2&user_key=REDACTED",
		"https://admin:hunter2@admin.example/?ACCESS_TOKEN=x": "https://admin:REDACTED@admin.example/?ACCESS_TOKEN=REDACTED",
		"http://backend:3000/":                                "http://backend:3000/",
		"::bad url?access_token=t":                            "::bad url?" + Redacted,
	} {
		if got := RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestHTMLShowsEveryCell(t *testing.T) {
	j := synthetic(t)
	dir := t.TempDir()
	path, err := j.WriteHTML(dir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	page := string(b)
	for _, s := range j.Scenarios {
		for _, c := range s.Cells {
			cell := regexp.MustCompile(`<td class="cell ` + verdictClass(c.Verdict) + `" title="` +
				regexp.QuoteMeta(s.Name+" × "+string(c.Capability)) + `[^"]*">` + regexp.QuoteMeta(string(c.Expect)+"<br>"+string(c.Verdict)) + `</td>`)
			if !cell.MatchString(page) {
				t.Errorf("matrix has no %s cell for %s × %s", c.Verdict, s.Name, c.Capability)
			}
		}
		if !strings.Contains(page, `<h2 id=`) || !strings.Contains(page, s.Name) {
			t.Errorf("no section for %s", s.Name)
		}
	}
	for _, want := range []string{"staging loads its config lazily", "research/apicast.md §3", "fault-held", "<svg", "production-gateway", "Late ticks", ", grace 2s",
		"Disturbances not of the outage's doing</h3>", "without an answer", "production-traffic, rate-limiting", "stopped pod apicast-production-7d9f-abcde",
		"Test bed: the Kubernetes API server&#39;s /readyz checked 80 times, slowest 223ms"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	for _, banned := range []string{"<script", "<link", " src="} {
		if strings.Contains(page, banned) {
			t.Errorf("page is not self-contained: it has %q", banned)
		}
	}
	// Every inline SVG is well-formed XML.
	svgs := regexp.MustCompile(`(?s)<svg .*?</svg>`).FindAllString(page, -1)
	if len(svgs) != len(j.Scenarios) {
		t.Fatalf("%d timelines for %d scenarios", len(svgs), len(j.Scenarios))
	}
	for _, svg := range svgs {
		d := xml.NewDecoder(strings.NewReader(svg))
		for {
			if _, err := d.Token(); err != nil {
				if err.Error() != "EOF" {
					t.Errorf("timeline SVG is not well-formed: %v", err)
				}
				break
			}
		}
		// 50 samples in three runs (ok, failing, ok) make three bars, not 50.
		if n := strings.Count(svg, "<rect "); n > 3*3+1 {
			t.Errorf("timeline has %d rects; consecutive samples should merge", n)
		}
	}
}

func TestWriteAndReadJSON(t *testing.T) {
	j := synthetic(t)
	dir := filepath.Join(t.TempDir(), "reports", "run-42")
	path, err := j.WriteJSON(dir)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(path) != JSONFile {
		t.Errorf("wrote %s", path)
	}
	got, err := ReadJSON(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got.RunID != "run-42" || len(got.Scenarios) != 2 || got.Verdict != scenario.Fail {
		t.Errorf("read back %+v", got)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("report dir has leftovers: %v", entries)
	}
}

func TestConclude(t *testing.T) {
	s := ScenarioResult{Name: "backend-worker", Cells: []Cell{{Capability: scenario.RateLimiting, Verdict: scenario.Pass}}}
	s.Invalid = "the operator scaled backend-worker back to 1 at T0+12s"
	s.Conclude()
	if s.Verdict != scenario.Invalid || s.Reason != s.Invalid {
		t.Errorf("invalid scenario = %s: %s", s.Verdict, s.Reason)
	}
	s = ScenarioResult{}
	s.Conclude()
	if s.Verdict != scenario.Invalid {
		t.Errorf("scenario without cells = %s", s.Verdict)
	}
	j := New("r", t0, Target{})
	j.Conclude()
	if j.Verdict != scenario.Invalid || ExitCode(j.Verdict) != 2 {
		t.Errorf("empty run = %s", j.Verdict)
	}
}

func TestExitCode(t *testing.T) {
	for v, want := range map[scenario.Verdict]int{scenario.Pass: 0, scenario.Fail: 1, scenario.Invalid: 2, "": 2, "MAYBE": 2} {
		if got := ExitCode(v); got != want {
			t.Errorf("ExitCode(%q) = %d, want %d", v, got, want)
		}
	}
}

func TestJUnitProperties(t *testing.T) {
	j := synthetic(t)
	m := JUnitPropertyMap(j.Scenarios[0])
	if got := m["cell.production-traffic"]; !regexp.MustCompile(`^PASS lost ttf=3ms ttr=5ms ok=0/30$`).MatchString(got) {
		t.Errorf("cell.production-traffic = %q", got)
	}
	if m["scenario.verdict"] != "PASS" || m["scenario.method"] != "cr-patch" || m["scenario.component"] != "apicast-production" {
		t.Errorf("scenario properties = %v", m)
	}
	props := JUnitProperties(j.Scenarios[1])
	if len(props) != len(j.Scenarios[1].Cells)+4 || props[0].Name != "cell.staging-traffic" {
		t.Errorf("properties = %v", props)
	}
	if got := JUnitPropertyMap(j.Scenarios[1])["cell.admin-api-read"]; !strings.HasPrefix(got, "FAIL kept ttf=") || !strings.Contains(got, "expected kept") {
		t.Errorf("failing cell property = %q", got)
	}
}
