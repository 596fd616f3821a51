package scenario

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/threescale-chaos/harness/pkg/catalog"
	"github.com/threescale-chaos/harness/pkg/timing"
)

// Scenario is one validated scenario file: a component to hold at zero replicas, or
// several held at zero together, and an expectation for every capability.
type Scenario struct {
	// Path is the file the scenario came from, or the name given to Parse.
	Path string
	// Name names the scenario in reports, logs and the --component filter: its
	// component's name, or for a file of several components or a variant the file's base
	// name without its extension (scenarios/backend.yaml is "backend").
	Name string
	// Component is the catalog entry of the component the file names (an
	// alias in the file resolves to the canonical component); for a file of
	// several components, the first of Components.
	Component catalog.Component
	// Components are the components the fault holds at zero together, in the
	// file's order: the one of component:, or the list of components:.
	Components []catalog.Component
	Doc        Doc
	Timing     Timing
	// Expectations has exactly one entry per capability, with the file's
	// defaults (recovery budget, minimum samples) already applied.
	Expectations map[Capability]Expectation
	DocGaps      []DocGap
	// Claims are the behaviours the file's doc section states, each tied to the
	// cells that assert it or to the reason nothing does yet.
	Claims []Claim
	// Product, when set, makes the scenario a variant: the same component's outage with the
	// harness's product configured differently (a policy in its chain). Nil runs the product
	// as the harness makes it.
	Product *Product
	// Timeouts override, for this scenario, the run's waits that belong to one scenario
	// (timing.Names but not timing.RunScoped): a component that takes minutes to be Ready
	// again gets its own ready bound. The target file's timeouts apply
	// beneath these and the command line's above.
	Timeouts timing.Timeouts
}

// Doc ties a scenario to the section of docs/3scale-component-failures.md that it
// encodes.
type Doc struct {
	// Section is the doc's heading for the component.
	Section string
	// Summary paraphrases the section; it never copies the doc's sentences.
	Summary string
}

// Timing holds a scenario's durations. Files carry values for a fast local test
// bed; comments in each file give the values documented for real clusters.
type Timing struct {
	// Observe is how long the fault is held once the pods are gone.
	Observe time.Duration
	// RecoveryBudget is the default time each capability has to be healthy
	// after restore; an expectation can override it.
	RecoveryBudget time.Duration
	// MinSamples is the default number of judged samples a cell needs.
	MinSamples int
	// PeriodMargin is added to a spanned period (Expectation.Spans) to make the
	// observation: the process's run that falls last in the window must itself
	// finish (a refresh that fails against a stopped system takes a moment) and
	// be followed by samples. Default DefaultPeriodMargin.
	PeriodMargin time.Duration
}

// DefaultPeriodMargin is Timing.PeriodMargin when a file does not set it.
const DefaultPeriodMargin = 10 * time.Second

// DocGap records a place where the doc is incomplete or wrong and the scenario
// encodes what 3scale really does, so a report can show documented against
// observed behaviour.
type DocGap struct {
	Capability Capability
	// Documented is what the doc says or implies (paraphrased).
	Documented string
	// Observed is what 3scale does, per the research.
	Observed string
	// Citation names the research file and section, and the upstream source
	// file that the research cites.
	Citation string
}

// Cells returns the scenario's expectations in capability order.
func (s Scenario) Cells() []Expectation {
	cells := make([]Expectation, 0, len(allCapabilities))
	for _, c := range allCapabilities {
		if e, ok := s.Expectations[c]; ok {
			cells = append(cells, e)
		}
	}
	return cells
}

// Expectation returns the scenario's expectation for capability c.
func (s Scenario) Expectation(c Capability) (Expectation, bool) {
	e, ok := s.Expectations[c]
	return e, ok
}

// FieldError is one problem found in a scenario file: the file, the path of the
// field in it (dotted, with [i] for list items; empty for the whole file) and why.
type FieldError struct {
	File  string
	Field string
	Msg   string
}

// Error formats the problem as "file: field: why".
func (e *FieldError) Error() string {
	if e.Field == "" {
		return e.File + ": " + e.Msg
	}
	return e.File + ": " + e.Field + ": " + e.Msg
}

// LoadFile reads and validates one scenario file. Every problem found is
// reported, each as a *FieldError joined into the returned error.
func LoadFile(path string) (Scenario, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Scenario{}, fmt.Errorf("load scenario: %w", err)
	}
	return Parse(path, data)
}

// LoadDir loads every *.yaml and *.yml file in dir (not recursively), sorted by
// file name. It reports the problems of every file, and a component that two
// files cover.
func LoadDir(dir string) ([]Scenario, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("load scenarios: %w", err)
	}
	var (
		scenarios []Scenario
		errs      []error
		owner     = map[string]string{}
		claimed   = map[string]string{}
	)
	for _, entry := range entries {
		ext := filepath.Ext(entry.Name())
		if entry.IsDir() || (ext != ".yaml" && ext != ".yml") {
			continue
		}
		path := filepath.Join(dir, entry.Name())
		s, err := LoadFile(path)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if first, dup := owner[s.Name]; dup {
			field, what := "component", "component"
			if s.Multi() || s.Variant() {
				field, what = "components", "scenario name (the file name)"
			}
			errs = append(errs, &FieldError{File: path, Field: field,
				Msg: fmt.Sprintf("%s is already covered by %s; one file per %s", s.Name, first, what)})
			continue
		}
		owner[s.Name] = path
		for i, c := range s.Claims {
			if first, dup := claimed[c.ID]; dup {
				errs = append(errs, &FieldError{File: path, Field: fmt.Sprintf("claims[%d].id", i),
					Msg: fmt.Sprintf("%s is already a claim of %s; a claim id names one behaviour", c.ID, first)})
			}
			claimed[c.ID] = path
		}
		scenarios = append(scenarios, s)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if len(scenarios) == 0 {
		return nil, fmt.Errorf("load scenarios: no *.yaml or *.yml files in %s", dir)
	}
	return scenarios, nil
}

// Parse validates a scenario file's contents; name is used in error messages.
// Decoding is strict: unknown fields and duplicate keys are errors.
func Parse(name string, data []byte) (Scenario, error) {
	d := &decoder{file: name}
	s := d.scenario(data)
	if len(d.errs) > 0 {
		return Scenario{}, errors.Join(d.errs...)
	}
	s.Path = name
	if s.Multi() || s.Variant() {
		s.Name = strings.TrimSuffix(filepath.Base(name), filepath.Ext(name))
	} else {
		s.Name = s.Component.Name
	}
	return s, nil
}

// Variant says whether the scenario configures the harness's product differently (product:).
func (s Scenario) Variant() bool { return s.Product != nil }

// Multi says whether the scenario holds several components at zero together.
func (s Scenario) Multi() bool { return len(s.Components) > 1 }

// ComponentNames are the names of the scenario's components, in its order.
func (s Scenario) ComponentNames() []string {
	names := make([]string, len(s.Components))
	for i, c := range s.Components {
		names[i] = c.Name
	}
	return names
}

// Field names of the file format.
var (
	topFields         = []string{"component", "components", "doc", "timing", "expectations", "docGaps", "claims", "timeouts", "product"}
	docFields         = []string{"section", "summary"}
	timingFields      = []string{"observe", "recoveryBudget", "minSamples", "periodMargin"}
	expectationFields = []string{"expect", "reason", "onsetGrace", "onsetPasses", "lostWork", "maxLatency", "recoveryBudget", "spans"}
	docGapFields      = []string{"capability", "documented", "observed", "citation"}
)

var citationPattern = regexp.MustCompile(`research/[A-Za-z0-9._-]+\.md`)

type decoder struct {
	file string
	errs []error
}

func (d *decoder) fail(field, format string, args ...any) {
	d.errs = append(d.errs, &FieldError{File: d.file, Field: field, Msg: fmt.Sprintf(format, args...)})
}

func (d *decoder) scenario(data []byte) Scenario {
	var s Scenario
	js, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		d.fail("", "not valid YAML: %v", err)
		return s
	}
	if t := bytes.TrimSpace(js); len(t) == 0 || string(t) == "null" {
		d.fail("", "file is empty")
		return s
	}
	top := d.object("", js, topFields)
	if top == nil {
		return s
	}

	s.Components = d.components(top)
	if len(s.Components) > 0 {
		s.Component = s.Components[0]
	}
	if raw, ok := d.required(top, "", "doc"); ok {
		if fields := d.object("doc", raw, docFields); fields != nil {
			s.Doc.Section = d.requiredText(fields, "doc", "section")
			s.Doc.Summary = d.requiredText(fields, "doc", "summary")
		}
	}
	if raw, ok := d.required(top, "", "timing"); ok {
		s.Timing = d.timing(raw)
	}
	if raw, ok := d.required(top, "", "expectations"); ok {
		s.Expectations = d.expectations(raw, s.Timing)
	}
	if raw, ok := top["docGaps"]; ok {
		s.DocGaps = d.docGaps(raw)
	}
	if raw, ok := top["claims"]; ok {
		if _, multi := top["components"]; multi {
			d.fail("claims", "a file of several components has no claims: a claim belongs to one component's doc section and lives in that component's file")
		} else {
			s.Claims = d.claims(raw, s.Doc.Section, s.Expectations)
		}
	}
	if raw, ok := top["product"]; ok {
		if _, multi := top["components"]; multi {
			d.fail("product", "a file of several components runs the product as the harness makes it; a variant is of one component")
		} else {
			s.Product = d.product(raw)
		}
	}
	if raw, ok := top["timeouts"]; ok {
		var m map[string]string
		if err := json.Unmarshal(raw, &m); err != nil {
			d.fail("timeouts", "want name: duration pairs (%s): %v", strings.Join(timing.Names(), ", "), err)
		} else if t, err := timing.ParseScenario(m); err != nil {
			d.fail("timeouts", "%v", err)
		} else {
			s.Timeouts = t
		}
	}
	return s
}

// components reads component: (one component) or components: (several, held at zero
// together): exactly one of the two.
func (d *decoder) components(top map[string]json.RawMessage) []catalog.Component {
	_, hasOne := top["component"]
	many, hasMany := top["components"]
	switch {
	case hasOne && hasMany:
		d.fail("components", "a file names its component in component: or its components in components:, not both")
		return nil
	case hasMany:
		return d.componentList(many)
	}
	raw, ok := d.required(top, "", "component")
	if !ok {
		return nil
	}
	name, ok := d.text("component", raw)
	if !ok {
		return nil
	}
	c, err := catalog.Lookup(name)
	if err != nil {
		d.fail("component", "%v", err)
		return nil
	}
	return []catalog.Component{c}
}

func (d *decoder) componentList(raw json.RawMessage) []catalog.Component {
	var names []json.RawMessage
	if err := json.Unmarshal(raw, &names); err != nil || names == nil {
		d.fail("components", "must be a list of component names, got %s", describe(raw))
		return nil
	}
	before := len(d.errs)
	var out []catalog.Component
	at := map[string]int{}
	for i, item := range names {
		field := fmt.Sprintf("components[%d]", i)
		name, ok := d.text(field, item)
		if !ok {
			continue
		}
		c, err := catalog.Lookup(name)
		if err != nil {
			d.fail(field, "%v", err)
			continue
		}
		if j, dup := at[c.Name]; dup {
			d.fail(field, "%s is already components[%d]; a component is named once", c.Name, j)
			continue
		}
		at[c.Name] = i
		out = append(out, c)
	}
	if len(d.errs) > before {
		return nil
	}
	if len(out) < 2 {
		d.fail("components", "names %d component(s); a list names at least two (a single component goes in component:)", len(out))
		return nil
	}
	return out
}

func (d *decoder) timing(raw json.RawMessage) Timing {
	t := Timing{MinSamples: DefaultMinSamples, PeriodMargin: DefaultPeriodMargin}
	fields := d.object("timing", raw, timingFields)
	if fields == nil {
		return t
	}
	if v, ok := d.required(fields, "timing", "observe"); ok {
		t.Observe, _ = d.positiveDuration("timing.observe", v)
	}
	if v, ok := d.required(fields, "timing", "recoveryBudget"); ok {
		t.RecoveryBudget, _ = d.positiveDuration("timing.recoveryBudget", v)
	}
	if v, ok := fields["minSamples"]; ok {
		if n, ok := d.integer("timing.minSamples", v); ok {
			if n < 1 {
				d.fail("timing.minSamples", "must be at least 1, got %d", n)
			} else {
				t.MinSamples = n
			}
		}
	}
	if v, ok := fields["periodMargin"]; ok {
		if m, ok := d.positiveDuration("timing.periodMargin", v); ok {
			t.PeriodMargin = m
		}
	}
	return t
}

func (d *decoder) expectations(raw json.RawMessage, timing Timing) map[Capability]Expectation {
	entries := d.object("expectations", raw, nil)
	if entries == nil {
		return nil
	}
	out := make(map[Capability]Expectation, len(entries))
	for _, key := range sortedKeys(entries) {
		field := "expectations." + key
		c, err := ParseCapability(key)
		if err != nil {
			d.fail(field, "%v", err)
			continue
		}
		if e, ok := d.expectation(field, c, entries[key], timing); ok {
			out[c] = e
		}
	}
	var missing []string
	for _, c := range allCapabilities {
		if _, ok := entries[string(c)]; !ok {
			missing = append(missing, string(c))
		}
	}
	if len(missing) > 0 {
		d.fail("expectations", "no expectation for %s; every capability must be listed", strings.Join(missing, ", "))
	}
	return out
}

func (d *decoder) expectation(field string, c Capability, raw json.RawMessage, timing Timing) (Expectation, bool) {
	e := Expectation{Capability: c, RecoveryBudget: timing.RecoveryBudget, MinSamples: timing.MinSamples}
	fields := d.object(field, raw, expectationFields)
	if fields == nil {
		return e, false
	}
	before := len(d.errs)

	if v, ok := d.required(fields, field, "expect"); ok {
		if s, ok := d.text(field+".expect", v); ok {
			x, err := ParseExpect(s)
			if err != nil {
				d.fail(field+".expect", "%v", err)
			}
			e.Expect = x
		}
	}
	if v, ok := fields["reason"]; ok {
		e.Reason, _ = d.text(field+".reason", v)
	}
	if e.Expect == Unasserted && strings.TrimSpace(e.Reason) == "" {
		d.fail(field+".reason", "an unasserted expectation needs a reason saying why it is not judged")
	}

	if v, ok := fields["onsetGrace"]; ok {
		if g, ok := d.duration(field+".onsetGrace", v); ok {
			e.OnsetGrace = g
			if e.Expect != "" && e.Expect != Lost {
				d.fail(field+".onsetGrace", "applies only to lost expectations, not %s", e.Expect)
			} else if timing.Observe > 0 && g >= timing.Observe {
				d.fail(field+".onsetGrace", "%s leaves nothing to judge in the %s observation window (timing.observe)", g, timing.Observe)
			}
		}
	}
	if v, ok := fields["onsetPasses"]; ok {
		if n, ok := d.integer(field+".onsetPasses", v); ok {
			e.OnsetPasses = n
			if n < 0 {
				d.fail(field+".onsetPasses", "must not be negative, got %d", n)
			} else if e.Expect != "" && e.Expect != Lost {
				d.fail(field+".onsetPasses", "applies only to lost expectations, not %s", e.Expect)
			}
		}
	}
	if v, ok := fields["lostWork"]; ok {
		var b bool
		if err := json.Unmarshal(v, &b); err != nil {
			d.fail(field+".lostWork", "must be true or false, got %s", describe(v))
		} else {
			e.LostWork = b
			if b && e.Expect != "" && e.Expect != Lost {
				d.fail(field+".lostWork", "applies only to lost expectations, not %s", e.Expect)
			}
		}
	}
	if v, ok := fields["maxLatency"]; ok {
		if l, ok := d.positiveDuration(field+".maxLatency", v); ok {
			e.MaxLatency = l
			if e.Expect != "" && e.Expect != Degraded {
				d.fail(field+".maxLatency", "applies only to degraded expectations, not %s", e.Expect)
			}
		}
	}
	if v, ok := fields["recoveryBudget"]; ok {
		if b, ok := d.positiveDuration(field+".recoveryBudget", v); ok {
			e.RecoveryBudget = b
		}
	}
	if v, ok := fields["spans"]; ok {
		if name, ok := d.text(field+".spans", v); ok {
			switch p, err := catalog.LookupPeriod(name); {
			case err != nil:
				d.fail(field+".spans", "%v", err)
			case e.Expect != "" && e.Expect != Kept && e.Expect != Degraded:
				d.fail(field+".spans", "applies only to kept or degraded expectations (a claim that must hold across the period), not %s", e.Expect)
			default:
				e.Spans = p.Name
			}
		}
	}
	return e, len(d.errs) == before
}

func (d *decoder) docGaps(raw json.RawMessage) []DocGap {
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		d.fail("docGaps", "must be a list of {capability, documented, observed, citation}")
		return nil
	}
	gaps := make([]DocGap, 0, len(items))
	for i, item := range items {
		field := fmt.Sprintf("docGaps[%d]", i)
		fields := d.object(field, item, docGapFields)
		if fields == nil {
			continue
		}
		var g DocGap
		if name := d.requiredText(fields, field, "capability"); name != "" {
			c, err := ParseCapability(name)
			if err != nil {
				d.fail(field+".capability", "%v", err)
			}
			g.Capability = c
		}
		g.Documented = d.requiredText(fields, field, "documented")
		g.Observed = d.requiredText(fields, field, "observed")
		g.Citation = d.requiredText(fields, field, "citation")
		if g.Citation != "" && !citationPattern.MatchString(g.Citation) {
			d.fail(field+".citation", "must name the research file it rests on (research/<file>.md §section, plus the upstream source it cites), got %q", g.Citation)
		}
		gaps = append(gaps, g)
	}
	return gaps
}

// object decodes raw as a mapping. When allowed is non-nil, keys outside it are
// reported as unknown fields. It returns nil after reporting a problem with raw
// itself.
func (d *decoder) object(field string, raw json.RawMessage, allowed []string) map[string]json.RawMessage {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		where := field
		if where == "" {
			d.fail("", "must be a mapping with the fields %s", strings.Join(allowed, ", "))
		} else {
			d.fail(where, "must be a mapping, got %s", describe(raw))
		}
		return nil
	}
	if allowed != nil {
		for _, key := range sortedKeys(m) {
			if !slices.Contains(allowed, key) {
				d.fail(join(field, key), "unknown field; allowed fields here are %s", strings.Join(allowed, ", "))
			}
		}
	}
	return m
}

func (d *decoder) required(fields map[string]json.RawMessage, parent, key string) (json.RawMessage, bool) {
	raw, ok := fields[key]
	if !ok || string(raw) == "null" {
		d.fail(join(parent, key), "is required")
		return nil, false
	}
	return raw, true
}

func (d *decoder) requiredText(fields map[string]json.RawMessage, parent, key string) string {
	raw, ok := d.required(fields, parent, key)
	if !ok {
		return ""
	}
	s, ok := d.text(join(parent, key), raw)
	if ok && strings.TrimSpace(s) == "" {
		d.fail(join(parent, key), "must not be empty")
	}
	return s
}

func (d *decoder) text(field string, raw json.RawMessage) (string, bool) {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		d.fail(field, "must be a string, got %s", describe(raw))
		return "", false
	}
	return s, true
}

func (d *decoder) integer(field string, raw json.RawMessage) (int, bool) {
	var n int
	if err := json.Unmarshal(raw, &n); err != nil {
		d.fail(field, "must be a whole number, got %s", describe(raw))
		return 0, false
	}
	return n, true
}

func (d *decoder) duration(field string, raw json.RawMessage) (time.Duration, bool) {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		d.fail(field, "must be a duration string such as \"30s\" or \"2m\", got %s", describe(raw))
		return 0, false
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		d.fail(field, "%q is not a duration such as \"30s\" or \"2m\"", s)
		return 0, false
	}
	if v < 0 {
		d.fail(field, "must not be negative, got %s", s)
		return 0, false
	}
	return v, true
}

func (d *decoder) positiveDuration(field string, raw json.RawMessage) (time.Duration, bool) {
	v, ok := d.duration(field, raw)
	if ok && v == 0 {
		d.fail(field, "must be greater than zero")
		return 0, false
	}
	return v, ok
}

func describe(raw json.RawMessage) string {
	s := string(bytes.TrimSpace(raw))
	if len(s) > 40 {
		s = s[:37] + "..."
	}
	return s
}

func join(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
