// Package chaos runs one outage scenario from end to end, in phases: preflight and steady
// state (every capability healthy, else INVALID), inject (ledger first, then the scale, then
// wait until the pods are gone), hold and observe (samples keep flowing; anything scaling the
// component back makes the run INVALID), restore, recover (each capability healthy again
// within its budget), and verify the deferred work. Verdicts come from package scenario; the
// record is a report.ScenarioResult. While samples flow, a probe.StallWatch watches the test
// bed (the harness's clock, the API server's /readyz), and the cells do not judge the failures
// under way while it was stalled.
//
// The runner knows nothing of 3scale's APIs: capabilities arrive as probe.Samplers, deferred
// work as probe.WorkProbes and what to break as a Fault (ScaleToZero for one or several
// components), so the same runner drives any target and is tested without a cluster.
package chaos
