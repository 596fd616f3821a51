// Package samplers is the capability catalogue against a real install: [For] gives one
// probe.Sampler per scenario.Capability, doing exactly what the capability's doc comment
// defines, and [WorkProbesWith] gives the deferred/lost-work checks.
//
// The work probes live here with the samplers because they are built on them: the alert
// work probe drives the alert sampler over the other half of the fixture's alert
// applications, and the other probes share the samplers' store reads, canaries and
// waits.
package samplers
