// Package session is the one way a run is set up and torn down, for the CLI's run command and
// for the Ginkgo suite alike: open the target (Open), connect to 3scale, count the tenant and
// provision the harness's own objects (Start), run scenarios through the chaos runner with
// bounded diagnostics for those that do not pass (Run.Scenario), then remove the objects,
// count the tenant again and write the journal and the report (Run.Finish).
//
// Callers stay thin: they turn flags into Options, say how progress is shown, and map errors
// to their own outcome (an exit code, a failed spec). InputError marks what is the user's
// input rather than the run's outcome.
package session
