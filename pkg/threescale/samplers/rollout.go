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
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"

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

// gatewaySelector is apicast-production's Deployment's pod selector.
func gatewaySelector(ctx context.Context, env *threescale.Env, timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	d, err := env.Kube.AppsV1().Deployments(env.Target.Namespace).Get(ctx, threescale.ProductionGateway, metav1.GetOptions{})
	if err != nil {
		return "", err
	}
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return "", fmt.Errorf("Deployment %s: selector: %w", threescale.ProductionGateway, err)
	}
	return sel.String(), nil
}

// gatewayPods lists apicast-production's pods through its Deployment's selector, as the
// ReplicaSets own them.
func gatewayPods(ctx context.Context, env *threescale.Env, timeout time.Duration) ([]corev1.Pod, error) {
	sel, err := gatewaySelector(ctx, env, timeout)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	pods, err := env.Kube.CoreV1().Pods(env.Target.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel})
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
//
// Stopping the old pod cuts the production gateway's traffic off for a moment: apicast's
// nginx exits at once on SIGTERM and the operator gives it no preStop hook
// (3scale-operator@3scale-2.16.3-GA pkg/3scale/amp/component/apicast.go), so until kube-proxy
// drops the pod's endpoint a request can reach a gateway that is gone. The probe watches the
// old pods from Submit on and reports each one's stop as a scenario.Disturbance of the
// capabilities sampled through apicast-production (Disturbances), which the cells do not
// judge: the harness caused it, not the outage.
type rolloutProbe struct {
	s       *samplers
	o       WorkOptions
	mu      sync.Mutex
	before  map[string]bool
	gen     int64
	started bool
	// stops are the old pods' stops the watch saw, by pod name; stopWatch ends the watch.
	stops     map[string]*podStop
	stopWatch func()
	checkedAt time.Time
}

// podStop is when an old pod was seen asked to stop (its deletionTimestamp set) and seen
// gone, by the harness's clock, which the samples use too.
type podStop struct{ asked, gone time.Time }

// ThroughProductionGateway are the capabilities whose samplers send requests through
// apicast-production (For: production-traffic, unauthorized-denial, rate-limiting).
var ThroughProductionGateway = []scenario.Capability{scenario.ProductionTraffic, scenario.UnauthorizedDenial, scenario.RateLimiting}

// Margins of a pod stop's disturbance: it starts stopLead before the watch saw the pod
// asked to stop (the event's delivery; the kubelet sends SIGTERM only after the API server
// has recorded the deletion) and ends stopTail after the pod was seen gone (kube-proxy's
// resync of the Service's rules, one second by default, usually done well before).
const (
	stopLead = 500 * time.Millisecond
	stopTail = 2 * time.Second
)

func (p *rolloutProbe) Capability() scenario.Capability { return scenario.GatewayRollout }

// Baseline records the pods that run before the fault.
func (p *rolloutProbe) Baseline(ctx context.Context) error {
	pods, err := gatewayPods(ctx, p.s.env, p.o.Timeout)
	if err != nil {
		return err
	}
	p.endWatch()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.before = map[string]bool{}
	for _, pod := range pods {
		p.before[pod.Name] = true
	}
	p.started, p.stops, p.checkedAt = false, map[string]*podStop{}, time.Time{}
	return nil
}

// Submit starts watching the old pods, then the rollout; it does not wait for it.
func (p *rolloutProbe) Submit(ctx context.Context) error {
	if err := p.watchOldPods(ctx); err != nil {
		return fmt.Errorf("watching %s's pods: %w", threescale.ProductionGateway, err)
	}
	gen, err := threescale.StartRollout(ctx, p.s.env, threescale.ProductionGateway)
	if err != nil {
		p.endWatch()
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
	p.mu.Lock()
	p.checkedAt = wc.CheckedAt
	p.mu.Unlock()
	return wc, nil
}

// watchOldPods watches apicast-production's pods (an informer: it lists, then watches, and
// re-lists when a watch drops) and records when each pod from before the fault is asked to
// stop and when it is gone.
func (p *rolloutProbe) watchOldPods(ctx context.Context) error {
	p.endWatch()
	sel, err := gatewaySelector(ctx, p.s.env, p.o.Timeout)
	if err != nil {
		return err
	}
	factory := informers.NewSharedInformerFactoryWithOptions(p.s.env.Kube, 0, informers.WithNamespace(p.s.env.Target.Namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = sel }))
	inf := factory.Core().V1().Pods().Informer()
	seen := func(obj any, gone bool) {
		if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = t.Obj
		}
		pod, ok := obj.(*corev1.Pod)
		if !ok || (!gone && pod.DeletionTimestamp == nil) {
			return
		}
		now := time.Now()
		p.mu.Lock()
		defer p.mu.Unlock()
		if !p.before[pod.Name] {
			return
		}
		if p.stops == nil {
			p.stops = map[string]*podStop{}
		}
		st := p.stops[pod.Name]
		if st == nil {
			st = &podStop{asked: now}
			p.stops[pod.Name] = st
		}
		if gone && st.gone.IsZero() {
			st.gone = now
		}
	}
	// Not AddFunc: a pod the first list finds stopping was asked to stop before the rollout.
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		UpdateFunc: func(_, obj any) { seen(obj, false) },
		DeleteFunc: func(obj any) { seen(obj, true) },
	}); err != nil {
		return err
	}
	stop := make(chan struct{})
	factory.Start(stop)
	sctx, cancel := context.WithTimeout(ctx, p.o.Timeout)
	defer cancel()
	if !cache.WaitForCacheSync(sctx.Done(), inf.HasSynced) {
		close(stop)
		factory.Shutdown()
		return fmt.Errorf("no list of the pods within %s", p.o.Timeout)
	}
	var once sync.Once
	end := func() { once.Do(func() { close(stop); factory.Shutdown() }) }
	p.mu.Lock()
	p.stopWatch = end
	p.mu.Unlock()
	// A run cut short never asks for the disturbances: the watch ends with it.
	context.AfterFunc(ctx, end)
	return nil
}

func (p *rolloutProbe) endWatch() {
	p.mu.Lock()
	stop := p.stopWatch
	p.stopWatch = nil
	p.mu.Unlock()
	if stop != nil {
		stop()
	}
}

// Disturbances ends the watch and returns, for each pod from before the fault that the
// rollout stopped, the interval in which the production gateway may not have answered
// because of it: from stopLead before it was seen asked to stop to stopTail after it was
// seen gone (or the check's end, for a pod not gone by then).
func (p *rolloutProbe) Disturbances() []scenario.Disturbance {
	p.endWatch()
	p.mu.Lock()
	defer p.mu.Unlock()
	names := make([]string, 0, len(p.stops))
	for n := range p.stops {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []scenario.Disturbance
	for _, n := range names {
		st := p.stops[n]
		end, how := st.gone.Add(stopTail), fmt.Sprintf("gone at %s", st.gone.UTC().Format("15:04:05.000"))
		if st.gone.IsZero() {
			end, how = p.checkedAt, "not gone by the end of the check"
			if end.Before(st.asked) {
				end = st.asked.Add(stopTail)
			}
		}
		out = append(out, scenario.Disturbance{
			Start: st.asked.Add(-stopLead), End: end, Capabilities: ThroughProductionGateway,
			What: fmt.Sprintf("gateway-rollout's rollout of %s stopped pod %s (asked to stop at %s, %s)",
				threescale.ProductionGateway, n, st.asked.UTC().Format("15:04:05.000"), how),
		})
	}
	return out
}
