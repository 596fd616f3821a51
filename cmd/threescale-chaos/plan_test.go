package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/threescale-chaos/harness/pkg/twin/cluster"
)

// `threescale-chaos plan` on a local control plane with the operator's Deployments as
// stand-ins (nothing runs; plan only reads): for system-app it shows the observation that
// follows apicast-production's refresh period, read from the Deployment's env, and says
// so when that cannot be read.
func TestPlanShowsTheWindowForSystemApp(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cp, err := cluster.StartControlPlane(ctx, cluster.Config{Dir: filepath.Join(dir, "cluster")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := cp.Stop(); err != nil {
			t.Errorf("stop control plane: %v", err)
		}
	})
	cs := kubernetes.NewForConfigOrDie(cp.RESTConfig())
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "3scale", Labels: map[string]string{"chaos.3scale.net/opt-in": "true"}}}
	if _, err := cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	deployment := func(name string, env []corev1.EnvVar) {
		t.Helper()
		d := &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: appsv1.DeploymentSpec{
				Replicas: ptr.To(int32(1)),
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"deployment": name}},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"deployment": name}},
					Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: name, Image: "none", Env: env}}},
				},
			},
		}
		if _, err := cs.AppsV1().Deployments("3scale").Create(ctx, d, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	deployment("system-app", nil)
	target := filepath.Join(dir, "target.yaml")
	body := "kubeconfig: " + cluster.KubeconfigPath(filepath.Join(dir, "cluster")) + `
namespace: 3scale
version: "2.16"
wildcardDomain: example.com
gateways:
  production: {url: "http://127.0.0.1:1"}
  staging: {url: "http://127.0.0.1:1"}
admin: {url: "http://127.0.0.1:1", host: 3scale-admin.example.com}
master: {url: "http://127.0.0.1:1", host: master.example.com}
developerPortal: {url: "http://127.0.0.1:1", host: 3scale.example.com}
credentials:
  adminAccessToken: {secret: system-seed, key: ADMIN_ACCESS_TOKEN}
  masterAccessToken: {secret: system-seed, key: MASTER_ACCESS_TOKEN}
stores:
  backendRedisStorage: {url: {secret: backend-redis, key: REDIS_STORAGE_URL}}
  backendRedisQueues: {url: {secret: backend-redis, key: REDIS_QUEUES_URL}}
  systemRedis: {url: {secret: system-redis, key: URL}}
  zyncDatabase: {url: {secret: zync, key: DATABASE_URL}}
upstream: {url: "http://127.0.0.1:1"}
timeouts: {ready: 8m, gone: 3m}
`
	if err := os.WriteFile(target, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}

	// No apicast-production yet: not read, said so, the operator's 300s assumed.
	out, code := cli(t, time.Minute, "plan", "--target", target, "--component", "system-app")
	if code != 0 {
		t.Fatalf("plan exit %d:\n%s", code, out)
	}
	for _, want := range []string{"observe 45s → 5m10s", "could not be read", "assumed 300s", "period not read, the operator's default is used"} {
		if !strings.Contains(out, want) {
			t.Errorf("plan without apicast-production lacks %q:\n%s", want, out)
		}
	}

	// The operator's env (operator@3scale-2.16.3-GA apicast.go buildApicastProductionEnv).
	deployment("apicast-production", []corev1.EnvVar{
		{Name: "APICAST_CONFIGURATION_LOADER", Value: "boot"},
		{Name: "APICAST_CONFIGURATION_CACHE", Value: "300"},
		{Name: "THREESCALE_DEPLOYMENT_ENV", Value: "production"},
	})
	out, code = cli(t, time.Minute, "plan", "--target", target, "--component", "system-app", "--timeout", "gone=30s")
	t.Logf("plan:\n%s", out)
	if code != 0 {
		t.Fatalf("plan exit %d:\n%s", code, out)
	}
	want := "observe 45s → 5m10s: production-traffic (kept) rests on apicast-production's configuration refresh every 300s (APICAST_CONFIGURATION_CACHE=300, APICAST_CONFIGURATION_LOADER=boot, on Deployment/apicast-production); held 5m10s: one period and a 10s margin"
	if !strings.Contains(out, want) {
		t.Errorf("plan lacks\n%s\n", want)
	}
	if strings.Contains(out, "not read") {
		t.Errorf("plan says a period was not read although it was:\n%s", out)
	}
	// The scenario's bounds: the target file's under the flag's, the defaults elsewhere.
	if want := "timeouts: steady 2m0s, gone 30s, ready 8m0s, diagnose 2m0s, spec 20m0s"; !strings.Contains(out, want) {
		t.Errorf("plan lacks %q", want)
	}

	// A file of several components: every component and how it would be scaled, selected
	// by the file's name; one not there says which.
	out, code = cli(t, time.Minute, "plan", "--target", target, "--component", "system-app-sidekiq")
	if code != 0 || !strings.Contains(out, "== system-app-sidekiq: cannot be resolved: system-sidekiq: ") {
		t.Errorf("plan without system-sidekiq: exit %d:\n%s", code, out)
	}
	deployment("system-sidekiq", nil)
	out, code = cli(t, time.Minute, "plan", "--target", target, "--component", "system-app-sidekiq")
	t.Logf("plan:\n%s", out)
	if code != 0 {
		t.Fatalf("plan exit %d:\n%s", code, out)
	}
	for _, want := range []string{
		"== system-app-sidekiq (scenarios/system-app-sidekiq.yaml)\n   2 components down together",
		"   system-app (Deployment/system-app in namespace 3scale): scale-subresource, 1 replicas",
		"   system-sidekiq (Deployment/system-sidekiq in namespace 3scale): scale-subresource, 1 replicas",
		"observe 45s → 5m10s",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("plan of several components lacks %q", want)
		}
	}
	if strings.Index(out, "   system-app (") > strings.Index(out, "   system-sidekiq (") {
		t.Error("plan does not follow the file's order")
	}
}
