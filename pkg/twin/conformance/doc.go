// Package conformance holds the twin's conformance tests: the local cluster is started, the
// twin deployed, and each component taken to zero replicas with client-go while raw HTTP,
// Redis and SQL calls (never the harness) check that what fails is what
// research/*.md says fails in 3scale, and that it all comes back.
package conformance
