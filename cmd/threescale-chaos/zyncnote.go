package main

import (
	"slices"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/discovery"

	"github.com/threescale-chaos/harness/pkg/catalog"
	"github.com/threescale-chaos/harness/pkg/scenario"
)

// zyncComponents are the components whose outage stops what zync does for system: the routes
// it creates for the portals and gateways, and the identity providers it syncs.
var zyncComponents = []string{"zync", "zync-que", "zync-database"}

// routeGroupVersion is the API zync creates its Routes in
// (zync@3scale-2.16.4-GA:app/services/integration/kubernetes_service.rb:126-129; it does so
// unless DISABLE_K8S_ROUTES_CREATION is set, config/integrations.yml:2, and the operator
// grants it routes in that group, 3scale-operator@3scale-2.16.3-GA:
// pkg/3scale/amp/component/zync.go:164-189).
const routeGroupVersion = "route.openshift.io/v1"

// routesServed says whether the cluster serves Routes (OpenShift does; kind and other plain
// Kubernetes clusters do not), or nil when discovery cannot tell.
func routesServed(d discovery.DiscoveryInterface) *bool {
	_, err := d.ServerResourcesForGroupVersion(routeGroupVersion)
	served := err == nil
	if err != nil && !apierrors.IsNotFound(err) {
		return nil
	}
	return &served
}

// zyncScenario says whether the scenario takes a zync component down.
func zyncScenario(sc scenario.Scenario) bool {
	return slices.ContainsFunc(sc.Components, func(c catalog.Component) bool { return slices.Contains(zyncComponents, c.Name) })
}

// zyncNotes are the plan's lines, for a scenario that takes a zync component down, on the
// two things the doc says zync does and no capability samples: its Routes (which cannot exist
// where the cluster serves no Routes) and its identity-provider syncs. routes is nil when
// discovery could not tell.
func zyncNotes(routes *bool) []string {
	var route string
	switch {
	case routes == nil:
		route = "zync's Routes: not sampled; discovery could not tell whether this cluster serves " + routeGroupVersion
	case *routes:
		route = "zync's Routes: not sampled; this cluster serves " + routeGroupVersion + ", but no capability reads the Routes zync makes for the portals and gateways (zync-sync judges zync's database instead)"
	default:
		route = "zync's Routes: cannot exist here; this cluster serves no " + routeGroupVersion + " (kind, plain Kubernetes), so zync has no Routes to create and none to lose"
	}
	return []string{route, "zync's identity-provider sync: not sampled; the harness's product authenticates with API keys, so zync has no OpenID Connect client to sync to a Keycloak"}
}
