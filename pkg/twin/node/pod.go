package node

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/threescale-chaos/harness/pkg/twin/node/container"
)

// Waiting reasons this node reports besides the kubelet's usual ones.
const (
	// ReasonHostNetworkRequired is the waiting reason of containers of a pod that does not
	// set hostNetwork: this node has no pod network, so it does not run such pods.
	ReasonHostNetworkRequired = "HostNetworkRequired"
)

// podWorker owns one pod on the node from the moment it is bound until its object is removed.
type podWorker struct {
	a   *Agent
	uid types.UID

	mu         sync.Mutex
	pod        *corev1.Pod // latest seen from the informer
	containers []*ctrState // init containers first, then containers
	initDone   bool
	failed     bool // an init container failed under restartPolicy Never
	volumesOK  bool
	podIssue   *issue // why the pod cannot start (shown on every container's waiting state)
	startTime  metav1.Time

	changed   chan struct{} // the pod object changed (deletion may have begun)
	gone      chan struct{} // the pod object is gone from the API server
	shutdown  chan struct{} // the node is going down
	dirty     chan struct{} // status needs writing
	goneOnce  sync.Once
	shutOnce  sync.Once
	lastWrite *corev1.PodStatus
}

type issue struct{ reason, message string }

func newPodWorker(a *Agent, pod *corev1.Pod) *podWorker {
	w := &podWorker{
		a:         a,
		uid:       pod.UID,
		pod:       pod.DeepCopy(),
		changed:   make(chan struct{}, 1),
		gone:      make(chan struct{}),
		shutdown:  make(chan struct{}),
		dirty:     make(chan struct{}, 1),
		startTime: metav1.Now(),
	}
	for i := range pod.Spec.InitContainers {
		w.containers = append(w.containers, newCtrState(&pod.Spec.InitContainers[i], true))
	}
	for i := range pod.Spec.Containers {
		w.containers = append(w.containers, newCtrState(&pod.Spec.Containers[i], false))
	}
	return w
}

func (w *podWorker) update(pod *corev1.Pod) {
	w.mu.Lock()
	w.pod = pod.DeepCopy()
	w.mu.Unlock()
	select {
	case w.changed <- struct{}{}:
	default:
	}
}

func (w *podWorker) removed()      { w.goneOnce.Do(func() { close(w.gone) }) }
func (w *podWorker) nodeShutdown() { w.shutOnce.Do(func() { close(w.shutdown) }) }

func (w *podWorker) snapshot() *corev1.Pod {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.pod
}

func (w *podWorker) deleting() bool { return w.snapshot().DeletionTimestamp != nil }

func (w *podWorker) markDirty() {
	select {
	case w.dirty <- struct{}{}:
	default:
	}
}

// run is the pod's whole life on this node.
func (w *podWorker) run(ctx context.Context) {
	// API writes outlive the agent's context during a graceful stop only as long as needed.
	apiCtx, cancelAPI := context.WithCancel(context.Background())
	defer cancelAPI()
	syncDone := make(chan struct{})
	go func() { defer close(syncDone); w.statusLoop(apiCtx) }()

	// stopRun ends the containers: on deletion, removal of the object, or node shutdown.
	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	reason := make(chan string, 1)
	go func() {
		for {
			select {
			case <-w.changed:
				if w.deleting() {
					reason <- "deleted"
					stopRun()
					return
				}
			case <-w.gone:
				reason <- "gone"
				stopRun()
				return
			case <-w.shutdown:
				reason <- "shutdown"
				stopRun()
				return
			case <-ctx.Done():
				reason <- "shutdown"
				return
			case <-runCtx.Done():
				return
			}
		}
	}()
	if w.deleting() {
		stopRun()
		reason <- "deleted"
	}

	finished := w.start(runCtx)
	select {
	case <-runCtx.Done():
	case <-finished:
		// Every container has ended for good (restartPolicy Never or OnFailure); the pod object
		// stays until someone deletes it.
		<-runCtx.Done()
	}
	why := <-reason
	w.stopContainers(why)
	_ = container.RemovePodDir(w.a.podDir(w.uid))
	w.markDirty()

	switch why {
	case "deleted":
		w.flushStatus(apiCtx)
		pod := w.snapshot()
		err := w.a.cs.CoreV1().Pods(pod.Namespace).Delete(apiCtx, pod.Name, metav1.DeleteOptions{
			GracePeriodSeconds: ptr.To(int64(0)),
			Preconditions:      &metav1.Preconditions{UID: &w.uid},
		})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			w.a.recorder.Eventf(pod, corev1.EventTypeWarning, "FailedDelete", "remove pod object: %v", err)
		}
	}
	cancelAPI()
	<-syncDone
}

// start prepares the pod and starts its containers. The returned channel is closed when no
// container will run again.
func (w *podWorker) start(ctx context.Context) <-chan struct{} {
	finished := make(chan struct{})
	pod := w.snapshot()
	if !pod.Spec.HostNetwork {
		msg := "the twin node runs pods as local processes and has no pod network: set spec.hostNetwork: true"
		w.setIssue(&issue{ReasonHostNetworkRequired, msg})
		w.a.recorder.Event(pod, corev1.EventTypeWarning, ReasonHostNetworkRequired, msg)
		return finished // never closed: the pod waits until it is deleted
	}
	go func() {
		defer close(finished)
		w.annotateLogDir(ctx)
		volumes, ok := w.prepareVolumes(ctx)
		if !ok {
			return
		}
		for _, c := range w.containers {
			if !c.init {
				continue
			}
			if ok := w.runInit(ctx, c, volumes); !ok {
				return
			}
		}
		w.mu.Lock()
		w.initDone = true
		w.mu.Unlock()
		w.markDirty()
		var wg sync.WaitGroup
		for _, c := range w.containers {
			if c.init {
				continue
			}
			wg.Add(1)
			go func() { defer wg.Done(); w.runContainer(ctx, c, volumes) }()
		}
		wg.Wait()
	}()
	return finished
}

func (w *podWorker) setIssue(is *issue) {
	w.mu.Lock()
	w.podIssue = is
	w.mu.Unlock()
	w.markDirty()
}

// annotateLogDir tells users where the containers' logs are.
func (w *podWorker) annotateLogDir(ctx context.Context) {
	pod := w.snapshot()
	dir := w.a.logDir(pod)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return
	}
	if pod.Annotations[LogDirAnnotation] == dir {
		return
	}
	patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, LogDirAnnotation, dir)
	_, _ = w.a.cs.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.MergePatchType, []byte(patch), metav1.PatchOptions{})
}

// prepareVolumes retries until the volumes are ready (a Secret may be created after the pod)
// or the pod ends.
func (w *podWorker) prepareVolumes(ctx context.Context) (map[string]string, bool) {
	delay := time.Second
	for {
		pod := w.snapshot()
		volumes, err := container.PrepareVolumes(ctx, pod, w.a.podDir(w.uid), w.a.lookup)
		if err == nil {
			w.mu.Lock()
			w.volumesOK = true
			w.podIssue = nil
			w.mu.Unlock()
			w.markDirty()
			return volumes, true
		}
		w.setIssue(&issue{"ContainerCreating", err.Error()})
		w.a.recorder.Eventf(pod, corev1.EventTypeWarning, "FailedMount", "MountVolume.SetUp failed: %v", err)
		select {
		case <-ctx.Done():
			return nil, false
		case <-time.After(delay):
		}
		delay = min(2*delay, 30*time.Second)
	}
}

// runInit runs an init container until it exits 0, restarting it per restartPolicy. It
// returns false when the pod cannot go on.
func (w *podWorker) runInit(ctx context.Context, c *ctrState, volumes map[string]string) bool {
	for attempt := 0; ; attempt++ {
		code, ok := w.runOnce(ctx, c, volumes)
		if !ok {
			return false
		}
		if code == 0 {
			return true
		}
		if w.snapshot().Spec.RestartPolicy == corev1.RestartPolicyNever {
			w.mu.Lock()
			w.failed = true
			w.mu.Unlock()
			w.markDirty()
			return false
		}
		if !w.backoff(ctx, c, attempt) {
			return false
		}
	}
}

// runContainer runs a regular container for the pod's life, restarting it per restartPolicy.
func (w *podWorker) runContainer(ctx context.Context, c *ctrState, volumes map[string]string) {
	for attempt := 0; ; attempt++ {
		started := time.Now()
		code, ok := w.runOnce(ctx, c, volumes)
		if !ok {
			return
		}
		switch w.snapshot().Spec.RestartPolicy {
		case corev1.RestartPolicyNever:
			return
		case corev1.RestartPolicyOnFailure:
			if code == 0 {
				return
			}
		}
		// A container that ran well for a long while starts over with the short back-off.
		if time.Since(started) > 2*w.a.cfg.BackoffMax {
			attempt = 0
		}
		if !w.backoff(ctx, c, attempt) {
			return
		}
	}
}

// backoff waits before restart number attempt+1, as the kubelet's crash loop back-off does:
// the first restart is immediate, then 10s, 20s, 40s... up to the maximum.
func (w *podWorker) backoff(ctx context.Context, c *ctrState, attempt int) bool {
	if attempt == 0 {
		return ctx.Err() == nil
	}
	d := w.a.cfg.BackoffInitial
	for i := 1; i < attempt && d < w.a.cfg.BackoffMax; i++ {
		d *= 2
	}
	d = min(d, w.a.cfg.BackoffMax)
	pod := w.snapshot()
	msg := fmt.Sprintf("back-off %s restarting failed container=%s pod=%s_%s(%s)", d, c.name, pod.Name, pod.Namespace, pod.UID)
	w.mu.Lock()
	c.leaveTerminated()
	c.state = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: msg}}
	w.mu.Unlock()
	w.markDirty()
	w.a.recorder.Event(pod, corev1.EventTypeWarning, "BackOff", "Back-off restarting failed container "+c.name+" in pod "+pod.Name+"_"+pod.Namespace)
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}

// runOnce starts the container once and waits for it to end. It returns the exit code, and
// false when the pod is ending (the process is then left for stopContainers).
func (w *podWorker) runOnce(ctx context.Context, c *ctrState, volumes map[string]string) (int, bool) {
	pod := w.snapshot()
	spec, err := w.processSpec(ctx, pod, c, volumes)
	if err != nil {
		w.mu.Lock()
		c.state = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CreateContainerConfigError", Message: err.Error()}}
		w.mu.Unlock()
		w.markDirty()
		w.a.recorder.Eventf(pod, corev1.EventTypeWarning, "Failed", "Error: %v", err)
		select {
		case <-ctx.Done():
			return 0, false
		case <-time.After(w.a.cfg.BackoffInitial):
		}
		return 1, ctx.Err() == nil
	}
	if ctx.Err() != nil {
		return 0, false
	}
	proc, err := container.Start(spec)
	now := metav1.Now()
	w.mu.Lock()
	c.leaveTerminated()
	if c.attempts > 0 {
		c.restartCount++
	}
	c.attempts++
	w.mu.Unlock()
	if err != nil {
		w.mu.Lock()
		c.setTerminated(corev1.ContainerStateTerminated{ExitCode: 128, Reason: "StartError", Message: err.Error(), StartedAt: now, FinishedAt: now})
		w.mu.Unlock()
		w.markDirty()
		w.a.recorder.Eventf(pod, corev1.EventTypeWarning, "Failed", "Error: failed to start container %q: %v", c.name, err)
		return 128, true
	}
	w.mu.Lock()
	c.proc = proc
	c.containerID = fmt.Sprintf("twin://%s/%d", c.name, proc.Pid())
	c.state = corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}}
	c.ready = false
	c.started = c.spec.StartupProbe == nil
	w.mu.Unlock()
	w.markDirty()
	w.a.recorder.Eventf(pod, corev1.EventTypeNormal, "Started", "Started container %s", c.name)

	probeCtx, stopProbes := context.WithCancel(ctx)
	kill := make(chan string, 1)
	if !c.init {
		w.startProbes(probeCtx, pod, c, spec, kill)
	}
	defer stopProbes()
	select {
	case <-proc.Done():
	case <-ctx.Done():
		return 0, false
	case why := <-kill:
		w.a.recorder.Eventf(pod, corev1.EventTypeNormal, "Killing", "Container %s %s, will be restarted", c.name, why)
		stopProbes()
		_ = proc.Stop(ctx, w.probeGrace(pod, c))
		if ctx.Err() != nil && proc.ExitCode() < 0 {
			return 0, false
		}
	}
	stopProbes()
	code := proc.ExitCode()
	reason := "Completed"
	if code != 0 {
		reason = "Error"
	}
	w.mu.Lock()
	c.proc = nil
	c.setTerminated(corev1.ContainerStateTerminated{ExitCode: int32(code), Reason: reason, StartedAt: now, FinishedAt: metav1.Now(), ContainerID: c.containerID})
	w.mu.Unlock()
	w.markDirty()
	return code, true
}

func (w *podWorker) processSpec(ctx context.Context, pod *corev1.Pod, c *ctrState, volumes map[string]string) (container.ProcessSpec, error) {
	env, err := container.ResolveEnv(ctx, w.podWithIPs(pod), c.spec, w.a.nodeInfo(), w.a.lookup)
	if err != nil {
		return container.ProcessSpec{}, err
	}
	argv, err := container.Argv(c.spec, env)
	if err != nil {
		return container.ProcessSpec{}, err
	}
	mounts, err := container.Mounts(c.spec, volumes)
	if err != nil {
		return container.ProcessSpec{}, err
	}
	uid, gid := container.SecurityIDs(pod, c.spec)
	return container.ProcessSpec{
		Argv:       argv,
		Env:        env,
		WorkingDir: c.spec.WorkingDir,
		Mounts:     mounts,
		RunAsUser:  uid,
		RunAsGroup: gid,
		LogPath:    filepath.Join(w.a.logDir(pod), c.name+".log"),
		ExtraEnv:   w.a.cfg.ExtraEnv,
	}, nil
}

// podWithIPs fills in the addresses a fieldRef may read before the first status write lands.
func (w *podWorker) podWithIPs(pod *corev1.Pod) *corev1.Pod {
	if pod.Status.PodIP != "" {
		return pod
	}
	p := pod.DeepCopy()
	p.Status.HostIP = w.a.cfg.HostIP
	p.Status.PodIP = w.a.cfg.HostIP
	p.Status.HostIPs = []corev1.HostIP{{IP: w.a.cfg.HostIP}}
	p.Status.PodIPs = []corev1.PodIP{{IP: w.a.cfg.HostIP}}
	return p
}

// gracePeriod is how long a deleted pod's processes get between SIGTERM and SIGKILL.
func gracePeriod(pod *corev1.Pod) time.Duration {
	if pod.DeletionGracePeriodSeconds != nil {
		return time.Duration(*pod.DeletionGracePeriodSeconds) * time.Second
	}
	if pod.Spec.TerminationGracePeriodSeconds != nil {
		return time.Duration(*pod.Spec.TerminationGracePeriodSeconds) * time.Second
	}
	return 30 * time.Second
}

// probeGrace is the grace period of a container killed by a failed liveness or startup probe.
func (w *podWorker) probeGrace(pod *corev1.Pod, c *ctrState) time.Duration {
	for _, p := range []*corev1.Probe{c.spec.LivenessProbe, c.spec.StartupProbe} {
		if p != nil && p.TerminationGracePeriodSeconds != nil {
			return time.Duration(*p.TerminationGracePeriodSeconds) * time.Second
		}
	}
	return gracePeriod(pod)
}

// stopContainers ends every process of the pod: SIGTERM, the grace period, SIGKILL, all
// containers at once, as the kubelet kills a pod.
func (w *podWorker) stopContainers(why string) {
	pod := w.snapshot()
	grace := gracePeriod(pod)
	if why == "shutdown" {
		grace = min(grace, 10*time.Second)
	}
	var wg sync.WaitGroup
	w.mu.Lock()
	for _, c := range w.containers {
		if c.proc == nil {
			if c.state.Terminated == nil && !c.init {
				c.setTerminated(corev1.ContainerStateTerminated{ExitCode: 0, Reason: "ContainerStatusUnknown", Message: "The container was not running when the pod was stopped", FinishedAt: metav1.Now()})
			}
			continue
		}
		proc, ctr := c.proc, c
		w.a.recorder.Eventf(pod, corev1.EventTypeNormal, "Killing", "Stopping container %s", c.name)
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = proc.Stop(context.Background(), grace)
			w.mu.Lock()
			started := metav1.Time{}
			if ctr.state.Running != nil {
				started = ctr.state.Running.StartedAt
			}
			ctr.proc = nil
			ctr.ready = false
			reason := "Completed"
			if proc.ExitCode() != 0 {
				reason = "Error"
			}
			ctr.state = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: int32(proc.ExitCode()), Reason: reason, StartedAt: started, FinishedAt: metav1.Now(), ContainerID: ctr.containerID}}
			w.mu.Unlock()
		}()
	}
	w.mu.Unlock()
	wg.Wait()
}

// ctrState is what the node knows of one container.
type ctrState struct {
	name         string
	spec         *corev1.Container
	init         bool
	proc         *container.Process
	containerID  string
	state        corev1.ContainerState
	lastState    corev1.ContainerState
	restartCount int32
	attempts     int32
	ready        bool
	started      bool
}

func newCtrState(spec *corev1.Container, init bool) *ctrState {
	reason := "ContainerCreating"
	if init {
		reason = "PodInitializing"
	}
	return &ctrState{
		name:  spec.Name,
		spec:  spec,
		init:  init,
		state: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason}},
	}
}

// setTerminated records an end of the container.
func (c *ctrState) setTerminated(t corev1.ContainerStateTerminated) {
	c.state = corev1.ContainerState{Terminated: &t}
	c.ready = false
	c.started = false
}

// leaveTerminated moves an end of the container into lastState as it is restarted, so that
// lastState shows why it restarted.
func (c *ctrState) leaveTerminated() {
	if c.state.Terminated != nil {
		c.lastState = c.state
	}
}
