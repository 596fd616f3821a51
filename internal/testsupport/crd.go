package testsupport

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"
)

// CRDGVR is the CustomResourceDefinition resource.
var CRDGVR = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// RepoFile is the path of a file given relative to the repository root (e.g.
// "fixtures/kind/crds/deploymentconfig.yaml"), wherever the test runs from.
func RepoFile(rel string) string {
	_, self, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(self), "..", "..", filepath.FromSlash(rel))
}

// DeploymentConfigCRD is the kind fixture's stand-in for OpenShift's apps.openshift.io/v1
// DeploymentConfig API, with the scale subresource at the paths OpenShift serves.
var DeploymentConfigCRD = RepoFile("fixtures/kind/crds/deploymentconfig.yaml")

// ApplyCRDFile creates the CRD of a one-document YAML file and waits until it is Established.
func ApplyCRDFile(ctx context.Context, dyn dynamic.Interface, path string) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read CRD: %w", err)
	}
	obj := &unstructured.Unstructured{}
	if err := yaml.Unmarshal(raw, &obj.Object); err != nil {
		return fmt.Errorf("parse %s: %w", path, err)
	}
	if _, err := dyn.Resource(CRDGVR).Create(ctx, obj, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create CRD %s: %w", obj.GetName(), err)
	}
	return WaitCRDEstablished(ctx, dyn, obj.GetName())
}

// WaitCRDEstablished waits up to 30 s until the named CRD reports Established, and says its
// last conditions when it does not.
func WaitCRDEstablished(ctx context.Context, dyn dynamic.Interface, name string) error {
	return Poll(ctx, 30*time.Second, "CRD "+name+" Established", func(ctx context.Context) (bool, string) {
		got, err := dyn.Resource(CRDGVR).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		conds, _, _ := unstructured.NestedSlice(got.Object, "status", "conditions")
		for _, c := range conds {
			if m, _ := c.(map[string]any); m["type"] == "Established" && m["status"] == "True" {
				return true, ""
			}
		}
		return false, fmt.Sprint(conds)
	})
}
