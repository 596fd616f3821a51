// Package operator is the twin's stand-in for the 3scale operator
// (threescale-operator-controller-manager-v2): the part of it that decides a
// component's replica count, and nothing else. It creates no Deployments,
// Services, Routes, Secrets or HPAs.
//
// Behaviour, from research/3scale-operator.md (operator 0.10.1 / 3scale 2.13.1
// and later, checked in the 2.15.1, 2.16.3 and master sources):
//
//   - Nine components have a replicas field in the APIManager
//     (apps.3scale.net/v1alpha1) spec; the table is Components (research 1.2).
//   - Field set in the live CR: whenever the Deployment's spec.replicas
//     differs, the operator puts it back to the field's value (research 2.1,
//     2.2: DeploymentReplicasMutator is appended only when the field is
//     non-nil). A manual scale is reverted within one reconcile pass, because
//     the operator watches the Deployments it owns (research 2.1). Patching
//     the field is therefore how a fault is injected "through the owner"
//     (research 2.6 (a)).
//   - Field absent: the Deployment's replicas are never written, so a scale
//     holds (research 2.2). Deleting the field does not restore anything.
//   - hpa: true (apicast-production, backend-listener, backend-worker only):
//     with replicas absent, nothing is written (as above); with replicas set,
//     the CR value is ignored and the Deployment is put back to 1 (research
//     2.1 "except when hpa: true", 2.4; confirmed in 3scale-2.16.3-GA
//     backend_options_provider.go and apicast_options_provider.go setReplicas,
//     where desired stays 1, and the mutator is still appended because only
//     replicas != nil is tested). A patch of the field to 0 does not hold then.
//   - Order and the searchd gate: a pass handles backend, then system, zync and
//     apicast; while system-searchd is not Available, has unavailable
//     replicas, or is rolling out, the pass stops after backend and is requeued
//     (research 2.5). An absent system-searchd does not block.
//   - spec.zync.enabled: false (2.16, research 1.1): the real operator deletes
//     the zync Deployments; the twin only stops managing their replicas.
//   - Not modelled: the system-app-pre Job gate of 2.16.3 (research 2.5; the
//     hook Jobs only run on a revision change, never on a scale), preflights,
//     and the pre-0.10.1 behaviours (defaulted fields, opt-out annotations,
//     research 2.3).
//
// Each pass records what it saw in the APIManager status: observedGeneration,
// and under status.twin.deployments, per Deployment, the mode (Enforced, HPA,
// Unmanaged, ZyncDisabled), the desired count, and the Deployment generation it
// last reconciled (status.twin.waitingFor names the gate that stopped a pass).
// status.twin exists only in the twin, so that a test can tell "the operator saw
// this scale and left it" from "the operator has not looked yet"; the harness
// must never read it.
//
// Deployments are matched by the operator's names in the watched namespace,
// not by owner reference: the twin's manifests are applied independently of
// the APIManager.
package operator
