package samplers

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/threescale-chaos/harness/pkg/probe"
	"github.com/threescale-chaos/harness/pkg/scenario"
	"github.com/threescale-chaos/harness/pkg/threescale"
)

// DefaultGatewayStartBound is how long a new apicast-production pod may take to be Ready
// before gateway-rollout counts it as stuck: its readiness probe starts after 15s and runs
// every 30s (3scale-operator@3scale-2.16.3-GA pkg/3scale/amp/component/apicast.go
// ProductionDeployment: /status/ready, initialDelaySeconds 15, periodSeconds 30), so a
// healthy pod is Ready after one or two probes; the rest is margin for its init container
// and its boot.
const DefaultGatewayStartBound = 60 * time.Second

// gatewayPods lists apicast-production's pods through its Deployment's selector, as the
// ReplicaSets own them.
func gatewayPods(ctx context.Context, env *threescale.Env, timeout time.Duration) ([]corev1.Pod, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	d, err := env.Kube.AppsV1().Deployments(env.Target.Namespace).Get(ctx, threescale.ProductionGateway, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return nil, fmt.Errorf("Deployment %s: selector: %w", threescale.ProductionGateway, err)
	}
	pods, err := env.Kube.CoreV1().Pods(env.Target.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return nil, err
	}
	return pods.Items, nil
}

func podReady(p corev1.Pod) (bool, time.Time) {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue, c.LastTransitionTime.Time
		}
	}
	return false, time.Time{}
}

// podWaiting says what keeps a pod from running: the reason of the first container (init
// containers first) that waits or has terminated with an error.
func podWaiting(p corev1.Pod) string {
	for _, st := range append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
		switch {
		case st.State.Waiting != nil && st.State.Waiting.Reason != "":
			return fmt.Sprintf("%s %s (%d restarts)", st.Name, st.State.Waiting.Reason, st.RestartCount)
		case st.State.Running != nil && !st.Ready && strings.HasPrefix(st.Name, "system-master"):
			return st.Name + " waiting for system-master"
		case st.State.Running != nil && !st.Ready:
			return fmt.Sprintf("%s running, not Ready (%d restarts)", st.Name, st.RestartCount)
		}
	}
	return string(p.Status.Phase)
}

// gatewayRollout is gateway-rollout's sample: no apicast-production pod (being deleted ones
// aside) has been starting for longer than bound.
func (s *samplers) gatewayRollout(bound time.Duration) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		pods, err := gatewayPods(ctx, s.env, s.o.Timeout)
		if err != nil {
			return &probe.Failure{Class: probe.ClassifyError(err), Detail: "apicast-production pods: " + probe.ErrorDetail(err)}
		}
		now := time.Now()
		for _, p := range pods {
			if p.DeletionTimestamp != nil {
				continue
			}
			if ready, _ := podReady(p); !ready && now.Sub(p.CreationTimestamp.Time) > bound {
				return probe.Failf(scenario.ErrNotApplied, "pod %s not Ready %s after it was created (bound %s): %s",
					p.Name, now.Sub(p.CreationTimestamp.Time).Round(time.Second), bound, podWaiting(p))
			}
		}
		return nil
	}
}

// rolloutProbe deploys a new apicast-production pod while the fault holds, the way a user
// rolls the gateway out (kubectl rollout restart: the pod template's restartedAt annotation,
// threescale.StartRollout), and checks after recovery that the new pod became Ready and
// replaced the old one. The Deployment's RollingUpdate strategy (25% surge, 25% unavailable,
// which for one replica is one pod more and none fewer) keeps the old pod serving until then.
type rolloutProbe struct {
	s       *samplers
	o       WorkOptions
	mu      sync.Mutex
	before  map[string]bool
	gen     int64
	started bool
}

func (p *rolloutProbe) Capability() scenario.Capability { return scenario.GatewayRollout }

// Baseline records the pods that run before the fault.
func (p *rolloutProbe) Baseline(ctx context.Context) error {
	pods, err := gatewayPods(ctx, p.s.env, p.o.Timeout)
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.before = map[string]bool{}
	for _, pod := range pods {
		p.before[pod.Name] = true
	}
	p.started = false
	return nil
}

// Submit starts the rollout; it does not wait for it.
func (p *rolloutProbe) Submit(ctx context.Context) error {
	gen, err := threescale.StartRollout(ctx, p.s.env, threescale.ProductionGateway)
	if err != nil {
		return err
	}
	p.mu.Lock()
	p.gen, p.started = gen, true
	p.mu.Unlock()
	return nil
}

// Check waits, within the budget, for the rollout to complete: the new generation observed,
// every replica a new pod that is Ready, and none of the pods from before left.
func (p *rolloutProbe) Check(ctx context.Context, budget time.Duration) (scenario.WorkCheck, error) {
	p.mu.Lock()
	gen, started, before := p.gen, p.started, p.before
	p.mu.Unlock()
	wc := scenario.WorkCheck{Capability: scenario.GatewayRollout, What: "gateway rollouts"}
	if !started {
		wc.CheckedAt = time.Now()
		return wc, nil
	}
	wc.Submitted = 1
	last := "not read yet"
	wctx, cancel := context.WithTimeout(ctx, p.o.within(budget).Settle)
	defer cancel()
	err := wait.PollUntilContextCancel(wctx, time.Second, true, func(ctx context.Context) (bool, error) {
		done, state, err := threescale.RolloutState(ctx, p.s.env, threescale.ProductionGateway, gen)
		if err != nil {
			last = err.Error()
			return false, nil
		}
		last = state
		if !done {
			return false, nil
		}
		pods, err := gatewayPods(ctx, p.s.env, p.o.Timeout)
		if err != nil {
			last = err.Error()
			return false, nil
		}
		var fresh, old []string
		for _, pod := range pods {
			if before[pod.Name] {
				old = append(old, pod.Name)
			} else if ready, at := podReady(pod); ready {
				fresh = append(fresh, fmt.Sprintf("%s (Ready at %s, %s after it was created)", pod.Name, at.UTC().Format("15:04:05"), at.Sub(pod.CreationTimestamp.Time).Round(time.Second)))
			}
		}
		sort.Strings(fresh)
		last = fmt.Sprintf("%s; new pods Ready: %s; pods from before left: %d", state, strings.Join(fresh, ", "), len(old))
		return len(fresh) > 0 && len(old) == 0, nil
	})
	wc.CheckedAt = time.Now()
	wc.Detail = last
	if err == nil {
		wc.Applied = 1
	}
	return wc, nil
}
