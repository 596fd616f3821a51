// Package timing names the run's waits and bounds, with their defaults, so that they are data
// (the target file's timeouts block, the CLI's --timeout flags, the suite's -timeouts) and
// not literals spread through the code. A real install is slower than the twin: an operator's
// rollout, an OpenShift route, a system-app that needs minutes to boot. Each default below
// says what it bounds, what the twin takes, and what is known of a real install.
package timing

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// Name is one of the run's timeouts.
type Name string

// The timeouts.
const (
	Provision    Name = "provision"
	Steady       Name = "steady"
	Gone         Name = "gone"
	Ready        Name = "ready"
	Settle       Name = "settle"
	WorkMaxWait  Name = "work-max-wait"
	Diagnose     Name = "diagnose"
	Cleanup      Name = "cleanup"
	AdminRequest Name = "admin-request"
	Spec         Name = "spec"
)

// Default is a timeout's default, what it bounds, and its measured or documented values.
type Default struct {
	Name  Name
	Value time.Duration
	// Bounds says what waits on it.
	Bounds string
	// Twin is what the local twin takes (measured); Real is what is known of a real install.
	Twin, Real string
}

// RunScoped are the timeouts of the whole run, not of one scenario: a scenario file may not
// set them (the target file and flags may). The work probes' bounds are among them because
// the probes are made once per run and keep state across its scenarios (the alert pool).
var RunScoped = map[Name]bool{Provision: true, Settle: true, WorkMaxWait: true, Cleanup: true, AdminRequest: true}

// Defaults are every timeout, in the order of a run.
var Defaults = []Default{
	{Provision, 2 * time.Minute, "the run's product served by apicast-staging and its buyer account searchable (and, with a production reload, apicast-production serving it)",
		"16 s in all with `--reload-production-gateway` (backend-worker run, 2026-12-04)", "without a reload the wait for apicast-production adds one configuration refresh (`APICAST_CONFIGURATION_CACHE`, 300 s as the operator deploys it)"},
	{Steady, 2 * time.Minute, "every capability healthy before a fault", "5.5 s", "not measured here"},
	{Gone, 2 * time.Minute, "the component's pods gone after the scale to zero", "1.1 s", "the pods' `terminationGracePeriodSeconds` (30 s unless set)"},
	{Ready, 5 * time.Minute, "the restored workload's replicas Ready (and the production gateway's restart)", "8.3 s from restore to recovered (backend-worker)", "system-app's readiness takes a minute or more, zync more than 100 s (the operator's probes)"},
	{Settle, time.Minute, "deferred work applied after recovery (each work probe's check)", "0.5 s (analytics, backend report queue)", "not measured here"},
	{WorkMaxWait, 5 * time.Minute, "work 3scale schedules later than settle, such as a Sidekiq retry or an alert held for backend's once-a-minute events ping", "52 s (alerts)", "Sidekiq's retry backoff: the n-th retry n⁴ + 15 s plus jitter after the failure"},
	{Diagnose, 2 * time.Minute, "the diagnostic dump of a scenario that did not pass (events, pod states, container logs; 15 s per log)", "not measured (no scenario failed)", "not measured here"},
	{Cleanup, 5 * time.Minute, "removing the run's 3scale objects and counting the tenant again", "0.24 s", "not measured here"},
	{AdminRequest, 30 * time.Second, "each request to the admin, master and APIcast-configuration APIs, so that one unanswered request of provisioning or cleanup does not spend the whole `provision` or `cleanup` (a sample's requests are bounded by the sample too)",
		"not measured singly: all of provisioning's requests take under 16 s", "a request through an OpenShift route is cut at 30 s (the router's default `haproxy.router.openshift.io/timeout`)"},
	{Spec, 20 * time.Minute, "one scenario in the Ginkgo suite (`SpecTimeout`)", "60–370 s (the last full matrix)", "a claim that rests on a period holds the fault for that period (5 min 10 s for apicast-production's refresh)"},
}

// Timeouts are overrides of the defaults; a name not set takes its default.
type Timeouts map[Name]time.Duration

// Get is the override of n, or its default.
func (t Timeouts) Get(n Name) time.Duration {
	if d, ok := t[n]; ok {
		return d
	}
	for _, d := range Defaults {
		if d.Name == n {
			return d.Value
		}
	}
	panic(fmt.Sprintf("timing: unknown timeout %q", n))
}

// Merge is t with over's values on top.
func (t Timeouts) Merge(over Timeouts) Timeouts {
	out := Timeouts{}
	for k, v := range t {
		out[k] = v
	}
	for k, v := range over {
		out[k] = v
	}
	return out
}

// Names are the known names, for messages.
func Names() []string {
	var ns []string
	for _, d := range Defaults {
		ns = append(ns, string(d.Name))
	}
	return ns
}

// ParseScenario is Parse for a scenario file's timeouts, which may not set the run's own
// (RunScoped).
func ParseScenario(m map[string]string) (Timeouts, error) {
	t, err := Parse(m)
	if err != nil {
		return nil, err
	}
	var problems []string
	for _, n := range Names() {
		if _, ok := t[Name(n)]; ok && RunScoped[Name(n)] {
			problems = append(problems, fmt.Sprintf("%s bounds the whole run, not one scenario: set it in the target file or with --timeout", n))
		}
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("timeouts: %s", strings.Join(problems, "; "))
	}
	return t, nil
}

// Parse reads name: duration pairs ("provision": "5m"). Every problem is named: an unknown
// name, a duration that does not parse, one that is not positive.
func Parse(m map[string]string) (Timeouts, error) {
	known := map[Name]bool{}
	for _, d := range Defaults {
		known[d.Name] = true
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	t := Timeouts{}
	var problems []string
	for _, k := range keys {
		if !known[Name(k)] {
			problems = append(problems, fmt.Sprintf("%q is not a timeout (known: %s)", k, strings.Join(Names(), ", ")))
			continue
		}
		d, err := time.ParseDuration(strings.TrimSpace(m[k]))
		switch {
		case err != nil:
			problems = append(problems, fmt.Sprintf("%s: %v", k, err))
		case d <= 0:
			problems = append(problems, fmt.Sprintf("%s: %s is not positive", k, d))
		default:
			t[Name(k)] = d
		}
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("timeouts: %s", strings.Join(problems, "; "))
	}
	return t, nil
}

// Table renders Defaults as the README's Markdown table.
func Table() string {
	var b strings.Builder
	b.WriteString("| name | default | bounds | set in | twin (measured) | real install |\n|---|---|---|---|---|---|\n")
	for _, d := range Defaults {
		where := "target, scenario file, flag"
		if RunScoped[d.Name] {
			where = "target, flag"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s | %s |\n", d.Name, d.Value, d.Bounds, where, d.Twin, d.Real)
	}
	return b.String()
}
