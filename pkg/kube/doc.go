// Package kube takes one 3scale component down on a live cluster and puts it back.
//
// It is the harness's only way to change a cluster, and it is written against the
// Kubernetes and 3scale APIs alone (client-go, a kubeconfig), so it behaves the same on
// kind, OpenShift and the local twin. The phases of a scenario it serves:
//
//   - Safety: [CheckNamespace] refuses a namespace that is missing, unreachable or not
//     opted in with the label chaos.3scale.net/opt-in=true; [CheckOpenLedger] refuses to
//     start while an earlier run has left a restore-ledger entry open.
//   - Resolve: [Resolve] finds a catalog component's workload (an apps/v1 Deployment
//     from 3scale 2.15, an apps.openshift.io/v1 DeploymentConfig before), its replicas
//     (scale subresource), its pods, an HPA that targets it and the live APIManager's
//     replicas field for it.
//   - Plan: [NewPlan] chooses how the fault is made: by patching the APIManager field to
//     0 (cr-patch) when the operator enforces that field, else through the scale
//     subresource. A plan that cannot hold by design carries the reason in
//     [Plan.Invalid] and [Fault.Inject] refuses it, changing nothing: the operator would
//     pin the workload (hpa), would never apply the patch (its gate before system, zync
//     and APIcast is closed while system-searchd is not Available), or the component is
//     absent by design (an APIManager switch such as spec.zync.enabled: false, or a
//     datastore the operator of that version does not run; [Resolve] reports it in
//     [Target.Absent] rather than as a missing workload).
//   - Inject: [Fault.Inject] writes the restore ledger into the cluster first (an
//     annotation on the workload and an entry in the ConfigMap threescale-chaos-ledger),
//     then scales, then waits until the component's pods are gone.
//   - Hold: [Fault.Hold] watches the workload, its pods and the APIManager for the
//     observation window and reports anything that brings the component back; the
//     runner turns a violation into the verdict INVALID.
//   - Restore: [Fault.Restore] puts back exactly what the ledger recorded and closes the
//     entry; [RestoreAll] does the same from the ledger alone, for a harness that was
//     killed (threescale-chaos restore).
//
// # HPA
//
// An HPA does not fight a scale to zero: the HPA controller stops scaling a target whose
// spec.replicas is 0 (condition ScalingActive=False, reason ScalingDisabled), and resumes
// when the harness scales the target back. So an HPA that targets the workload is
// recorded (its name, minReplicas and maxReplicas go into the ledger for the report and
// for a check at restore) and left untouched; nothing is patched that would then need
// restoring. The one case that cannot hold is the operator's own `hpa: true` together
// with a set replicas field: the operator then forces the workload to 1 replica on every
// reconcile, whichever way it is scaled (research/3scale-operator.md §2.4, §2.6), so the
// plan is INVALID by design and Inject refuses it.
package kube
