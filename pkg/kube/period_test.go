package kube

import (
	"context"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"github.com/threescale-chaos/harness/pkg/catalog"
)

// apicastProduction creates Deployment apicast-production at zero replicas (nothing needs
// to run: only its pod template is read) with the given container env.
func apicastProduction(t *testing.T, ns string, env []corev1.EnvVar) {
	t.Helper()
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "apicast-production"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(int32(0)),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"deployment": "apicast-production"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"deployment": "apicast-production"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{
					// A sidecar first: the gateway's container is found by its name.
					{Name: "sidecar", Image: "none", Env: []corev1.EnvVar{{Name: "APICAST_CONFIGURATION_CACHE", Value: "1"}}},
					{Name: "apicast-production", Image: "none", Env: env},
				}},
			},
		},
	}
	if _, err := client.Kube.AppsV1().Deployments(ns).Create(context.Background(), d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// The refresh period is read from the workload Resolve finds: the operator's env on
// Deployment/apicast-production, a DeploymentConfig on 2.14; and when it cannot be read
// (no workload, no RBAC, a value from a Secret) the reading says why and carries the
// operator's 300s.
func TestReadPeriodFromTheGatewayWorkload(t *testing.T) {
	ctx := testCtx(t)
	p := catalog.ProductionConfigRefresh

	ns := namespace(t, true)
	if r := ReadPeriod(ctx, client, ns, catalog.V2_16, p); r.Unread == "" || !strings.Contains(r.Unread, "workload not found") || r.Interval != 300*time.Second {
		t.Errorf("no workload: %+v", r)
	}
	apicastProduction(t, ns, []corev1.EnvVar{ // operator@3scale-2.16.3-GA apicast.go buildApicastProductionEnv
		{Name: "APICAST_CONFIGURATION_LOADER", Value: "boot"},
		{Name: "APICAST_CONFIGURATION_CACHE", Value: "300"},
		{Name: "THREESCALE_DEPLOYMENT_ENV", Value: "production"},
	})
	r := ReadPeriod(ctx, client, ns, catalog.V2_16, p)
	if r.Unread != "" || r.Interval != 300*time.Second || !strings.Contains(r.Source, "APICAST_CONFIGURATION_CACHE=300") || !strings.Contains(r.Source, "Deployment/apicast-production") {
		t.Errorf("operator's Deployment: %+v", r)
	}

	// Credentials that may not read Deployments.
	cfg := rest.CopyConfig(restCfg)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: "threescale-chaos-nobody"}
	nobody, err := NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if r := ReadPeriod(ctx, nobody, ns, catalog.V2_16, p); !strings.Contains(r.Unread, "forbidden") || r.Interval != 300*time.Second || !strings.Contains(r.Source, "assumed 300s") {
		t.Errorf("no RBAC: %+v", r)
	}

	ns2 := namespace(t, true)
	apicastProduction(t, ns2, []corev1.EnvVar{{Name: "APICAST_CONFIGURATION_CACHE", ValueFrom: &corev1.EnvVarSource{
		SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "gw"}, Key: "cache"}}}})
	if r := ReadPeriod(ctx, client, ns2, catalog.V2_16, p); !strings.Contains(r.Unread, "key cache of Secret gw") || r.Interval != 300*time.Second {
		t.Errorf("from a Secret: %+v", r)
	}

	// 2.14: the same template, on a DeploymentConfig.
	ns3 := namespace(t, true)
	dc := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apps.openshift.io/v1", "kind": "DeploymentConfig",
		"metadata": map[string]any{"name": "apicast-production"},
		"spec": map[string]any{
			"replicas": 1,
			"selector": map[string]any{"deploymentConfig": "apicast-production"},
			"template": map[string]any{
				"metadata": map[string]any{"labels": map[string]any{"deploymentConfig": "apicast-production"}},
				"spec": map[string]any{"containers": []any{map[string]any{
					"name": "apicast-production", "image": "none",
					"env": []any{map[string]any{"name": "APICAST_CONFIGURATION_CACHE", "value": "120"}, map[string]any{"name": "APICAST_CONFIGURATION_LOADER", "value": "boot"}},
				}}},
			},
		},
	}}
	if _, err := client.Dynamic.Resource(DeploymentConfigsGVR).Namespace(ns3).Create(ctx, dc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if r := ReadPeriod(ctx, client, ns3, catalog.Version{}, p); r.Unread != "" || r.Interval != 120*time.Second || !strings.Contains(r.Source, "DeploymentConfig/apicast-production") {
		t.Errorf("DeploymentConfig: %+v", r)
	}
}
