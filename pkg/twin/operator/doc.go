// Package operator is the twin's stand-in for the 3scale operator
// (threescale-operator-controller-manager-v2): the part of it that decides a
// component's replica count, the HorizontalPodAutoscalers of `hpa: true`, the two
// version annotations it stamps on the APIManager, and the APIManager status. It
// creates no Deployments, Services, Routes or Secrets (the twin's manifests carry
// them, owned by the APIManager as the operator makes them).
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
// Besides replicas, each pass does what operator@3scale-2.16.3-GA does with the same
// inputs:
//
//   - Defaults: the annotations apps.3scale.net/threescale-operator-version (0.13.3)
//     and apps.3scale.net/apimanager-threescale-version (2.16.3) are set when missing
//     or different, and that pass ends there (apis/apps/v1alpha1/apimanager_types.go
//     setAPIManagerAnnotationsDefaults; controllers/apps/apimanager_controller.go
//     "Defaults set for APIManager resource"). The spec defaults are not modelled.
//   - HPAs: apicast-production, backend-listener and backend-worker get an HPA while
//     their hpa switch is on (backend's not while apps.3scale.net/disable-async is
//     "true"); it is deleted otherwise, and never updated once made
//     (base_apimanager_logic_reconciler.go ReconcileHpa, component/hpa.go DefaultHpa).
//   - Status: conditions (Available, and the HPA Warnings) and deployments {ready,
//     starting, stopped} over the expected Deployments the APIManager owns, written
//     even when the searchd gate stopped the pass; no observedGeneration
//     (apimanager_status_reconciler.go). See ComputeStatus.
//
// What the twin needs to know about its own passes is kept out of the status, in
// the annotation RecordAnnotation: the APIManager generation read and, per
// Deployment, the mode (Enforced, HPA, Unmanaged, ZyncDisabled), the desired count
// and the Deployment generation last reconciled (waitingFor names the gate that
// stopped a pass). It exists only in the twin, so that a test can tell "the
// operator saw this scale and left it" from "the operator has not looked yet"; the
// harness must never read it.
//
// For replicas, Deployments are matched by the operator's names in the watched
// namespace, not by owner reference, so the tests' bare Deployments are managed
// too; the status, as the real one, counts only the Deployments the APIManager
// owns.
package operator
