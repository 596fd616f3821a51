package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/threescale-chaos/harness/pkg/twin/node"
)

// Cluster is a control plane and its one node agent.
type Cluster struct {
	*ControlPlane
	Client    kubernetes.Interface
	agent     *node.Agent
	stopAgent context.CancelFunc
	agentDone chan error
}

// NodeOptions tunes the node agent; zero values take the kubelet's defaults.
type NodeOptions struct {
	Name           string
	BackoffInitial time.Duration
	BackoffMax     time.Duration
}

// Start starts the control plane and the node agent, and returns once the Node is Ready and
// the default ServiceAccount exists (so pods can be created). On error nothing is left running.
func Start(ctx context.Context, cfg Config, nodeOpts NodeOptions) (_ *Cluster, retErr error) {
	cp, err := StartControlPlane(ctx, cfg)
	if err != nil {
		return nil, err
	}
	c := &Cluster{ControlPlane: cp}
	defer func() {
		if retErr != nil {
			_ = c.Stop()
		}
	}()
	rc := cp.RESTConfig()
	rc.UserAgent = "threescale-twin-node"
	c.Client, err = kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, err
	}
	c.agent, err = node.New(c.Client, node.Config{
		NodeName:       nodeOpts.Name,
		Dir:            cp.Dir(),
		KubeletVersion: KubeVersion,
		BackoffInitial: nodeOpts.BackoffInitial,
		BackoffMax:     nodeOpts.BackoffMax,
		ExtraEnv:       []string{MarkerEnv + "=" + cp.Dir()},
	})
	if err != nil {
		return nil, err
	}
	agentCtx, cancel := context.WithCancel(context.Background())
	c.stopAgent = cancel
	c.agentDone = make(chan error, 1)
	ready := make(chan struct{})
	go func() { c.agentDone <- c.agent.Run(agentCtx, ready) }()
	select {
	case <-ready:
	case err := <-c.agentDone:
		c.agentDone <- err
		return nil, fmt.Errorf("node agent: %w", err)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	waitCtx, cancelWait := context.WithTimeout(ctx, cfg.startTimeout())
	defer cancelWait()
	if err := c.waitNodeReady(waitCtx); err != nil {
		return nil, err
	}
	return c, nil
}

func (cfg Config) startTimeout() time.Duration {
	if cfg.StartTimeout == 0 {
		return 60 * time.Second
	}
	return cfg.StartTimeout
}

// NodeName is the name of the cluster's only node.
func (c *Cluster) NodeName() string { return c.agent.NodeName() }

// RESTConfig is the admin credential.
func (c *Cluster) RESTConfig() *rest.Config { return c.ControlPlane.RESTConfig() }

func (c *Cluster) waitNodeReady(ctx context.Context) error {
	last := "not registered"
	err := wait.PollUntilContextCancel(ctx, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		n, err := c.Client.CoreV1().Nodes().Get(ctx, c.agent.NodeName(), metav1.GetOptions{})
		if err != nil {
			last = err.Error()
			return false, nil
		}
		ready := false
		for _, cond := range n.Status.Conditions {
			if cond.Type == corev1.NodeReady {
				ready = cond.Status == corev1.ConditionTrue
				last = fmt.Sprintf("Ready=%s (%s)", cond.Status, cond.Reason)
			}
		}
		if !ready {
			return false, nil
		}
		// The service account controller creates "default" in each namespace; until it has,
		// pods that name no service account would be rejected if ServiceAccount admission ran.
		_, err = c.Client.CoreV1().ServiceAccounts(metav1.NamespaceDefault).Get(ctx, "default", metav1.GetOptions{})
		if err != nil {
			last = "node Ready, default ServiceAccount: " + err.Error()
			return false, nil
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("node %s not ready: last seen %s: %w", c.agent.NodeName(), last, err)
	}
	return nil
}

// Stop stops every pod process (SIGTERM, grace, SIGKILL), the node agent, and the control
// plane, then kills anything of the cluster that is still running. Safe to call twice.
func (c *Cluster) Stop() error {
	var errs []error
	if c.stopAgent != nil {
		c.stopAgent()
		if err := <-c.agentDone; err != nil && !errors.Is(err, context.Canceled) {
			errs = append(errs, fmt.Errorf("node agent: %w", err))
		}
		c.stopAgent = nil
	}
	dir := c.Dir()
	if err := c.ControlPlane.Stop(); err != nil {
		errs = append(errs, err)
	}
	if killed, err := KillLeftovers(dir, 10*time.Second); err != nil {
		errs = append(errs, err)
	} else if len(killed) > 0 {
		errs = append(errs, fmt.Errorf("killed processes that outlived the stop: %v", killed))
	}
	return errors.Join(errs...)
}
