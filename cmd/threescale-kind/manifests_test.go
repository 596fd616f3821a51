package main

import (
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"

	"github.com/threescale-chaos/harness/fixtures"
	"github.com/threescale-chaos/harness/pkg/threescale/target"
)

// The embedded manifests are applied in this order: every CRD, then the numbered files.
func TestApplyOrder(t *testing.T) {
	files, err := manifestFiles(fixtures.Kind, manifestRoot)
	if err != nil {
		t.Fatal(err)
	}
	var crds, rest []string
	for _, f := range files {
		if strings.HasPrefix(f, "kind/crds/") {
			if len(rest) > 0 {
				t.Errorf("CRD %s comes after %s: CRDs must all come first", f, rest[len(rest)-1])
			}
			crds = append(crds, f)
		} else {
			rest = append(rest, f)
		}
	}
	if !slices.IsSorted(crds) {
		t.Errorf("CRDs not in file-name order: %v", crds)
	}
	want := []string{
		"kind/00-namespace.yaml", "kind/10-databases.yaml", "kind/20-storage.yaml", "kind/30-operator.yaml",
		"kind/40-upstream.yaml", "kind/50-apimanager.yaml", "kind/60-exposure.yaml",
	}
	if !slices.Equal(rest, want) {
		t.Errorf("manifests after the CRDs:\n got %v\nwant %v", rest, want)
	}
	for _, f := range files {
		if strings.HasSuffix(f, "target.yaml") || strings.HasSuffix(f, ".md") {
			t.Errorf("%s is not a manifest but is in the apply order", f)
		}
	}
}

// Every embedded manifest decodes into objects with apiVersion, kind and name, in the
// install's namespace (or none, for cluster-scoped kinds), and the namespace and the CRDs
// come before anything that needs them.
func TestEveryEmbeddedManifestDecodes(t *testing.T) {
	ms, err := loadManifests(fixtures.Kind, manifestRoot)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) < 40 {
		t.Fatalf("only %d objects", len(ms))
	}
	seenNamespace := false
	seenCRDs := map[string]bool{}
	for i, m := range ms {
		o := m.obj
		if o.GetAPIVersion() == "" || o.GetKind() == "" || o.GetName() == "" {
			t.Errorf("%s: apiVersion %q kind %q name %q", m, o.GetAPIVersion(), o.GetKind(), o.GetName())
		}
		switch {
		case o.GetKind() == "CustomResourceDefinition":
			seenCRDs[o.GetName()] = true
		case o.GetKind() == "Namespace":
			seenNamespace = true
			if o.GetName() != namespace || o.GetLabels()["chaos.3scale.net/opt-in"] != "true" {
				t.Errorf("%s: want namespace %s labelled chaos.3scale.net/opt-in=true, got %s %v", m, namespace, o.GetName(), o.GetLabels())
			}
		case o.GetNamespace() != "" && !seenNamespace:
			t.Errorf("%s (object %d) comes before the namespace", m, i+1)
		}
		if gvk := o.GroupVersionKind(); strings.HasSuffix(gvk.Group, "3scale.net") || strings.HasSuffix(gvk.Group, "openshift.io") {
			plural := strings.ToLower(gvk.Kind) + "s"
			if !seenCRDs[plural+"."+gvk.Group] {
				t.Errorf("%s: its CRD %s.%s is not applied before it", m, plural, gvk.Group)
			}
		}
	}
	if !seenNamespace {
		t.Error("no Namespace")
	}
}

// Objects of built-in kinds convert strictly into their Go types: a misspelt or misplaced
// field is an error here rather than something the API server drops or rejects later.
func TestBuiltInObjectsAreStrictlyValid(t *testing.T) {
	ms, err := loadManifests(fixtures.Kind, manifestRoot)
	if err != nil {
		t.Fatal(err)
	}
	typed := 0
	for _, m := range ms {
		gvk := m.obj.GroupVersionKind()
		var into runtime.Object
		if m.isCRD() {
			into = &apiextensionsv1.CustomResourceDefinition{}
		} else {
			o, err := clientgoscheme.Scheme.New(gvk)
			if err != nil {
				continue // a custom resource
			}
			into = o
		}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(m.obj.Object, into, true); err != nil {
			t.Errorf("%s: %v", m, err)
		}
		typed++
	}
	if typed < 40 {
		t.Errorf("only %d objects checked", typed)
	}
}

// The CRDs are the kinds the operator's manager watches at 3scale-2.16.3-GA (main.go and
// the controllers' SetupWithManager), plus the OpenShift kinds its reconcilers read, with
// the operator's own group, version, names and scope, a status subresource, and a
// permissive schema. No OLM kind: cluster scope with PREFLIGHT_CHECKS_BYPASS needs none.
func TestCRDsAreWhatTheOperatorWatches(t *testing.T) {
	want := map[string]struct {
		kind, version string
		cluster       bool
	}{
		"apimanagers.apps.3scale.net":                     {"APIManager", "v1alpha1", false},
		"apimanagerbackups.apps.3scale.net":               {"APIManagerBackup", "v1alpha1", false},
		"apimanagerrestores.apps.3scale.net":              {"APIManagerRestore", "v1alpha1", false},
		"tenants.capabilities.3scale.net":                 {"Tenant", "v1alpha1", false},
		"activedocs.capabilities.3scale.net":              {"ActiveDoc", "v1beta1", false},
		"applications.capabilities.3scale.net":            {"Application", "v1beta1", false},
		"applicationauths.capabilities.3scale.net":        {"ApplicationAuth", "v1beta1", false},
		"backends.capabilities.3scale.net":                {"Backend", "v1beta1", false},
		"custompolicydefinitions.capabilities.3scale.net": {"CustomPolicyDefinition", "v1beta1", false},
		"developeraccounts.capabilities.3scale.net":       {"DeveloperAccount", "v1beta1", false},
		"developerusers.capabilities.3scale.net":          {"DeveloperUser", "v1beta1", false},
		"openapis.capabilities.3scale.net":                {"OpenAPI", "v1beta1", false},
		"products.capabilities.3scale.net":                {"Product", "v1beta1", false},
		"proxyconfigpromotes.capabilities.3scale.net":     {"ProxyConfigPromote", "v1beta1", false},
		"routes.route.openshift.io":                       {"Route", "v1", false},
		"clusterversions.config.openshift.io":             {"ClusterVersion", "v1", true},
		"deploymentconfigs.apps.openshift.io":             {"DeploymentConfig", "v1", false},
		"imagestreams.image.openshift.io":                 {"ImageStream", "v1", false},
	}
	ms, err := loadManifests(fixtures.Kind, manifestRoot)
	if err != nil {
		t.Fatal(err)
	}
	crds, _ := splitCRDs(ms)
	got := map[string]bool{}
	for _, m := range crds {
		var crd apiextensionsv1.CustomResourceDefinition
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(m.obj.Object, &crd); err != nil {
			t.Fatalf("%s: %v", m, err)
		}
		got[crd.Name] = true
		w, ok := want[crd.Name]
		if !ok {
			t.Errorf("%s: CRD %s is not one the operator needs", m, crd.Name)
			continue
		}
		if crd.Name != crd.Spec.Names.Plural+"."+crd.Spec.Group {
			t.Errorf("%s: name %s is not <plural>.<group>", m, crd.Name)
		}
		if crd.Spec.Names.Kind != w.kind || crd.Spec.Names.ListKind != w.kind+"List" || crd.Spec.Names.Singular != strings.ToLower(w.kind) {
			t.Errorf("%s: names %+v, want kind %s", m, crd.Spec.Names, w.kind)
		}
		scope := apiextensionsv1.NamespaceScoped
		if w.cluster {
			scope = apiextensionsv1.ClusterScoped
		}
		if crd.Spec.Scope != scope {
			t.Errorf("%s: scope %s, want %s", m, crd.Spec.Scope, scope)
		}
		if len(crd.Spec.Versions) != 1 {
			t.Errorf("%s: %d versions, want 1", m, len(crd.Spec.Versions))
			continue
		}
		v := crd.Spec.Versions[0]
		if v.Name != w.version || !v.Served || !v.Storage {
			t.Errorf("%s: version %s served %v storage %v, want %s served and stored", m, v.Name, v.Served, v.Storage, w.version)
		}
		if v.Subresources == nil || v.Subresources.Status == nil {
			t.Errorf("%s: no status subresource", m)
		}
		if v.Schema == nil || v.Schema.OpenAPIV3Schema == nil {
			t.Errorf("%s: no schema", m)
			continue
		}
		for _, field := range []string{"spec", "status"} {
			p, ok := v.Schema.OpenAPIV3Schema.Properties[field]
			if !ok || p.XPreserveUnknownFields == nil || !*p.XPreserveUnknownFields {
				t.Errorf("%s: %s does not keep unknown fields", m, field)
			}
		}
	}
	for name := range want {
		if !got[name] {
			t.Errorf("no CRD %s", name)
		}
	}
}

// The operator runs cluster-scoped with preflights bypassed, from the bundle's image
// variables; the APIManager is 2.16-complete (external databases, S3 storage) and sets no
// replicas, so the harness can scale every component.
func TestOperatorAndAPIManager(t *testing.T) {
	ms, err := loadManifests(fixtures.Kind, manifestRoot)
	if err != nil {
		t.Fatal(err)
	}
	dep := find(t, ms, "Deployment", operatorDeployment)
	containers, _, _ := unstructured.NestedSlice(dep.Object, "spec", "template", "spec", "containers")
	env := map[string]string{}
	for _, c := range containers {
		cm := c.(map[string]any)
		if cm["name"] != operatorContainer {
			continue
		}
		for _, e := range cm["env"].([]any) {
			em := e.(map[string]any)
			v, _ := em["value"].(string)
			env[em["name"].(string)] = v
		}
	}
	if v, ok := env["WATCH_NAMESPACE"]; !ok || v != "" {
		t.Errorf("WATCH_NAMESPACE = %q (set %v), want set and empty", v, ok)
	}
	if env["PREFLIGHT_CHECKS_BYPASS"] != "true" {
		t.Errorf("PREFLIGHT_CHECKS_BYPASS = %q, want true", env["PREFLIGHT_CHECKS_BYPASS"])
	}
	for _, n := range []string{"BACKEND", "APICAST", "SYSTEM", "ZYNC", "SYSTEM_MEMCACHED", "ZYNC_POSTGRESQL", "OC_CLI", "SYSTEM_SEARCHD"} {
		if env[relatedImagePrefix+n] == "" {
			t.Errorf("no %s%s", relatedImagePrefix, n)
		}
	}

	am := find(t, ms, "APIManager", apiManagerName)
	for _, path := range [][]string{{"spec", "externalComponents", "backend", "redis"}, {"spec", "externalComponents", "system", "redis"}, {"spec", "externalComponents", "system", "database"}} {
		if v, _, _ := unstructured.NestedBool(am.Object, path...); !v {
			t.Errorf("APIManager %s is not true", strings.Join(path, "."))
		}
	}
	if ref, _, _ := unstructured.NestedString(am.Object, "spec", "system", "fileStorage", "simpleStorageService", "configurationSecretRef", "name"); ref == "" {
		t.Error("APIManager has no S3 file storage")
	} else {
		s3 := secretData(t, find(t, ms, "Secret", ref))
		for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_BUCKET", "AWS_REGION", "AWS_HOSTNAME", "AWS_PROTOCOL", "AWS_PATH_STYLE"} {
			if s3[k] == "" {
				t.Errorf("Secret %s has no %s", ref, k)
			}
		}
	}
	var replicas []string
	walk(am.Object, nil, func(path []string) {
		if path[len(path)-1] == "replicas" {
			replicas = append(replicas, strings.Join(path, "."))
		}
	})
	if len(replicas) > 0 {
		t.Errorf("the APIManager sets %v: the operator would then revert the harness's scaling", replicas)
	}
	if on, found, _ := unstructured.NestedBool(am.Object, "spec", "zync", "enabled"); found && !on {
		t.Error("zync is disabled: the zync scenarios would have nothing to take down")
	}
}

// target.yaml is a valid target file for exactly this install: its namespace, domain and
// APIManager; endpoints on the node ports of 60-exposure.yaml that select the right pods;
// Host headers made from the wildcard domain and tenant; stores whose URLs name the
// Services of 10-databases.yaml (or, for zync, the operator's), reached by port-forward;
// the echo upstream by its in-cluster name and port.
func TestTargetFileMatchesTheManifests(t *testing.T) {
	raw, err := fixtures.Kind.ReadFile("kind/target.yaml")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "target.yaml")
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	tg, err := target.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := loadManifests(fixtures.Kind, manifestRoot)
	if err != nil {
		t.Fatal(err)
	}
	am := find(t, ms, "APIManager", apiManagerName)
	wd, _, _ := unstructured.NestedString(am.Object, "spec", "wildcardDomain")
	tenant, _, _ := unstructured.NestedString(am.Object, "spec", "tenantName")
	if tg.Namespace != namespace || tg.WildcardDomain != wd || tg.Version != "2.16" {
		t.Errorf("target namespace %q domain %q version %q, want %q %q 2.16", tg.Namespace, tg.WildcardDomain, tg.Version, namespace, wd)
	}
	if tg.Operator == nil || tg.Operator.APIManager != apiManagerName {
		t.Errorf("target operator %+v, want APIManager %s", tg.Operator, apiManagerName)
	}
	if tg.Kubeconfig != "" {
		t.Errorf("target names kubeconfig %q; it must come from --kubeconfig or KUBECONFIG", tg.Kubeconfig)
	}

	// nodePort -> (selector deployment, target port) of the NodePort Services.
	type exposed struct{ deployment, targetPort string }
	byPort := map[int]exposed{}
	for _, m := range ms {
		if m.obj.GetKind() != "Service" {
			continue
		}
		if typ, _, _ := unstructured.NestedString(m.obj.Object, "spec", "type"); typ != "NodePort" {
			continue
		}
		sel, _, _ := unstructured.NestedStringMap(m.obj.Object, "spec", "selector")
		ports, _, _ := unstructured.NestedSlice(m.obj.Object, "spec", "ports")
		for _, p := range ports {
			pm := p.(map[string]any)
			byPort[int(pm["nodePort"].(int64))] = exposed{sel["deployment"], strings.TrimSpace(anyString(pm["targetPort"]))}
		}
	}
	for _, e := range []struct {
		field, url, host, wantHost string
		want                       exposed
	}{
		{"gateways.production", tg.Gateways.Production.URL, tg.Gateways.Production.Host, "", exposed{"apicast-production", "8080"}},
		{"gateways.staging", tg.Gateways.Staging.URL, tg.Gateways.Staging.Host, "", exposed{"apicast-staging", "8080"}},
		{"admin", tg.Admin.URL, tg.Admin.Host, tenant + "-admin." + wd, exposed{"system-app", "provider"}},
		{"master", tg.Master.URL, tg.Master.Host, "master." + wd, exposed{"system-app", "master"}},
		{"developerPortal", tg.DeveloperPortal.URL, tg.DeveloperPortal.Host, tenant + "." + wd, exposed{"system-app", "developer"}},
		{"backend", backendURL(tg), "", "", exposed{"backend-listener", "3000"}},
	} {
		u, err := url.Parse(e.url)
		if err != nil {
			t.Errorf("%s: %v", e.field, err)
			continue
		}
		if u.Hostname() != "127.0.0.1" {
			t.Errorf("%s: host %s, want 127.0.0.1 (kind publishes node ports on localhost)", e.field, u.Hostname())
		}
		port, _ := strconv.Atoi(u.Port())
		if got, ok := byPort[port]; !ok || got != e.want {
			t.Errorf("%s: port %d exposes %+v (found %v), want %+v", e.field, port, got, ok, e.want)
		}
		if e.host != e.wantHost {
			t.Errorf("%s: host header %q, want %q", e.field, e.host, e.wantHost)
		}
	}

	secrets := map[string]map[string]string{}
	services := map[string]bool{}
	for _, m := range ms {
		switch m.obj.GetKind() {
		case "Secret":
			secrets[m.obj.GetName()] = secretData(t, m.obj)
		case "Service":
			services[m.obj.GetName()] = true
		}
	}
	for field, s := range map[string]target.Store{
		"backendRedisStorage": tg.Stores.BackendRedisStorage, "backendRedisQueues": tg.Stores.BackendRedisQueues,
		"systemRedis": tg.Stores.SystemRedis, "zyncDatabase": tg.Stores.ZyncDatabase,
	} {
		if s.Address != "" || s.PortForward != nil {
			t.Errorf("stores.%s: has address %q or portForward %v; the kind install is reached by port-forward to the URL's Service", field, s.Address, s.PortForward)
		}
		if s.URL.Secret == "zync" && s.URL.Key == "DATABASE_URL" {
			continue // the operator's Secret for its own zync-database
		}
		data, ok := secrets[s.URL.Secret]
		if !ok {
			t.Errorf("stores.%s: no Secret %s in the manifests", field, s.URL.Secret)
			continue
		}
		raw, ok := data[s.URL.Key]
		if !ok {
			t.Errorf("stores.%s: Secret %s has no key %s", field, s.URL.Secret, s.URL.Key)
			continue
		}
		u, err := url.Parse(raw)
		if err != nil || u.Scheme != "redis" {
			t.Errorf("stores.%s: %s/%s = %q, want a redis:// URL", field, s.URL.Secret, s.URL.Key, raw)
			continue
		}
		if !services[u.Hostname()] {
			t.Errorf("stores.%s: URL host %s is not a Service of the manifests", field, u.Hostname())
		}
	}

	up, err := url.Parse(tg.Upstream.URL)
	if err != nil {
		t.Fatal(err)
	}
	svc, rest, _ := strings.Cut(up.Hostname(), ".")
	if !strings.HasPrefix(rest, namespace+".") || !services[svc] {
		t.Errorf("upstream host %s is not a Service of the manifests in %s", up.Hostname(), namespace)
	}
	echo := find(t, ms, "Service", svc)
	ports, _, _ := unstructured.NestedSlice(echo.Object, "spec", "ports")
	if len(ports) != 1 || strconv.Itoa(int(ports[0].(map[string]any)["port"].(int64))) != up.Port() {
		t.Errorf("upstream port %s is not Service %s's port %v", up.Port(), svc, ports)
	}
}

func backendURL(tg *target.Target) string {
	if tg.Backend == nil {
		return ""
	}
	return tg.Backend.URL
}

func anyString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	}
	return ""
}

// The node ports are those of 60-exposure.yaml's table, in order.
func TestNodePorts(t *testing.T) {
	ms, err := loadManifests(fixtures.Kind, manifestRoot)
	if err != nil {
		t.Fatal(err)
	}
	got := nodePorts(ms)
	want := []int32{30080, 30081, 30082, 30083, 30084, 30085}
	if !slices.Equal(got, want) {
		t.Errorf("node ports %v, want %v", got, want)
	}
}

// The install waits for the Deployments of the manifests and the operator's.
func TestExpectedDeployments(t *testing.T) {
	ms, err := loadManifests(fixtures.Kind, manifestRoot)
	if err != nil {
		t.Fatal(err)
	}
	got := expectedDeployments(ms)
	for _, d := range append([]string{"backend-redis", "system-redis", "system-mysql", "minio", operatorDeployment, "echo-api"}, operatorDeployments...) {
		if !slices.Contains(got, d) {
			t.Errorf("%s is not waited for: %v", d, got)
		}
	}
	if len(got) != len(operatorDeployments)+6 {
		t.Errorf("%d Deployments waited for, want %d: %v", len(got), len(operatorDeployments)+6, got)
	}
}

func TestImageOverrides(t *testing.T) {
	load := func() []manifest {
		ms, err := loadManifests(fixtures.Kind, manifestRoot)
		if err != nil {
			t.Fatal(err)
		}
		return ms
	}
	related, err := parseRelatedImages([]string{"SYSTEM=quay.io/3scale/porta@sha256:abc", "related_image_apicast=quay.io/3scale/apicast:3scale-2.16.3-GA"})
	if err != nil {
		t.Fatal(err)
	}
	ms := load()
	if err := (imageOverrides{operator: "example.com/op@sha256:def", related: related}).apply(ms); err != nil {
		t.Fatal(err)
	}
	dep := find(t, ms, "Deployment", operatorDeployment)
	c := dep.Object["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)["containers"].([]any)[0].(map[string]any)
	if c["image"] != "example.com/op@sha256:def" {
		t.Errorf("operator image %v", c["image"])
	}
	got := map[string]string{}
	for _, e := range c["env"].([]any) {
		em := e.(map[string]any)
		v, _ := em["value"].(string)
		got[em["name"].(string)] = v
	}
	if got["RELATED_IMAGE_SYSTEM"] != "quay.io/3scale/porta@sha256:abc" || got["RELATED_IMAGE_APICAST"] != "quay.io/3scale/apicast:3scale-2.16.3-GA" {
		t.Errorf("related images not replaced: %v", got)
	}
	if got["RELATED_IMAGE_ZYNC"] != "quay.io/3scale/zync:latest" {
		t.Errorf("RELATED_IMAGE_ZYNC changed: %q", got["RELATED_IMAGE_ZYNC"])
	}

	err = (imageOverrides{related: map[string]string{"PORTA": "x"}}).apply(load())
	if err == nil || !strings.Contains(err.Error(), "PORTA") || !strings.Contains(err.Error(), "SYSTEM") {
		t.Errorf("unknown variable: error %v, want one naming PORTA and listing SYSTEM", err)
	}
	for _, in := range [][]string{{"SYSTEM"}, {"=x"}, {"SYSTEM="}, {"SYSTEM=a b"}, {"SYSTEM=a", "system=b"}} {
		if _, err := parseRelatedImages(in); err == nil {
			t.Errorf("parseRelatedImages(%q) accepted", in)
		}
	}
}

// Broken manifests are reported with their file and document, all at once.
func TestBadManifestsAreReported(t *testing.T) {
	crd := func(name string) string {
		return "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: " + name + "}\n"
	}
	for _, tc := range []struct {
		name  string
		files fstest.MapFS
		want  []string
	}{
		{"no CRDs", fstest.MapFS{"kind/00-a.yaml": {Data: []byte("apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n")}}, []string{"no CRD"}},
		{"unexpected directory", fstest.MapFS{"kind/crds/a.yaml": {Data: []byte(crd("a.b"))}, "kind/extra/b.yaml": {Data: []byte("x: 1\n")}}, []string{"kind/extra", "unexpected directory"}},
		{"problems", fstest.MapFS{
			"kind/crds/a.yaml":    {Data: []byte(crd("a.b") + "---\n" + crd("c.d"))},
			"kind/crds/b.yaml":    {Data: []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm, namespace: 3scale}\n")},
			"kind/00-x.yaml":      {Data: []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: nons}\n---\nkind: Secret\nmetadata: {name: s, namespace: 3scale}\n---\napiVersion: v1\nkind: Secret\nmetadata: {namespace: 3scale}\n")},
			"kind/10-y.yaml":      {Data: []byte(crd("e.f") + "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: ns1, namespace: 3scale}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: dup, namespace: 3scale}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: dup, namespace: 3scale}\n")},
			"kind/target.yaml":    {Data: []byte("namespace: 3scale\n")},
			"kind/README.md":      {Data: []byte("# not yaml\n")},
			"kind/20-broken.yaml": {Data: []byte("apiVersion: v1\nkind: ConfigMap\nkind: Secret\n")},
		}, []string{
			"kind/crds/a.yaml: 2 objects",
			"kind/crds/b.yaml document 1 (ConfigMap cm)", "CustomResourceDefinitions only",
			"kind/00-x.yaml document 1 (ConfigMap nons)", `namespace "", want "3scale"`,
			"kind/00-x.yaml document 2 (Secret s): no apiVersion",
			"kind/00-x.yaml document 3 (Secret ): no metadata.name",
			"kind/10-y.yaml document 1 (CustomResourceDefinition e.f)", "belongs in crds/",
			"kind/10-y.yaml document 2 (Namespace ns1)", "cluster-scoped",
			"kind/10-y.yaml document 4 (ConfigMap dup)", "already in kind/10-y.yaml document 3",
			"kind/20-broken.yaml document 1: not valid YAML",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadManifests(tc.files, "kind")
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not say %q:\n%v", w, err)
				}
			}
			if strings.Contains(err.Error(), "target.yaml") || strings.Contains(err.Error(), "README") {
				t.Errorf("a file that is not a manifest was read as one:\n%v", err)
			}
		})
	}
}

func find(t *testing.T, ms []manifest, kind, name string) *unstructured.Unstructured {
	t.Helper()
	for _, m := range ms {
		if m.obj.GetKind() == kind && m.obj.GetName() == name {
			return m.obj
		}
	}
	t.Fatalf("no %s %s in the manifests", kind, name)
	return nil
}

func secretData(t *testing.T, s *unstructured.Unstructured) map[string]string {
	t.Helper()
	data, _, err := unstructured.NestedStringMap(s.Object, "stringData")
	if err != nil {
		t.Fatalf("Secret %s: %v", s.GetName(), err)
	}
	return data
}

// walk calls fn with the path of every map key under v.
func walk(v any, path []string, fn func(path []string)) {
	switch x := v.(type) {
	case map[string]any:
		for k, c := range x {
			p := append(slices.Clone(path), k)
			fn(p)
			walk(c, p, fn)
		}
	case []any:
		for i, c := range x {
			walk(c, append(slices.Clone(path), strconv.Itoa(i)), fn)
		}
	}
}
