package testsupport

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/utils/ptr"
)

// DeploymentRolledOut reports whether d wants n replicas and its controller has said, for
// this generation of the spec, that n are updated, Ready and the only ones. The second value
// is what was seen, for a timeout message.
//
// The generation matters. Right after a scale the status still describes the last
// generation: a Deployment scaled 0 -> 1 can read readyReplicas 1, replicas 1 for a moment
// because the controller has not yet written down the scale to 0. A wait that trusts
// readyReplicas alone returns at once and the caller finds nothing listening (the flake in
// the conformance test TestApicastStagingDown, CI of 2026-12-05). `kubectl rollout status`
// checks observedGeneration first for the same reason.
func DeploymentRolledOut(d *appsv1.Deployment, n int32) (bool, string) {
	st := d.Status
	want := ptr.Deref(d.Spec.Replicas, 1)
	seen := fmt.Sprintf("generation %d observed %d; spec.replicas %d, updated %d, ready %d, replicas %d",
		d.Generation, st.ObservedGeneration, want, st.UpdatedReplicas, st.ReadyReplicas, st.Replicas)
	return want == n && st.ObservedGeneration >= d.Generation &&
		st.UpdatedReplicas == n && st.ReadyReplicas == n && st.Replicas == n, seen
}
