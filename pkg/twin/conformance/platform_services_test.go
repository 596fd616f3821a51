package conformance

import (
	"context"
	"fmt"
	"net"
	"reflect"
	"strconv"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/threescale-chaos/harness/internal/testsupport"
)

// operatorDeployments are the twelve Deployments the real operator creates and owns
// (research/real-operator-check.md §2.2), sorted by name as its status lists them.
var operatorDeployments = []string{
	"apicast-production", "apicast-staging", "backend-cron", "backend-listener", "backend-worker",
	"system-app", "system-memcache", "system-searchd", "system-sidekiq", "zync", "zync-database", "zync-que",
}

// wantPort is one Service port: the operator's name and port, and the twin process's port
// behind it (0: nothing of the twin listens there).
type wantPort struct {
	name   string
	port   int32
	target int
}

type wantService struct {
	name, deployment string
	labels           map[string]string
	owned            bool
	ports            []wantPort
}

func componentLabels(component, element string) map[string]string {
	return map[string]string{"app": "3scale-api-management", "threescale_component": component, "threescale_component_element": element}
}

// wantServices are the Services of a 3scale 2.16 install: the operator's
// (operator@3scale-2.16.3-GA pkg/3scale/amp/component apicast.go productionServicePorts and
// stagingServicePorts, backend.go ListenerService, system.go ProviderService, MasterService,
// DeveloperService, MemcachedService, system_searchd.go Service, zync.go Service and
// DatabaseService; labels from the *_options_provider.go common labels; research/
// real-operator-check.md §2.2), and the user's for the external datastores (as
// fixtures/kind has them).
func wantServices() []wantService {
	p := values.Ports
	return []wantService{
		{"apicast-staging", "apicast-staging", componentLabels("apicast", "staging"), true,
			[]wantPort{{"gateway", 8080, p.ApicastStaging}, {"management", 8090, p.ApicastStagingManagement}, {"metrics", 9421, 0}}},
		{"apicast-production", "apicast-production", componentLabels("apicast", "production"), true,
			[]wantPort{{"gateway", 8080, p.ApicastProduction}, {"management", 8090, p.ApicastProductionManagement}, {"metrics", 9421, 0}}},
		{"backend-listener", "backend-listener", componentLabels("backend", "listener"), true, []wantPort{{"http", 3000, p.BackendListener}}},
		{"system-provider", "system-app", componentLabels("system", "provider-ui"), true, []wantPort{{"http", 3000, p.SystemProvider}}},
		{"system-master", "system-app", componentLabels("system", "master-ui"), true, []wantPort{{"http", 3000, p.SystemMaster}}},
		{"system-developer", "system-app", componentLabels("system", "developer-ui"), true, []wantPort{{"http", 3000, p.SystemDeveloper}}},
		{"system-memcache", "system-memcache", componentLabels("system", "memcache"), true, []wantPort{{"memcache", 11211, p.SystemMemcache}}},
		{"system-searchd", "system-searchd", componentLabels("system", "searchd"), true, []wantPort{{"searchd", 9306, p.SystemSearchd}}},
		{"zync", "zync", componentLabels("zync", "zync"), true, []wantPort{{"8080-tcp", 8080, p.Zync}}},
		{"zync-database", "zync-database", componentLabels("zync", "database"), true, []wantPort{{"postgresql", 5432, p.ZyncDatabase}}},
		{"backend-redis", "backend-redis", componentLabels("backend", "redis"), false, []wantPort{{"redis", 6379, p.BackendRedis}}},
		{"system-redis", "system-redis", componentLabels("system", "redis"), false, []wantPort{{"redis", 6379, p.SystemRedis}}},
		{"system-mysql", "system-mysql", componentLabels("system", "mysql"), false, []wantPort{{"mysql", 3306, p.SystemMySQL}}},
	}
}

// Every Service has the operator's name, labels, selector (deployment=<name>), port names and
// numbers; its targetPort is the port the twin's host-network process listens on (the one
// adaptation: a real pod's container port), its selector picks the Deployment's pods, a ready
// one of them exists, and something answers a TCP connection on the targetPort. This is what
// the harness's discover and store port-forward read (pkg/threescale/target discover.go serviceURL,
// pkg/threescale portforward.go target).
func TestServicesAsTheOperatorMakesThem(t *testing.T) {
	ctx := context.Background()
	for _, w := range wantServices() {
		t.Run(w.name, func(t *testing.T) {
			svc, err := client.CoreV1().Services(namespace).Get(ctx, w.name, metav1.GetOptions{})
			if err != nil {
				t.Fatalf("Service %s: %v", w.name, err)
			}
			if !reflect.DeepEqual(svc.Labels, w.labels) {
				t.Errorf("labels %v, want %v", svc.Labels, w.labels)
			}
			if want := map[string]string{"deployment": w.deployment}; !reflect.DeepEqual(svc.Spec.Selector, want) {
				t.Errorf("selector %v, want %v", svc.Spec.Selector, want)
			}
			if got := metav1.GetControllerOf(svc); (got != nil && got.Kind == "APIManager") != w.owned {
				t.Errorf("controller %+v, want owned by the APIManager: %v", got, w.owned)
			}
			var got []wantPort
			for _, p := range svc.Spec.Ports {
				if p.Protocol != corev1.ProtocolTCP || p.TargetPort.Type != intstr.Int {
					t.Errorf("port %s: protocol %s, targetPort %s; want TCP and a number", p.Name, p.Protocol, p.TargetPort.String())
				}
				target := int(p.TargetPort.IntVal)
				if p.Name == "metrics" && target == 9421 {
					target = 0
				}
				got = append(got, wantPort{p.Name, p.Port, target})
			}
			if !reflect.DeepEqual(got, w.ports) {
				t.Errorf("ports %+v, want %+v", got, w.ports)
			}

			d, err := client.AppsV1().Deployments(namespace).Get(ctx, w.deployment, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(d.Spec.Template.Labels)) {
				t.Errorf("selector %v does not pick Deployment %s's pods (%v)", svc.Spec.Selector, w.deployment, d.Spec.Template.Labels)
			}
			// What a port-forward resolves (portforward.go target): a Running, Ready pod the
			// selector picks. (The EndpointSlice controller cannot list these pods: the API
			// server refuses loopback endpoint addresses, and every twin pod's IP is 127.0.0.1.)
			testsupport.Eventually(t, 60*time.Second, "a Running, Ready pod behind "+w.name, func(ctx context.Context) (bool, string) {
				pods, err := client.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: labels.SelectorFromSet(svc.Spec.Selector).String()})
				if err != nil {
					return false, errSeen(ctx, err)
				}
				var seen []string
				for _, pod := range pods.Items {
					ready := false
					for _, c := range pod.Status.Conditions {
						ready = ready || (c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue)
					}
					if pod.Status.Phase == corev1.PodRunning && ready && pod.DeletionTimestamp == nil {
						return true, ""
					}
					seen = append(seen, fmt.Sprintf("%s %s ready=%v", pod.Name, pod.Status.Phase, ready))
				}
				return false, fmt.Sprintf("pods %v", seen)
			})
			for _, p := range w.ports {
				if p.target == 0 {
					continue
				}
				conn, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p.target)), 5*time.Second)
				if err != nil {
					t.Errorf("port %s: nothing answers behind targetPort %d: %v", p.name, p.target, err)
					continue
				}
				_ = conn.Close()
			}
		})
	}
}

// The pod templates of the twelve operator Deployments carry the operator's metering labels
// (operator@3scale-2.16.3-GA pkg/helper/labels.go MeteringLabels with ApplicationType,
// version/version.go 2.16.3 → rht.comp_ver 2.16), besides app, threescale_component,
// threescale_component_element and deployment; the Deployments themselves carry only the three
// component labels; the user's datastores carry no metering labels.
func TestPodTemplatesCarryTheMeteringLabels(t *testing.T) {
	ctx := context.Background()
	for _, name := range operatorDeployments {
		d, err := client.AppsV1().Deployments(namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{
			"com.company": "Red_Hat", "rht.comp": "3scale", "rht.comp_ver": "2.16", "rht.prod_name": "Red_Hat_Integration",
			"rht.prod_ver": "master", "rht.subcomp": name, "rht.subcomp_t": "application", "deployment": name,
		}
		for k, v := range d.Labels {
			want[k] = v
		}
		if !reflect.DeepEqual(d.Spec.Template.Labels, want) {
			t.Errorf("%s pod template labels\n got %v\nwant %v", name, d.Spec.Template.Labels, want)
		}
		if _, ok := d.Labels["deployment"]; ok || len(d.Labels) != 3 {
			t.Errorf("%s Deployment labels %v, want only app, threescale_component, threescale_component_element", name, d.Labels)
		}
	}
	for _, name := range []string{"backend-redis", "system-redis", "system-mysql"} {
		d, err := client.AppsV1().Deployments(namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := d.Spec.Template.Labels["rht.comp_ver"]; ok {
			t.Errorf("%s is the user's datastore in 2.16 but carries metering labels", name)
		}
	}
}
