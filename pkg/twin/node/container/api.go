// Package container runs one Kubernetes container of a pod as a local process: it
// resolves the container's environment and command the way the kubelet does, prepares
// the pod's volumes as host directories, starts the process in a private mount namespace
// with those volumes bind-mounted at their mountPaths, and runs probes against it.
//
// It knows nothing of pod lifecycles or the API server beyond reading Secrets and
// ConfigMaps through Lookup; the node agent (package node) drives it.
package container

import (
	"context"

	corev1 "k8s.io/api/core/v1"
)

// Lookup reads the objects a container's env, envFrom and volumes refer to.
// It returns an error satisfying apierrors.IsNotFound when the object is missing.
type Lookup interface {
	Secret(ctx context.Context, namespace, name string) (*corev1.Secret, error)
	ConfigMap(ctx context.Context, namespace, name string) (*corev1.ConfigMap, error)
}
