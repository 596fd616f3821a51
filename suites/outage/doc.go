// Package outage is the outage suite: one Serial container per scenario file, labelled
// "disruptive" and "component:<name>" for each component it takes down (a file of several
// components also "multi", so 'component:backend-worker && !multi' is that file alone),
// each running the scenario through package chaos
// against the target file named by --target (or THREESCALE_CHAOS_TARGET):
//
//	go test ./suites/outage -args --target .twin/target.yaml
//	ginkgo --label-filter='component:backend-worker' ./suites/outage -- --target .twin/target.yaml
//
// Without a target the suite is skipped with a message: it only ever runs against a real
// 3scale install (the twin, kind, OpenShift).
package outage
