package report

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"time"

	"github.com/threescale-chaos/harness/pkg/scenario"
)

// Schema identifies the journal format. It changes when a field changes meaning
// or is removed; added fields keep it.
const Schema = "threescale-chaos.journal/v1"

// JSONFile and HTMLFile are the names WriteJSON and WriteHTML write in the report
// directory.
const (
	JSONFile = "journal.json"
	HTMLFile = "report.html"
)

// Method is how a scenario held its component at zero.
type Method string

// The methods.
const (
	// MethodCRPatch patched the APIManager's replicas field (the operator
	// would revert a direct scale).
	MethodCRPatch Method = "cr-patch"
	// MethodScaleSubresource scaled the workload through its scale
	// subresource.
	MethodScaleSubresource Method = "scale-subresource"
)

// Journal is the record of one run.
type Journal struct {
	Schema     string    `json:"schema"`
	RunID      string    `json:"runId"`
	StartedAt  time.Time `json:"startedAt"`
	FinishedAt time.Time `json:"finishedAt,omitzero"`
	// Harness is the harness's version or commit, when known.
	Harness   string           `json:"harness,omitempty"`
	Target    Target           `json:"target"`
	Scenarios []ScenarioResult `json:"scenarios"`
	// Usage is what the harness process spent over the whole run.
	Usage *Usage `json:"usage,omitempty"`
	// Tenant is what the run added to the 3scale tenant and whether it was all taken away.
	Tenant *Tenant `json:"tenant,omitempty"`
	// Verdict is the worst scenario verdict; Reason says which scenarios
	// decided it. Conclude sets both.
	Verdict scenario.Verdict `json:"verdict"`
	Reason  string           `json:"reason"`

	secrets []string
}

// Target says which 3scale install the run was against. It holds no
// credentials: endpoints go through RedactURL when set with SetEndpoint.
type Target struct {
	// File is the target file the run read.
	File string `json:"file,omitempty"`
	// Cluster is the API server URL or kubeconfig context.
	Cluster   string `json:"cluster,omitempty"`
	Namespace string `json:"namespace"`
	// Version is the 3scale version the catalog resolved workloads for.
	Version string `json:"version,omitempty"`
	// Endpoints maps a role (gateway-production, admin, master...) to its
	// URL, with credentials removed.
	Endpoints map[string]string `json:"endpoints,omitempty"`
}

// SetEndpoint records an endpoint URL with RedactURL applied.
func (t *Target) SetEndpoint(role, rawURL string) {
	if t.Endpoints == nil {
		t.Endpoints = map[string]string{}
	}
	t.Endpoints[role] = RedactURL(rawURL)
}

// Tenant records the run's footprint in the 3scale tenant: the tenant's objects counted
// before the run made its own and after it removed them, and whatever was left.
type Tenant struct {
	// Before and After count the tenant's products, backend APIs and accounts.
	Before string `json:"before"`
	After  string `json:"after,omitempty"`
	// LeftBehind names the objects the run added and did not remove.
	LeftBehind string `json:"leftBehind,omitempty"`
	// Error is why the clean-up or the count after it failed.
	Error string `json:"error,omitempty"`
}

// Clean reports whether the run left nothing behind and the count after it worked.
func (t *Tenant) Clean() bool {
	return t != nil && t.After != "" && t.LeftBehind == "" && t.Error == ""
}

// PolicyRecord is one policy of a variant's product chain.
type PolicyRecord struct {
	Name          string            `json:"name"`
	Configuration map[string]string `json:"configuration"`
}

// Phase is a phase mark.
type Phase struct {
	Name string    `json:"name"`
	At   time.Time `json:"at"`
}

// ScenarioResult is what one scenario did and found.
type ScenarioResult struct {
	// Name is the scenario's name (usually the component's).
	Name string `json:"name"`
	// File is the scenario file.
	File string `json:"file,omitempty"`
	// Component is the component held at zero; for a scenario of several components it
	// is the scenario's name, and Components lists them.
	Component string `json:"component"`
	// Components are the components held at zero together, in the file's order; empty
	// for a scenario of one component.
	Components []string `json:"components,omitempty"`
	// ProductPolicies are the policies a variant scenario put in the chain of the run's
	// product for this scenario (scenario.Product); empty for the product as the harness
	// makes it. Name is then the file's and Component the component's.
	ProductPolicies []PolicyRecord `json:"productPolicies,omitempty"`
	DocSection      string         `json:"docSection,omitempty"`
	// Workload is the workload scaled, such as "deployment/backend-worker".
	Workload string `json:"workload,omitempty"`
	Method   Method `json:"method,omitempty"`
	// OriginalReplicas is what restore put back.
	OriginalReplicas *int32    `json:"originalReplicas,omitempty"`
	StartedAt        time.Time `json:"startedAt"`
	FinishedAt       time.Time `json:"finishedAt,omitzero"`
	Phases           []Phase   `json:"phases"`
	// Window is the fault-held window the cells were judged over (zero if
	// the fault never held).
	Window Window `json:"window"`
	// Observation is how long the fault was to be held once the pods were gone
	// and why: timing.observe, or longer when a kept claim rests on a periodic
	// process whose period was read from the cluster.
	Observation *ObservationRecord `json:"observation,omitempty"`
	// Samples holds every sample, one series per capability.
	Samples []Series `json:"samples"`
	// Delays lists ticks a sampler took late because its previous sample
	// was still running, so gaps in a timeline are explained.
	Delays []DelayRecord `json:"delays,omitempty"`
	// Disturbances are the intervals in which something other than the fault cut some
	// capabilities off (scenario.Disturbance: the harness's own action, or a stall of the
	// test bed); the cells did not judge their capabilities' failures without an answer in
	// them (any failure, for AnyFailure).
	Disturbances []DisturbanceRecord `json:"disturbances,omitempty"`
	// TestBed says how the run's watch of the test bed went (probe.StallWatch): its
	// control, how many checks, the slowest, how many stalls. A failed cell beside a test
	// bed that never stalled failed in 3scale, or in what the watch cannot see.
	TestBed string `json:"testBed,omitempty"`

	Cells   []Cell       `json:"cells"`
	Work    []WorkRecord `json:"work,omitempty"`
	Load    []LoadRecord `json:"load,omitempty"`
	DocGaps []DocGap     `json:"docGaps,omitempty"`
	// Claims are the behaviours the scenario's doc section states (the
	// scenario file's claims), each with whether this run saw it hold.
	Claims []ClaimRecord `json:"claims,omitempty"`
	// Diagnostics lists files written to the report directory for this
	// scenario (events, pod states), relative to it.
	Diagnostics []string `json:"diagnostics,omitempty"`
	// Usage is what the harness process spent while this scenario ran.
	Usage *Usage `json:"usage,omitempty"`
	// Verdict is the scenario's verdict and Reason why; see Conclude.
	Verdict scenario.Verdict `json:"verdict"`
	Reason  string           `json:"reason"`
	// Invalid, when set, is why the experiment did not happen as planned
	// (steady state unhealthy, fault reverted); it makes the scenario
	// INVALID whatever the cells say.
	Invalid string `json:"invalid,omitempty"`
}

// ObservationRecord is the observation a scenario chose (scenario.Observation).
type ObservationRecord struct {
	// Planned is the scenario file's timing.observe; Effective what was held.
	Planned   Duration `json:"planned"`
	Effective Duration `json:"effective"`
	// Reasons has one line per period a kept claim rests on: what was read
	// where, and what it did to the window.
	Reasons []string `json:"reasons,omitempty"`
	// Unread names the periods whose setting could not be read, and why; the
	// operator's default was used for them.
	Unread []string `json:"unread,omitempty"`
}

// DisturbanceRecord is scenario.Disturbance in journal form.
type DisturbanceRecord struct {
	Start        time.Time             `json:"start"`
	End          time.Time             `json:"end"`
	Capabilities []scenario.Capability `json:"capabilities"`
	AnyFailure   bool                  `json:"anyFailure,omitempty"`
	What         string                `json:"what"`
}

// SetDisturbances records the disturbances the cells were judged with.
func (s *ScenarioResult) SetDisturbances(ds []scenario.Disturbance) {
	s.Disturbances = nil
	for _, d := range ds {
		s.Disturbances = append(s.Disturbances, DisturbanceRecord{Start: d.Start.UTC(), End: d.End.UTC(), Capabilities: d.Capabilities, AnyFailure: d.AnyFailure, What: d.What})
	}
}

// Window is the fault-held window.
type Window struct {
	Start time.Time `json:"start,omitzero"`
	End   time.Time `json:"end,omitzero"`
}

// Cell is the verdict of one matrix cell.
type Cell struct {
	Capability scenario.Capability `json:"capability"`
	Expect     scenario.Expect     `json:"expect"`
	Verdict    scenario.Verdict    `json:"verdict"`
	Reason     string              `json:"reason"`
	// Outage is the verdict over the fault-held window.
	Outage OutageRecord `json:"outage"`
	// Recovery is the verdict after restore.
	Recovery RecoveryRecord `json:"recovery"`
	// Work is the no-lost-work verdict, when one applies.
	Work *PartRecord `json:"work,omitempty"`
}

// PartRecord is one part of a cell's verdict.
type PartRecord struct {
	Verdict scenario.Verdict `json:"verdict"`
	Reason  string           `json:"reason"`
}

// OutageRecord is scenario.CellVerdict in journal form.
type OutageRecord struct {
	PartRecord
	Counts Counts `json:"counts"`
	// TimeToFail is set when a sample failed inside the window.
	TimeToFail *Duration `json:"timeToFail,omitempty"`
	// OnsetGrace (lost only) is how long after the window start samples were
	// not judged: the time the capability had to fail in (onsetPasses forgives
	// a few successes after it).
	OnsetGrace    Duration `json:"onsetGrace,omitzero"`
	LatencyMedian Duration `json:"latencyMedian"`
	LatencyMax    Duration `json:"latencyMax"`
	// Offending is the first sample that contradicted the expectation.
	Offending *SampleRecord `json:"offending,omitempty"`
}

// Counts is scenario.Counts in journal form.
type Counts struct {
	Total           int `json:"total"`
	InGrace         int `json:"inGrace"`
	Judged          int `json:"judged"`
	OK              int `json:"ok"`
	Failed          int `json:"failed"`
	ToleratedPasses int `json:"toleratedPasses,omitempty"`
	// Excluded is how many failed samples a disturbance (the harness's own action, a
	// stall of the test bed) accounted for; they are not in Total.
	Excluded int `json:"excluded,omitempty"`
}

// SampleRecord is one sample spelled out, for the samples a reason points at.
type SampleRecord struct {
	Time    time.Time           `json:"time"`
	OK      bool                `json:"ok"`
	Status  int                 `json:"status,omitempty"`
	Latency Duration            `json:"latency"`
	Class   scenario.ErrorClass `json:"class,omitempty"`
	Detail  string              `json:"detail,omitempty"`
}

// RecoveryRecord is scenario.RecoveryVerdict in journal form.
type RecoveryRecord struct {
	PartRecord
	Budget    Duration `json:"budget"`
	Samples   int      `json:"samples"`
	Recovered bool     `json:"recovered"`
	// TimeToRecover is set when the capability recovered.
	TimeToRecover *Duration `json:"timeToRecover,omitempty"`
}

// WorkRecord is a deferred-work check and its verdict.
type WorkRecord struct {
	Capability scenario.Capability `json:"capability"`
	What       string              `json:"what"`
	Submitted  int                 `json:"submitted"`
	Applied    int                 `json:"applied"`
	CheckedAt  time.Time           `json:"checkedAt,omitzero"`
	Detail     string              `json:"detail,omitempty"`
}

// DelayRecord is a late tick: the sample due at Due started at Started, and
// Skipped later ticks passed without a sample.
type DelayRecord struct {
	Capability scenario.Capability `json:"capability"`
	Due        time.Time           `json:"due"`
	Started    time.Time           `json:"started"`
	Skipped    int                 `json:"skipped"`
}

// LoadRecord is a background load's counts in one phase.
type LoadRecord struct {
	Load    string                      `json:"load"`
	Phase   string                      `json:"phase"`
	Sent    int                         `json:"sent"`
	OK      int                         `json:"ok"`
	Failed  int                         `json:"failed"`
	Aborted int                         `json:"aborted,omitempty"`
	Dropped int                         `json:"dropped,omitempty"`
	ByClass map[scenario.ErrorClass]int `json:"byClass,omitempty"`
}

// DocGap is a scenario file's doc gap and what this run saw of that cell.
type DocGap struct {
	Capability scenario.Capability `json:"capability"`
	Documented string              `json:"documented"`
	Observed   string              `json:"observed"`
	Citation   string              `json:"citation"`
	// Verdict is the cell's verdict in this run: PASS means 3scale did what
	// the scenario encodes (the observed behaviour), not what the doc says.
	Verdict scenario.Verdict `json:"verdict,omitempty"`
}

// ClaimRecord is one documented behaviour (scenario.Claim) in a run.
type ClaimRecord struct {
	ID   string `json:"id"`
	Says string `json:"says"`
	// Cells are the cells that assert it, with the expectation it relies on.
	Cells []ClaimCellRecord `json:"cells,omitempty"`
	// Unasserted is what no cell judges, and why.
	Unasserted string               `json:"unasserted,omitempty"`
	Status     scenario.ClaimStatus `json:"status"`
	// Verdict is the worst verdict of its cells in this run: PASS means the
	// behaviour held as the cells encode it. Empty when no cell asserts it.
	Verdict scenario.Verdict `json:"verdict,omitempty"`
}

// ClaimCellRecord is a cell a claim cites.
type ClaimCellRecord struct {
	Capability scenario.Capability `json:"capability"`
	Expect     scenario.Expect     `json:"expect"`
}

// New returns an empty journal for a run.
func New(runID string, startedAt time.Time, target Target) *Journal {
	return &Journal{Schema: Schema, RunID: runID, StartedAt: startedAt.UTC(), Target: target}
}

// NewScenario starts the result of scenario sc: name, file, component, doc
// section and doc gaps come from the file.
func NewScenario(sc scenario.Scenario, startedAt time.Time) ScenarioResult {
	r := ScenarioResult{
		Name:       sc.Name,
		File:       sc.Path,
		Component:  sc.Name,
		DocSection: sc.Doc.Section,
		StartedAt:  startedAt.UTC(),
	}
	if sc.Multi() {
		r.Components = sc.ComponentNames()
	}
	if sc.Variant() {
		r.Component = sc.Component.Name
		for _, p := range sc.Product.Policies {
			r.ProductPolicies = append(r.ProductPolicies, PolicyRecord{Name: p.Name, Configuration: p.Configuration})
		}
	}
	for _, g := range sc.DocGaps {
		r.DocGaps = append(r.DocGaps, DocGap{Capability: g.Capability, Documented: g.Documented, Observed: g.Observed, Citation: g.Citation})
	}
	for _, c := range sc.Claims {
		cr := ClaimRecord{ID: c.ID, Says: c.Says, Unasserted: c.Unasserted, Status: c.Status()}
		for _, cc := range c.Cells {
			cr.Cells = append(cr.Cells, ClaimCellRecord{Capability: cc.Capability, Expect: cc.Expect})
		}
		r.Claims = append(r.Claims, cr)
	}
	return r
}

// AddPhase records a phase mark.
func (s *ScenarioResult) AddPhase(name string, at time.Time) {
	s.Phases = append(s.Phases, Phase{Name: name, At: at.UTC()})
}

// SetObservation records the observation the runner chose.
func (s *ScenarioResult) SetObservation(o scenario.Observation) {
	s.Observation = &ObservationRecord{Planned: Duration(o.Planned), Effective: Duration(o.Effective), Reasons: o.Reasons, Unread: o.Unread}
}

// SetWindow records the fault-held window.
func (s *ScenarioResult) SetWindow(w scenario.Window) {
	s.Window = Window{Start: w.Start.UTC(), End: w.End.UTC()}
}

// SetSamples replaces the samples with these, grouped per capability in
// scenario.Capabilities order (unknown capabilities last, by name) and sorted
// by time.
func (s *ScenarioResult) SetSamples(samples []scenario.Sample) {
	by := map[scenario.Capability][]scenario.Sample{}
	for _, x := range samples {
		x.Time = x.Time.UTC()
		by[x.Capability] = append(by[x.Capability], x)
	}
	s.Samples = s.Samples[:0]
	for _, c := range orderCapabilities(by) {
		ss := by[c]
		slices.SortStableFunc(ss, func(a, b scenario.Sample) int { return a.Time.Compare(b.Time) })
		s.Samples = append(s.Samples, Series{Capability: c, Samples: ss})
	}
}

// AllSamples returns every sample of every series.
func (s *ScenarioResult) AllSamples() []scenario.Sample {
	var out []scenario.Sample
	for _, ser := range s.Samples {
		out = append(out, ser.Samples...)
	}
	return out
}

// AddCell records a cell's verdict.
func (s *ScenarioResult) AddCell(r scenario.CellResult) {
	c := Cell{
		Capability: r.Capability,
		Expect:     r.Expect,
		Verdict:    r.Verdict,
		Reason:     r.Reason,
		Outage: OutageRecord{
			PartRecord: PartRecord{Verdict: r.Outage.Verdict, Reason: r.Outage.Reason},
			Counts: Counts{Total: r.Outage.Counts.Total, InGrace: r.Outage.Counts.InGrace, Judged: r.Outage.Counts.Judged,
				OK: r.Outage.Counts.OK, Failed: r.Outage.Counts.Failed, ToleratedPasses: r.Outage.Counts.ToleratedPasses,
				Excluded: r.Outage.Counts.Excluded},
			OnsetGrace:    Duration(r.Outage.OnsetGrace),
			LatencyMedian: Duration(r.Outage.Latency.Median),
			LatencyMax:    Duration(r.Outage.Latency.Max),
		},
		Recovery: RecoveryRecord{
			PartRecord: PartRecord{Verdict: r.Recovery.Verdict, Reason: r.Recovery.Reason},
			Budget:     Duration(r.Recovery.Budget),
			Samples:    r.Recovery.Samples,
			Recovered:  r.Recovery.Recovered,
		},
	}
	if r.Outage.HasFailed() {
		d := Duration(r.Outage.TimeToFail)
		c.Outage.TimeToFail = &d
	}
	if r.Outage.Offending != nil {
		o := r.Outage.Offending
		c.Outage.Offending = &SampleRecord{Time: o.Time.UTC(), OK: o.OK, Status: o.Status, Latency: Duration(o.Latency), Class: o.ErrorClass, Detail: o.Detail}
	}
	if r.Recovery.Recovered {
		d := Duration(r.Recovery.TimeToRecover)
		c.Recovery.TimeToRecover = &d
	}
	if r.Work != nil {
		c.Work = &PartRecord{Verdict: r.Work.Verdict, Reason: r.Work.Reason}
	}
	s.Cells = append(s.Cells, c)
}

// AddWork records a deferred-work check.
func (s *ScenarioResult) AddWork(w scenario.WorkCheck) {
	s.Work = append(s.Work, WorkRecord{Capability: w.Capability, What: w.What, Submitted: w.Submitted,
		Applied: w.Applied, CheckedAt: w.CheckedAt.UTC(), Detail: w.Detail})
}

// Cell returns the cell of capability c.
func (s *ScenarioResult) Cell(c scenario.Capability) (Cell, bool) {
	for _, x := range s.Cells {
		if x.Capability == c {
			return x, true
		}
	}
	return Cell{}, false
}

// Conclude sets the scenario's verdict and reason with
// scenario.ConcludeScenario from the Invalid reason and the cells: INVALID when
// Invalid is set, whatever the cells say; otherwise the worst cell verdict,
// naming the cells that decided it; no cells at all is INVALID. It also fills
// each doc gap's verdict from its cell, and each claim's from the cells it cites.
func (s *ScenarioResult) Conclude() {
	for i, g := range s.DocGaps {
		if c, ok := s.Cell(g.Capability); ok {
			s.DocGaps[i].Verdict = c.Verdict
		}
	}
	for i, cl := range s.Claims {
		var vs []scenario.Verdict
		for _, cc := range cl.Cells {
			if c, ok := s.Cell(cc.Capability); ok {
				vs = append(vs, c.Verdict)
			} else {
				vs = append(vs, scenario.Invalid) // a cited cell that was never judged
			}
		}
		if len(vs) > 0 {
			s.Claims[i].Verdict = scenario.Worst(vs...)
		}
	}
	cells := make([]scenario.CellResult, len(s.Cells))
	for i, c := range s.Cells {
		cells[i] = scenario.CellResult{Capability: c.Capability, Expect: c.Expect, Verdict: c.Verdict, Reason: c.Reason}
	}
	s.Verdict, s.Reason = scenario.ConcludeScenario(s.Invalid, cells)
}

// Conclude sets the run's verdict and reason with scenario.ConcludeRun from the
// scenarios' verdicts: the worst of them, naming the scenarios that decided it.
// A run without scenarios is INVALID.
func (j *Journal) Conclude() {
	vs := make([]scenario.ScenarioVerdict, len(j.Scenarios))
	for i, s := range j.Scenarios {
		vs[i] = scenario.ScenarioVerdict{Name: s.Name, Verdict: s.Verdict}
	}
	j.Verdict, j.Reason = scenario.ConcludeRun(vs)
}

// AddSecrets registers strings (tokens, passwords, keys) that must never appear
// in anything this journal encodes or renders; each occurrence is replaced by
// Redacted. Empty strings are ignored.
func (j *Journal) AddSecrets(secrets ...string) {
	for _, s := range secrets {
		if s != "" && !slices.Contains(j.secrets, s) {
			j.secrets = append(j.secrets, s)
		}
	}
}

// Encode writes the journal as indented JSON, redacted. Arrays of scalars (a
// sample row, a column list) stay on one line so the samples remain compact.
func (j *Journal) Encode(w io.Writer) error {
	r, err := j.redacted()
	if err != nil {
		return err
	}
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encoding journal: %w", err)
	}
	var ind bytes.Buffer
	if err := json.Indent(&ind, b, "", " "); err != nil {
		return fmt.Errorf("encoding journal: %w", err)
	}
	out := scalarArray.ReplaceAllFunc(ind.Bytes(), func(m []byte) []byte {
		return lineBreak.ReplaceAll(m, nil)
	})
	out = append(out, '\n')
	if _, err := w.Write(out); err != nil {
		return fmt.Errorf("writing journal: %w", err)
	}
	return nil
}

// scalarArray matches an indented array with no nested array or object. JSON
// strings cannot hold a raw newline, so removing line breaks and indentation
// inside a match never changes a string, even when a string's own bracket
// ends the match early.
var (
	scalarArray = regexp.MustCompile(`\[[^\[\]{}]*\]`)
	lineBreak   = regexp.MustCompile(`\n *`)
)

// Decode reads a journal written by Encode. A journal of another schema is an
// error.
func Decode(r io.Reader) (*Journal, error) {
	var j Journal
	dec := json.NewDecoder(r)
	if err := dec.Decode(&j); err != nil {
		return nil, fmt.Errorf("decoding journal: %w", err)
	}
	if j.Schema != Schema {
		return nil, fmt.Errorf("journal schema is %q, this harness reads %q", j.Schema, Schema)
	}
	return &j, nil
}

// ReadJSON reads dir/journal.json.
func ReadJSON(dir string) (*Journal, error) {
	f, err := os.Open(filepath.Join(dir, JSONFile))
	if err != nil {
		return nil, fmt.Errorf("reading journal: %w", err)
	}
	defer f.Close()
	return Decode(f)
}

// WriteJSON writes the journal to dir/journal.json (creating dir) and returns
// the path. The file is written to a temporary name and renamed, so a reader
// never sees half a journal.
func (j *Journal) WriteJSON(dir string) (string, error) {
	return writeFile(dir, JSONFile, j.Encode)
}

func writeFile(dir, name string, write func(io.Writer) error) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("creating report directory: %w", err)
	}
	f, err := os.CreateTemp(dir, "."+name+".*")
	if err != nil {
		return "", fmt.Errorf("writing %s: %w", name, err)
	}
	tmp := f.Name()
	err = f.Chmod(0o644)
	if err == nil {
		err = write(f)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	path := filepath.Join(dir, name)
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return "", fmt.Errorf("writing %s: %w", path, err)
	}
	return path, nil
}

// Duration is a time.Duration that encodes as a Go duration string ("1.5s") and
// decodes from one (or from a number of nanoseconds).
type Duration time.Duration

// MarshalJSON implements json.Marshaler.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON implements json.Unmarshaler.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		var n int64
		if err2 := json.Unmarshal(b, &n); err2 != nil {
			return fmt.Errorf("duration %s is neither a string nor nanoseconds", b)
		}
		*d = Duration(n)
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration %q: %w", s, err)
	}
	*d = Duration(v)
	return nil
}

// String is the duration rounded for reading (scenario.Readable); JSON keeps it exact.
func (d Duration) String() string { return scenario.Readable(time.Duration(d)).String() }

func orderCapabilities[V any](m map[scenario.Capability]V) []scenario.Capability {
	var out []scenario.Capability
	for _, c := range scenario.Capabilities() {
		if _, ok := m[c]; ok {
			out = append(out, c)
		}
	}
	var rest []scenario.Capability
	for c := range m {
		if !slices.Contains(out, c) {
			rest = append(rest, c)
		}
	}
	slices.SortFunc(rest, func(a, b scenario.Capability) int { return cmp.Compare(a, b) })
	return append(out, rest...)
}
