package node

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// statusLoop writes the pod status whenever it changed, until ctx ends.
func (w *podWorker) statusLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.dirty:
			w.writeStatus(ctx)
		}
	}
}

// flushStatus writes the status now, so the final container states are on the object before
// it is removed.
func (w *podWorker) flushStatus(ctx context.Context) {
	select {
	case <-w.dirty:
	default:
	}
	w.writeStatus(ctx)
}

func (w *podWorker) writeStatus(ctx context.Context) {
	select {
	case <-w.shutdown:
		return // the node is going away; the control plane may be too
	default:
	}
	for attempt := 0; attempt < 5 && ctx.Err() == nil; attempt++ {
		pod := w.snapshot()
		status := w.buildStatus(pod)
		if w.lastWrite != nil && apiequality.Semantic.DeepEqual(*w.lastWrite, status) && apiequality.Semantic.DeepEqual(pod.Status, status) {
			return
		}
		fresh := pod.DeepCopy()
		fresh.Status = status
		updated, err := w.a.cs.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, fresh, metav1.UpdateOptions{})
		switch {
		case err == nil:
			w.lastWrite = &status
			w.mu.Lock()
			if w.pod.ResourceVersion == pod.ResourceVersion {
				w.pod = updated
			}
			w.mu.Unlock()
			return
		case apierrors.IsNotFound(err):
			return
		case apierrors.IsConflict(err):
			latest, gerr := w.a.cs.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
			if gerr != nil {
				return
			}
			if latest.UID == w.uid {
				w.mu.Lock()
				w.pod = latest
				w.mu.Unlock()
			}
		default:
			select {
			case <-ctx.Done():
				return
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
}

// buildStatus derives the pod status from what the node knows, keeping what other components
// own (the scheduler's PodScheduled condition, the QoS class) and transition times that did
// not change.
func (w *podWorker) buildStatus(pod *corev1.Pod) corev1.PodStatus {
	w.mu.Lock()
	defer w.mu.Unlock()
	hostIP := w.a.cfg.HostIP
	st := corev1.PodStatus{
		HostIP:    hostIP,
		HostIPs:   []corev1.HostIP{{IP: hostIP}},
		PodIP:     hostIP,
		PodIPs:    []corev1.PodIP{{IP: hostIP}},
		StartTime: &w.startTime,
		QOSClass:  pod.Status.QOSClass,
	}
	var inits, mains []corev1.ContainerStatus
	allReady := true
	for _, c := range w.containers {
		cs := corev1.ContainerStatus{
			Name:                 c.name,
			Image:                c.spec.Image,
			ImageID:              c.spec.Image,
			ContainerID:          c.containerID,
			State:                *c.state.DeepCopy(),
			LastTerminationState: *c.lastState.DeepCopy(),
			RestartCount:         c.restartCount,
			Ready:                c.ready,
			Started:              ptr.To(c.started && c.state.Running != nil),
		}
		if w.podIssue != nil && cs.State.Waiting != nil {
			cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: w.podIssue.reason, Message: w.podIssue.message}
		}
		if c.init {
			cs.Ready = c.state.Terminated != nil && c.state.Terminated.ExitCode == 0
			inits = append(inits, cs)
			continue
		}
		if !c.ready {
			allReady = false
		}
		mains = append(mains, cs)
	}
	st.InitContainerStatuses = inits
	st.ContainerStatuses = mains
	st.Phase = w.phase(pod)

	old := map[corev1.PodConditionType]corev1.PodCondition{}
	for _, c := range pod.Status.Conditions {
		old[c.Type] = c
	}
	cond := func(t corev1.PodConditionType, ok bool, reason, msg string) corev1.PodCondition {
		s := corev1.ConditionFalse
		if ok {
			s = corev1.ConditionTrue
			reason, msg = "", ""
		}
		c := corev1.PodCondition{Type: t, Status: s, Reason: reason, Message: msg, LastTransitionTime: metav1.Now()}
		if prev, found := old[t]; found && prev.Status == s {
			c.LastTransitionTime = prev.LastTransitionTime
		}
		return c
	}
	issueReason, issueMsg := "", ""
	if w.podIssue != nil {
		issueReason, issueMsg = w.podIssue.reason, w.podIssue.message
	}
	terminal := st.Phase == corev1.PodSucceeded || st.Phase == corev1.PodFailed
	ready := w.initDone && allReady && !terminal
	st.Conditions = []corev1.PodCondition{
		cond(corev1.PodReadyToStartContainers, w.volumesOK, issueReason, issueMsg),
		cond(corev1.PodInitialized, w.initDone, "ContainersNotInitialized", "containers with incomplete status: "+names(w.containers, true, func(c *ctrState) bool { return c.state.Terminated == nil || c.state.Terminated.ExitCode != 0 })),
		cond(corev1.ContainersReady, ready, "ContainersNotReady", "containers with unready status: "+names(w.containers, false, func(c *ctrState) bool { return !c.ready })),
		cond(corev1.PodReady, ready, "ContainersNotReady", "containers with unready status: "+names(w.containers, false, func(c *ctrState) bool { return !c.ready })),
	}
	if sched, ok := old[corev1.PodScheduled]; ok {
		st.Conditions = append(st.Conditions, sched)
	}
	return st
}

func names(cs []*ctrState, init bool, pick func(*ctrState) bool) string {
	out := "["
	for _, c := range cs {
		if c.init == init && pick(c) {
			if len(out) > 1 {
				out += " "
			}
			out += c.name
		}
	}
	return out + "]"
}

// phase follows the kubelet's rules for a pod whose containers are in the given states.
func (w *podWorker) phase(pod *corev1.Pod) corev1.PodPhase {
	if w.failed {
		return corev1.PodFailed
	}
	if !w.initDone {
		return corev1.PodPending
	}
	var running, fresh, succeeded, failed, restarting int
	for _, c := range w.containers {
		if c.init {
			continue
		}
		switch {
		case c.state.Running != nil:
			running++
		case c.state.Terminated != nil:
			if c.state.Terminated.ExitCode == 0 {
				succeeded++
			} else {
				failed++
			}
		case c.lastState.Terminated != nil:
			restarting++
		default:
			fresh++
		}
	}
	total := running + fresh + succeeded + failed + restarting
	switch {
	case fresh > 0 && running == 0 && restarting == 0 && succeeded+failed == 0:
		return corev1.PodPending
	case running > 0 || restarting > 0 || fresh > 0:
		return corev1.PodRunning
	case succeeded+failed == total:
		switch pod.Spec.RestartPolicy {
		case corev1.RestartPolicyAlways:
			return corev1.PodRunning
		case corev1.RestartPolicyOnFailure:
			if failed > 0 {
				return corev1.PodRunning
			}
			return corev1.PodSucceeded
		default:
			if failed > 0 {
				return corev1.PodFailed
			}
			return corev1.PodSucceeded
		}
	}
	return corev1.PodPending
}
