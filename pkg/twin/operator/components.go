package operator

import "k8s.io/apimachinery/pkg/runtime/schema"

// APIManagerGVR is the resource the twin operator watches: apps.3scale.net/v1alpha1
// apimanagers, the same group, version and plural as the real CRD
// (research/3scale-operator.md 3.4; 3scale-operator config/crd/bases/apps.3scale.net_apimanagers.yaml).
var APIManagerGVR = schema.GroupVersionResource{Group: "apps.3scale.net", Version: "v1alpha1", Resource: "apimanagers"}

// Stage is one of the per-area reconcilers of the real operator, in the order
// its APIManager controller runs them (research/3scale-operator.md 2.5:
// backend → memcached → searchd → system → zync → apicast; 3scale-2.16.3-GA
// controllers/apps/apimanager_controller.go reconcileAPIManagerLogic). Only the
// stages that own a replicas field appear here; the searchd gate sits between
// backend and system.
type Stage string

// The stages that own a replicas field, in reconcile order.
const (
	StageBackend Stage = "backend"
	StageSystem  Stage = "system"
	StageZync    Stage = "zync"
	StageApicast Stage = "apicast"
)

// Component is one Deployment whose replica count the APIManager may own.
type Component struct {
	// Deployment is the operator's name for the workload (research 1.2).
	Deployment string
	// Stage is the reconciler that handles it (research 2.1, 2.5).
	Stage Stage
	// Replicas is the path under the APIManager of the replicas field (research 1.2, 2.1).
	Replicas []string
	// HPA is the path of the hpa boolean, nil for components that have none (research 2.4).
	HPA []string
	// Source names where the research found the field and its mutator.
	Source string
}

// Components is the component → APIManager field table, in the order the real
// operator reconciles them (within a stage, in the order its reconciler does:
// 3scale-2.16.3-GA pkg/3scale/amp/operator/{backend,system,zync,apicast}_reconciler.go).
//
// Nine components have a replicas field (research/3scale-operator.md 1.2 and
// 2.2). system-memcache, system-searchd (system-sphinx before 2.14) and
// zync-database have none: the operator writes their replicas only when it
// creates them, so the twin never writes them at all (research 2.2, "Mutator
// lists for the database-like components contain no replicas mutator"). Nor are
// backend-redis, system-redis or system-mysql ever operator-managed for
// replicas (research 1.2, 2.2).
var Components = []Component{
	{Deployment: "backend-cron", Stage: StageBackend,
		Replicas: []string{"spec", "backend", "cronSpec", "replicas"},
		Source:   "research 1.2; backend_reconciler.go (*BackendReconciler).Reconcile CronSpec"},
	{Deployment: "backend-listener", Stage: StageBackend,
		Replicas: []string{"spec", "backend", "listenerSpec", "replicas"},
		HPA:      []string{"spec", "backend", "listenerSpec", "hpa"},
		Source:   "research 1.2, 2.4; backend_reconciler.go ListenerSpec; backend_options_provider.go setReplicas"},
	{Deployment: "backend-worker", Stage: StageBackend,
		Replicas: []string{"spec", "backend", "workerSpec", "replicas"},
		HPA:      []string{"spec", "backend", "workerSpec", "hpa"},
		Source:   "research 1.2, 2.4; backend_reconciler.go WorkerSpec; backend_options_provider.go setReplicas"},
	{Deployment: "system-app", Stage: StageSystem,
		Replicas: []string{"spec", "system", "appSpec", "replicas"},
		Source:   "research 1.2; system_reconciler.go (*SystemReconciler).Reconcile AppSpec"},
	{Deployment: "system-sidekiq", Stage: StageSystem,
		Replicas: []string{"spec", "system", "sidekiqSpec", "replicas"},
		Source:   "research 1.2; system_reconciler.go SidekiqSpec"},
	{Deployment: "zync", Stage: StageZync,
		Replicas: []string{"spec", "zync", "appSpec", "replicas"},
		Source:   "research 1.2; zync_reconciler.go (*ZyncReconciler).Reconcile AppSpec"},
	{Deployment: "zync-que", Stage: StageZync,
		Replicas: []string{"spec", "zync", "queSpec", "replicas"},
		Source:   "research 1.2; zync_reconciler.go QueSpec"},
	{Deployment: "apicast-staging", Stage: StageApicast,
		Replicas: []string{"spec", "apicast", "stagingSpec", "replicas"},
		Source:   "research 1.2; apicast_reconciler.go (*ApicastReconciler).Reconcile StagingSpec"},
	{Deployment: "apicast-production", Stage: StageApicast,
		Replicas: []string{"spec", "apicast", "productionSpec", "replicas"},
		HPA:      []string{"spec", "apicast", "productionSpec", "hpa"},
		Source:   "research 1.2, 2.4; apicast_reconciler.go ProductionSpec; apicast_options_provider.go setReplicas"},
}

// SearchdDeployment is the Deployment whose readiness gates the system, zync
// and apicast stages: while it is not Available, or is still rolling out, the
// real operator requeues before reaching them (research/3scale-operator.md 2.5;
// 3scale-2.16.3-GA system_searchd_reconciler.go and pkg/helper/deployment.go
// IsDeploymentAvailable / IsDeploymentProgressing).
const SearchdDeployment = "system-searchd"

// zyncEnabledPath is spec.zync.enabled (2.16+, research 1.1). When it is false
// the real operator deletes the zync Deployments instead of reconciling them;
// the twin only stops managing their replicas.
var zyncEnabledPath = []string{"spec", "zync", "enabled"}
