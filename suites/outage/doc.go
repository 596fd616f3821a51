// Package outage is the outage suite: one Serial container per scenario file, labelled
// "disruptive", "scenario:<name>" (the file: 'scenario:backend-worker', 'scenario:backend') and
// "component:<name>" for each component it takes down (a file of several components also
// "multi", a variant, which configures the run's product differently, "variant"),
// each running the scenario through package chaos
// against the target file named by --target (or THREESCALE_CHAOS_TARGET):
//
//	go test ./suites/outage -args --target .twin/target.yaml
//	ginkgo --label-filter='scenario:backend-worker' ./suites/outage -- --target .twin/target.yaml
//
// Without a target the suite is skipped with a message: it only ever runs against a real
// 3scale install (the twin, kind, OpenShift).
package outage
