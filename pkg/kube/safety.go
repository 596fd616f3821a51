package kube

import (
	"context"
	"errors"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Errors of the safety checks.
var (
	// ErrNotOptedIn is wrapped when the namespace lacks LabelOptIn=true.
	ErrNotOptedIn = errors.New("namespace has not opted in to chaos experiments")
	// ErrNamespaceNotFound is wrapped when the namespace does not exist.
	ErrNamespaceNotFound = errors.New("namespace not found")
	// ErrUnreachable is wrapped when the API server does not answer in time.
	ErrUnreachable = errors.New("cluster unreachable")
)

// CheckTimeout bounds CheckNamespace when the caller's context has no earlier deadline,
// so an unreachable cluster is reported quickly instead of hanging.
const CheckTimeout = 10 * time.Second

// CheckNamespace refuses a namespace the harness must not touch: one that cannot be read
// (cluster unreachable, no permission), does not exist, or is not labelled
// chaos.3scale.net/opt-in=true. It only reads.
func CheckNamespace(ctx context.Context, c *Client, namespace string) error {
	if namespace == "" {
		return fmt.Errorf("check namespace: no namespace given")
	}
	ctx, cancel := context.WithTimeout(ctx, CheckTimeout)
	defer cancel()
	ns, err := c.Kube.CoreV1().Namespaces().Get(ctx, namespace, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return fmt.Errorf("namespace %q on %s: %w", namespace, c.Host, ErrNamespaceNotFound)
	case apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err):
		return fmt.Errorf("namespace %q on %s: the credentials cannot read it: %w", namespace, c.Host, err)
	case err != nil && !isAPIStatus(err):
		// Not an answer from the API server: refused, timed out, DNS, TLS.
		return fmt.Errorf("namespace %q: %w: API server %s gave no answer (limit %s): %v", namespace, ErrUnreachable, c.Host, CheckTimeout, err)
	case err != nil:
		return fmt.Errorf("namespace %q on %s: %w", namespace, c.Host, err)
	}
	if v := ns.Labels[LabelOptIn]; v != "true" {
		got := "absent"
		if v != "" {
			got = fmt.Sprintf("%q", v)
		}
		return fmt.Errorf("namespace %q on %s: %w: label %s is %s; to allow the harness to scale its workloads run `kubectl label namespace %s %s=true`",
			namespace, c.Host, ErrNotOptedIn, LabelOptIn, got, namespace, LabelOptIn)
	}
	return nil
}

// isAPIStatus reports whether err is an answer from the API server (a Status), as opposed
// to a failure to reach it.
func isAPIStatus(err error) bool {
	var status apierrors.APIStatus
	return errors.As(err, &status)
}
