package cluster_test

import (
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/threescale-chaos/harness/internal/testsupport"
	"github.com/threescale-chaos/harness/pkg/twin/cluster"
	"github.com/threescale-chaos/harness/pkg/twin/echo"
	"github.com/threescale-chaos/harness/pkg/twin/node"
)

func scale(t *testing.T, ns, name string, replicas int32) {
	t.Helper()
	_, err := client.AppsV1().Deployments(ns).UpdateScale(context.Background(), name, &autoscalingv1.Scale{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec:       autoscalingv1.ScaleSpec{Replicas: replicas},
	}, metav1.UpdateOptions{})
	if err != nil {
		t.Fatalf("scale %s/%s to %d: %v", ns, name, replicas, err)
	}
}

func listPods(t *testing.T, ctx context.Context, ns, app string) []corev1.Pod {
	t.Helper()
	pods, err := client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: labels.Set{"app": app}.String()})
	if err != nil {
		t.Fatalf("list pods: %v", err)
	}
	return pods.Items
}

func readyPods(pods []corev1.Pod) (n int, desc string) {
	for i := range pods {
		if isReady(&pods[i]) {
			n++
		}
		desc += pods[i].Name + ":" + describe(&pods[i]) + "; "
	}
	return n, desc
}

func get(url string) (int, string, error) {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

// A Deployment of a real server becomes 2/2 Ready; a scale to 0 through the scale
// subresource ends both processes and removes the pods; a scale to 1 brings it back.
func TestDeploymentScaleCycle(t *testing.T) {
	ns := namespace(t)
	port := testsupport.FreePort(t)
	ctx := context.Background()
	if _, err := client.AppsV1().Deployments(ns).Create(ctx, echoDeployment("echo", 2, port, ""), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var pods []corev1.Pod
	testsupport.Eventually(t, 60*time.Second, "2/2 echo pods Ready", func(ctx context.Context) (bool, string) {
		pods = listPods(t, ctx, ns, "echo")
		n, desc := readyPods(pods)
		return n == 2 && len(pods) == 2, desc
	})
	testsupport.Eventually(t, 30*time.Second, "deployment status 2 ready replicas", func(ctx context.Context) (bool, string) {
		d, err := client.AppsV1().Deployments(ns).Get(ctx, "echo", metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		return d.Status.ReadyReplicas == 2 && d.Status.AvailableReplicas == 2, ""
	})
	var pids []int
	var logs []string
	for _, p := range pods {
		logs = append(logs, filepath.Join(p.Annotations[node.LogDirAnnotation], "echo.log"))
		pid := pidOf(t, p.Status.ContainerStatuses[0])
		if !alive(pid) {
			t.Fatalf("pod %s reports pid %d, which is not running", p.Name, pid)
		}
		pids = append(pids, pid)
	}
	code, body, err := get("http://127.0.0.1:" + itoa(port) + "/hello")
	if err != nil || code != 200 || !strings.Contains(body, `"path":"/hello"`) {
		t.Fatalf("echo server answered %d %q %v", code, body, err)
	}

	scale(t, ns, "echo", 0)
	testsupport.Eventually(t, 30*time.Second, "every echo pod removed", func(ctx context.Context) (bool, string) {
		pods := listPods(t, ctx, ns, "echo")
		_, desc := readyPods(pods)
		return len(pods) == 0, desc
	})
	for _, pid := range pids {
		if alive(pid) {
			t.Errorf("process %d still running after its pod was removed", pid)
		}
	}
	// Both servers stopped on SIGTERM within the grace period: a SIGKILL leaves no such line.
	for _, l := range logs {
		if b, err := os.ReadFile(l); err != nil || !strings.Contains(string(b), echo.ShutdownMessage) {
			t.Errorf("%s does not show a graceful stop on SIGTERM: %q %v", l, b, err)
		}
	}
	if _, _, err := get("http://127.0.0.1:" + itoa(port) + "/hello"); err == nil {
		t.Errorf("echo server still answers after scale to 0")
	}

	scale(t, ns, "echo", 1)
	testsupport.Eventually(t, 60*time.Second, "1/1 echo pod Ready", func(ctx context.Context) (bool, string) {
		n, desc := readyPods(listPods(t, ctx, ns, "echo"))
		return n == 1, desc
	})
	if code, _, err := get("http://127.0.0.1:" + itoa(port) + "/hello"); err != nil || code != 200 {
		t.Fatalf("after scale to 1 the server answered %d, %v", code, err)
	}
}

// Ready follows the readiness probe, in both directions, while the process keeps running.
func TestReadinessFollowsProbe(t *testing.T) {
	ns := namespace(t)
	port := testsupport.FreePort(t)
	readyFile := filepath.Join(t.TempDir(), "ready")
	ctx := context.Background()
	if _, err := client.AppsV1().Deployments(ns).Create(ctx, echoDeployment("gated", 1, port, readyFile), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var name string
	testsupport.Eventually(t, 60*time.Second, "gated pod running with a failed readiness probe", func(ctx context.Context) (bool, string) {
		pods := listPods(t, ctx, ns, "gated")
		if len(pods) != 1 {
			return false, "no pod yet"
		}
		name = pods[0].Name
		ev, err := client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=" + name + ",reason=Unhealthy"})
		if err != nil {
			return false, err.Error()
		}
		probed := false
		for _, e := range ev.Items {
			probed = probed || strings.Contains(e.Message, "statuscode: 503")
		}
		running := len(pods[0].Status.ContainerStatuses) == 1 && pods[0].Status.ContainerStatuses[0].State.Running != nil
		return running && probed, describe(&pods[0])
	})
	if p, _ := client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{}); isReady(p) {
		t.Fatalf("pod is Ready while its readiness probe fails: %s", describe(p))
	}
	if err := os.WriteFile(readyFile, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	podWhere(t, ns, name, 30*time.Second, "Ready once /ready answers 200", isReady)
	if err := os.Remove(readyFile); err != nil {
		t.Fatal(err)
	}
	p := podWhere(t, ns, name, 30*time.Second, "not Ready once /ready answers 503 again", func(p *corev1.Pod) bool { return !isReady(p) })
	if cs := p.Status.ContainerStatuses[0]; cs.State.Running == nil || cs.RestartCount != 0 {
		t.Fatalf("readiness must not restart the container: %s", describe(p))
	}
}

// A process that crashes is restarted, with its restart count growing and its last state
// showing how it ended.
func TestCrashedProcessRestarts(t *testing.T) {
	ns := namespace(t)
	createPod(t, ns, shellPod("crasher", "echo started; exit 3"))
	p := podWhere(t, ns, "crasher", 60*time.Second, "restarted at least twice", func(p *corev1.Pod) bool {
		return len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].RestartCount >= 2
	})
	last := p.Status.ContainerStatuses[0].LastTerminationState.Terminated
	if last == nil || last.ExitCode != 3 || last.Reason != "Error" {
		t.Fatalf("last state should be terminated with exit code 3: %s", describe(p))
	}
	podWhere(t, ns, "crasher", 30*time.Second, "in CrashLoopBackOff", func(p *corev1.Pod) bool {
		w := p.Status.ContainerStatuses[0].State.Waiting
		return w != nil && w.Reason == "CrashLoopBackOff"
	})
	logDir := p.Annotations[node.LogDirAnnotation]
	b, err := os.ReadFile(filepath.Join(logDir, "main.log"))
	if err != nil || !strings.Contains(string(b), "started") {
		t.Fatalf("container log at %s (from annotation %s): %q %v", logDir, node.LogDirAnnotation, b, err)
	}
}

// A failing liveness probe restarts the container.
func TestLivenessProbeRestartsContainer(t *testing.T) {
	ns := namespace(t)
	port := testsupport.FreePort(t)
	pod := shellPod("unhealthy", "")
	pod.Spec.Containers[0].Command = []string{twinBin, "echo", "--listen", "127.0.0.1:" + itoa(port), "--ready-file", "/nonexistent/ready"}
	pod.Spec.Containers[0].LivenessProbe = &corev1.Probe{
		ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/ready", Port: intstr.FromInt(port)}},
		PeriodSeconds: 1, FailureThreshold: 2,
	}
	createPod(t, ns, pod)
	p := podWhere(t, ns, "unhealthy", 60*time.Second, "restarted by its liveness probe", func(p *corev1.Pod) bool {
		return len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].RestartCount >= 1
	})
	ev, err := client.CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{FieldSelector: "involvedObject.name=unhealthy,reason=Killing"})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range ev.Items {
		found = found || strings.Contains(e.Message, "failed liveness probe")
	}
	if !found {
		t.Fatalf("no Killing event for the liveness probe; pod %s", describe(p))
	}
}

// emptyDir lives and dies with the pod; hostPath is the host's directory and survives it.
func TestEmptyDirWipedHostPathKept(t *testing.T) {
	ns := namespace(t)
	hostDir := t.TempDir()
	pod := shellPod("volumes", "echo scratch > /scratch/f && echo durable > /durable/f && sleep 3600")
	pod.Spec.Volumes = []corev1.Volume{
		{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		{Name: "durable", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: hostDir}}},
	}
	pod.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "scratch", MountPath: "/scratch"}, {Name: "durable", MountPath: "/durable"}}
	p := createPod(t, ns, pod)
	podWhere(t, ns, "volumes", 60*time.Second, "running", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning })
	podDir := filepath.Join(stateDir, "pods", string(p.UID))
	var scratch string
	testsupport.Eventually(t, 30*time.Second, "both files written", func(context.Context) (bool, string) {
		matches, _ := filepath.Glob(filepath.Join(podDir, "volumes", "*", "scratch", "f"))
		_, err := os.Stat(filepath.Join(hostDir, "f"))
		if len(matches) == 1 {
			scratch = matches[0]
		}
		return len(matches) == 1 && err == nil, "emptyDir files: " + strings.Join(matches, ",")
	})
	if _, err := os.Stat("/scratch/f"); err == nil {
		t.Fatalf("the emptyDir mount leaked onto the host at /scratch")
	}
	if err := client.CoreV1().Pods(ns).Delete(context.Background(), "volumes", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	podGone(t, ns, "volumes", 30*time.Second)
	if _, err := os.Stat(scratch); !os.IsNotExist(err) {
		t.Errorf("emptyDir file %s survived its pod: %v", scratch, err)
	}
	if b, err := os.ReadFile(filepath.Join(hostDir, "f")); err != nil || string(b) != "durable\n" {
		t.Errorf("hostPath file lost with the pod: %q %v", b, err)
	}
}

// A pod whose command does not exist says why in its status, and an event says it too.
func TestMissingCommandShowsWhy(t *testing.T) {
	ns := namespace(t)
	pod := shellPod("nocommand", "")
	pod.Spec.Containers[0].Command = []string{"/nonexistent/bin/server"}
	createPod(t, ns, pod)
	p := podWhere(t, ns, "nocommand", 60*time.Second, "showing the start error", func(p *corev1.Pod) bool {
		if len(p.Status.ContainerStatuses) != 1 {
			return false
		}
		cs := p.Status.ContainerStatuses[0]
		for _, s := range []corev1.ContainerState{cs.State, cs.LastTerminationState} {
			if s.Terminated != nil && s.Terminated.Reason == "StartError" && strings.Contains(s.Terminated.Message, "/nonexistent/bin/server") {
				return true
			}
		}
		return false
	})
	if isReady(p) || p.Status.ContainerStatuses[0].State.Running != nil {
		t.Fatalf("a container that cannot start is reported running or ready: %s", describe(p))
	}
}

// Only hostNetwork pods run; any other pod waits with the reason in its status and an event.
func TestPodWithoutHostNetworkIsRefused(t *testing.T) {
	ns := namespace(t)
	pod := shellPod("isolated", "sleep 3600")
	pod.Spec.HostNetwork = false
	createPod(t, ns, pod)
	podWhere(t, ns, "isolated", 30*time.Second, "waiting for "+node.ReasonHostNetworkRequired, func(p *corev1.Pod) bool {
		if len(p.Status.ContainerStatuses) != 1 {
			return false
		}
		w := p.Status.ContainerStatuses[0].State.Waiting
		return w != nil && w.Reason == node.ReasonHostNetworkRequired && strings.Contains(w.Message, "hostNetwork")
	})
	testsupport.Eventually(t, 30*time.Second, "a "+node.ReasonHostNetworkRequired+" event", func(ctx context.Context) (bool, string) {
		ev, err := client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=isolated,reason=" + node.ReasonHostNetworkRequired})
		if err != nil {
			return false, err.Error()
		}
		return len(ev.Items) > 0, ""
	})
	if err := client.CoreV1().Pods(ns).Delete(context.Background(), "isolated", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	podGone(t, ns, "isolated", 30*time.Second)
}

// Deletion is the kubelet's: SIGTERM, then SIGKILL once the grace period is over, and only
// then is the pod object removed.
func TestDeletionWaitsForGraceThenKills(t *testing.T) {
	ns := namespace(t)
	pod := shellPod("stubborn", "trap '' TERM; while :; do sleep 0.1; done")
	pod.Spec.TerminationGracePeriodSeconds = ptr.To(int64(2))
	createPod(t, ns, pod)
	p := podWhere(t, ns, "stubborn", 60*time.Second, "running", func(p *corev1.Pod) bool {
		return len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].State.Running != nil
	})
	pid := pidOf(t, p.Status.ContainerStatuses[0])
	deleted := time.Now()
	if err := client.CoreV1().Pods(ns).Delete(context.Background(), "stubborn", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	podGone(t, ns, "stubborn", 30*time.Second)
	if gone := time.Since(deleted); gone < 2*time.Second {
		t.Fatalf("a process that ignores SIGTERM was removed %s after deletion, before its 2s grace period", gone)
	}
	if alive(pid) {
		t.Fatalf("process %d survived its pod's deletion", pid)
	}
}

// A test that fails midway, with a cluster and a pod running, leaves no process behind: the
// child test below fails after starting both, and its cleanup must stop everything.
func TestFailingTestLeavesNothing(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "child-cluster")
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperFailMidway$", "-test.v")
	cmd.Env = append(os.Environ(), helperEnv+"="+dir, "TWIN_TEST_BIN="+twinBin)
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "failing on purpose") {
		t.Fatalf("the child test should have failed on purpose; err=%v output:\n%s", err, out)
	}
	left, lerr := cluster.Leftovers(dir)
	if lerr != nil || len(left) > 0 {
		t.Fatalf("a failed test left processes behind: %v (%v); child output:\n%s", left, lerr, out)
	}
}

const helperEnv = "TWIN_CLUSTER_TEST_HELPER_DIR"

func TestHelperFailMidway(t *testing.T) {
	dir := os.Getenv(helperEnv)
	if dir == "" {
		t.Skip("runs only as the child of TestFailingTestLeavesNothing")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := cluster.Start(ctx, cluster.Config{Dir: dir}, cluster.NodeOptions{})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() { _ = c.Stop() })
	client = c.Client
	ns := namespace(t)
	createPod(t, ns, shellPod("sleeper", "sleep 3600"))
	podWhere(t, ns, "sleeper", 60*time.Second, "running", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning })
	t.Fatalf("failing on purpose with a cluster and a pod running")
}

func itoa(i int) string { return strconv.Itoa(i) }
