package catalog

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// ErrUnknownComponent is wrapped by Lookup when a name is neither a component
// nor an alias of one.
var ErrUnknownComponent = errors.New("unknown 3scale component")

// Kind is the kind of object that owns a component's pods.
type Kind string

// Workload kinds.
const (
	// KindDeployment is an apps/v1 Deployment (3scale 2.15 and later).
	KindDeployment Kind = "Deployment"
	// KindDeploymentConfig is an OpenShift apps.openshift.io/v1 DeploymentConfig
	// (3scale 2.14 and earlier).
	KindDeploymentConfig Kind = "DeploymentConfig"
)

// Workload names the object that owns a component's pods on one 3scale version.
// Both kinds serve the scale subresource, so one scale client handles either.
type Workload struct {
	Kind       Kind
	APIVersion string
	Name       string
}

// Group returns the API group of the workload: "apps" or "apps.openshift.io".
func (w Workload) Group() string {
	group, _, _ := strings.Cut(w.APIVersion, "/")
	return group
}

// Resource returns the plural resource name: "deployments" or "deploymentconfigs".
func (w Workload) Resource() string {
	return strings.ToLower(string(w.Kind)) + "s"
}

// SelectorLabels returns the label that the operator puts in this workload's own
// selector: deployment=<name> for a Deployment, deploymentConfig=<name> (capital
// C) for a DeploymentConfig. Pods of the other era do not carry it; see
// Component.PodSelector for a selector that works in both.
func (w Workload) SelectorLabels() map[string]string {
	if w.Kind == KindDeploymentConfig {
		return map[string]string{"deploymentConfig": w.Name}
	}
	return map[string]string{"deployment": w.Name}
}

// String returns "Kind/name".
func (w Workload) String() string {
	return string(w.Kind) + "/" + w.Name
}

// FieldPath is a path to a field of the APIManager custom resource, such as
// spec.backend.listenerSpec.replicas, one element per key.
type FieldPath []string

// String joins the path with dots.
func (p FieldPath) String() string {
	return strings.Join(p, ".")
}

// FieldSwitch is an APIManager field that, when it holds Value, means the
// operator does not run the component at all (it is disabled or external). Only
// the live CR can tell, so the harness reads it before planning a fault.
type FieldSwitch struct {
	Field FieldPath
	Value bool
	// Since is the first 3scale version that has the field, zero when the
	// research did not tie it to a version.
	Since Version
	// External is true when the switch means the install provides the component
	// itself, so the operator never creates it (a workload of that name is the
	// install's own); false when it means the operator deletes the component.
	External bool
	// Why says what the operator does when the switch holds, citing its source.
	Why string
}

// Component is one of the 15 workloads the component-failure doc describes.
// Values returned by this package are copies; changing them changes nothing here.
type Component struct {
	// Name is the canonical name, the workload name on current releases.
	Name string
	// Aliases are other names Lookup accepts (older workload names).
	Aliases []string
	// DocSection is the heading of the component's section in
	// docs/3scale-component-failures.md.
	DocSection string
	// LabelComponent and LabelElement are the values of the
	// threescale_component and threescale_component_element pod labels on
	// current releases (see PodSelector for older ones).
	LabelComponent, LabelElement string
	// ReplicasField is the APIManager field that sets the replicas, nil when
	// the component has none (the datastores, memcache and searchd). When
	// the field is set in the live CR the operator re-applies it on every
	// reconcile, so a scale of the workload alone does not hold.
	ReplicasField FieldPath
	// HPAField is the APIManager switch that makes the operator create a
	// HorizontalPodAutoscaler for the component, nil when there is none.
	// With it on, the operator ignores ReplicasField and wants 1 replica.
	HPAField FieldPath
	// ExternalFrom is the first version in which the operator no longer runs
	// the component (the install must provide it), zero when it always can.
	ExternalFrom Version
	// AbsentWhen lists CR switches that mean the operator does not run the
	// component on this install.
	AbsentWhen []FieldSwitch
	// ExternalWhy says, citing the operator, why it does not run the component from
	// ExternalFrom on.
	ExternalWhy string
	// GatedBy names the component that the operator must see Available, and not
	// mid-rollout, before it reconciles this one at all (from GatedSince); "" when
	// none. While the gate is closed a change of the replicas field is never
	// applied, and a scale of the workload is not reverted.
	GatedBy string

	legacyName    string  // workload name before renamedIn
	legacyElement string  // threescale_component_element before renamedIn
	renamedIn     Version // first version with Name
}

// GatedSince is the first version whose operator waits for system-searchd before it
// reconciles system, zync and APIcast: operator@3scale-2.15.1-GA and
// operator@3scale-2.16.3-GA controllers/apps/apimanager_controller.go
// reconcileAPIManagerLogic run the backend, memcached, system-searchd, system, zync and
// apicast reconcilers in that order and stop at the first that asks for a requeue, and
// pkg/3scale/amp/operator/system_searchd_reconciler.go (2.16.3-GA line 112) asks for one
// until the system-searchd Deployment is Available and not progressing
// (pkg/helper/deployment.go IsDeploymentAvailable, IsDeploymentProgressing). The 2.14
// operator (DeploymentConfigs) has no such gate.
var GatedSince = V2_15

// GateFor returns the component whose availability gates the operator's reconciling of
// c on version v, "" when none.
func (c Component) GateFor(v Version) string {
	if c.GatedBy == "" || !v.AtLeast(GatedSince) {
		return ""
	}
	return c.GatedBy
}

// Matches reports whether name is the component's name or one of its aliases.
func (c Component) Matches(name string) bool {
	n := normalize(name)
	return n == c.Name || slices.Contains(c.Aliases, n)
}

// NameFor returns the workload name on version v (system-sphinx before 2.14,
// system-searchd from 2.14; every other name is the same on all versions).
func (c Component) NameFor(v Version) string {
	if c.legacyName != "" && !v.AtLeast(c.renamedIn) {
		return c.legacyName
	}
	return c.Name
}

// WorkloadFor returns the object that owns the component's pods on version v:
// a DeploymentConfig (apps.openshift.io/v1) up to 2.14, a Deployment (apps/v1)
// from 2.15. For the datastores that 2.16 made external it returns the
// Deployment that a self-managed install conventionally names the same way;
// OperatorManaged says whether the operator owns it.
func (c Component) WorkloadFor(v Version) Workload {
	name := c.NameFor(v)
	if v.AtLeast(V2_15) {
		return Workload{Kind: KindDeployment, APIVersion: "apps/v1", Name: name}
	}
	return Workload{Kind: KindDeploymentConfig, APIVersion: "apps.openshift.io/v1", Name: name}
}

// PodSelector returns labels that select the component's pods on version v,
// in both the DeploymentConfig and the Deployment era.
//
// The strategy: the operator's option providers put threescale_component and
// threescale_component_element on every pod template, in both eras, so that pair
// is the one selector that survives the 2.15 migration. The alternatives do not:
// deployment=<name> is on pods only from 2.15 (in the DC era OpenShift sets
// deployment=<name>-<revision> instead), and deploymentConfig=<name> only up to
// 2.14. app=3scale-api-management alone also matches the operator's own pod.
// The element of the search daemon changed with its name (sphinx before 2.14,
// searchd from 2.14).
//
// Prefer the live workload's own spec.selector when the harness can read it; it
// is exact by construction and also covers datastores that the install, not the
// operator, created (2.16 external ones, whose labels the operator never set).
// Use PodSelector as the fallback and to check the live selector is sane.
func (c Component) PodSelector(v Version) map[string]string {
	element := c.LabelElement
	if c.legacyElement != "" && !v.AtLeast(c.renamedIn) {
		element = c.legacyElement
	}
	return map[string]string{
		"threescale_component":         c.LabelComponent,
		"threescale_component_element": element,
	}
}

// PodSelectorString returns PodSelector(v) in label-selector syntax, keys sorted.
func (c Component) PodSelectorString(v Version) string {
	sel := c.PodSelector(v)
	keys := make([]string, 0, len(sel))
	for k := range sel {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, k+"="+sel[k])
	}
	return strings.Join(parts, ",")
}

// HasReplicasField reports whether the APIManager CR has a replicas field for
// the component.
func (c Component) HasReplicasField() bool {
	return len(c.ReplicasField) > 0
}

// SupportsHPA reports whether the operator of version v can create an HPA for
// the component (the `hpa` switches arrived in 2.15). A user can still attach
// an HPA to any Deployment, so the harness also looks for HPAs whose
// scaleTargetRef names the workload.
func (c Component) SupportsHPA(v Version) bool {
	return len(c.HPAField) > 0 && v.AtLeast(V2_15)
}

// OperatorManaged reports whether the operator of version v runs the component
// at all (before AbsentWhen switches are considered).
func (c Component) OperatorManaged(v Version) bool {
	return c.ExternalFrom.IsZero() || !v.AtLeast(c.ExternalFrom)
}

// Lookup returns the component with the given name or alias. Case and
// surrounding space are ignored. An unknown name gives an error that wraps
// ErrUnknownComponent and lists the valid names.
func Lookup(name string) (Component, error) {
	for _, c := range components() {
		if c.Matches(name) {
			return c, nil
		}
	}
	return Component{}, fmt.Errorf("%w %q: valid names are %s", ErrUnknownComponent, name, validNames())
}

// All returns the 15 components, sorted by name.
func All() []Component {
	all := components()
	slices.SortFunc(all, func(a, b Component) int { return strings.Compare(a.Name, b.Name) })
	return all
}

// Names returns the canonical names of the 15 components, sorted.
func Names() []string {
	all := All()
	names := make([]string, len(all))
	for i, c := range all {
		names[i] = c.Name
	}
	return names
}

func validNames() string {
	var parts []string
	for _, c := range All() {
		s := c.Name
		if len(c.Aliases) > 0 {
			s += " (alias " + strings.Join(c.Aliases, ", ") + ")"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ", ")
}

func normalize(name string) string {
	return strings.ToLower(strings.TrimSpace(name))
}
