package deploy

import (
	"context"
	"fmt"
	"io/fs"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/threescale-chaos/harness/fixtures"
)

// tokenIdentities are the service accounts whose pods talk to the API server; each gets a
// Secret <name>-kubeconfig (see mintKubeconfig).
var tokenIdentities = map[string]string{
	"zync-que-sa":         "zync-que-sa-kubeconfig",
	"threescale-operator": "threescale-operator-kubeconfig",
}

// Up deploys the twin: the CRDs (waiting until they are established), every rendered object,
// the kubeconfig Secrets of the pods that call the API server, then waits until every
// Deployment is Ready. progress, if not nil, hears about readiness.
func Up(ctx context.Context, cfg *rest.Config, v Values, progress func(ready, total int, waiting []string)) error {
	crds, err := CRDs()
	if err != nil {
		return err
	}
	if err := Apply(ctx, cfg, crds); err != nil {
		return err
	}
	if err := waitEstablished(ctx, cfg, crds); err != nil {
		return err
	}
	if v.OwnerUID, err = applyOwner(ctx, cfg, v); err != nil {
		return err
	}
	objs, err := Render(v)
	if err != nil {
		return fmt.Errorf("render manifests: %w", err)
	}
	if err := Apply(ctx, cfg, objs); err != nil {
		return err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	for sa, secret := range tokenIdentities {
		if err := mintKubeconfig(ctx, cs, cfg, v.apiServerFromPods(cfg), v.Namespace, sa, secret); err != nil {
			return err
		}
	}
	return WaitReady(ctx, cs, v.Namespace, progress)
}

// applyOwner applies the namespace and the APIManager before anything else and returns the
// APIManager's uid: the operator creates its Deployments, Services, ConfigMaps and service
// accounts with a controller reference to the APIManager (research/real-operator-check.md
// §2.2; operator@3scale-2.16.3-GA:pkg/reconcilers/base_reconciler.go SetOwnerReference
// before each create), so the twin's manifests carry one too, and only an existing object
// has a uid.
func applyOwner(ctx context.Context, cfg *rest.Config, v Values) (string, error) {
	objs, err := Render(v)
	if err != nil {
		return "", fmt.Errorf("render manifests: %w", err)
	}
	var first []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == "Namespace" || (o.GetKind() == "APIManager" && o.GetName() == APIManagerName) {
			first = append(first, o)
		}
	}
	if len(first) != 2 {
		return "", fmt.Errorf("render manifests: want the namespace and APIManager %s, found %d of them", APIManagerName, len(first))
	}
	if err := Apply(ctx, cfg, first); err != nil {
		return "", err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return "", err
	}
	am, err := dyn.Resource(apiManagerGVR).Namespace(v.Namespace).Get(ctx, APIManagerName, metav1.GetOptions{})
	if err != nil {
		return "", fmt.Errorf("APIManager %s/%s: %w", v.Namespace, APIManagerName, err)
	}
	return string(am.GetUID()), nil
}

var apiManagerGVR = schema.GroupVersionResource{Group: "apps.3scale.net", Version: "v1alpha1", Resource: "apimanagers"}

// CRDs are the CustomResourceDefinitions the twin needs (fixtures/twin/crds).
func CRDs() ([]*unstructured.Unstructured, error) {
	entries, err := fs.ReadDir(fixtures.TwinCRDs, "twin/crds")
	if err != nil {
		return nil, err
	}
	var objs []*unstructured.Unstructured
	for _, e := range entries {
		b, err := fs.ReadFile(fixtures.TwinCRDs, "twin/crds/"+e.Name())
		if err != nil {
			return nil, err
		}
		docs, err := decode(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", e.Name(), err)
		}
		objs = append(objs, docs...)
	}
	return objs, nil
}

var crdGVR = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

func waitEstablished(ctx context.Context, cfg *rest.Config, crds []*unstructured.Unstructured) error {
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	for _, crd := range crds {
		name := crd.GetName()
		err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
			got, err := dyn.Resource(crdGVR).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return false, nil
			}
			conds, _, _ := unstructured.NestedSlice(got.Object, "status", "conditions")
			for _, c := range conds {
				m, _ := c.(map[string]any)
				if m["type"] == "Established" && m["status"] == "True" {
					return true, nil
				}
			}
			return false, nil
		})
		if err != nil {
			return fmt.Errorf("CRD %s not established: %w", name, err)
		}
	}
	return nil
}

// mintKubeconfig stores in a Secret a kubeconfig that authenticates as a service account
// with a token from the TokenRequest API: the pods that use it have exactly their Role's
// rights, as with the token a kubelet would project.
// apiServerFromPods is the API server's address as the twin's pods reach it: the process
// node's pods are on the host, like the caller; a kubelet's pods use the in-cluster Service,
// which the API server's certificate names (the caller's address, such as kind's port on the
// host's loopback, is not theirs).
func (v Values) apiServerFromPods(cfg *rest.Config) string {
	if v.Platform == ProcessNode {
		return cfg.Host
	}
	return "https://kubernetes.default.svc"
}

func mintKubeconfig(ctx context.Context, cs kubernetes.Interface, cfg *rest.Config, server, ns, sa, secretName string) error {
	tr, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, sa, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptrInt64(int64((30 * 24 * time.Hour).Seconds()))},
	}, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("token for service account %s/%s: %w", ns, sa, err)
	}
	kc := clientcmdapi.NewConfig()
	kc.Clusters["twin"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos[sa] = &clientcmdapi.AuthInfo{Token: tr.Status.Token}
	kc.Contexts["twin"] = &clientcmdapi.Context{Cluster: "twin", AuthInfo: sa, Namespace: ns}
	kc.CurrentContext = "twin"
	b, err := clientcmd.Write(*kc)
	if err != nil {
		return err
	}
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: secretName, Namespace: ns, Labels: map[string]string{"app": "3scale-api-management"}},
		Data:       map[string][]byte{"kubeconfig": b},
	}
	_, err = cs.CoreV1().Secrets(ns).Create(ctx, s, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		_, err = cs.CoreV1().Secrets(ns).Update(ctx, s, metav1.UpdateOptions{})
	}
	if err != nil {
		return fmt.Errorf("kubeconfig Secret %s: %w", secretName, err)
	}
	return nil
}

func ptrInt64(v int64) *int64 { return &v }
