package cluster_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/threescale-chaos/harness/internal/testsupport"
)

// namespace creates a namespace for one test and deletes it afterwards.
func namespace(t *testing.T) string {
	t.Helper()
	name := strings.ToLower(strings.NewReplacer("_", "-", "/", "-").Replace(t.Name()))
	if len(name) > 50 {
		name = name[:50]
	}
	ctx := context.Background()
	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create namespace %s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = client.CoreV1().Namespaces().Delete(context.Background(), name, metav1.DeleteOptions{})
	})
	// Pods need the namespace's default ServiceAccount, which a controller creates.
	testsupport.Eventually(t, 30*time.Second, "default ServiceAccount in "+name, func(ctx context.Context) (bool, string) {
		_, err := client.CoreV1().ServiceAccounts(name).Get(ctx, "default", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return true, ""
	})
	return name
}

// echoDeployment runs the twin's echo server, replicas sharing one port, Ready when /ready
// answers (which is while readyFile exists, if one is given).
func echoDeployment(name string, replicas int32, port int, readyFile string) *appsv1.Deployment {
	args := []string{"echo", "--listen", "127.0.0.1:" + strconv.Itoa(port), "--name", "$(POD_NAME)"}
	if readyFile != "" {
		args = append(args, "--ready-file", readyFile)
	}
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					HostNetwork:                   true,
					TerminationGracePeriodSeconds: ptr.To(int64(5)),
					Containers: []corev1.Container{{
						Name:    "echo",
						Image:   "twin/echo",
						Command: []string{twinBin},
						Args:    args,
						Env: []corev1.EnvVar{{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{
							FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"},
						}}},
						ReadinessProbe: &corev1.Probe{
							ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/ready", Port: intstr.FromInt(port)}},
							PeriodSeconds: 1, FailureThreshold: 1,
						},
					}},
				},
			},
		},
	}
}

// shellPod is a bare pod running a shell script.
func shellPod(name, script string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{
			HostNetwork:                   true,
			TerminationGracePeriodSeconds: ptr.To(int64(2)),
			Containers: []corev1.Container{{
				Name: "main", Image: "twin/shell",
				Command: []string{"/bin/sh", "-c", script},
			}},
		},
	}
}

func createPod(t *testing.T, ns string, pod *corev1.Pod) *corev1.Pod {
	t.Helper()
	p, err := client.CoreV1().Pods(ns).Create(context.Background(), pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create pod %s: %v", pod.Name, err)
	}
	return p
}

// podWhere waits until the pod satisfies cond and returns it.
func podWhere(t *testing.T, ns, name string, timeout time.Duration, what string, cond func(*corev1.Pod) bool) *corev1.Pod {
	t.Helper()
	var got *corev1.Pod
	testsupport.Eventually(t, timeout, fmt.Sprintf("pod %s/%s %s", ns, name, what), func(ctx context.Context) (bool, string) {
		p, err := client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		got = p
		return cond(p), describe(p)
	})
	return got
}

func podGone(t *testing.T, ns, name string, timeout time.Duration) {
	t.Helper()
	testsupport.Eventually(t, timeout, "pod "+ns+"/"+name+" removed", func(ctx context.Context) (bool, string) {
		p, err := client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, ""
		}
		if err != nil {
			return false, err.Error()
		}
		return false, describe(p)
	})
}

// describe is a one-line pod state for failure messages.
func describe(p *corev1.Pod) string {
	s := fmt.Sprintf("phase=%s", p.Status.Phase)
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			s += " ready=" + string(c.Status)
		}
	}
	for _, cs := range p.Status.ContainerStatuses {
		s += fmt.Sprintf(" %s{restarts=%d state=%s last=%s}", cs.Name, cs.RestartCount, stateString(cs.State), stateString(cs.LastTerminationState))
	}
	if p.DeletionTimestamp != nil {
		s += " deleting"
	}
	return s
}

func stateString(s corev1.ContainerState) string {
	switch {
	case s.Running != nil:
		return "running"
	case s.Waiting != nil:
		return "waiting:" + s.Waiting.Reason + ":" + s.Waiting.Message
	case s.Terminated != nil:
		return fmt.Sprintf("terminated:%s:%d:%s", s.Terminated.Reason, s.Terminated.ExitCode, s.Terminated.Message)
	}
	return "-"
}

func isReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// pidOf reads the process id from the node's container ID (twin://<container>/<pid>).
func pidOf(t *testing.T, cs corev1.ContainerStatus) int {
	t.Helper()
	i := strings.LastIndexByte(cs.ContainerID, '/')
	pid, err := strconv.Atoi(cs.ContainerID[i+1:])
	if i < 0 || err != nil {
		t.Fatalf("container %s has no pid in its ID %q", cs.Name, cs.ContainerID)
	}
	return pid
}

// alive reports whether a process exists and is not a zombie.
func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil {
		return false
	}
	return !zombie(pid)
}
