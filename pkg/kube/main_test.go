package kube

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"

	"github.com/threescale-chaos/harness/pkg/twin/cluster"
)

// apiManagerCRD is the twin's APIManager CRD fixture: same group, version and names as the
// real operator's, which is all this package relies on.
const apiManagerCRD = "../../fixtures/twin/crds/apimanager.yaml"

// deploymentConfigCRD stands in for OpenShift's apps.openshift.io/v1 DeploymentConfig API:
// only what the harness uses, the resource and its scale subresource with the paths
// OpenShift serves. No controller acts on it, so it never has pods.
const deploymentConfigCRD = `
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: deploymentconfigs.apps.openshift.io
spec:
  group: apps.openshift.io
  names: {kind: DeploymentConfig, listKind: DeploymentConfigList, plural: deploymentconfigs, singular: deploymentconfig}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    subresources:
      status: {}
      scale:
        specReplicasPath: .spec.replicas
        statusReplicasPath: .status.replicas
        labelSelectorPath: .status.selector
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
        properties:
          spec:
            type: object
            x-kubernetes-preserve-unknown-fields: true
            properties:
              replicas: {type: integer, format: int32}
          status:
            type: object
            x-kubernetes-preserve-unknown-fields: true
            properties:
              replicas: {type: integer, format: int32}
              selector: {type: string}
`

var crdGVR = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// One cluster (control plane and a node that runs hostNetwork pods as processes) serves
// every test; each test works in its own namespace.
var (
	restCfg *rest.Config
	client  *Client
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) (code int) {
	dir, err := os.MkdirTemp("", "kube-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := cluster.Start(ctx, cluster.Config{Dir: dir}, cluster.NodeOptions{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "start cluster:", err)
		return 1
	}
	defer func() {
		if err := c.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "stop cluster:", err)
			code = 1
		}
	}()
	restCfg = c.RESTConfig()
	if client, err = NewClient(restCfg); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	raw, err := os.ReadFile(apiManagerCRD)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	for _, crd := range [][]byte{raw, []byte(deploymentConfigCRD)} {
		if err := applyCRD(ctx, crd); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	return m.Run()
}

// applyCRD creates a CRD and waits until it is Established.
func applyCRD(ctx context.Context, raw []byte) error {
	obj := &unstructured.Unstructured{}
	if err := yaml.Unmarshal(raw, &obj.Object); err != nil {
		return fmt.Errorf("parse CRD: %w", err)
	}
	if _, err := client.Dynamic.Resource(crdGVR).Create(ctx, obj, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create CRD %s: %w", obj.GetName(), err)
	}
	last := "nothing observed"
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		got, err := client.Dynamic.Resource(crdGVR).Get(ctx, obj.GetName(), metav1.GetOptions{})
		if err != nil {
			last = err.Error()
			return false, nil
		}
		conds, _, _ := unstructured.NestedSlice(got.Object, "status", "conditions")
		last = fmt.Sprint(conds)
		for _, c := range conds {
			m, _ := c.(map[string]any)
			if m["type"] == "Established" && m["status"] == "True" {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("CRD %s not Established: %w; last seen %s", obj.GetName(), err, last)
	}
	return nil
}
