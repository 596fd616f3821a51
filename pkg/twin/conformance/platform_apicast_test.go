package conformance

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/threescale-chaos/harness/internal/testsupport"
)

// errSeen is what a poll reports for err: nothing once the wait's own deadline has passed, so
// that the wait's message keeps the last state it really saw.
func errSeen(ctx context.Context, err error) string {
	if ctx.Err() != nil {
		return ""
	}
	return err.Error()
}

// envShape is one env entry as the operator writes it: a literal value, or the Secret or
// ConfigMap key it comes from.
func envShape(e corev1.EnvVar) string {
	switch {
	case e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil:
		return fmt.Sprintf("%s=secret:%s/%s", e.Name, e.ValueFrom.SecretKeyRef.Name, e.ValueFrom.SecretKeyRef.Key)
	case e.ValueFrom != nil && e.ValueFrom.ConfigMapKeyRef != nil:
		return fmt.Sprintf("%s=configmap:%s/%s", e.Name, e.ValueFrom.ConfigMapKeyRef.Name, e.ValueFrom.ConfigMapKeyRef.Key)
	default:
		return e.Name + "=" + e.Value
	}
}

// The apicast Deployments carry the operator's environment, in its order
// (operator@3scale-2.16.3-GA pkg/3scale/amp/component/apicast.go buildApicastCommonEnv,
// buildApicastStagingEnv, buildApicastProductionEnv; the same at 3scale-2.15.1-GA), the
// apicast-environment ConfigMap with the values the APIManager defaults to (EnvironmentConfigMap;
// research/real-operator-check.md §2.1), the operator's init container and probes. The twin
// adds only its listen address and ports after them.
func TestApicastDeploymentsCarryTheOperatorsEnvironment(t *testing.T) {
	ctx := context.Background()
	common := []string{
		"THREESCALE_PORTAL_ENDPOINT=secret:system-master-apicast/PROXY_CONFIGS_ENDPOINT",
		"BACKEND_ENDPOINT_OVERRIDE=secret:backend-listener/service_endpoint",
		"APICAST_MANAGEMENT_API=configmap:apicast-environment/APICAST_MANAGEMENT_API",
		"OPENSSL_VERIFY=configmap:apicast-environment/OPENSSL_VERIFY",
		"APICAST_RESPONSE_CODES=configmap:apicast-environment/APICAST_RESPONSE_CODES",
	}
	want := map[string][]string{
		"apicast-staging":    append(slices.Clone(common), "APICAST_CONFIGURATION_LOADER=lazy", "APICAST_CONFIGURATION_CACHE=0", "THREESCALE_DEPLOYMENT_ENV=staging"),
		"apicast-production": append(slices.Clone(common), "APICAST_CONFIGURATION_LOADER=boot", "APICAST_CONFIGURATION_CACHE=300", "THREESCALE_DEPLOYMENT_ENV=production"),
	}
	twinOnly := []string{"APICAST_LISTEN_HOST", "APICAST_HTTP_PORT", "APICAST_MANAGEMENT_PORT"}
	for name, env := range want {
		d, err := client.AppsV1().Deployments(namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		c := d.Spec.Template.Spec.Containers[0]
		var got []string
		for _, e := range c.Env {
			if !slices.Contains(twinOnly, e.Name) {
				got = append(got, envShape(e))
			}
		}
		if !reflect.DeepEqual(got, env) {
			t.Errorf("%s env\n got %q\nwant %q", name, got, env)
		}
		if len(c.Env) != len(env)+len(twinOnly) {
			t.Errorf("%s has %d env entries, want the operator's %d and the twin's %v after them", name, len(c.Env), len(env), twinOnly)
		}
		for i, e := range c.Env[len(env):] {
			if i < len(twinOnly) && e.Name != twinOnly[i] {
				t.Errorf("%s env entry %d is %s, want the twin's %s after the operator's", name, len(env)+i, e.Name, twinOnly[i])
			}
		}
		if p := c.ReadinessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/status/ready" || p.InitialDelaySeconds != 15 || p.PeriodSeconds != 30 || p.TimeoutSeconds != 5 {
			t.Errorf("%s readiness probe %+v, want /status/ready after 15s, every 30s, 5s timeout", name, p)
		}
		if p := c.LivenessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/status/live" || p.InitialDelaySeconds != 10 || p.PeriodSeconds != 10 || p.TimeoutSeconds != 5 {
			t.Errorf("%s liveness probe %+v, want /status/live after 10s, every 10s, 5s timeout", name, p)
		}
		if d.Spec.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType || d.Spec.Template.Spec.ServiceAccountName != "amp" {
			t.Errorf("%s strategy %s, service account %q, want RollingUpdate and amp", name, d.Spec.Strategy.Type, d.Spec.Template.Spec.ServiceAccountName)
		}
		var inits []string
		for _, ic := range d.Spec.Template.Spec.InitContainers {
			inits = append(inits, ic.Name)
		}
		if wantInits := map[string][]string{"apicast-production": {"system-master-svc"}}[name]; !reflect.DeepEqual(inits, wantInits) {
			t.Errorf("%s init containers %v, want %v", name, inits, wantInits)
		}
	}
	cm, err := client.CoreV1().ConfigMaps(namespace).Get(ctx, "apicast-environment", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"APICAST_MANAGEMENT_API": "status", "OPENSSL_VERIFY": "false", "APICAST_RESPONSE_CODES": "true"}; !reflect.DeepEqual(cm.Data, want) {
		t.Errorf("apicast-environment %v, want %v", cm.Data, want)
	}
}

// restartProduction rolls apicast-production out as `kubectl rollout restart` does (and 3scale
// QE's suite: testsuite/gateways/apicast/system.py reload → deployment.rollout): a merge patch
// of the pod template annotation kubectl.kubernetes.io/restartedAt. It waits until the rollout
// is complete, that is one pod left, a new one, Running and Ready, and returns how long that
// took.
func restartProduction(t *testing.T) time.Duration {
	t.Helper()
	ctx := context.Background()
	old := map[string]bool{}
	pods, err := client.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: "deployment=apicast-production"})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		old[p.Name] = true
	}
	patch, _ := json.Marshal(map[string]any{"spec": map[string]any{"template": map[string]any{"metadata": map[string]any{
		"annotations": map[string]any{"kubectl.kubernetes.io/restartedAt": time.Now().Format(time.RFC3339Nano)}}}}})
	start := time.Now()
	if _, err := client.AppsV1().Deployments(namespace).Patch(ctx, "apicast-production", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatalf("restart apicast-production: %v", err)
	}
	testsupport.Eventually(t, 3*time.Minute, "the apicast-production rollout to complete (one new pod Ready, the old one gone)", func(ctx context.Context) (bool, string) {
		d, err := client.AppsV1().Deployments(namespace).Get(ctx, "apicast-production", metav1.GetOptions{})
		if err != nil {
			return false, errSeen(ctx, err)
		}
		pods, err := client.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: "deployment=apicast-production"})
		if err != nil {
			return false, errSeen(ctx, err)
		}
		var seen []string
		done := len(pods.Items) == 1
		for _, p := range pods.Items {
			ready := false
			for _, c := range p.Status.Conditions {
				if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
					ready = true
				}
			}
			seen = append(seen, fmt.Sprintf("%s old=%v phase=%s ready=%v deleting=%v", p.Name, old[p.Name], p.Status.Phase, ready, p.DeletionTimestamp != nil))
			done = done && !old[p.Name] && ready && p.DeletionTimestamp == nil
		}
		st := d.Status
		done = done && st.ObservedGeneration >= d.Generation && st.UpdatedReplicas == 1 && st.ReadyReplicas == 1 && st.Replicas == 1
		return done, fmt.Sprintf("pods %v; deployment generation %d observed %d updated %d ready %d replicas %d",
			seen, d.Generation, st.ObservedGeneration, st.UpdatedReplicas, st.ReadyReplicas, st.Replicas)
	})
	return time.Since(start)
}

// production answers with the product's status code through apicast-production.
func statusOf(p *product, env string) (int, error) {
	r, err := p.call(env, p.userKey)
	return r.status, err
}

// A product promoted after apicast-production booted is served by staging at once (lazy, no
// cache), but not by production until its next refresh, 300s away (boot loader,
// APICAST_CONFIGURATION_CACHE=300: APIcast@3scale-2.16.3-GA
// gateway/src/apicast/configuration_loader.lua boot.init_worker schedules the first refresh one
// interval after boot); an unknown host is an empty 404. A rollout restart makes a new pod that
// boots with the product: after it, production serves it. During the restart the gateway never
// stops answering products it already had (maxUnavailable 0: the old pod goes only once the new
// one is Ready). Three restarts are timed.
func TestProductionServesAPromotedProductOnlyAfterARestart(t *testing.T) {
	served := newProduct(t) // restarts production, so it booted just now
	var took []time.Duration
	for i := range 3 {
		p := provisionProduct(t)
		if code, err := statusOf(p, "staging"); err != nil || code != 200 {
			t.Fatalf("staging right after the promote: %d %v, want 200 (lazy loader, no cache)", code, err)
		}
		// Before a refresh production does not know the host. The first time, watch it longer
		// than any refresh period shorter than the operator's 300s would allow.
		watch := time.Duration(0)
		if i == 0 {
			watch = 12 * time.Second
		}
		for deadline := time.Now().Add(watch); ; {
			r, err := p.call("production", p.userKey)
			if err != nil || r.status != 404 || r.body != "" {
				t.Fatalf("production %s after the promote: %d %q %v, want an empty 404 until a refresh or a restart", time.Since(deadline.Add(-watch)).Round(time.Millisecond), r.status, r.body, err)
			}
			if time.Now().After(deadline) {
				break
			}
			time.Sleep(500 * time.Millisecond)
		}

		var failures atomic.Int64
		var lastFailure atomic.Value
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				case <-time.After(100 * time.Millisecond):
				}
				if code, err := statusOf(served, "production"); err != nil || code != 200 {
					failures.Add(1)
					lastFailure.Store(fmt.Sprintf("%d %v", code, err))
				}
			}
		}()
		d := restartProduction(t)
		close(stop)
		wg.Wait()
		if n := failures.Load(); n > 0 {
			t.Errorf("restart %d: %d requests for an already served product failed during the rollout (last: %v)", i+1, n, lastFailure.Load())
		}
		testsupport.Eventually(t, 10*time.Second, "production serving the product after the restart", func(context.Context) (bool, string) {
			code, err := statusOf(p, "production")
			return err == nil && code == 200, fmt.Sprintf("%d %v", code, err)
		})
		took = append(took, d)
		t.Logf("rollout restart %d of apicast-production: %s", i+1, d.Round(10*time.Millisecond))
	}
	sorted := slices.Clone(took)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	t.Logf("rollout restart of apicast-production: median %s of %v", sorted[len(sorted)/2].Round(10*time.Millisecond), took)
}
