package main

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/threescale-chaos/harness/fixtures"
	"github.com/threescale-chaos/harness/internal/testsupport"
	"github.com/threescale-chaos/harness/pkg/kube"
	"github.com/threescale-chaos/harness/pkg/twin/cluster"
)

// install applies every embedded manifest to a real API server (the project's local control
// plane: kube-apiserver with RBAC and admission, no node, so no pod runs), twice, and the
// cluster then holds what the manifests say: the CRDs served, the namespace opted in, the
// APIManager stored through its CRD, the operator's RBAC and Deployment, the node ports.
// zync-que's Route switch is set with a patch the real API server accepts. No Docker is
// needed; the kube binaries are (`make deps`).
func TestInstallAppliesToARealAPIServer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane")
	}
	_, err := cluster.FindBinaries("", "")
	testsupport.Require(t, err == nil, fmt.Sprintf("the local control plane binaries (%v)", err))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	cp, err := cluster.StartControlPlane(ctx, cluster.Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := cp.Stop(); err != nil {
			t.Errorf("stop control plane: %v", err)
		}
	})
	kubeconfig := cluster.KubeconfigPath(dir)
	cfg := installConfig{kubeconfig: kubeconfig, timeout: time.Minute, crdTimeout: 30 * time.Second, interval: time.Second, noWait: true}

	for round := 1; round <= 2; round++ {
		var out bytes.Buffer
		if err := runInstall(ctx, cfg, &out); err != nil {
			t.Fatalf("install, round %d: %v\n%s", round, err, out.String())
		}
		if !strings.Contains(out.String(), "not waiting") {
			t.Errorf("round %d output:\n%s", round, out.String())
		}
	}

	rc, err := kube.LoadRESTConfig(kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := newClients(rc)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := loadManifests(fixtures.Kind, manifestRoot)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		gvk := m.obj.GroupVersionKind()
		mapping, err := cl.RESTMapping(gvk)
		if err != nil {
			t.Errorf("%s: %v", m, err)
			continue
		}
		var got *unstructured.Unstructured
		if m.obj.GetNamespace() == "" {
			got, err = cl.Dynamic.Resource(mapping.Resource).Get(ctx, m.obj.GetName(), metav1.GetOptions{})
		} else {
			got, err = cl.Dynamic.Resource(mapping.Resource).Namespace(m.obj.GetNamespace()).Get(ctx, m.obj.GetName(), metav1.GetOptions{})
		}
		if err != nil {
			t.Errorf("%s: not in the cluster: %v", m, err)
			continue
		}
		owned := false
		for _, f := range got.GetManagedFields() {
			owned = owned || (f.Manager == fieldManager && f.Operation == metav1.ManagedFieldsOperationApply)
		}
		if !owned {
			t.Errorf("%s: no fields applied by %s", m, fieldManager)
		}
		if m.isCRD() {
			if ok, seen := crdEstablished(got); !ok {
				t.Errorf("%s: not Established: %s", m, seen)
			}
		}
	}

	ns, err := cl.Kube.CoreV1().Namespaces().Get(ctx, namespace, metav1.GetOptions{})
	if err != nil || ns.Labels["chaos.3scale.net/opt-in"] != "true" {
		t.Errorf("namespace %s: %v, labels %v", namespace, err, ns.GetLabels())
	}
	am, err := cl.Dynamic.Resource(apiManagerGVR).Namespace(namespace).Get(ctx, apiManagerName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if wd, _, _ := unstructured.NestedString(am.Object, "spec", "wildcardDomain"); wd != "kind.localhost" {
		t.Errorf("APIManager wildcardDomain %q", wd)
	}
	if ext, _, _ := unstructured.NestedBool(am.Object, "spec", "externalComponents", "system", "database"); !ext {
		t.Errorf("APIManager lost spec.externalComponents (pruned by its CRD?): %v", am.Object["spec"])
	}
	for _, name := range []string{"kind-apicast-production", "kind-system-provider", "kind-backend-listener"} {
		svc, err := cl.Kube.CoreV1().Services(namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil || svc.Spec.Type != corev1.ServiceTypeNodePort || svc.Spec.Ports[0].NodePort < 30080 || svc.Spec.Ports[0].NodePort > 30090 {
			t.Errorf("Service %s: %v %+v", name, err, svc.Spec)
		}
	}
	// The operator's ServiceAccount can do what the operator does, cluster-wide.
	for _, check := range []struct{ group, resource, verb, ns string }{
		{"apps", "deployments", "update", "other-namespace"},
		{"route.openshift.io", "routes", "create", namespace},
		{"config.openshift.io", "clusterversions", "list", ""},
		{"image.openshift.io", "imagestreams", "list", namespace},
		{"apps.openshift.io", "deploymentconfigs", "watch", ""},
		{"apps.3scale.net", "apimanagers/status", "update", namespace},
		{"coordination.k8s.io", "leases", "create", namespace},
		{"rbac.authorization.k8s.io", "roles", "create", namespace},
	} {
		if !canI(ctx, t, cl, "system:serviceaccount:"+namespace+":3scale-operator", check.group, check.resource, check.verb, check.ns) {
			t.Errorf("the operator may not %s %s.%s in %q", check.verb, check.resource, check.group, check.ns)
		}
	}

	// zync-que as the operator would make it; the install's patch adds the variable.
	zq := zyncQue(corev1.EnvVar{Name: "RAILS_ENV", Value: "production"})
	zq.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"deployment": zyncQueDeployment}}
	zq.Spec.Template.Labels = map[string]string{"deployment": zyncQueDeployment}
	if _, err := cl.Kube.AppsV1().Deployments(namespace).Create(ctx, zq, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if done, err := disableZyncRoutes(ctx, cl.Kube, namespace); !done || err != nil {
		t.Fatalf("disableZyncRoutes on a real API server: done %v, %v", done, err)
	}
	got, err := cl.Kube.AppsV1().Deployments(namespace).Get(ctx, zyncQueDeployment, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for _, e := range got.Spec.Template.Spec.Containers[0].Env {
		env[e.Name] = e.Value
	}
	if env[zyncRoutesEnv] != "1" || env["RAILS_ENV"] != "production" {
		t.Errorf("zync-que env after the patch: %v", env)
	}

	// Without a node nothing becomes Available; the wait says so, naming what it waits for.
	w := &waiter{kube: cl.Kube, dyn: cl.Dynamic, namespace: namespace, apiManager: apiManagerName,
		deployments: expectedDeployments(ms), jobs: jobNames(ms), interval: 200 * time.Millisecond,
		progressEvery: time.Hour, out: &bytes.Buffer{}, start: time.Now()}
	err = w.run(ctx, time.Second)
	if err == nil {
		t.Fatal("the wait succeeded on a cluster that runs no pods")
	}
	for _, want := range []string{"backend-redis (", "system-app (not created yet)", "Job minio-bucket ("} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the timeout does not say %q:\n%v", want, err)
		}
	}
}

func canI(ctx context.Context, t *testing.T, cl *clients, user, group, resource, verb, ns string) bool {
	t.Helper()
	res, sub, _ := strings.Cut(resource, "/")
	sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User:               user,
		ResourceAttributes: &authorizationv1.ResourceAttributes{Group: group, Resource: res, Subresource: sub, Verb: verb, Namespace: ns},
	}}
	got, err := cl.Kube.AuthorizationV1().SubjectAccessReviews().Create(ctx, sar, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("SubjectAccessReview: %v", err)
	}
	return got.Status.Allowed
}
