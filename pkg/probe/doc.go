// Package probe is the harness's sampling engine: it watches capabilities while a
// component is taken down, the way openshift/origin's disruption sampler watches
// an API server during an upgrade.
//
// A Sampler observes one capability once. A Runner calls each sampler on its own
// fixed cadence for the whole run, with a per-sample timeout and no retries, and
// records every sample into a Timeline together with the phase marks the
// scenario runner sets (steady, inject, fault-held, observe, restore,
// recovered). The Timeline keeps the raw samples in time order; pkg/scenario
// judges them (the outage window, the first failure, the time to recover).
//
// The runner follows the chaos-monkey shape of kubernetes' e2e suite: observers
// start first and signal ready (Runner.WaitReady, every sampler has taken one
// sample), the fault is injected while they watch, and they are stopped by
// cancelling the run's context.
//
// Samples of one sampler never overlap. Ticks are fixed (start + k × interval,
// no jitter); a sample that overruns its tick makes the next one start as soon
// as it returns, and the timeline records the delay and how many ticks were
// skipped, so a gap in a strip is explained rather than hidden.
//
// HTTPCheck performs one HTTP request per sample with its own timeout and never
// retries or follows redirects; ClassifyError and ClassifyStatus turn a Go error
// or an HTTP status into a scenario.ErrorClass for probes that do their own I/O.
//
// StallWatch is the test bed's canary, as origin's ci-cluster-network-liveness backend
// tells a problem of the CI's network from a disruption of the cluster: it watches the
// harness's clock and something no 3scale component is behind (the API server's /readyz)
// and reports when they stalled, so that the failures under way then are not judged.
//
// Nothing here asserts: every function returns samples or errors.
package probe
