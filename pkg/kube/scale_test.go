package kube

import (
	"context"
	"errors"
	"syscall"
	"testing"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	fakescale "k8s.io/client-go/scale/fake"
	clienttesting "k8s.io/client-go/testing"

	"github.com/threescale-chaos/harness/pkg/catalog"
)

// flakyScales is a scale client whose Updates fail with the given errors, one per call, before
// they succeed; it counts the Updates.
func flakyScales(replicas int32, failures ...error) (*Client, *int, *int32) {
	updates := 0
	fake := &fakescale.FakeScaleClient{}
	fake.AddReactor("get", "deployments", func(clienttesting.Action) (bool, runtime.Object, error) {
		return true, &autoscalingv1.Scale{ObjectMeta: metav1.ObjectMeta{Name: "backend-listener"},
			Spec: autoscalingv1.ScaleSpec{Replicas: replicas}}, nil
	})
	fake.AddReactor("update", "deployments", func(a clienttesting.Action) (bool, runtime.Object, error) {
		updates++
		if updates <= len(failures) {
			return true, nil, failures[updates-1]
		}
		sc := a.(clienttesting.UpdateAction).GetObject().(*autoscalingv1.Scale)
		replicas = sc.Spec.Replicas
		return true, sc, nil
	})
	return &Client{Scales: fake}, &updates, &replicas
}

// A restore that meets a conflict, an API server timeout, a 503 and a refused connection still
// lands; one that meets a final error (forbidden) stops at once and says so.
func TestSetScaleRetriesTransientErrors(t *testing.T) {
	w := catalog.Workload{Kind: catalog.KindDeployment, APIVersion: "apps/v1", Name: "backend-listener"}
	gr := schema.GroupResource{Group: "apps", Resource: "deployments"}
	transient := []error{
		apierrors.NewConflict(gr, w.Name, errors.New("modified")),
		apierrors.NewServerTimeout(gr, "update", 1),
		apierrors.NewServiceUnavailable("etcd leader changed"),
		&netOpError{syscall.ECONNREFUSED},
	}
	c, updates, replicas := flakyScales(0, transient...)
	prev, err := setScale(context.Background(), c, "3scale", w, 2)
	if err != nil || prev != 0 || *replicas != 2 || *updates != len(transient)+1 {
		t.Fatalf("setScale through %d transient errors: prev %d err %v, replicas now %d after %d updates", len(transient), prev, err, *replicas, *updates)
	}

	c, updates, replicas = flakyScales(0, apierrors.NewForbidden(gr, w.Name, errors.New("no RBAC")))
	if _, err := setScale(context.Background(), c, "3scale", w, 2); !apierrors.IsForbidden(err) || *updates != 1 || *replicas != 0 {
		t.Fatalf("setScale on forbidden: err %v after %d updates, replicas %d; want the forbidden error after one update", err, *updates, *replicas)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	c, updates, _ = flakyScales(0, apierrors.NewServiceUnavailable("busy"), apierrors.NewServiceUnavailable("busy"))
	if _, err := setScale(ctx, c, "3scale", w, 2); err == nil || *updates > 1 {
		t.Fatalf("setScale with a cancelled context: err %v after %d updates; want it to stop at the first error", err, *updates)
	}
}

// netOpError is the refused dial client-go reports.
type netOpError struct{ errno syscall.Errno }

func (e *netOpError) Error() string { return "dial tcp 127.0.0.1:6443: " + e.errno.Error() }
func (e *netOpError) Unwrap() error { return e.errno }
