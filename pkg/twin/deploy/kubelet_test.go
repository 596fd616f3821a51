package deploy_test

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	kindv1alpha4 "sigs.k8s.io/kind/pkg/apis/config/v1alpha4"
	"sigs.k8s.io/yaml"

	"github.com/threescale-chaos/harness/pkg/twin/deploy"
)

// podContainers is the init containers, then the containers, of o's pod template (none for
// an object without one).
func podContainers(o *unstructured.Unstructured) []map[string]any {
	var out []map[string]any
	for _, kind := range []string{"initContainers", "containers"} {
		cs, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", kind)
		for _, c := range cs {
			out = append(out, c.(map[string]any))
		}
	}
	return out
}

// withoutProbes is a copy of o without its containers' probes, which run inside the pod.
func withoutProbes(t *testing.T, o *unstructured.Unstructured) *unstructured.Unstructured {
	t.Helper()
	c := o.DeepCopy()
	cs, found, _ := unstructured.NestedSlice(c.Object, "spec", "template", "spec", "containers")
	if !found {
		return c
	}
	for _, x := range cs {
		for _, p := range []string{"readinessProbe", "livenessProbe", "startupProbe"} {
			delete(x.(map[string]any), p)
		}
	}
	if err := unstructured.SetNestedSlice(c.Object, cs, "spec", "template", "spec", "containers"); err != nil {
		t.Fatal(err)
	}
	return c
}

func kubeletValues(t *testing.T) deploy.Values {
	t.Helper()
	return kubeletValuesIn(t, "3scale")
}

func kubeletValuesIn(t *testing.T, namespace string) deploy.Values {
	t.Helper()
	v, err := deploy.NewKubeletValues(namespace, "threescale-chaos/twin:test", map[string]string{
		deploy.ImageLabelPGBin: "/usr/lib/postgresql/15/bin",
		deploy.ImageLabelIDs:   "postgres=101:104,mysql=102:105,redis=103:106,memcache=104:107",
	}, t.TempDir())
	if err != nil {
		t.Fatalf("kubelet values: %v", err)
	}
	return v
}

// On a real kubelet every pod has its own address: nothing may listen on, or call a peer at,
// 127.0.0.1 (only a probe inside its own pod may), no pod is on the host network, and every
// container runs the twin's image.
func TestKubeletRenderingHasNoLoopbackPeers(t *testing.T) {
	v := kubeletValues(t)
	objs, err := deploy.Render(v)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if js := toJSON(t, withoutProbes(t, o).Object); strings.Contains(js, "127.0.0.1") {
			t.Errorf("%s %s: 127.0.0.1 outside a probe: %s", o.GetKind(), o.GetName(), js)
		}
		if o.GetKind() != "Deployment" {
			continue
		}
		if hn, _, _ := unstructuredBool(o.Object, "spec", "template", "spec", "hostNetwork"); hn {
			t.Errorf("%s: hostNetwork on a kubelet", o.GetName())
		}
		for _, kind := range []string{"initContainers", "containers"} {
			cs, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", kind)
			for _, c := range cs {
				if img := c.(map[string]any)["image"]; img != v.Image {
					t.Errorf("%s %s: image %v, want %s", o.GetName(), kind, img, v.Image)
				}
			}
		}
	}
}

// The NodePorts of the twin on kind are the ones kind-config.yaml publishes on the host's
// loopback, and the target file reaches every endpoint through them.
func TestKubeletNodePortsArePublishedByKindConfig(t *testing.T) {
	v := kubeletValues(t)
	objs, err := deploy.Render(v)
	if err != nil {
		t.Fatal(err)
	}
	var nodePorts []int
	for _, o := range objs {
		if o.GetKind() != "Service" {
			continue
		}
		if typ, _, _ := unstructuredString(o.Object, "spec", "type"); typ != "NodePort" {
			continue
		}
		ports, _, _ := unstructured.NestedSlice(o.Object, "spec", "ports")
		for _, p := range ports {
			nodePorts = append(nodePorts, int(p.(map[string]any)["nodePort"].(float64)))
		}
	}
	raw, err := os.ReadFile(filepath.Join("..", "..", "..", "kind-config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var kc kindv1alpha4.Cluster
	if err := yaml.Unmarshal(raw, &kc); err != nil {
		t.Fatal(err)
	}
	var published []int
	for _, m := range kc.Nodes[0].ExtraPortMappings {
		if m.ContainerPort == m.HostPort && m.ListenAddress == "127.0.0.1" {
			published = append(published, int(m.HostPort))
		}
	}
	sort.Ints(nodePorts)
	sort.Ints(published)
	if !reflect.DeepEqual(nodePorts, published) {
		t.Errorf("NodePorts %v, kind-config.yaml publishes %v", nodePorts, published)
	}
	tg := deploy.NewTarget(v, "/k")
	// Each endpoint at its own NodePort (kind-config.yaml's comments name which is which);
	// the gateways share a container port, as system's three portals and the listener do,
	// so the port number alone does not tell them apart.
	for name, c := range map[string]struct{ url, want string }{
		"production": {tg.Gateways.Production.URL, "http://127.0.0.1:30080"}, "staging": {tg.Gateways.Staging.URL, "http://127.0.0.1:30081"},
		"admin": {tg.Admin.URL, "http://127.0.0.1:30082"}, "master": {tg.Master.URL, "http://127.0.0.1:30083"},
		"developer": {tg.DeveloperPortal.URL, "http://127.0.0.1:30084"}, "backend": {tg.Backend.URL, "http://127.0.0.1:30085"},
	} {
		if c.url != c.want {
			t.Errorf("target %s: %s, want %s", name, c.url, c.want)
		}
	}
	for name, s := range map[string]deploy.Store{"backend redis": tg.Stores.BackendRedisStorage, "system redis": tg.Stores.SystemRedis, "zync database": tg.Stores.ZyncDatabase} {
		if s.Address != "" {
			t.Errorf("target store %s: address %s; on a kubelet the harness port-forwards", name, s.Address)
		}
	}
}

// A second twin in the same cluster (threescale-twin deploy --namespace 3scale-cli
// --node-port-base 30180) shares nothing with the first that two namespaces cannot share: its
// NodePorts are its own, its hostPath data is under a directory of its own on the node, and
// its target file reaches the NodePorts at the address given.
func TestKubeletSecondTwinHasItsOwnNodePortsAndData(t *testing.T) {
	first, second := kubeletValues(t), kubeletValuesIn(t, "3scale-cli")
	second.NodePortBase, second.NodeAddress = 30180, "172.18.0.2"
	used := func(v deploy.Values) (nodePorts map[int]string, paths map[string]string) {
		objs, err := deploy.Render(v)
		if err != nil {
			t.Fatal(err)
		}
		nodePorts, paths = map[int]string{}, map[string]string{}
		for _, o := range objs {
			ports, _, _ := unstructured.NestedSlice(o.Object, "spec", "ports")
			for _, p := range ports {
				if np, ok := p.(map[string]any)["nodePort"]; ok {
					nodePorts[int(np.(float64))] = o.GetName()
				}
			}
			vols, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "volumes")
			for _, vol := range vols {
				if hp, ok := vol.(map[string]any)["hostPath"]; ok {
					paths[hp.(map[string]any)["path"].(string)] = o.GetName()
				}
			}
		}
		return nodePorts, paths
	}
	ports1, paths1 := used(first)
	ports2, paths2 := used(second)
	if len(ports2) != 6 || len(paths2) == 0 {
		t.Fatalf("second twin: NodePorts %v, hostPaths %v", ports2, paths2)
	}
	for p, svc := range ports2 {
		if p < 30180 || p > 30185 {
			t.Errorf("second twin: %s at NodePort %d, want 30180 to 30185", svc, p)
		}
		if other, ok := ports1[p]; ok {
			t.Errorf("NodePort %d in both twins (%s)", p, other)
		}
	}
	for p := range paths2 {
		if !strings.HasPrefix(p, deploy.KubeletDataDir+"/3scale-cli/") {
			t.Errorf("second twin: hostPath %s, want it under %s/3scale-cli/", p, deploy.KubeletDataDir)
		}
		for q := range paths1 {
			if strings.HasPrefix(p, q) || strings.HasPrefix(q, p) {
				t.Errorf("hostPath %s of the second twin overlaps %s of the first", p, q)
			}
		}
	}
	tg := deploy.NewTarget(second, "/k")
	if tg.Gateways.Production.URL != "http://172.18.0.2:30180" || tg.Backend.URL != "http://172.18.0.2:30185" || tg.Namespace != "3scale-cli" {
		t.Errorf("second twin's target: production %s, backend %s, namespace %s", tg.Gateways.Production.URL, tg.Backend.URL, tg.Namespace)
	}
}

// No probe of the twin is an exec probe: on a kubelet each is a runc exec in the pod every
// period, and the datastores' four exec readiness probes (every 2s) took about a third of a
// core of kind's node while the twin idled (63 % of one core with them, 41 % without).
func TestKubeletProbesExecNothing(t *testing.T) {
	objs, err := deploy.Render(kubeletValues(t))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, o := range objs {
		for _, c := range podContainers(o) {
			for _, p := range []string{"readinessProbe", "livenessProbe", "startupProbe"} {
				probe, ok := c[p].(map[string]any)
				if !ok {
					continue
				}
				n++
				if _, ok := probe["exec"]; ok {
					t.Errorf("%s %s %s: an exec probe %v", o.GetName(), c["name"], p, probe["exec"])
				}
			}
		}
	}
	if n == 0 {
		t.Fatal("no probes rendered")
	}
}

func TestKubeletValuesNeedTheImageLabels(t *testing.T) {
	for name, labels := range map[string]map[string]string{
		"no labels":     {},
		"no ids":        {deploy.ImageLabelPGBin: "/usr/lib/postgresql/15/bin"},
		"a user short":  {deploy.ImageLabelPGBin: "/p", deploy.ImageLabelIDs: "postgres=1:1,mysql=2:2,redis=3:3"},
		"a bad uid:gid": {deploy.ImageLabelPGBin: "/p", deploy.ImageLabelIDs: "postgres=x:1,mysql=2:2,redis=3:3,memcache=4:4"},
	} {
		if _, err := deploy.NewKubeletValues("3scale", "img", labels, t.TempDir()); err == nil || !strings.Contains(err.Error(), "img") {
			t.Errorf("%s: %v, want an error naming the image", name, err)
		}
	}
}

// The ports Values.Peer gives on a kubelet are those of the Services the manifests create
// (80-services.yaml.tmpl, 90-kubelet.yaml.tmpl), which hold the operator's numbers: the
// table in values.go must not drift from them.
func TestKubeletPeersAreTheRenderedServices(t *testing.T) {
	v := kubeletValues(t)
	objs, err := deploy.Render(v)
	if err != nil {
		t.Fatal(err)
	}
	services := map[string]int64{}
	for _, o := range objs {
		if o.GetKind() == "Service" {
			ports, _, _ := unstructured.NestedSlice(o.Object, "spec", "ports")
			services[o.GetName()] = int64(ports[0].(map[string]any)["port"].(float64))
		}
	}
	for _, name := range []string{"backend-listener", "backend-redis", "system-redis", "system-mysql", "system-memcache",
		"system-searchd", "system-master", "system-provider", "zync", "zync-database", "echo-api"} {
		port, err := v.PeerPort(name)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if want, ok := services[name]; !ok || int64(port) != want {
			t.Errorf("Peer %s: port %d; the rendered Service %s has %d (rendered: %v)", name, port, name, want, ok)
		}
		if host, _ := v.PeerHost(name); host != name {
			t.Errorf("PeerHost %s: %s, want the Service's name", name, host)
		}
	}
	if _, err := v.Peer("no-such-service"); err == nil {
		t.Error("Peer of an unknown Service: no error")
	}
}

// On a real kubelet the twin's servers listen where the operator's containers do, so every
// Service forwards to the real container port, as on a 3scale install; `threescale-chaos
// discover` matches a NodePort Service to the pods by that port (target/discover.go
// servesPods) and, with the twin's own port plan behind them, found none of kind's NodePorts.
func TestKubeletServicesTargetTheOperatorsContainerPorts(t *testing.T) {
	want := map[string]int64{ // Service/port name -> the operator's container port
		"apicast-production/gateway": 8080, "apicast-production/management": 8090, "apicast-production/metrics": 9421,
		"apicast-staging/gateway": 8080, "apicast-staging/management": 8090, "apicast-staging/metrics": 9421,
		"backend-listener/http": 3000, "system-provider/http": 3000, "system-master/http": 3002, "system-developer/http": 3001,
		"system-memcache/memcache": 11211, "system-searchd/searchd": 9306, "zync/8080-tcp": 8080, "zync-database/postgresql": 5432,
		"backend-redis/redis": 6379, "system-redis/redis": 6379, "system-mysql/mysql": 3306,
		"kind-apicast-production/gateway": 8080, "kind-apicast-staging/gateway": 8080, "kind-backend-listener/http": 3000,
		"kind-system-provider/http": 3000, "kind-system-master/http": 3002, "kind-system-developer/http": 3001,
	}
	objs, err := deploy.Render(kubeletValues(t))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, o := range objs {
		if o.GetKind() != "Service" {
			continue
		}
		ports, _, _ := unstructured.NestedSlice(o.Object, "spec", "ports")
		for _, p := range ports {
			pm := p.(map[string]any)
			key := o.GetName() + "/" + pm["name"].(string)
			w, ok := want[key]
			if !ok {
				continue
			}
			seen[key] = true
			if tp := fmt.Sprint(pm["targetPort"]); tp != fmt.Sprint(w) {
				t.Errorf("Service port %s: targetPort %v, the operator's container listens on %d", key, pm["targetPort"], w)
			}
		}
	}
	for k := range want {
		if !seen[k] {
			t.Errorf("no Service port %s in the kubelet rendering", k)
		}
	}
}

// On a kubelet every pod of the twin is Burstable: a LimitRange, created right after the
// namespace and before any Deployment, gives each container a CPU request. Without it every
// pod is BestEffort, and all of them share one cgroup of 2 CPU shares against the control
// plane's hundreds. The process node has no such cgroups and gets no LimitRange.
func TestKubeletPodsRequestCPU(t *testing.T) {
	objs, err := deploy.Render(kubeletValues(t))
	if err != nil {
		t.Fatal(err)
	}
	limitRange, firstDeployment := -1, -1
	for i, o := range objs {
		switch o.GetKind() {
		case "LimitRange":
			limits, _, _ := unstructured.NestedSlice(o.Object, "spec", "limits")
			for _, l := range limits {
				l := l.(map[string]any)
				cpu, _, _ := unstructured.NestedString(l, "defaultRequest", "cpu")
				if l["type"] == "Container" && cpu != "" {
					q, err := resource.ParseQuantity(cpu)
					if err != nil || q.MilliValue() <= 0 {
						t.Errorf("LimitRange %s: default CPU request %q", o.GetName(), cpu)
					}
					if o.GetNamespace() == "3scale" && limitRange < 0 {
						limitRange = i
					}
				}
			}
		case "Deployment":
			if firstDeployment < 0 {
				firstDeployment = i
			}
		}
	}
	if limitRange < 0 {
		t.Fatal("no LimitRange gives the twin's containers a default CPU request in namespace 3scale")
	}
	if firstDeployment >= 0 && limitRange > firstDeployment {
		t.Errorf("the LimitRange is object %d, after the first Deployment (%d): pods created before it get no request", limitRange, firstDeployment)
	}
	// Every Deployment's containers take the default: none states a request of its own.
	for _, o := range objs {
		for _, c := range podContainers(o) {
			if r, ok := c["resources"]; ok {
				t.Errorf("%s %s: resources %v (the LimitRange's default is the twin's request)", o.GetName(), c["name"], r)
			}
		}
	}

	pv, err := deploy.NewValues("3scale", "/opt/twin/threescale-twin", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	objs, err = deploy.Render(pv)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if o.GetKind() == "LimitRange" {
			t.Errorf("the process node got LimitRange %s", o.GetName())
		}
	}
}
