package target

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"

	"github.com/threescale-chaos/harness/pkg/catalog"
)

// Resources discovery reads through the dynamic client. Each may be absent from a cluster
// (Routes and DeploymentConfigs exist only on OpenShift, APIManagers only where the
// operator's CRD is installed), which discovery treats as "none there", not as an error.
var (
	discoverRoutesGVR      = schema.GroupVersionResource{Group: "route.openshift.io", Version: "v1", Resource: "routes"}
	discoverAPIManagersGVR = schema.GroupVersionResource{Group: "apps.3scale.net", Version: "v1alpha1", Resource: "apimanagers"}
	discoverDCsGVR         = schema.GroupVersionResource{Group: "apps.openshift.io", Version: "v1", Resource: "deploymentconfigs"}
)

const (
	// apiManagerVersionAnnotation is written on the APIManager by the real operator
	// (3scale-operator apis/apps/v1alpha1/apimanager_types.go ThreescaleVersionAnnotation,
	// e.g. "2.16"): the one explicit statement of the installed version.
	apiManagerVersionAnnotation = "apps.3scale.net/apimanager-threescale-version"
	// componentVersionLabel is the metering label the operator puts on every pod
	// template, rht.comp_ver=<2.16> (research/3scale-operator.md §1.3).
	componentVersionLabel = "rht.comp_ver"
	// discoverOptInLabel is pkg/kube's LabelOptIn; repeated here so that a read-only
	// discovery does not pull in the fault-injection package.
	discoverOptInLabel = "chaos.3scale.net/opt-in"
	// The operator's defaults: spec.tenantName (apimanager_types.go, §3.4) and the
	// system-seed MASTER_DOMAIN (§3.5).
	defaultTenantName   = "3scale"
	defaultMasterDomain = "master"
)

// DiscoverOptions are what the caller knows better than the cluster. Every field is
// optional; a set field wins over what discovery would find, and the notes say so.
type DiscoverOptions struct {
	// APIManager picks one APIManager when the namespace has several.
	APIManager string
	// WildcardDomain replaces the APIManager's spec.wildcardDomain; it is required when
	// the namespace has no APIManager.
	WildcardDomain string
	// Version is the 3scale version ("2.16"); when empty it is detected.
	Version string
	// Upstream is the harness's echo API URL, which nothing in the cluster names.
	Upstream string
	// Kubeconfig is copied into the target; empty keeps the caller's default rules.
	Kubeconfig string
	// NodeAddress is the host or IP at which this machine reaches the cluster's node
	// ports. When set, an endpoint that no admitted Route and no Ingress serves is reached
	// through a NodePort Service in front of its pods. When empty it is known only on a
	// kind cluster (see nodeAddress).
	NodeAddress string
}

// Discover builds a target for the 3scale install in namespace from what the cluster
// shows (issue 5, "Target discovery for real clusters"): the APIManager, the Secrets the
// operator creates, the Routes or Ingresses in front of system and APIcast, and the
// Services behind them. It reads and never writes.
//
// The notes say, one line per field or group, where each value came from or why it was
// left for an override; they never contain a Secret's value. The target may be
// incomplete (an upstream, a Secret key that is missing): the caller completes it with
// [Merge], whose Validate names what is still missing. Discover fails only when the
// install cannot be identified at all: the namespace is missing or the cluster does not
// answer, the APIManager is ambiguous, nothing gives the wildcard domain, or system-seed
// (which every operator install has) is absent. The error then lists every such problem.
func Discover(ctx context.Context, cfg *rest.Config, namespace string, opts DiscoverOptions) (*Target, []string, error) {
	if namespace == "" {
		return nil, nil, errors.New("discover: no namespace given")
	}
	kc, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("discover: kube client for %s: %w", cfg.Host, err)
	}
	dc, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("discover: dynamic client for %s: %w", cfg.Host, err)
	}
	d := &discoverer{kube: kc, dyn: dc, ns: namespace, server: cfg.Host, opts: opts, secrets: map[string]*secretInfo{}}
	t, err := d.run(ctx)
	return t, d.notes, err
}

// discoverer holds one discovery's clients and what it has learnt so far.
type discoverer struct {
	kube   kubernetes.Interface
	dyn    dynamic.Interface
	ns     string
	server string
	opts   DiscoverOptions

	notes   []string
	fatal   []error
	secrets map[string]*secretInfo // by name; nil value: not found

	apiManager   *unstructured.Unstructured
	tenant       string
	masterDomain string
	exposures    []exposure
	inCluster    []string // endpoints left on in-cluster Service DNS

	nodePorts   []corev1.Service // NodePort Services of the namespace
	nodeAddr    string           // where node ports are reached; "" when unknown
	nodeHow     string           // how nodeAddr was found, or why there is none
	nodeAddrSet bool             // nodeAddr has been worked out (it is, once, on demand)
	// podLabelCache holds the pod template labels of the Deployments read so far.
	podLabelCache map[string]map[string]string
}

func (d *discoverer) note(format string, args ...any) {
	d.notes = append(d.notes, fmt.Sprintf(format, args...))
}

func (d *discoverer) fail(format string, args ...any) {
	d.fatal = append(d.fatal, fmt.Errorf(format, args...))
}

func (d *discoverer) run(ctx context.Context) (*Target, error) {
	if err := d.checkNamespace(ctx); err != nil {
		return nil, err
	}
	t := &Target{Namespace: d.ns, Kubeconfig: d.opts.Kubeconfig}
	if d.opts.Kubeconfig != "" {
		d.note("kubeconfig: %s, as given", d.opts.Kubeconfig)
	}
	if err := d.findAPIManager(ctx, t); err != nil {
		return nil, err
	}
	seed, err := d.secret(ctx, "system-seed", "TENANT_NAME", "MASTER_DOMAIN")
	if err != nil {
		return nil, err
	}
	if seed == nil {
		d.fail("Secret system-seed not found in namespace %q: every operator install has it (MASTER_DOMAIN, ADMIN_ACCESS_TOKEN, MASTER_ACCESS_TOKEN; research/3scale-operator.md §3.5), so this is probably not the namespace 3scale is installed in", d.ns)
	}
	d.names(t, seed)
	if len(d.fatal) > 0 {
		return nil, fmt.Errorf("discover 3scale in namespace %q on %s: %w", d.ns, d.server, errors.Join(d.fatal...))
	}

	if d.exposures, err = d.listExposures(ctx); err != nil {
		return nil, err
	}
	if d.nodePorts, err = d.listNodePorts(ctx); err != nil {
		return nil, err
	}
	if err := d.endpoints(ctx, t); err != nil {
		return nil, err
	}
	if err := d.credentials(ctx, t); err != nil {
		return nil, err
	}
	if err := d.stores(ctx, t); err != nil {
		return nil, err
	}
	if err := d.version(ctx, t); err != nil {
		return nil, err
	}
	if len(d.fatal) > 0 {
		return nil, fmt.Errorf("discover 3scale in namespace %q on %s: %w", d.ns, d.server, errors.Join(d.fatal...))
	}
	if d.opts.Upstream != "" {
		t.Upstream.URL = d.opts.Upstream
		d.note("upstream: %s, as given", d.opts.Upstream)
	} else {
		d.note("upstream: not discoverable (it is the echo API the harness's product proxies to, reachable from the gateway pods); set upstream.url in the override")
	}
	return t, nil
}

// checkNamespace tells a missing namespace from a cluster that does not answer, the two
// mistakes a user most often makes, and notes the opt-in the other commands require.
func (d *discoverer) checkNamespace(ctx context.Context) error {
	ns, err := d.kube.CoreV1().Namespaces().Get(ctx, d.ns, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return fmt.Errorf("discover: namespace %q not found on %s", d.ns, d.server)
	case apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err):
		return fmt.Errorf("discover: namespace %q on %s: the credentials cannot read it: %w", d.ns, d.server, err)
	case err != nil && !isAPIAnswer(err):
		return fmt.Errorf("discover: namespace %q: API server %s gave no answer: %w", d.ns, d.server, err)
	case err != nil:
		return fmt.Errorf("discover: namespace %q on %s: %w", d.ns, d.server, err)
	}
	if ns.Labels[discoverOptInLabel] != "true" {
		d.note("namespace %s: not opted in; plan and run refuse it until `kubectl label namespace %s %s=true`", d.ns, d.ns, discoverOptInLabel)
	}
	return nil
}

// isAPIAnswer reports whether err is a Status from the API server rather than a failure
// to reach it (refused, timed out, DNS, TLS).
func isAPIAnswer(err error) bool {
	var s apierrors.APIStatus
	return errors.As(err, &s)
}

// notServed reports whether err means the resource is not on this cluster: a CRD that is
// not installed answers a list with 404, and a REST mapper with NoKindMatch.
func notServed(err error) bool {
	return apierrors.IsNotFound(err) || meta.IsNoMatchError(err)
}

// findAPIManager picks the namespace's APIManager: spec.wildcardDomain and
// spec.tenantName come from it (research/3scale-operator.md §3.3-3.4), and it is the
// object whose replicas fields the operator enforces (target.go Operator).
func (d *discoverer) findAPIManager(ctx context.Context, t *Target) error {
	list, err := d.dyn.Resource(discoverAPIManagersGVR).Namespace(d.ns).List(ctx, metav1.ListOptions{})
	var items []unstructured.Unstructured
	switch {
	case notServed(err):
		d.note("apiManager: the APIManager API (apps.3scale.net/v1alpha1) is not installed on this cluster")
	case apierrors.IsForbidden(err):
		d.note("apiManager: the credentials cannot list APIManagers (%v); treating the namespace as having none", err)
	case err != nil:
		return fmt.Errorf("discover: list APIManagers in namespace %q: %w", d.ns, err)
	default:
		items = list.Items
	}
	names := make([]string, len(items))
	for i := range items {
		names[i] = items[i].GetName()
	}
	sort.Strings(names)
	switch {
	case d.opts.APIManager != "":
		for i := range items {
			if items[i].GetName() == d.opts.APIManager {
				d.apiManager = &items[i]
			}
		}
		if d.apiManager == nil {
			d.fail("APIManager %q (as given) not found in namespace %q; the namespace has %s", d.opts.APIManager, d.ns, listOrNone(names))
		}
	case len(items) == 1:
		d.apiManager = &items[0]
	case len(items) > 1:
		d.fail("namespace %q has %d APIManagers (%s); name the one to use (operator.apiManager in the override file)", d.ns, len(items), strings.Join(names, ", "))
	default:
		d.note("apiManager: none in namespace %s; operator left unset (nothing owns the replicas)", d.ns)
	}
	if d.apiManager != nil {
		t.Operator = &Operator{APIManager: d.apiManager.GetName()}
		d.note("operator.apiManager: %s, the APIManager in namespace %s", d.apiManager.GetName(), d.ns)
	}
	return nil
}

func listOrNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// names settles the wildcard domain, the tenant and the master domain, from which every
// host 3scale routes on is made (research/porta-zync.md §1.2).
func (d *discoverer) names(t *Target, seed *secretInfo) {
	var spec map[string]any
	if d.apiManager != nil {
		spec, _, _ = unstructured.NestedMap(d.apiManager.Object, "spec")
	}
	amWD, _ := spec["wildcardDomain"].(string)
	switch {
	case d.opts.WildcardDomain != "":
		t.WildcardDomain = d.opts.WildcardDomain
		if amWD != "" && amWD != d.opts.WildcardDomain {
			d.note("wildcardDomain: %s, as given (APIManager %s says %s)", t.WildcardDomain, d.apiManager.GetName(), amWD)
		} else {
			d.note("wildcardDomain: %s, as given", t.WildcardDomain)
		}
	case amWD != "":
		t.WildcardDomain = amWD
		d.note("wildcardDomain: %s, spec.wildcardDomain of APIManager %s", amWD, d.apiManager.GetName())
	case d.apiManager != nil:
		d.fail("APIManager %s has no spec.wildcardDomain; set wildcardDomain in the override file", d.apiManager.GetName())
	case d.opts.APIManager == "":
		d.fail("no APIManager in namespace %q to read spec.wildcardDomain from; set wildcardDomain in the override file", d.ns)
	}

	amTenant, _ := spec["tenantName"].(string)
	seedTenant := seed.value("TENANT_NAME")
	switch {
	case seedTenant != "":
		// The seed is what system was created from (porta db/seeds.rb reads TENANT_NAME
		// once), so it wins over a CR edited later.
		d.tenant = seedTenant
		if amTenant != "" && amTenant != seedTenant {
			d.note("tenant: %s, TENANT_NAME of Secret system-seed (APIManager spec.tenantName says %s; the seed is what system was created with)", seedTenant, amTenant)
		} else {
			d.note("tenant: %s, TENANT_NAME of Secret system-seed", seedTenant)
		}
	case amTenant != "":
		d.tenant = amTenant
		d.note("tenant: %s, spec.tenantName of APIManager %s", amTenant, d.apiManager.GetName())
	default:
		d.tenant = defaultTenantName
		d.note("tenant: %s, the operator's default (no TENANT_NAME in system-seed, no spec.tenantName)", defaultTenantName)
	}
	if md := seed.value("MASTER_DOMAIN"); md != "" {
		d.masterDomain = md
		d.note("master domain: %s, MASTER_DOMAIN of Secret system-seed", md)
	} else {
		d.masterDomain = defaultMasterDomain
		d.note("master domain: %s, the operator's default (no MASTER_DOMAIN in system-seed)", defaultMasterDomain)
	}
}

// exposure is one host a Route or an Ingress rule serves, and the Service behind it.
type exposure struct {
	kind, name string // "Route" or "Ingress", and the object's name
	host, path string
	tls        bool
	service    string
}

func (e exposure) url() string {
	if e.tls {
		return "https://" + e.host
	}
	return "http://" + e.host
}

func (e exposure) String() string {
	s := fmt.Sprintf("%s %s (host %s", e.kind, e.name, e.host)
	if e.path != "" && e.path != "/" {
		s += ", path " + e.path
	}
	if e.tls {
		s += ", TLS"
	}
	return s + ", Service " + e.service + ")"
}

func (e exposure) rootPath() bool { return e.path == "" || e.path == "/" }

// listExposures reads the namespace's Routes (OpenShift; zync makes them for system and
// for each product, research/3scale-operator.md §3.3) and Ingress rules (what a kind or
// vanilla cluster would use). Wildcard hosts are skipped: they name no host to dial. So
// are Routes that no router has admitted: the object exists (the operator creates Route
// `backend` on any cluster that serves the Route API, a kind cluster with the stand-in CRD
// included), but nothing answers for its host.
func (d *discoverer) listExposures(ctx context.Context) ([]exposure, error) {
	var out []exposure
	var wildcards, unadmitted []string
	routes, err := d.dyn.Resource(discoverRoutesGVR).Namespace(d.ns).List(ctx, metav1.ListOptions{})
	switch {
	case notServed(err):
		d.note("routes: the Route API (route.openshift.io/v1) is not served here (not OpenShift); looking at Ingresses only")
	case apierrors.IsForbidden(err):
		d.note("routes: the credentials cannot list Routes (%v)", err)
	case err != nil:
		return nil, fmt.Errorf("discover: list Routes in namespace %q: %w", d.ns, err)
	default:
		for _, r := range routes.Items {
			host, _, _ := unstructured.NestedString(r.Object, "spec", "host")
			path, _, _ := unstructured.NestedString(r.Object, "spec", "path")
			kind, _, _ := unstructured.NestedString(r.Object, "spec", "to", "kind")
			svc, _, _ := unstructured.NestedString(r.Object, "spec", "to", "name")
			policy, _, _ := unstructured.NestedString(r.Object, "spec", "wildcardPolicy")
			tls, found, _ := unstructured.NestedFieldNoCopy(r.Object, "spec", "tls")
			if host == "" || (kind != "" && kind != "Service") {
				continue
			}
			if policy == "Subdomain" || strings.HasPrefix(host, "*.") {
				wildcards = append(wildcards, "Route "+r.GetName())
				continue
			}
			if !routeAdmitted(&r) {
				unadmitted = append(unadmitted, fmt.Sprintf("Route %s (host %s)", r.GetName(), host))
				continue
			}
			out = append(out, exposure{kind: "Route", name: r.GetName(), host: strings.ToLower(host), path: path, tls: found && tls != nil, service: svc})
		}
	}
	ings, err := d.kube.NetworkingV1().Ingresses(d.ns).List(ctx, metav1.ListOptions{})
	switch {
	case apierrors.IsForbidden(err):
		d.note("ingresses: the credentials cannot list Ingresses (%v)", err)
	case err != nil:
		return nil, fmt.Errorf("discover: list Ingresses in namespace %q: %w", d.ns, err)
	default:
		for _, ing := range ings.Items {
			tlsHosts := map[string]bool{}
			for _, t := range ing.Spec.TLS {
				for _, h := range t.Hosts {
					tlsHosts[strings.ToLower(h)] = true
				}
			}
			for _, rule := range ing.Spec.Rules {
				if rule.Host == "" || rule.HTTP == nil {
					continue
				}
				if strings.HasPrefix(rule.Host, "*.") {
					wildcards = append(wildcards, "Ingress "+ing.Name+" host "+rule.Host)
					continue
				}
				host := strings.ToLower(rule.Host)
				for _, p := range rule.HTTP.Paths {
					if p.Backend.Service == nil {
						continue
					}
					out = append(out, exposure{kind: "Ingress", name: ing.Name, host: host, path: p.Path, tls: tlsHosts[host], service: p.Backend.Service.Name})
				}
			}
		}
	}
	if len(wildcards) > 0 {
		d.note("routes: skipped wildcard hosts (%s): they name no single host to reach", strings.Join(wildcards, "; "))
	}
	if len(unadmitted) > 0 {
		d.note("routes: skipped %s: no router admitted them (no status.ingress entry with condition Admitted=True), so nothing serves their hosts", strings.Join(unadmitted, "; "))
	}
	// Routes first (on OpenShift an Ingress is turned into Routes anyway), then rules
	// on the whole host, then by name, so the choice is the same on every run.
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.kind != b.kind {
			return a.kind == "Route"
		}
		if a.rootPath() != b.rootPath() {
			return a.rootPath()
		}
		if a.name != b.name {
			return a.name < b.name
		}
		return a.host < b.host
	})
	return out, nil
}

// routeAdmitted reports whether a router serves the Route: some status.ingress entry (one
// per router shard that considered it) carries the condition Admitted=True. This is the
// test the operator itself makes before it calls its default Routes ready
// (operator@3scale-2.16.3-GA pkg/helper/route.go IsRouteReady, which asks it of every
// entry; one admitting router is enough for the harness to be served). A Route without
// status, as on a cluster that only has the Route CRD, is not admitted.
func routeAdmitted(r *unstructured.Unstructured) bool {
	ingresses, _, _ := unstructured.NestedSlice(r.Object, "status", "ingress")
	for _, ing := range ingresses {
		m, _ := ing.(map[string]any)
		conds, _, _ := unstructured.NestedSlice(m, "conditions")
		for _, c := range conds {
			cm, _ := c.(map[string]any)
			if cm["type"] == "Admitted" && cm["status"] == "True" {
				return true
			}
		}
	}
	return false
}

// inClusterNote is said once when any endpoint is left on a Service's cluster DNS name.
const inClusterNote = "those URLs are in-cluster Service names: run the harness inside the cluster, or override their url (with a Route, an Ingress or a port-forward) and keep the host"

// endpoints finds the URL of each endpoint the harness calls. System routes on the Host
// header (research/porta-zync.md §1.2), so an endpoint reached through a Route or an
// Ingress for its own host needs no Host override; one reached through its Service does.
// APIcast routes on each product's host, which the harness sets itself per request
// (gateway.go), so a gateway is any host in front of its Service and Gateways.*.Host
// stays empty.
func (d *discoverer) endpoints(ctx context.Context, t *Target) error {
	wd := t.WildcardDomain
	system := []struct {
		field, service string
		dst            *Endpoint
		host           string
		pods           podPort
	}{
		{"admin", "system-provider", &t.Admin, d.tenant + "-admin." + wd, adminPods},
		{"master", "system-master", &t.Master, d.masterDomain + "." + wd, masterPods},
		{"developerPortal", "system-developer", &t.DeveloperPortal, d.tenant + "." + wd, developerPods},
	}
	for _, s := range system {
		if e, n := d.byHost(s.host); n > 0 {
			*s.dst = Endpoint{URL: e.url()}
			msg := fmt.Sprintf("%s: %s from %s", s.field, e.url(), e)
			if n > 1 {
				msg += fmt.Sprintf(", the first of %d for the host", n)
			}
			if e.service != s.service {
				msg += fmt.Sprintf("; note it is backed by Service %s, not %s as the operator's routes are", e.service, s.service)
			}
			d.note("%s", msg)
			continue
		}
		if u, how, err := d.nodePortURL(ctx, s.field, s.pods); err != nil {
			return err
		} else if u != "" {
			*s.dst = Endpoint{URL: u, Host: s.host}
			d.note("%s: no admitted Route or Ingress for host %s; %s with Host %s (%s)", s.field, s.host, u, s.host, how)
			continue
		}
		u, how, err := d.serviceURL(ctx, s.service, 3000, "http")
		if err != nil {
			return err
		}
		*s.dst = Endpoint{URL: u, Host: s.host}
		d.note("%s: no Route or Ingress for host %s; %s with Host %s (%s)", s.field, s.host, u, s.host, how)
		d.inCluster = append(d.inCluster, s.field)
	}

	gateways := []struct {
		field, service string
		dst            *Endpoint
		pods           podPort
	}{
		{"gateways.production", "apicast-production", &t.Gateways.Production, productionPods},
		{"gateways.staging", "apicast-staging", &t.Gateways.Staging, stagingPods},
	}
	for _, g := range gateways {
		if e, n := d.byService(g.service, wd); n > 0 {
			*g.dst = Endpoint{URL: e.url()}
			msg := fmt.Sprintf("%s: %s from %s", g.field, e.url(), e)
			if n > 1 {
				msg += fmt.Sprintf(", the first of %d in front of %s", n, g.service)
			}
			d.note("%s; the harness sends each product's own Host, so the router must serve those hosts too (on OpenShift zync makes a Route per product)", msg)
			continue
		}
		if u, how, err := d.nodePortURL(ctx, g.field, g.pods); err != nil {
			return err
		} else if u != "" {
			*g.dst = Endpoint{URL: u}
			d.note("%s: no admitted Route or Ingress in front of Service %s; %s (%s)", g.field, g.service, u, how)
			continue
		}
		u, how, err := d.serviceURL(ctx, g.service, 8080, "gateway")
		if err != nil {
			return err
		}
		*g.dst = Endpoint{URL: u}
		d.note("%s: no Route or Ingress in front of Service %s; %s (%s)", g.field, g.service, u, how)
		d.inCluster = append(d.inCluster, g.field)
	}
	if len(d.inCluster) > 0 {
		d.note("%s: %s", strings.Join(d.inCluster, ", "), inClusterNote)
	}
	for _, e := range []Endpoint{t.Admin, t.Master, t.DeveloperPortal, t.Gateways.Production, t.Gateways.Staging} {
		if strings.HasPrefix(e.URL, "https://") {
			d.note("https endpoints: if the router's certificate is not trusted on this machine, set insecureSkipVerify: true in the override")
			break
		}
	}

	// backend-listener: the operator's own Route `backend` (backend-<tenant>.<wd>,
	// research/3scale-operator.md §3.3). Without one the harness falls back to Secret
	// backend-listener's service_endpoint, an in-cluster URL (target.go Backend).
	e, n := d.byHost("backend-" + d.tenant + "." + wd)
	if n == 0 {
		e, n = d.byService("backend-listener", wd)
	}
	if n > 0 {
		t.Backend = &Backend{URL: e.url()}
		d.note("backend.url: %s from %s", e.url(), e)
		return nil
	}
	if u, how, err := d.nodePortURL(ctx, "backend.url", listenerPods); err != nil {
		return err
	} else if u != "" {
		t.Backend = &Backend{URL: u}
		d.note("backend.url: no admitted Route or Ingress for backend-listener; %s (%s)", u, how)
		return nil
	}
	bl, err := d.secret(ctx, "backend-listener")
	if err != nil {
		return err
	}
	if bl.has("service_endpoint") {
		d.note("backend: no Route or Ingress for backend-listener; the harness will use service_endpoint of Secret backend-listener, an in-cluster URL (override backend.url from outside the cluster)")
	} else {
		d.note("backend: no Route or Ingress for backend-listener and no Secret backend-listener with service_endpoint; listener checks need backend.url in the override")
	}
	return nil
}

// podPort is what a Service in front of an endpoint must reach: the pods of one of the
// operator's Deployments (selected by deployment=<name>, operator@3scale-2.16.3-GA
// pkg/reconcilers/deployment.go DeploymentLabelSelector) on one container port, by its
// name or its number.
type podPort struct {
	deployment string
	portName   string // "" when the operator leaves the port unnamed
	port       int32
}

// The endpoints' pods and ports, as the operator's own Services reach them
// (operator@3scale-2.16.3-GA pkg/3scale/amp/component/system.go ProviderService,
// MasterService, DeveloperService and appProviderPorts, appMasterPorts,
// appDeveloperPorts; apicast.go productionContainerPorts, stagingContainerPorts, where
// the proxy port 8080 has no name; backend.go ListenerService, listenerPorts).
var (
	adminPods      = podPort{deployment: "system-app", portName: "provider", port: 3000}
	masterPods     = podPort{deployment: "system-app", portName: "master", port: 3002}
	developerPods  = podPort{deployment: "system-app", portName: "developer", port: 3001}
	productionPods = podPort{deployment: "apicast-production", port: 8080}
	stagingPods    = podPort{deployment: "apicast-staging", port: 8080}
	listenerPods   = podPort{deployment: "backend-listener", port: 3000}
)

// listNodePorts lists the namespace's NodePort Services: on a cluster without a router
// or an ingress controller (kind) they are how 3scale is reached from outside
// (fixtures/kind/60-exposure.yaml).
func (d *discoverer) listNodePorts(ctx context.Context) ([]corev1.Service, error) {
	list, err := d.kube.CoreV1().Services(d.ns).List(ctx, metav1.ListOptions{})
	switch {
	case apierrors.IsForbidden(err):
		d.note("services: the credentials cannot list Services (%v); NodePort Services are not considered", err)
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("discover: list Services in namespace %q: %w", d.ns, err)
	}
	var out []corev1.Service
	for _, svc := range list.Items {
		if svc.Spec.Type == corev1.ServiceTypeNodePort {
			out = append(out, svc)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// nodePortURL returns the URL of a NodePort Service in front of pp's pods, and how it was
// found; "" when there is none or when the address of the nodes is not known (a note
// then says which Service could have been used).
func (d *discoverer) nodePortURL(ctx context.Context, field string, pp podPort) (u, how string, err error) {
	var found []string
	var first corev1.Service
	var nodePort int32
	if len(d.nodePorts) == 0 {
		return "", "", nil
	}
	podLabels, err := d.podLabels(ctx, pp.deployment)
	if err != nil {
		return "", "", err
	}
	for _, svc := range d.nodePorts {
		if np := servesPods(svc, pp, podLabels); np != 0 {
			if len(found) == 0 {
				first, nodePort = svc, np
			}
			found = append(found, svc.Name)
		}
	}
	if len(found) == 0 {
		return "", "", nil
	}
	addr, addrHow, err := d.nodeAddress(ctx)
	if err != nil {
		return "", "", err
	}
	if addr == "" {
		d.note("%s: NodePort Service %s reaches it, but the address of the nodes is not known (%s); pass --node-address to use it", field, first.Name, addrHow)
		return "", "", nil
	}
	how = fmt.Sprintf("NodePort Service %s, node port %d on %s", first.Name, nodePort, addrHow)
	if len(found) > 1 {
		how += fmt.Sprintf("; the first of %s", strings.Join(found, ", "))
	}
	return "http://" + net.JoinHostPort(addr, strconv.Itoa(int(nodePort))), how, nil
}

// podLabels are the labels of the Deployment's pods: its pod template's, or, when the
// Deployment cannot be read, the one label the operator selects them by.
func (d *discoverer) podLabels(ctx context.Context, deployment string) (map[string]string, error) {
	if l, ok := d.podLabelCache[deployment]; ok {
		return l, nil
	}
	l := map[string]string{"deployment": deployment}
	dep, err := d.kube.AppsV1().Deployments(d.ns).Get(ctx, deployment, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err) || apierrors.IsForbidden(err):
	case err != nil:
		return nil, fmt.Errorf("discover: get Deployment %s in namespace %q: %w", deployment, d.ns, err)
	case len(dep.Spec.Template.Labels) > 0:
		l = dep.Spec.Template.Labels
	}
	if d.podLabelCache == nil {
		d.podLabelCache = map[string]map[string]string{}
	}
	d.podLabelCache[deployment] = l
	return l, nil
}

// servesPods returns the node port at which svc reaches pp's pods, 0 when it does not: its
// selector must name the Deployment (deployment=<name>) and ask nothing its pods do not
// carry, and one of its ports must target pp's container port by name or number.
func servesPods(svc corev1.Service, pp podPort, podLabels map[string]string) int32 {
	sel := svc.Spec.Selector
	if sel["deployment"] != pp.deployment {
		return 0
	}
	for k, v := range sel {
		if podLabels[k] != v {
			return 0
		}
	}
	for _, p := range svc.Spec.Ports {
		if p.NodePort == 0 || (p.Protocol != "" && p.Protocol != corev1.ProtocolTCP) {
			continue
		}
		tp := p.TargetPort
		switch {
		case tp.Type == intstr.String && tp.StrVal != "":
			if pp.portName != "" && tp.StrVal == pp.portName {
				return p.NodePort
			}
		case tp.IntVal != 0:
			if tp.IntVal == pp.port {
				return p.NodePort
			}
		case p.Port == pp.port: // no targetPort: the Service's port is the pods'
			return p.NodePort
		}
	}
	return 0
}

// kindProviderIDPrefix starts the providerID of every kind node: kind's kubelet runs with
// provider-id kind://<provider>/<cluster>/<node> (kind@v0.33.0
// pkg/cluster/internal/kubeadm/config.go).
const kindProviderIDPrefix = "kind://"

// nodeAddress works out, once, where this machine reaches node ports: the address given;
// else 127.0.0.1 on a kind cluster, whose node ports reach the host only through the
// cluster config's extraPortMappings, which the project's kind-config.yaml sets to
// 127.0.0.1 at the node port itself; else nothing (a node's InternalIP is rarely
// reachable from where discover runs, and an ExternalIP says nothing of firewalls). how
// says which, or why none.
func (d *discoverer) nodeAddress(ctx context.Context) (addr, how string, err error) {
	if d.nodeAddrSet {
		return d.nodeAddr, d.nodeHow, nil
	}
	d.nodeAddrSet = true
	if d.opts.NodeAddress != "" {
		d.nodeAddr = d.opts.NodeAddress
		d.nodeHow = d.nodeAddr + " (--node-address)"
		return d.nodeAddr, d.nodeHow, nil
	}
	nodes, err := d.kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	switch {
	case apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err):
		d.nodeHow = "the credentials cannot list Nodes, so a kind cluster cannot be recognised"
		return "", d.nodeHow, nil
	case err != nil:
		return "", "", fmt.Errorf("discover: list Nodes: %w", err)
	}
	for _, n := range nodes.Items {
		if strings.HasPrefix(n.Spec.ProviderID, kindProviderIDPrefix) {
			d.nodeAddr = "127.0.0.1"
			d.nodeHow = "127.0.0.1 (kind)"
			d.note("nodes: kind cluster (Node %s, providerID %s): node ports are taken to be published on 127.0.0.1 at the same port, as kind-config.yaml's extraPortMappings do; a kind config that maps them elsewhere needs --node-address or the URLs overridden", n.Name, n.Spec.ProviderID)
			return d.nodeAddr, d.nodeHow, nil
		}
	}
	d.nodeHow = "not a kind cluster and no --node-address given"
	return "", d.nodeHow, nil
}

// byHost returns the preferred exposure serving host, and how many do.
func (d *discoverer) byHost(host string) (exposure, int) {
	var found []exposure
	for _, e := range d.exposures {
		if e.host == strings.ToLower(host) {
			found = append(found, e)
		}
	}
	if len(found) == 0 {
		return exposure{}, 0
	}
	return found[0], len(found)
}

// byService returns the preferred exposure backed by service, and how many are. Hosts in
// the wildcard domain come first: others are usually hand-made test routes.
func (d *discoverer) byService(service, wd string) (exposure, int) {
	var found []exposure
	for _, e := range d.exposures {
		if e.service == service {
			found = append(found, e)
		}
	}
	if len(found) == 0 {
		return exposure{}, 0
	}
	sort.SliceStable(found, func(i, j int) bool {
		return strings.HasSuffix(found[i].host, "."+wd) && !strings.HasSuffix(found[j].host, "."+wd)
	})
	return found[0], len(found)
}

// serviceURL is the in-cluster URL of a Service, on the port named want (the operator
// names them http for system and gateway for APIcast, research/3scale-operator.md §1.2),
// or on the operator's port when the Service is not there. how says which.
func (d *discoverer) serviceURL(ctx context.Context, name string, defaultPort int32, want string) (u, how string, err error) {
	svc, err := d.kube.CoreV1().Services(d.ns).Get(ctx, name, metav1.GetOptions{})
	port := defaultPort
	switch {
	case apierrors.IsNotFound(err):
		how = fmt.Sprintf("Service %s not found; port %d is the operator's", name, defaultPort)
	case apierrors.IsForbidden(err):
		how = fmt.Sprintf("the credentials cannot read Service %s; port %d is the operator's", name, defaultPort)
	case err != nil:
		return "", "", fmt.Errorf("discover: get Service %s in namespace %q: %w", name, d.ns, err)
	default:
		port, how = pickPort(svc, defaultPort, want)
	}
	return fmt.Sprintf("http://%s.%s.svc:%d", name, d.ns, port), how, nil
}

func pickPort(svc *corev1.Service, defaultPort int32, want string) (int32, string) {
	ps := svc.Spec.Ports
	for _, p := range ps {
		if p.Name == want {
			return p.Port, fmt.Sprintf("port %q of Service %s", want, svc.Name)
		}
	}
	switch {
	case len(ps) == 1:
		return ps[0].Port, fmt.Sprintf("the only port of Service %s", svc.Name)
	case len(ps) == 0:
		return defaultPort, fmt.Sprintf("Service %s has no ports; port %d is the operator's", svc.Name, defaultPort)
	}
	for _, p := range ps {
		if p.Port == defaultPort {
			return p.Port, fmt.Sprintf("port %d of Service %s (no port named %q)", p.Port, svc.Name, want)
		}
	}
	return ps[0].Port, fmt.Sprintf("the first port of Service %s (none named %q or numbered %d)", svc.Name, want, defaultPort)
}

// secretInfo is what discovery keeps of a Secret: which keys it has, and the values of
// the few keys that are names, not credentials (TENANT_NAME, MASTER_DOMAIN). Token and
// URL values are dropped as soon as the Secret is read.
type secretInfo struct {
	name   string
	keys   map[string]bool
	values map[string]string
}

func (s *secretInfo) has(key string) bool { return s != nil && s.keys[key] }

func (s *secretInfo) value(key string) string {
	if s == nil {
		return ""
	}
	return s.values[key]
}

// secret reads Secret name once, keeping its key names and the values of plain only. A
// missing Secret is nil, not an error; so is one the credentials may not read, with a
// note, since the harness itself will then fail to read it with a clearer message.
func (d *discoverer) secret(ctx context.Context, name string, plain ...string) (*secretInfo, error) {
	if s, ok := d.secrets[name]; ok {
		return s, nil
	}
	sec, err := d.kube.CoreV1().Secrets(d.ns).Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		d.secrets[name] = nil
		return nil, nil
	case apierrors.IsForbidden(err):
		d.note("Secret %s: the credentials cannot read it (%v); the harness needs get on Secrets in %s", name, err, d.ns)
		d.secrets[name] = nil
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("discover: get Secret %s in namespace %q: %w", name, d.ns, err)
	}
	info := &secretInfo{name: name, keys: map[string]bool{}, values: map[string]string{}}
	for k := range sec.Data {
		info.keys[k] = true
	}
	for k := range sec.StringData {
		info.keys[k] = true
	}
	for _, k := range plain {
		if v, ok := sec.Data[k]; ok {
			info.values[k] = strings.TrimSpace(string(v))
		}
	}
	d.secrets[name] = info
	return info, nil
}

// ref returns the reference to key of Secret name when the key exists, and notes where
// it came from or what the override must give.
func (d *discoverer) ref(ctx context.Context, field, name, key string) (SecretKeyRef, error) {
	s, err := d.secret(ctx, name)
	if err != nil {
		return SecretKeyRef{}, err
	}
	switch {
	case s == nil:
		d.note("%s: Secret %s not found; set %s in the override", field, name, field)
		return SecretKeyRef{}, nil
	case !s.has(key):
		d.note("%s: Secret %s has no key %s; set %s in the override", field, name, key, field)
		return SecretKeyRef{}, nil
	}
	d.note("%s: key %s of Secret %s (present; value not read)", field, key, name)
	return SecretKeyRef{Secret: name, Key: key}, nil
}

// credentials point at the seed's tokens (research/3scale-operator.md §3.5,
// porta-zync.md §1.4: ADMIN_ACCESS_TOKEN is rw with all scopes, MASTER_ACCESS_TOKEN rw
// account_management), and check the optional references' defaults exist.
func (d *discoverer) credentials(ctx context.Context, t *Target) error {
	var err error
	if t.Credentials.AdminAccessToken, err = d.ref(ctx, "credentials.adminAccessToken", "system-seed", "ADMIN_ACCESS_TOKEN"); err != nil {
		return err
	}
	if t.Credentials.MasterAccessToken, err = d.ref(ctx, "credentials.masterAccessToken", "system-seed", "MASTER_ACCESS_TOKEN"); err != nil {
		return err
	}
	// Left nil when the default is there: the file then says only what differs from
	// the operator's layout.
	s, err := d.secret(ctx, DefaultAPIcastToken.Secret)
	if err != nil {
		return err
	}
	if s.has(DefaultAPIcastToken.Key) {
		d.note("credentials.apicastAccessToken: default, key %s of Secret %s (present)", DefaultAPIcastToken.Key, DefaultAPIcastToken.Secret)
	} else {
		d.note("credentials.apicastAccessToken: the default, key %s of Secret %s, is missing; set credentials.apicastAccessToken in the override or connecting will fail", DefaultAPIcastToken.Key, DefaultAPIcastToken.Secret)
	}
	s, err = d.secret(ctx, DefaultInternalUser.Secret)
	if err != nil {
		return err
	}
	if !s.has(DefaultInternalUser.Key) || !s.has(DefaultInternalPassword.Key) {
		d.note("backend: Secret %s with keys %s and %s not found; backend-listener's internal API checks need backend.internalUser and backend.internalPassword in the override", DefaultInternalUser.Secret, DefaultInternalUser.Key, DefaultInternalPassword.Key)
	}
	return nil
}

// stores point at the URLs of the datastores. In 2.16 backend-redis, system-redis and
// the system database are the user's (research/3scale-operator.md §1.2), so these
// Secrets are user-made and may be missing; a missing one is left for the override and
// makes Validate fail. No address is set: on a real cluster the harness port-forwards to
// the pod behind the Service the URL names (portforward.go).
func (d *discoverer) stores(ctx context.Context, t *Target) error {
	for _, s := range []struct {
		field, secret, key string
		dst                *Store
	}{
		{"stores.backendRedisStorage.url", "backend-redis", "REDIS_STORAGE_URL", &t.Stores.BackendRedisStorage},
		{"stores.backendRedisQueues.url", "backend-redis", "REDIS_QUEUES_URL", &t.Stores.BackendRedisQueues},
		{"stores.systemRedis.url", "system-redis", "URL", &t.Stores.SystemRedis},
		{"stores.zyncDatabase.url", "zync", "DATABASE_URL", &t.Stores.ZyncDatabase},
	} {
		r, err := d.ref(ctx, s.field, s.secret, s.key)
		if err != nil {
			return err
		}
		s.dst.URL = r
		if err := d.redisExtras(ctx, strings.TrimSuffix(s.field, ".url"), s.secret, s.dst); err != nil {
			return err
		}
	}
	if d.apiManager != nil {
		if on, found, _ := unstructured.NestedBool(d.apiManager.Object, "spec", "zync", "enabled"); found && !on && t.Stores.ZyncDatabase.URL.Secret == "" {
			d.note("stores.zyncDatabase: zync is disabled in APIManager %s (spec.zync.enabled: false), so there may be no zync database to name", d.apiManager.GetName())
		}
	}
	d.note("stores: no address; the harness port-forwards to the pod behind the Service each URL names. A store outside the cluster (2.16 makes the Redis and system databases external) needs stores.*.address in the override")
	return nil
}

// redisTLSSwitches are the APIManager fields with which the operator turns TLS on for
// each Redis store (operator@3scale-2.16.3-GA apis/apps/v1alpha1/apimanager_types.go
// IsBackendRedisTLSEnabled, IsQueuesRedisTLSEnabled, IsSystemRedisTLSEnabled).
var redisTLSSwitches = map[string][]string{
	"stores.backendRedisStorage": {"spec", "backend", "backendRedisTLSEnabled"},
	"stores.backendRedisQueues":  {"spec", "backend", "queuesRedisTLSEnabled"},
	"stores.systemRedis":         {"spec", "system", "systemRedisTLSEnabled"},
}

// redisExtras says which of the keys threescale.Connect reads beside a Redis store's URL
// the Secret has (ACL credentials, sentinels, TLS material: RedisKeysFor), and sets tls
// when the APIManager turns TLS on for the store. Values are never read here.
func (d *discoverer) redisExtras(ctx context.Context, field, secret string, dst *Store) error {
	keys, ok := RedisKeysFor(field)
	if !ok {
		return nil
	}
	s, err := d.secret(ctx, secret)
	if err != nil || s == nil {
		return err
	}
	var present []string
	for _, k := range []string{keys.Username, keys.Password, keys.SentinelHosts, keys.SentinelUsername, keys.SentinelPassword, keys.TLSCA, keys.TLSCert, keys.TLSKey} {
		if s.has(k) {
			present = append(present, k)
		}
	}
	if len(present) > 0 {
		d.note("%s: Secret %s also has %s, which the harness uses with the URL (values not read; empty ones are ignored)", field, secret, strings.Join(present, ", "))
	}
	if d.apiManager != nil {
		if on, found, _ := unstructured.NestedBool(d.apiManager.Object, redisTLSSwitches[field]...); found && on {
			dst.TLS = true
			d.note("%s.tls: true, %s of APIManager %s", field, strings.Join(redisTLSSwitches[field][1:], "."), d.apiManager.GetName())
		}
	}
	return nil
}

// version settles the 3scale version the catalog picks workload names by: as given; else
// the APIManager's version annotation; else the rht.comp_ver label of system-app's pods;
// else the workload era, which only bounds it (Deployments from 2.15, DeploymentConfigs
// before; system-sphinx was renamed system-searchd in 2.14; research/3scale-operator.md
// §1.1, the same inference as pkg/kube Resolve).
func (d *discoverer) version(ctx context.Context, t *Target) error {
	if d.opts.Version != "" {
		if _, err := catalog.ParseVersion(d.opts.Version); err != nil {
			d.fail("version as given: %v", err)
			return nil
		}
		t.Version = d.opts.Version
		d.note("version: %s, as given", t.Version)
		return nil
	}
	if d.apiManager != nil {
		if v := strings.TrimSpace(d.apiManager.GetAnnotations()[apiManagerVersionAnnotation]); v != "" {
			if _, err := catalog.ParseVersion(v); err == nil {
				t.Version = v
				d.note("version: %s, annotation %s of APIManager %s", v, apiManagerVersionAnnotation, d.apiManager.GetName())
				return nil
			}
			d.note("version: annotation %s of APIManager %s is %q, not a version; ignored", apiManagerVersionAnnotation, d.apiManager.GetName(), v)
		}
	}

	dep, err := d.kube.AppsV1().Deployments(d.ns).Get(ctx, "system-app", metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		dep = nil
	case err != nil:
		return fmt.Errorf("discover: get Deployment system-app in namespace %q: %w", d.ns, err)
	}
	var dcs map[string]*unstructured.Unstructured
	if dep == nil {
		if dcs, err = d.deploymentConfigs(ctx, "system-app", "system-searchd", "system-sphinx"); err != nil {
			return err
		}
	}
	var podLabels map[string]string
	var what string
	switch {
	case dep != nil:
		podLabels, what = dep.Spec.Template.Labels, "Deployment system-app"
	case dcs["system-app"] != nil:
		podLabels, _, _ = unstructured.NestedStringMap(dcs["system-app"].Object, "spec", "template", "metadata", "labels")
		what = "DeploymentConfig system-app"
	}
	if v := strings.TrimSpace(podLabels[componentVersionLabel]); v != "" {
		if _, err := catalog.ParseVersion(v); err == nil {
			t.Version = v
			d.note("version: %s, label %s of %s's pod template", v, componentVersionLabel, what)
			return nil
		}
		d.note("version: label %s of %s's pod template is %q, not a version; ignored", componentVersionLabel, what, v)
	}
	switch {
	case dep != nil:
		t.Version = majorMinor(catalog.V2_15)
		d.note("version: %s, the earliest with Deployment system-app (no version annotation or label); if this is 2.16 or later set version, since 2.16 makes the Redis and system databases external", t.Version)
	case dcs["system-app"] != nil && dcs["system-sphinx"] != nil && dcs["system-searchd"] == nil:
		t.Version = majorMinor(catalog.Version{Major: 2, Minor: 13})
		d.note("version: %s, DeploymentConfigs with system-sphinx (renamed system-searchd in 2.14); set version if this is older", t.Version)
	case dcs["system-app"] != nil:
		t.Version = majorMinor(catalog.V2_14)
		d.note("version: %s, DeploymentConfig system-app (before 2.15 every workload was a DeploymentConfig)", t.Version)
	default:
		d.note("version: no Deployment or DeploymentConfig system-app in namespace %s and no version annotation; set version in the override", d.ns)
	}
	return nil
}

// majorMinor spells an era's version as target files do ("2.15").
func majorMinor(v catalog.Version) string { return fmt.Sprintf("%d.%d", v.Major, v.Minor) }

// deploymentConfigs gets the named DeploymentConfigs that exist; none on a cluster
// without the OpenShift apps API.
func (d *discoverer) deploymentConfigs(ctx context.Context, names ...string) (map[string]*unstructured.Unstructured, error) {
	out := map[string]*unstructured.Unstructured{}
	for _, n := range names {
		obj, err := d.dyn.Resource(discoverDCsGVR).Namespace(d.ns).Get(ctx, n, metav1.GetOptions{})
		switch {
		case notServed(err):
			continue
		case apierrors.IsForbidden(err):
			d.note("version: the credentials cannot read DeploymentConfig %s (%v)", n, err)
			continue
		case err != nil:
			return nil, fmt.Errorf("discover: get DeploymentConfig %s in namespace %q: %w", n, d.ns, err)
		}
		out[n] = obj
	}
	return out, nil
}

// Override is a partial target file: the same schema as a target file, with only the
// fields the user wants to set. Every field it sets replaces the discovered one (JSON
// merge patch, RFC 7386, on the marshalled forms: a mapping merges key by key, anything
// else replaces, null removes).
type Override struct {
	// Path is the file it was read from, for errors.
	Path string
	// Target is the file decoded as a target: what it sets, zero elsewhere. A caller
	// reads it to feed discovery what the file says (its wildcardDomain, say).
	Target Target
	patch  map[string]any
}

// LoadOverride reads a partial target file. Unknown fields are rejected, as in
// Load, so a typo cannot silently leave a discovered value in place.
func LoadOverride(path string) (*Override, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("override file: %w", err)
	}
	o := &Override{Path: path, patch: map[string]any{}}
	if err := yaml.UnmarshalStrict(b, &o.Target); err != nil {
		return nil, fmt.Errorf("override file %s: %w", path, err)
	}
	j, err := yaml.YAMLToJSON(b)
	if err != nil {
		return nil, fmt.Errorf("override file %s: %w", path, err)
	}
	if j = bytes.TrimSpace(j); len(j) > 0 && string(j) != "null" {
		if err := json.Unmarshal(j, &o.patch); err != nil {
			return nil, fmt.Errorf("override file %s: not a mapping of target fields: %w", path, err)
		}
	}
	return o, nil
}

// Fields are the paths of the leaves the override sets ("admin.url"), sorted.
func (o *Override) Fields() []string {
	var out []string
	var walk func(prefix string, m map[string]any)
	walk = func(prefix string, m map[string]any) {
		for k, v := range m {
			if sub, ok := v.(map[string]any); ok && len(sub) > 0 {
				walk(prefix+k+".", sub)
				continue
			}
			out = append(out, prefix+k)
		}
	}
	walk("", o.patch)
	sort.Strings(out)
	return out
}

// Apply returns base with the override merged in, validated. On a validation error the
// merged target is returned too, so a caller can show what it has.
func (o *Override) Apply(base *Target) (*Target, error) {
	b, err := json.Marshal(base)
	if err != nil {
		return nil, fmt.Errorf("override %s: %w", o.Path, err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("override %s: %w", o.Path, err)
	}
	merged, err := json.Marshal(mergePatch(doc, o.patch))
	if err != nil {
		return nil, fmt.Errorf("override %s: %w", o.Path, err)
	}
	var out Target
	dec := json.NewDecoder(bytes.NewReader(merged))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&out); err != nil {
		return nil, fmt.Errorf("override file %s: %w", o.Path, err)
	}
	if err := out.Validate(); err != nil {
		return &out, fmt.Errorf("target with override %s is not complete: %w", o.Path, err)
	}
	return &out, nil
}

// mergePatch applies patch to doc as RFC 7386 says.
func mergePatch(doc, patch map[string]any) map[string]any {
	if doc == nil {
		doc = map[string]any{}
	}
	for k, pv := range patch {
		if pv == nil {
			delete(doc, k)
			continue
		}
		pm, ok := pv.(map[string]any)
		if !ok {
			doc[k] = pv
			continue
		}
		dm, _ := doc[k].(map[string]any)
		doc[k] = mergePatch(dm, pm)
	}
	return doc
}

// Merge applies the override file at overridePath to base (a discovered target)
// and validates the result: the error then lists every field still missing, each with
// its path. An empty overridePath only validates. base is not modified.
func Merge(base *Target, overridePath string) (*Target, error) {
	if overridePath == "" {
		out := *base
		if err := out.Validate(); err != nil {
			return &out, fmt.Errorf("target is not complete: %w", err)
		}
		return &out, nil
	}
	o, err := LoadOverride(overridePath)
	if err != nil {
		return nil, err
	}
	return o.Apply(base)
}
