// Package scenario holds the failure matrix of the harness: the capabilities it
// samples, the expectation each scenario file sets for every capability while
// one component is held at zero replicas, and the pure functions that turn
// recorded samples into verdicts.
//
// # Scenario files
//
// A scenario is a YAML file, data only, one per component (scenarios/<name>.yaml):
//
//	component: backend-worker           # a catalog name or alias
//	doc:
//	  section: backend-worker           # heading in docs/3scale-component-failures.md
//	  summary: >-                       # the section paraphrased, never copied
//	    ...
//	timing:
//	  observe: 90s                      # how long the fault is held once pods are gone
//	  recoveryBudget: 60s               # default time to be healthy after restore
//	  minSamples: 3                     # optional; judged samples a cell needs
//	  periodMargin: 10s                 # optional; added to a spanned period (default 10s)
//	expectations:                       # every capability, no more, no fewer
//	  rate-limiting: {expect: lost, onsetGrace: 60s, reason: "..."}
//	  analytics:     {expect: deferred, recoveryBudget: 90s, reason: "..."}
//	  alerts:        {expect: unasserted, reason: "..."}  # reason required here
//	  production-traffic: {expect: kept, spans: apicast-production-configuration-refresh}
//	  ...
//	docGaps:                            # optional
//	  - capability: rate-limiting
//	    documented: "..."               # what the doc says, paraphrased
//	    observed: "..."                 # what 3scale does
//	    citation: "research/apicast-apisonator.md §5 (apisonator lib/...)"
//	claims:                             # the doc section's behaviours, one each
//	  - id: backend-worker/2            # <doc.section>/<n>; never reused
//	    says: "..."                     # the behaviour paraphrased
//	    cells: {rate-limiting: lost}    # cells of this file that assert it, with their expect
//	    unasserted: "..."               # what nothing asserts and what is missing;
//	                                    # required when cells is absent
//	product:                            # optional: a variant (Scenario.Variant), named by its
//	  policies:                         # file, the harness's product configured differently
//	    - {name: caching, configuration: {caching_type: resilient}}  # KnownPolicies only
//
// An expectation has expect (lost, kept, degraded, deferred, unasserted) and
// optionally reason, recoveryBudget, and: onsetGrace and onsetPasses (lost only),
// maxLatency (degraded only), spans (kept or degraded only: a catalog.Period the claim
// rests on; the runner holds the fault for at least that period, read from the cluster,
// plus timing.periodMargin, see Scenario.Observation). Durations are Go duration strings
// ("30s", "2m").
//
// LoadFile and LoadDir decode strictly: unknown fields, duplicate keys, unknown
// components or capabilities, a missing capability, an unasserted cell without a
// reason and negative durations are errors, each reported as a *FieldError that
// names the file, the field path and why. So is a claim that cites a capability that
// is not a cell, a cell with another expectation than the file gives it, or an
// unasserted cell, and a claim with neither cells nor a reason: a cell cannot change
// under a claim unnoticed. LoadDir also rejects two files for one component, and one
// claim id in two files. ClaimTable lists every claim for reports.
//
// # Verdicts
//
// Evaluate judges one capability's samples over the window in which the fault
// held; EvaluateRecovery judges how long it took to be healthy after restore;
// EvaluateWork judges a no-lost-work check for deferred (and lost) cells;
// EvaluateCell does all three and combines them with Worst (FAIL over INVALID
// over PASS). ConcludeScenario decides a scenario from its cells (INVALID
// first when the experiment did not happen as planned) and ConcludeRun decides
// a run from its scenarios. None of them has side effects or looks at a clock;
// pkg/report records what they decide.
package scenario
