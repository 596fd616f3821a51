package target

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/threescale-chaos/harness/internal/testsupport"
)

// A token value the fixtures store; it must never appear in notes or errors.
const discFakeToken = "not-a-real-token-7f3a9c"

// discNS is a namespace a test made on the twin's cluster, with helpers to fill it. It
// is deleted when the test ends.
type discNS struct {
	t    *testing.T
	ctx  context.Context
	kube kubernetes.Interface
	dyn  dynamic.Interface
	name string
}

func newDiscNS(t *testing.T, ctx context.Context) *discNS {
	t.Helper()
	kc, err := kubernetes.NewForConfig(restConfig)
	if err != nil {
		t.Fatal(err)
	}
	dc, err := dynamic.NewForConfig(restConfig)
	if err != nil {
		t.Fatal(err)
	}
	ns, err := kc.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "discover-"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		dctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := kc.CoreV1().Namespaces().Delete(dctx, ns.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("delete namespace %s: %v", ns.Name, err)
		}
	})
	return &discNS{t: t, ctx: ctx, kube: kc, dyn: dc, name: ns.Name}
}

func (n *discNS) secret(name string, data map[string]string) {
	n.t.Helper()
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name}, StringData: data}
	if _, err := n.kube.CoreV1().Secrets(n.name).Create(n.ctx, s, metav1.CreateOptions{}); err != nil {
		n.t.Fatal(err)
	}
}

// seed creates system-seed as the operator does (research/3scale-operator.md §3.5),
// with extra keys (TENANT_NAME, MASTER_DOMAIN) as given.
func (n *discNS) seed(extra map[string]string) {
	data := map[string]string{"ADMIN_ACCESS_TOKEN": discFakeToken, "MASTER_ACCESS_TOKEN": discFakeToken, "ADMIN_USER": "admin", "MASTER_USER": "master"}
	for k, v := range extra {
		data[k] = v
	}
	n.secret("system-seed", data)
}

// stores creates the datastore Secrets; skip names those not to create.
func (n *discNS) stores(skip ...string) {
	all := map[string]map[string]string{
		"backend-redis": {"REDIS_STORAGE_URL": "redis://backend-redis:6379/0", "REDIS_QUEUES_URL": "redis://backend-redis:6379/1"},
		"system-redis":  {"URL": "redis://system-redis:6379/1"},
		"zync":          {"DATABASE_URL": "postgresql://zync:" + discFakeToken + "@zync-database:5432/zync_production"},
		// The optional references' defaults, so that their notes stay quiet.
		"system-master-apicast": {"ACCESS_TOKEN": discFakeToken},
		"backend-internal-api":  {"username": "u", "password": discFakeToken},
	}
	for name, data := range all {
		if !contains(skip, name) {
			n.secret(name, data)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func (n *discNS) apiManager(name string, spec map[string]any, annotations map[string]string) {
	n.t.Helper()
	obj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apps.3scale.net/v1alpha1",
		"kind":       "APIManager",
		"metadata":   map[string]any{"name": name},
		"spec":       spec,
	}}
	obj.SetAnnotations(annotations)
	if _, err := n.dyn.Resource(discoverAPIManagersGVR).Namespace(n.name).Create(n.ctx, obj, metav1.CreateOptions{}); err != nil {
		n.t.Fatal(err)
	}
}

// route creates a Route as zync or the operator would (research/3scale-operator.md §3.3),
// admitted by a router as OpenShift's would be.
func (n *discNS) route(name, host, service string, tls bool) {
	n.t.Helper()
	n.routeWithStatus(name, host, service, tls, true)
}

// routeWithStatus creates a Route and, when admitted, writes the status an OpenShift
// router writes once it serves the host (status.ingress[].conditions Admitted=True, the
// shape operator@3scale-2.16.3-GA pkg/helper/route.go IsRouteReady reads). Without it the
// Route is what the operator leaves on a cluster with no router: spec only.
func (n *discNS) routeWithStatus(name, host, service string, tls, admitted bool) {
	n.t.Helper()
	spec := map[string]any{"host": host, "to": map[string]any{"kind": "Service", "name": service}}
	if tls {
		spec["tls"] = map[string]any{"termination": "edge", "insecureEdgeTerminationPolicy": "Redirect"}
	}
	obj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "route.openshift.io/v1",
		"kind":       "Route",
		"metadata":   map[string]any{"name": name},
		"spec":       spec,
	}}
	created, err := n.dyn.Resource(discoverRoutesGVR).Namespace(n.name).Create(n.ctx, obj, metav1.CreateOptions{})
	if err != nil {
		n.t.Fatal(err)
	}
	if !admitted {
		return
	}
	created.Object["status"] = map[string]any{"ingress": []any{map[string]any{
		"host": host, "routerName": "default", "wildcardPolicy": "None",
		"conditions": []any{map[string]any{"type": "Admitted", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"}},
	}}}
	if _, err := n.dyn.Resource(discoverRoutesGVR).Namespace(n.name).UpdateStatus(n.ctx, created, metav1.UpdateOptions{}); err != nil {
		n.t.Fatal(err)
	}
}

func (n *discNS) service(name string, ports ...corev1.ServicePort) {
	n.t.Helper()
	s := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.ServiceSpec{Ports: ports, Selector: map[string]string{"deployment": name}}}
	if _, err := n.kube.CoreV1().Services(n.name).Create(n.ctx, s, metav1.CreateOptions{}); err != nil {
		n.t.Fatal(err)
	}
}

func port(name string, p int32) corev1.ServicePort {
	return corev1.ServicePort{Name: name, Port: p, Protocol: corev1.ProtocolTCP}
}

// systemApp creates Deployment system-app at zero replicas (so the twin's node runs
// nothing), with the pod template labels given.
func (n *discNS) systemApp(labels map[string]string) {
	n.t.Helper()
	zero := int32(0)
	l := map[string]string{"deployment": "system-app"}
	for k, v := range labels {
		l[k] = v
	}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "system-app"},
		Spec: appsv1.DeploymentSpec{
			Replicas: &zero,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"deployment": "system-app"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: l},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "system-master", Image: "discover-test/none"}}},
			},
		},
	}
	if _, err := n.kube.AppsV1().Deployments(n.name).Create(n.ctx, d, metav1.CreateOptions{}); err != nil {
		n.t.Fatal(err)
	}
}

// discover runs Discover on the namespace and fails the test on an error or on a note
// that carries a token.
func (n *discNS) discover(opts DiscoverOptions) (*Target, []string) {
	n.t.Helper()
	tg, notes, err := Discover(n.ctx, restConfig, n.name, opts)
	if err != nil {
		n.t.Fatalf("discover: %v\nnotes:\n%s", err, strings.Join(notes, "\n"))
	}
	checkNoToken(n.t, strings.Join(notes, "\n"), discFakeToken)
	return tg, notes
}

func checkNoToken(t *testing.T, s, token string) {
	t.Helper()
	if token != "" && strings.Contains(s, token) {
		t.Fatalf("a Secret's value leaked:\n%s", s)
	}
}

func hasNote(notes []string, parts ...string) bool {
	for _, n := range notes {
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(n, p)
		}
		if ok {
			return true
		}
	}
	return false
}

func wantNote(t *testing.T, notes []string, parts ...string) {
	t.Helper()
	if !hasNote(notes, parts...) {
		t.Errorf("no note mentions %q; notes:\n%s", parts, strings.Join(notes, "\n"))
	}
}

func wantEndpoint(t *testing.T, field string, got, want Endpoint) {
	t.Helper()
	if got != want {
		t.Errorf("%s: got %+v, want %+v", field, got, want)
	}
}

// routedHost is the host 3scale routes an endpoint on: the Host override, else the URL's.
func routedHost(e Endpoint) string {
	if e.Host != "" {
		return e.Host
	}
	u, err := url.Parse(e.URL)
	if err != nil {
		return ""
	}
	return u.Hostname()
}

// (a) On the twin, discovery agrees with the target file the twin writes about everything
// both can know: the URLs differ by design (the twin's are 127.0.0.1 ports behind
// hostNetwork pods, which no Service or Route names).
func TestDiscoverTwin(t *testing.T) {
	needTwin(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	want, err := Load(targetPath)
	if err != nil {
		t.Fatal(err)
	}
	kc, err := kubernetes.NewForConfig(restConfig)
	if err != nil {
		t.Fatal(err)
	}
	seed, err := kc.CoreV1().Secrets(want.Namespace).Get(ctx, "system-seed", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, notes, err := Discover(ctx, restConfig, want.Namespace, DiscoverOptions{Upstream: want.Upstream.URL})
	if err != nil {
		t.Fatalf("discover: %v\nnotes:\n%s", err, strings.Join(notes, "\n"))
	}
	t.Logf("notes:\n%s", strings.Join(notes, "\n"))
	all := strings.Join(notes, "\n")
	checkNoToken(t, all, string(seed.Data["ADMIN_ACCESS_TOKEN"]))
	checkNoToken(t, all, string(seed.Data["MASTER_ACCESS_TOKEN"]))

	if got.Namespace != want.Namespace || got.WildcardDomain != want.WildcardDomain {
		t.Errorf("namespace/wildcardDomain: got %s/%s, want %s/%s", got.Namespace, got.WildcardDomain, want.Namespace, want.WildcardDomain)
	}
	if got.Credentials != want.Credentials {
		t.Errorf("credentials: got %+v, want %+v", got.Credentials, want.Credentials)
	}
	for _, s := range []struct {
		field     string
		got, want Store
	}{
		{"backendRedisStorage", got.Stores.BackendRedisStorage, want.Stores.BackendRedisStorage},
		{"backendRedisQueues", got.Stores.BackendRedisQueues, want.Stores.BackendRedisQueues},
		{"systemRedis", got.Stores.SystemRedis, want.Stores.SystemRedis},
		{"zyncDatabase", got.Stores.ZyncDatabase, want.Stores.ZyncDatabase},
	} {
		if s.got.URL != s.want.URL || s.got.Address != "" {
			t.Errorf("stores.%s: got %+v, want url %+v and no address", s.field, s.got, s.want.URL)
		}
	}
	// The twin's file names no operator, but its namespace has the APIManager its
	// operator reconciles (fixtures/twin/70-operator.yaml.tmpl): discovery must find it.
	wantAM := "3scale"
	if want.Operator != nil {
		wantAM = want.Operator.APIManager
	}
	if got.Operator == nil || got.Operator.APIManager != wantAM {
		t.Errorf("operator: got %+v, want apiManager %s", got.Operator, wantAM)
	}
	// The twin's APIManager carries the operator's version annotation, as a real one does.
	if got.Version != want.Version {
		t.Errorf("version: got %s, want %s (the APIManager's apps.3scale.net/apimanager-threescale-version)", got.Version, want.Version)
	}
	// The same hosts: 3scale routes on them whether reached by Service or Route.
	for _, e := range []struct {
		field     string
		got, want Endpoint
	}{{"admin", got.Admin, want.Admin}, {"master", got.Master, want.Master}, {"developerPortal", got.DeveloperPortal, want.DeveloperPortal}} {
		if routedHost(e.got) != routedHost(e.want) {
			t.Errorf("%s: routes on %q, the twin's file on %q", e.field, routedHost(e.got), routedHost(e.want))
		}
	}
	if got.Kubeconfig != "" {
		t.Errorf("kubeconfig: %q, want empty (the caller's default)", got.Kubeconfig)
	}
	if _, err := Merge(got, ""); err != nil {
		t.Errorf("the discovered target does not validate: %v", err)
	}
}

// (b) Routes (OpenShift) and an Ingress in front of every endpoint: each URL is the
// route's host with its scheme, and no Host override is needed.
func TestDiscoverRoutesAndIngress(t *testing.T) {
	needTwin(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	n := newDiscNS(t, ctx)
	const wd = "apps.example.test"
	n.apiManager("apimanager", map[string]any{"wildcardDomain": wd, "tenantName": "acme"},
		map[string]string{apiManagerVersionAnnotation: "2.16"})
	n.seed(map[string]string{"TENANT_NAME": "acme", "MASTER_DOMAIN": "mastr"})
	n.stores()
	n.route("zync-acme-provider-admin", "acme-admin."+wd, "system-provider", true)
	n.route("zync-acme-master", "mastr."+wd, "system-master", false)
	n.route("zync-acme-provider-dev", "acme."+wd, "system-developer", true)
	n.route("zync-acme-api-production", "api-acme-apicast-production."+wd, "apicast-production", true)
	n.route("backend", "backend-acme."+wd, "backend-listener", true)
	// Sorts before the product route but is outside the wildcard domain.
	n.route("aaa-hand-made", "gw.example.org", "apicast-production", false)
	prefix := networkingv1.PathTypePrefix
	ing := &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: "gateways"},
		Spec: networkingv1.IngressSpec{
			TLS: []networkingv1.IngressTLS{{Hosts: []string{"api-acme-apicast-staging." + wd}, SecretName: "gw-tls"}},
			Rules: []networkingv1.IngressRule{
				{Host: "api-acme-apicast-staging." + wd, IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{
					{Path: "/", PathType: &prefix, Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "apicast-staging", Port: networkingv1.ServiceBackendPort{Name: "gateway"}}}},
				}}}},
				{Host: "*." + wd, IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{
					{Path: "/", PathType: &prefix, Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "apicast-staging", Port: networkingv1.ServiceBackendPort{Number: 8080}}}},
				}}}},
			},
		},
	}
	if _, err := n.kube.NetworkingV1().Ingresses(n.name).Create(ctx, ing, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	got, notes := n.discover(DiscoverOptions{Upstream: "http://echo.example.test"})
	t.Logf("notes:\n%s", strings.Join(notes, "\n"))
	wantEndpoint(t, "admin", got.Admin, Endpoint{URL: "https://acme-admin." + wd})
	wantEndpoint(t, "master", got.Master, Endpoint{URL: "http://mastr." + wd})
	wantEndpoint(t, "developerPortal", got.DeveloperPortal, Endpoint{URL: "https://acme." + wd})
	wantEndpoint(t, "gateways.production", got.Gateways.Production, Endpoint{URL: "https://api-acme-apicast-production." + wd})
	wantEndpoint(t, "gateways.staging", got.Gateways.Staging, Endpoint{URL: "https://api-acme-apicast-staging." + wd})
	if got.Backend == nil || got.Backend.URL != "https://backend-acme."+wd {
		t.Errorf("backend: got %+v, want url https://backend-acme.%s", got.Backend, wd)
	}
	if got.WildcardDomain != wd || got.Version != "2.16" || got.Operator == nil || got.Operator.APIManager != "apimanager" {
		t.Errorf("wildcardDomain %q version %q operator %+v", got.WildcardDomain, got.Version, got.Operator)
	}
	wantRefs := Credentials{
		AdminAccessToken:  SecretKeyRef{Secret: "system-seed", Key: "ADMIN_ACCESS_TOKEN"},
		MasterAccessToken: SecretKeyRef{Secret: "system-seed", Key: "MASTER_ACCESS_TOKEN"},
	}
	if got.Credentials != wantRefs {
		t.Errorf("credentials: %+v", got.Credentials)
	}
	if got.Stores.ZyncDatabase.URL != (SecretKeyRef{Secret: "zync", Key: "DATABASE_URL"}) || got.Stores.BackendRedisQueues.URL != (SecretKeyRef{Secret: "backend-redis", Key: "REDIS_QUEUES_URL"}) {
		t.Errorf("stores: %+v", got.Stores)
	}
	wantNote(t, notes, "admin", "Route zync-acme-provider-admin", "TLS")
	wantNote(t, notes, "gateways.staging", "Ingress gateways")
	wantNote(t, notes, "gateways.production", "the first of 2")
	wantNote(t, notes, "wildcard", "Ingress gateways host *."+wd)
	wantNote(t, notes, "version: 2.16", apiManagerVersionAnnotation)
	wantNote(t, notes, "master domain: mastr", "system-seed")
	if hasNote(notes, inClusterNote) {
		t.Errorf("an in-cluster note although every endpoint has a route:\n%s", strings.Join(notes, "\n"))
	}
	if _, err := Merge(got, ""); err != nil {
		t.Errorf("the discovered target does not validate: %v", err)
	}
}

// A Route counts only once a router has admitted it (operator@3scale-2.16.3-GA
// pkg/helper/route.go IsRouteReady). For the same endpoint an un-admitted Route, which
// the old discovery preferred (it is the operator's own `backend`, in the wildcard
// domain), loses to an admitted one; an endpoint with only un-admitted Routes falls back
// to its Service, as on kind, where the operator's Route `backend` exists but nothing
// serves it (research/real-operator-check.md §(ii) 1).
func TestDiscoverSkipsUnadmittedRoutes(t *testing.T) {
	needTwin(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	n := newDiscNS(t, ctx)
	const wd = "routes.example.test"
	n.apiManager("3scale", map[string]any{"wildcardDomain": wd, "tenantName": "acme"}, nil)
	n.seed(map[string]string{"TENANT_NAME": "acme"})
	n.stores()
	// backend-listener: the operator's Route for backend-acme.<wd>, never admitted, and a
	// hand-made admitted one on another host.
	n.routeWithStatus("backend", "backend-acme."+wd, "backend-listener", true, false)
	n.routeWithStatus("listener-by-hand", "listener.example.org", "backend-listener", false, true)
	// apicast-production: the un-admitted Route is in the wildcard domain, which discovery
	// otherwise prefers.
	n.routeWithStatus("zync-acme-api-production", "api-acme-apicast-production."+wd, "apicast-production", true, false)
	n.routeWithStatus("gw-by-hand", "gw.example.org", "apicast-production", false, true)
	// The admin portal: only an un-admitted Route.
	n.routeWithStatus("zync-acme-provider-admin", "acme-admin."+wd, "system-provider", true, false)
	n.service("system-provider", port("http", 3000))

	got, notes := n.discover(DiscoverOptions{Upstream: "http://echo.example.test"})
	t.Logf("notes:\n%s", strings.Join(notes, "\n"))
	if got.Backend == nil || got.Backend.URL != "http://listener.example.org" {
		t.Errorf("backend: got %+v, want url http://listener.example.org (the admitted Route, not the operator's un-admitted backend)", got.Backend)
	}
	wantEndpoint(t, "gateways.production", got.Gateways.Production, Endpoint{URL: "http://gw.example.org"})
	wantEndpoint(t, "admin", got.Admin, Endpoint{URL: "http://system-provider." + n.name + ".svc:3000", Host: "acme-admin." + wd})
	wantNote(t, notes, "skipped", "Route backend (host backend-acme."+wd+")", "Admitted=True")
	wantNote(t, notes, "Route zync-acme-provider-admin (host acme-admin."+wd+")")
	wantNote(t, notes, "admin: no Route or Ingress for host acme-admin."+wd)
}

// The kind install of fixtures/kind, as far as discovery sees it: the exposure manifests
// (60-exposure.yaml, applied unchanged but for the namespace), the APIManager of
// 50-apimanager.yaml, the operator's Route backend that no router admits, and a stand-in
// Node with the providerID kind gives its nodes. The discovered endpoints must be the ones
// fixtures/kind/target.yaml tells a kind user to use. Before the Node is there the cluster
// is not recognisably kind and the NodePort Services are only named; --node-address
// (NodeAddress) makes them usable on any cluster.
func TestDiscoverKindNodePorts(t *testing.T) {
	needTwin(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	n := newDiscNS(t, ctx)
	for _, doc := range kindManifests(t, "60-exposure.yaml") {
		var svc corev1.Service
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(doc.Object, &svc); err != nil {
			t.Fatal(err)
		}
		svc.Namespace = n.name
		if _, err := n.kube.CoreV1().Services(n.name).Create(ctx, &svc, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create Service %s of 60-exposure.yaml: %v", svc.Name, err)
		}
	}
	am := kindManifests(t, "50-apimanager.yaml")[0]
	spec, _, _ := unstructured.NestedMap(am.Object, "spec")
	n.apiManager(am.GetName(), spec, map[string]string{apiManagerVersionAnnotation: "2.16.3"})
	n.seed(map[string]string{"TENANT_NAME": "3scale", "MASTER_DOMAIN": "master"})
	n.stores()
	// What the real operator creates on kind (research/real-operator-check.md §2.2).
	n.routeWithStatus("backend", "backend-3scale.kind.localhost", "backend-listener", true, false)
	want, err := Load("../../../fixtures/kind/target.yaml")
	if err != nil {
		t.Fatal(err)
	}
	endpoints := func(tg *Target) map[string]Endpoint {
		m := map[string]Endpoint{
			"gateways.production": tg.Gateways.Production, "gateways.staging": tg.Gateways.Staging,
			"admin": tg.Admin, "master": tg.Master, "developerPortal": tg.DeveloperPortal,
		}
		if tg.Backend != nil {
			m["backend.url"] = Endpoint{URL: tg.Backend.URL}
		}
		return m
	}

	t.Run("not kind", func(t *testing.T) {
		got, notes := n.discover(DiscoverOptions{Upstream: want.Upstream.URL})
		if strings.HasPrefix(got.Admin.URL, "http://127.0.0.1") || got.Backend != nil && strings.HasPrefix(got.Backend.URL, "http://127.0.0.1") {
			t.Errorf("node ports used without a known node address: admin %+v backend %+v", got.Admin, got.Backend)
		}
		wantNote(t, notes, "admin: NodePort Service kind-system-provider reaches it", "--node-address")
	})

	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "threescale-chaos-control-plane"},
		// What kind v0.33.0's kubelet registers (pkg/cluster/internal/kubeadm/config.go).
		// Unschedulable and tainted, so that nothing of the shared test cluster lands on it.
		Spec: corev1.NodeSpec{
			ProviderID:    "kind://docker/threescale-chaos/threescale-chaos-control-plane",
			Unschedulable: true,
			Taints:        []corev1.Taint{{Key: "threescale-chaos/stand-in", Effect: corev1.TaintEffectNoExecute}},
		},
	}
	if _, err := n.kube.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		dctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := n.kube.CoreV1().Nodes().Delete(dctx, node.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("delete Node %s: %v", node.Name, err)
		}
	})

	t.Run("kind", func(t *testing.T) {
		got, notes := n.discover(DiscoverOptions{Upstream: want.Upstream.URL})
		t.Logf("notes:\n%s", strings.Join(notes, "\n"))
		if g, w := endpoints(got), endpoints(want); !reflect.DeepEqual(g, w) {
			t.Errorf("endpoints differ from fixtures/kind/target.yaml:\n got %+v\nwant %+v", g, w)
		}
		if got.WildcardDomain != want.WildcardDomain || got.Namespace != n.name {
			t.Errorf("wildcardDomain %q namespace %q", got.WildcardDomain, got.Namespace)
		}
		wantNote(t, notes, "kind cluster", "threescale-chaos-control-plane")
		wantNote(t, notes, "backend.url: no admitted Route", "kind-backend-listener", "30085")
		if hasNote(notes, inClusterNote) {
			t.Errorf("an in-cluster note although every endpoint has a node port:\n%s", strings.Join(notes, "\n"))
		}
	})

	t.Run("node address given", func(t *testing.T) {
		got, _ := n.discover(DiscoverOptions{Upstream: want.Upstream.URL, NodeAddress: "192.0.2.7"})
		wantEndpoint(t, "admin", got.Admin, Endpoint{URL: "http://192.0.2.7:30082", Host: "3scale-admin.kind.localhost"})
		wantEndpoint(t, "gateways.staging", got.Gateways.Staging, Endpoint{URL: "http://192.0.2.7:30081"})
	})
}

// kindManifests decodes the documents of one fixtures/kind manifest.
func kindManifests(t *testing.T, name string) []*unstructured.Unstructured {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("../../../fixtures/kind", name))
	if err != nil {
		t.Fatal(err)
	}
	var out []*unstructured.Unstructured
	for _, doc := range strings.Split(string(raw), "\n---") {
		obj := &unstructured.Unstructured{}
		if err := sigsyaml.Unmarshal([]byte(doc), &obj.Object); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(obj.Object) > 0 {
			out = append(out, obj)
		}
	}
	if len(out) == 0 {
		t.Fatalf("%s: no documents", name)
	}
	return out
}

// The keys Connect reads beside a Redis URL are named in the notes (never their values),
// and tls is set where the APIManager turns TLS on: the operator does it with
// spec.backend.backendRedisTLSEnabled, queuesRedisTLSEnabled and
// spec.system.systemRedisTLSEnabled, not in the URL (operator@3scale-2.16.3-GA
// apimanager_types.go IsBackendRedisTLSEnabled and the others).
func TestDiscoverRedisTLSAndCredentials(t *testing.T) {
	needTwin(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	n := newDiscNS(t, ctx)
	n.apiManager("3scale", map[string]any{"wildcardDomain": "tls.example.test",
		"backend": map[string]any{"backendRedisTLSEnabled": true},
		"system":  map[string]any{"systemRedisTLSEnabled": true},
	}, nil)
	n.seed(nil)
	n.stores("backend-redis")
	n.secret("backend-redis", map[string]string{
		"REDIS_STORAGE_URL": "redis://backend-redis:6379/0", "REDIS_QUEUES_URL": "redis://backend-redis:6379/1",
		"REDIS_STORAGE_USERNAME": "chaos", "REDIS_STORAGE_PASSWORD": discFakeToken, "REDIS_SSL_CA": "-----BEGIN CERTIFICATE-----",
	})
	got, notes := n.discover(DiscoverOptions{Upstream: "http://echo.example.test", Version: "2.16"})
	if !got.Stores.BackendRedisStorage.TLS || got.Stores.BackendRedisQueues.TLS || !got.Stores.SystemRedis.TLS || got.Stores.ZyncDatabase.TLS {
		t.Errorf("tls: storage %t queues %t system %t zync %t, want true false true false", got.Stores.BackendRedisStorage.TLS,
			got.Stores.BackendRedisQueues.TLS, got.Stores.SystemRedis.TLS, got.Stores.ZyncDatabase.TLS)
	}
	wantNote(t, notes, "stores.backendRedisStorage: Secret backend-redis also has REDIS_STORAGE_USERNAME, REDIS_STORAGE_PASSWORD, REDIS_SSL_CA")
	wantNote(t, notes, "stores.backendRedisStorage.tls: true, backend.backendRedisTLSEnabled of APIManager 3scale")
	wantNote(t, notes, "stores.systemRedis.tls: true, system.systemRedisTLSEnabled")
	if _, err := Merge(got, ""); err != nil {
		t.Errorf("the discovered target does not validate: %v", err)
	}
}

// (c) No Route or Ingress: each endpoint is its Service's cluster DNS name on the port the
// Service declares, with the Host 3scale routes on, and the notes say the harness must
// then run in the cluster. Missing Secrets are left for the override.
func TestDiscoverServiceFallback(t *testing.T) {
	needTwin(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	n := newDiscNS(t, ctx)
	const wd = "svc.example.test"
	n.apiManager("3scale", map[string]any{"wildcardDomain": wd, "tenantName": "3scale"}, nil)
	n.seed(map[string]string{"TENANT_NAME": "globex"})
	n.stores("zync")
	n.service("system-provider", port("http", 3000))
	n.service("system-master", port("http", 3000), port("metrics", 9395))
	n.service("system-developer", port("web", 3001))
	n.service("apicast-production", port("gateway", 8080), port("management", 8090), port("metrics", 9421))
	n.systemApp(nil)

	got, notes := n.discover(DiscoverOptions{})
	t.Logf("notes:\n%s", strings.Join(notes, "\n"))
	svc := func(name string, p int) string { return "http://" + name + "." + n.name + ".svc:" + strconv.Itoa(p) }
	wantEndpoint(t, "admin", got.Admin, Endpoint{URL: svc("system-provider", 3000), Host: "globex-admin." + wd})
	wantEndpoint(t, "master", got.Master, Endpoint{URL: svc("system-master", 3000), Host: "master." + wd})
	wantEndpoint(t, "developerPortal", got.DeveloperPortal, Endpoint{URL: svc("system-developer", 3001), Host: "globex." + wd})
	wantEndpoint(t, "gateways.production", got.Gateways.Production, Endpoint{URL: svc("apicast-production", 8080)})
	wantEndpoint(t, "gateways.staging", got.Gateways.Staging, Endpoint{URL: svc("apicast-staging", 8080)})
	if got.Backend != nil {
		t.Errorf("backend: %+v, want none (no route; the default Secret applies)", got.Backend)
	}
	wantNote(t, notes, inClusterNote)
	wantNote(t, notes, "gateways.staging", "Service apicast-staging not found")
	wantNote(t, notes, "developerPortal", "the only port of Service system-developer")
	wantNote(t, notes, "tenant: globex", "spec.tenantName says 3scale")
	wantNote(t, notes, "stores.zyncDatabase.url", "Secret zync not found")
	wantNote(t, notes, "upstream", "not discoverable")
	wantNote(t, notes, "version: 2.15", "Deployment system-app")
	wantNote(t, notes, "not opted in")
	if got.Version != "2.15" {
		t.Errorf("version %q, want 2.15 (the Deployment era)", got.Version)
	}

	// What is missing fails validation, by field, until an override gives it.
	_, err := Merge(got, "")
	for _, f := range []string{"stores.zyncDatabase.url.secret", "stores.zyncDatabase.url.key", "upstream.url"} {
		if err == nil || !strings.Contains(err.Error(), f) {
			t.Errorf("validate: want an error naming %s, got %v", f, err)
		}
	}
	ov := filepath.Join(t.TempDir(), "override.yaml")
	if err := os.WriteFile(ov, []byte("upstream: {url: http://echo.example.test}\nstores:\n  zyncDatabase: {url: {secret: zync-db, key: URL}}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	merged, err := Merge(got, ov)
	if err != nil {
		t.Fatalf("merge: %v", err)
	}
	if merged.Stores.ZyncDatabase.URL.Secret != "zync-db" || merged.Upstream.URL != "http://echo.example.test" || merged.Admin != got.Admin {
		t.Errorf("merged: %+v", merged)
	}

	t.Run("metering label", func(t *testing.T) {
		// The operator's rht.comp_ver pod label states the version when the APIManager
		// has no annotation (research/3scale-operator.md §1.3).
		patch := []byte(`{"spec":{"template":{"metadata":{"labels":{"rht.comp_ver":"2.16"}}}}}`)
		if _, err := n.kube.AppsV1().Deployments(n.name).Patch(ctx, "system-app", "application/strategic-merge-patch+json", patch, metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		got, notes := n.discover(DiscoverOptions{Version: ""})
		if got.Version != "2.16" {
			t.Errorf("version %q, want 2.16 from the label", got.Version)
		}
		wantNote(t, notes, "version: 2.16", "rht.comp_ver")
		got, notes = n.discover(DiscoverOptions{Version: "2.15.1"})
		if got.Version != "2.15.1" {
			t.Errorf("version %q, want 2.15.1 as given", got.Version)
		}
		wantNote(t, notes, "version: 2.15.1, as given")
	})
}

// Before 2.15 every workload was a DeploymentConfig (research/3scale-operator.md §1.1).
// The local cluster has no OpenShift apps API, so the test registers a stand-in CRD
// for the duration, as the research suggests for kind (§3.2).
func TestDiscoverDeploymentConfigEra(t *testing.T) {
	needTwin(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	installDCCRD(t, ctx)
	n := newDiscNS(t, ctx)
	n.apiManager("3scale", map[string]any{"wildcardDomain": "dc.example.test"}, nil)
	n.seed(nil)
	n.stores()
	for _, name := range []string{"system-app", "system-searchd"} {
		dc := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "apps.openshift.io/v1",
			"kind":       "DeploymentConfig",
			"metadata":   map[string]any{"name": name},
			"spec":       map[string]any{"replicas": int64(0), "selector": map[string]any{"deploymentConfig": name}},
		}}
		if _, err := n.dyn.Resource(discoverDCsGVR).Namespace(n.name).Create(ctx, dc, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	got, notes := n.discover(DiscoverOptions{})
	if got.Version != "2.14" {
		t.Errorf("version %q, want 2.14", got.Version)
	}
	wantNote(t, notes, "version: 2.14", "DeploymentConfig system-app")
	wantNote(t, notes, "tenant: 3scale", "default")
}

// installDCCRD registers deploymentconfigs.apps.openshift.io (the kind fixture's CRD), waits
// until it is served, and removes it when the test ends.
func installDCCRD(t *testing.T, ctx context.Context) {
	t.Helper()
	rc := rest.CopyConfig(restConfig)
	dyn, err := dynamic.NewForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	crdGVR := testsupport.CRDGVR
	raw, err := os.ReadFile(testsupport.DeploymentConfigCRD)
	if err != nil {
		t.Fatal(err)
	}
	crd := &unstructured.Unstructured{}
	if err := sigsyaml.Unmarshal(raw, &crd.Object); err != nil {
		t.Fatal(err)
	}
	name := crd.GetName()
	_, err = dyn.Resource(crdGVR).Create(ctx, crd, metav1.CreateOptions{})
	switch {
	case apierrors.IsAlreadyExists(err):
		// Someone else's: use it, leave it.
	case err != nil:
		t.Fatal(err)
	default:
		t.Cleanup(func() {
			dctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := dyn.Resource(crdGVR).Delete(dctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
				t.Errorf("delete CRD %s: %v", name, err)
			}
		})
	}
	var last error
	if err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		_, last = dyn.Resource(discoverDCsGVR).Namespace("default").List(ctx, metav1.ListOptions{})
		return last == nil, nil
	}); err != nil {
		t.Fatalf("CRD %s not served after 30s; last list: %v", name, last)
	}
}

// (d) Discovery fails only when the install cannot be identified, and then names what is
// missing.
func TestDiscoverErrors(t *testing.T) {
	needTwin(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	wantErr := func(t *testing.T, ns string, opts DiscoverOptions, parts ...string) {
		t.Helper()
		_, notes, err := Discover(ctx, restConfig, ns, opts)
		if err == nil {
			t.Fatalf("discover %s: no error; notes:\n%s", ns, strings.Join(notes, "\n"))
		}
		for _, p := range parts {
			if !strings.Contains(err.Error(), p) {
				t.Errorf("error does not name %q:\n%v", p, err)
			}
		}
		checkNoToken(t, err.Error(), discFakeToken)
	}

	t.Run("missing namespace", func(t *testing.T) {
		wantErr(t, "discover-no-such-namespace", DiscoverOptions{}, `namespace "discover-no-such-namespace" not found`)
	})
	t.Run("two APIManagers", func(t *testing.T) {
		n := newDiscNS(t, ctx)
		n.seed(nil)
		n.apiManager("one", map[string]any{"wildcardDomain": "one.example.test"}, nil)
		n.apiManager("two", map[string]any{"wildcardDomain": "two.example.test"}, nil)
		wantErr(t, n.name, DiscoverOptions{}, "2 APIManagers", "one, two", "operator.apiManager")
		wantErr(t, n.name, DiscoverOptions{APIManager: "three"}, `APIManager "three"`, "one, two")
		got, _ := n.discover(DiscoverOptions{APIManager: "two"})
		if got.WildcardDomain != "two.example.test" || got.Operator == nil || got.Operator.APIManager != "two" {
			t.Errorf("picked: wildcardDomain %q operator %+v", got.WildcardDomain, got.Operator)
		}
	})
	t.Run("missing system-seed", func(t *testing.T) {
		n := newDiscNS(t, ctx)
		n.apiManager("3scale", map[string]any{"wildcardDomain": "x.example.test"}, nil)
		n.stores()
		wantErr(t, n.name, DiscoverOptions{}, "Secret system-seed not found", n.name)
	})
	t.Run("nothing at all", func(t *testing.T) {
		// Every problem at once: no APIManager for the wildcard domain, no seed.
		n := newDiscNS(t, ctx)
		wantErr(t, n.name, DiscoverOptions{}, "no APIManager", "wildcardDomain", "system-seed")
	})
	t.Run("no APIManager but a wildcard domain", func(t *testing.T) {
		n := newDiscNS(t, ctx)
		n.seed(nil)
		got, notes := n.discover(DiscoverOptions{WildcardDomain: "given.example.test"})
		if got.WildcardDomain != "given.example.test" || got.Operator != nil {
			t.Errorf("wildcardDomain %q operator %+v", got.WildcardDomain, got.Operator)
		}
		wantNote(t, notes, "wildcardDomain: given.example.test, as given")
		wantNote(t, notes, "apiManager: none")
		wantNote(t, notes, "version", "set version in the override")
	})
	t.Run("bad version", func(t *testing.T) {
		n := newDiscNS(t, ctx)
		n.seed(nil)
		wantErr(t, n.name, DiscoverOptions{WildcardDomain: "v.example.test", Version: "two.sixteen"}, "version", "two.sixteen")
	})
}

// A cluster that does not answer is named in the error. Needs no twin.
func TestDiscoverUnreachable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, _, err := Discover(ctx, &rest.Config{Host: "https://127.0.0.1:1", TLSClientConfig: rest.TLSClientConfig{Insecure: true}}, "3scale", DiscoverOptions{})
	if err == nil || !strings.Contains(err.Error(), "127.0.0.1:1") || !strings.Contains(err.Error(), "no answer") {
		t.Fatalf("want an error naming the API server, got %v", err)
	}
}

// (e) An override replaces what it sets and nothing else, rejects unknown fields by name,
// and the result is validated. Needs no twin.
func TestMergeTarget(t *testing.T) {
	base, err := Load(writeTarget(t, validTarget))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}

	t.Run("replaces what it sets", func(t *testing.T) {
		p := write("replace.yaml", `
admin: {url: "https://admin.example.test"}
stores:
  zyncDatabase: {address: "127.0.0.1:15432"}
insecureSkipVerify: true
`)
		got, err := Merge(base, p)
		if err != nil {
			t.Fatal(err)
		}
		if got.Admin.URL != "https://admin.example.test" || got.Admin.Host != base.Admin.Host {
			t.Errorf("admin: got %+v, want the new url and the old host %q", got.Admin, base.Admin.Host)
		}
		if got.Stores.ZyncDatabase.Address != "127.0.0.1:15432" || got.Stores.ZyncDatabase.URL != base.Stores.ZyncDatabase.URL {
			t.Errorf("zyncDatabase: %+v", got.Stores.ZyncDatabase)
		}
		if !got.InsecureSkipVerify || got.Master != base.Master || got.Namespace != base.Namespace {
			t.Errorf("merged: %+v", got)
		}
		if base.Admin.URL == got.Admin.URL {
			t.Errorf("base was modified")
		}
		o, err := LoadOverride(p)
		if err != nil {
			t.Fatal(err)
		}
		if f := o.Fields(); !reflect.DeepEqual(f, []string{"admin.url", "insecureSkipVerify", "stores.zyncDatabase.address"}) {
			t.Errorf("fields: %v", f)
		}
	})
	t.Run("null removes", func(t *testing.T) {
		withOp := *base
		withOp.Operator = &Operator{APIManager: "x"}
		got, err := Merge(&withOp, write("null.yaml", "operator: null\n"))
		if err != nil {
			t.Fatal(err)
		}
		if got.Operator != nil {
			t.Errorf("operator: %+v, want removed", got.Operator)
		}
	})
	t.Run("unknown field", func(t *testing.T) {
		p := write("typo.yaml", "admin: {url: \"https://a.example.test\", hots: x}\n")
		_, err := Merge(base, p)
		if err == nil || !strings.Contains(err.Error(), "hots") || !strings.Contains(err.Error(), "typo.yaml") {
			t.Fatalf("want an error naming the file and the field, got %v", err)
		}
		_, err = Merge(base, write("top.yaml", "gateway: {production: {url: http://x}}\n"))
		if err == nil || !strings.Contains(err.Error(), `"gateway"`) {
			t.Fatalf("want an error naming gateway, got %v", err)
		}
	})
	t.Run("not a mapping", func(t *testing.T) {
		_, err := Merge(base, write("list.yaml", "- a\n- b\n"))
		if err == nil || !strings.Contains(err.Error(), "list.yaml") {
			t.Fatalf("want an error naming the file, got %v", err)
		}
	})
	t.Run("result validated", func(t *testing.T) {
		_, err := Merge(base, write("breaks.yaml", "admin: {url: \"ftp://a\"}\nupstream: {url: \"\"}\nversion: \"\"\n"))
		for _, f := range []string{"breaks.yaml", "admin.url", "upstream.url", "version"} {
			if err == nil || !strings.Contains(err.Error(), f) {
				t.Errorf("want an error naming %s, got %v", f, err)
			}
		}
	})
	t.Run("empty override", func(t *testing.T) {
		got, err := Merge(base, write("empty.yaml", "# nothing\n"))
		if err != nil || !reflect.DeepEqual(got, base) {
			t.Errorf("got %+v, %v; want the base unchanged", got, err)
		}
	})
	t.Run("missing file", func(t *testing.T) {
		_, err := Merge(base, filepath.Join(dir, "nope.yaml"))
		if err == nil || !strings.Contains(err.Error(), "nope.yaml") {
			t.Fatalf("want an error naming the file, got %v", err)
		}
	})
}
