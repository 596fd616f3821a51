// Package catalog knows the 15 workloads of a 3scale API Management install that
// the component-failure doc describes, and how to find each one on a live cluster
// of a given 3scale version.
//
// The facts come from the 3scale operator sources summarised in
// research/3scale-operator.md:
//
//   - Kind: every component is an OpenShift DeploymentConfig (apps.openshift.io/v1)
//     up to 3scale 2.14 and an apps/v1 Deployment from 2.15 on.
//   - Name: the names are the same in both eras, except the search daemon, which is
//     system-sphinx before 2.14 and system-searchd from 2.14. Lookup accepts either
//     name and returns the component system-searchd.
//   - Pod selection: see [Component.PodSelector] for the strategy and why.
//   - Scaling owner: nine stateless components have a replicas field in the
//     APIManager custom resource; when that field is set in the live CR the operator
//     re-applies it on every reconcile, so a fault must be injected through the CR.
//     The datastores have no such field; the operator never writes their replicas
//     after creation.
//   - HPA: from 2.15 the operator creates a HorizontalPodAutoscaler for
//     apicast-production, backend-listener and backend-worker when the matching
//     `hpa: true` is set.
//   - External datastores: from 2.16 backend-redis, system-redis and the system
//     database are not run by the operator at all.
//
// The package is pure data and logic: it does not talk to a cluster.
package catalog
