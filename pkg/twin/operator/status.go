package operator

import (
	"fmt"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// The APIManager status as operator@3scale-2.16.3-GA writes it
// (controllers/apps/apimanager_status_reconciler.go; the types in
// apis/apps/v1alpha1/apimanager_types.go APIManagerStatus and
// pkg/apispkg/common/status_conditions.go Condition): a list of conditions and the
// Deployments sorted into ready, starting and stopped. There is no observedGeneration.

// Condition types the status reconciler sets (apimanager_types.go).
const (
	ConditionAvailable = "Available"
	ConditionWarning   = "Warning"
)

// The HPA warning conditions (apimanager_status_reconciler.go reconcileHpaWarningMessages).
// They are found and removed by their message, and carry no lastTransitionTime: they are
// appended without SetCondition.
var (
	warningHPANoResources = Condition{Type: ConditionWarning, Status: string(corev1.ConditionTrue),
		Reason:  "HPA & ResourceRequirementsEnabled false",
		Message: "HorizontalPodAutoScaling (HPA) can't function if ResourcesRequirementsEnabled is set to false as there would be no resources to compare to in order to scale"}
	warningHPAOverridesReplicas = Condition{Type: ConditionWarning, Status: string(corev1.ConditionTrue),
		Reason:  "HPA",
		Message: "HorizontalPodAutoscaling (Hpa) enabled overrides values applied to replicas"}
	warningHPAAsyncDisabled = Condition{Type: ConditionWarning, Status: string(corev1.ConditionTrue),
		Reason:  "HPA",
		Message: "HorizontalPodAutoscaling (Hpa). Discovered async disabled annotation and Hpa enabled for backend. Hpa for backends will now be disabled."}
)

// Condition is one entry of status.conditions.
type Condition struct {
	Type    string `json:"type"`
	Status  string `json:"status"`
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
	// LastTransitionTime is RFC 3339; absent on the warnings, which the real operator appends
	// with a zero time that the API server drops.
	LastTransitionTime string `json:"lastTransitionTime,omitempty"`
}

// DeploymentStatus is status.deployments (RHsyseng/operator-utils pkg/olm DeploymentStatus,
// which the operator's go.mod pins at v1.4.9): names, each list omitted when empty.
type DeploymentStatus struct {
	Ready    []string `json:"ready,omitempty"`
	Starting []string `json:"starting,omitempty"`
	Stopped  []string `json:"stopped,omitempty"`
}

// Status is the APIManager's status. deployments is always written (the CRD requires it).
type Status struct {
	Conditions  []Condition      `json:"conditions,omitempty"`
	Deployments DeploymentStatus `json:"deployments"`
}

// StatusInputs is what one pass observed, for ComputeStatus.
type StatusInputs struct {
	// Owned are the expected Deployments (ExpectedDeployments) that exist and are owned by
	// the APIManager (existingDeployments compares the owner reference's uid).
	Owned []appsv1.Deployment
	// RoutesReady says whether every default Route is admitted (helper.DefaultRoutesReady).
	RoutesReady bool
	// MissingSecrets are the watched Secrets that could not be read, in the order
	// Get3scaleSecretRefs lists them.
	MissingSecrets []string
	// Now stamps a condition whose status changed.
	Now time.Time
}

// ExpectedDeployments are the Deployments the status reconciler looks for
// (pkg/3scale/amp/component/deployments_lister.go DeploymentNames): the nine of apicast,
// backend and system, then zync and zync-que when zync is enabled, and zync-database unless
// the zync database is external.
func ExpectedDeployments(am *unstructured.Unstructured) []string {
	names := []string{"apicast-staging", "apicast-production", "backend-listener", "backend-worker", "backend-cron",
		"system-memcache", "system-app", "system-sidekiq", "system-searchd"}
	if !zyncEnabled(am) {
		return names
	}
	names = append(names, "zync", "zync-que")
	if external, _, _ := unstructured.NestedBool(am.Object, "spec", "externalComponents", "zync", "database"); !external {
		names = append(names, "zync-database")
	}
	return names
}

// zyncEnabled is IsZyncEnabled: zync is off only when spec.zync.enabled is false.
func zyncEnabled(am *unstructured.Unstructured) bool {
	on, found, _ := unstructured.NestedBool(am.Object, zyncEnabledPath...)
	return !found || on
}

// WatchedSecrets are the Secrets the Available condition requires (apimanager_types.go
// Get3scaleSecretRefs without the optional APIcast ones: system-redis, backend-redis,
// system-database, zync; GetZyncSecretRefs lists zync whether or not zync is enabled).
var WatchedSecrets = []string{"system-redis", "backend-redis", "system-database", "zync"}

// DefaultRouteHosts are the hosts whose Routes must be admitted for Available
// (pkg/helper/route.go DefaultRoutesReady): backend's, and with zync the default tenant's
// gateways and portals and the master portal. tenantName defaults to "3scale"
// (apimanager_types.go setAPIManagerCommonSpecDefaults).
func DefaultRouteHosts(am *unstructured.Unstructured) []string {
	wd, _, _ := unstructured.NestedString(am.Object, "spec", "wildcardDomain")
	tenant, found, _ := unstructured.NestedString(am.Object, "spec", "tenantName")
	if !found {
		tenant = "3scale"
	}
	hosts := []string{fmt.Sprintf("backend-%s.%s", tenant, wd)}
	if zyncEnabled(am) {
		hosts = append(hosts,
			fmt.Sprintf("api-%s-apicast-production.%s", tenant, wd),
			fmt.Sprintf("api-%s-apicast-staging.%s", tenant, wd),
			"master."+wd,
			tenant+"."+wd,
			tenant+"-admin."+wd)
	}
	return hosts
}

// RoutesReady is DefaultRoutesReady over a list of Routes: for every default host the first
// Route with that host (by name) has at least one ingress and every ingress is Admitted
// (IsRouteReady).
func RoutesReady(am *unstructured.Unstructured, routes []unstructured.Unstructured) bool {
	sort.Slice(routes, func(i, j int) bool { return routes[i].GetName() < routes[j].GetName() })
	for _, host := range DefaultRouteHosts(am) {
		var found *unstructured.Unstructured
		for i := range routes {
			if h, _, _ := unstructured.NestedString(routes[i].Object, "spec", "host"); h == host {
				found = &routes[i]
				break
			}
		}
		if found == nil || !routeAdmitted(found) {
			return false
		}
	}
	return true
}

func routeAdmitted(r *unstructured.Unstructured) bool {
	ingresses, _, _ := unstructured.NestedSlice(r.Object, "status", "ingress")
	if len(ingresses) == 0 {
		return false
	}
	for _, ing := range ingresses {
		m, _ := ing.(map[string]any)
		conds, _, _ := unstructured.NestedSlice(m, "conditions")
		admitted := false
		for _, c := range conds {
			cm, _ := c.(map[string]any)
			if cm["type"] == "Admitted" && cm["status"] == string(corev1.ConditionTrue) {
				admitted = true
				break
			}
		}
		if !admitted {
			return false
		}
	}
	return true
}

// ComputeStatus is calculateStatus: start from the current conditions, set Available
// (SetCondition keeps lastTransitionTime while the status does not change), add or remove the
// HPA warnings, and sort the owned Deployments into ready, starting and stopped. Preflights are
// bypassed, as in every install this project makes (PREFLIGHT_CHECKS_BYPASS=true), so no
// Preflights condition is written; nor are the OpenTracing deprecation warnings, which need
// tracing the twin does not model.
func ComputeStatus(am *unstructured.Unstructured, old Status, in StatusInputs) Status {
	conds := append([]Condition(nil), old.Conditions...)
	available := Condition{Type: ConditionAvailable, Status: string(corev1.ConditionFalse)}
	if deploymentsAvailable(am, in.Owned) && in.RoutesReady && len(in.MissingSecrets) == 0 {
		available.Status = string(corev1.ConditionTrue)
	}
	if len(in.MissingSecrets) > 0 {
		available.Reason = "MissingWatchedSecrets"
		available.Message = "The following secret(s) could not be found: " + strings.Join(in.MissingSecrets, ", ")
	}
	conds = setCondition(conds, available, in.Now)
	conds = hpaWarnings(am, conds)
	return Status{Conditions: conds, Deployments: deploymentStatus(in.Owned)}
}

// setCondition is Conditions.SetCondition.
func setCondition(conds []Condition, c Condition, now time.Time) []Condition {
	c.LastTransitionTime = now.UTC().Format(time.RFC3339)
	for i := range conds {
		if conds[i].Type == c.Type {
			if conds[i].Status == c.Status {
				c.LastTransitionTime = conds[i].LastTransitionTime
			}
			conds[i] = c
			return conds
		}
	}
	return append(conds, c)
}

func deploymentsAvailable(am *unstructured.Unstructured, owned []appsv1.Deployment) bool {
	byName := map[string]*appsv1.Deployment{}
	for i := range owned {
		byName[owned[i].Name] = &owned[i]
	}
	for _, name := range ExpectedDeployments(am) {
		d := byName[name]
		if d == nil || !deploymentAvailable(d) {
			return false
		}
	}
	return true
}

// deploymentAvailable is helper.IsDeploymentAvailable: the Available condition is True.
func deploymentAvailable(d *appsv1.Deployment) bool {
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentAvailable && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

// hpaWarnings is reconcileHpaWarningMessages.
func hpaWarnings(am *unstructured.Unstructured, conds []Condition) []Condition {
	hpa := func(path ...string) bool { on, _, _ := unstructured.NestedBool(am.Object, path...); return on }
	listener := hpa("spec", "backend", "listenerSpec", "hpa")
	worker := hpa("spec", "backend", "workerSpec", "hpa")
	production := hpa("spec", "apicast", "productionSpec", "hpa")
	resources, found, _ := unstructured.NestedBool(am.Object, "spec", "resourceRequirementsEnabled")
	if !found {
		resources = true // setAPIManagerCommonSpecDefaults
	}
	anyHPA := listener || worker || production
	backendHPA := listener || worker
	asyncDisabled := am.GetAnnotations()[DisableAsyncAnnotation] == "true"

	conds = toggleWarning(conds, warningHPANoResources, !resources && anyHPA, !anyHPA)
	conds = toggleWarning(conds, warningHPAOverridesReplicas, anyHPA, !anyHPA)
	conds = toggleWarning(conds, warningHPAAsyncDisabled, backendHPA && asyncDisabled, !backendHPA || !asyncDisabled)
	return conds
}

// toggleWarning adds w when add holds and no condition has its message, and removes the
// conditions with its message when remove holds, as reconcileHpaWarningMessages does.
func toggleWarning(conds []Condition, w Condition, add, remove bool) []Condition {
	found := false
	for _, c := range conds {
		if c.Message == w.Message {
			found = true
		}
	}
	switch {
	case add && !found:
		return append(conds, w)
	case remove && found:
		out := conds[:0:0]
		for _, c := range conds {
			if c.Message != w.Message {
				out = append(out, c)
			}
		}
		return out
	}
	return conds
}

// deploymentStatus is olm.GetDeploymentStatus: stopped when spec.replicas is 0 (or unset) or
// no replica exists, starting while fewer are ready than exist, ready otherwise.
func deploymentStatus(ds []appsv1.Deployment) DeploymentStatus {
	var st DeploymentStatus
	for i := range ds {
		d := &ds[i]
		spec := int32(0)
		if d.Spec.Replicas != nil {
			spec = *d.Spec.Replicas
		}
		switch {
		case spec == 0 || d.Status.Replicas == 0:
			st.Stopped = append(st.Stopped, d.Name)
		case d.Status.ReadyReplicas < d.Status.Replicas:
			st.Starting = append(st.Starting, d.Name)
		default:
			st.Ready = append(st.Ready, d.Name)
		}
	}
	return st
}
