package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"
	"k8s.io/utils/ptr"

	"github.com/threescale-chaos/harness/internal/testsupport"
	"github.com/threescale-chaos/harness/pkg/twin/echo"
)

// kindImageEnv names the node image TestKindCluster creates its cluster from. `make
// kind-test` builds the offline image (hack/kind-node-image.sh) and sets it.
const kindImageEnv = "THREESCALE_CHAOS_KIND_IMAGE"

// TestKindCluster creates the project's kind cluster (kind-config.yaml, through `up`) from
// the node image in THREESCALE_CHAOS_KIND_IMAGE and checks, on a real kubelet, containerd
// and kube-proxy, what the harness relies on when it runs against kind: the node becomes
// Ready; an image built on this machine runs once `kind load` has put it in the node; a
// NodePort is reached at the same port on 127.0.0.1 (the target file's gateways and portals);
// client-go's port-forward over SPDY reaches the pod (how the harness reaches the stores);
// the default StorageClass binds a volume (3scale's databases); scale to 0 sends SIGTERM and
// the container stops gracefully. Then `down` removes the cluster and its kubeconfig.
//
// It needs a container engine and the node image, so it runs only when asked to.
func TestKindCluster(t *testing.T) {
	image := os.Getenv(kindImageEnv)
	if image == "" {
		t.Skip(kindImageEnv + " is unset: `make kind-test` builds the offline node image and runs this test with it")
	}
	ctx := context.Background()
	dir := t.TempDir()
	cfg := clusterConfig{
		config:     filepath.Join("..", "..", defaultKindConfig),
		kubeconfig: filepath.Join(dir, "kubeconfig"),
		name:       "threescale-chaos-test",
		kindBin:    "kind",
		image:      image,
		timeout:    5 * time.Minute,
	}
	var out bytes.Buffer
	t.Cleanup(func() {
		var down bytes.Buffer
		start := time.Now()
		defer func() { t.Logf("down: %s", time.Since(start).Round(100*time.Millisecond)) }()
		if err := runDown(context.Background(), cfg, realHost(), &down); err != nil {
			t.Errorf("down: %v\n%s", err, down.String())
		}
		if _, err := os.Stat(cfg.kubeconfig); !os.IsNotExist(err) {
			t.Errorf("down left the kubeconfig: %v", err)
		}
		if names, err := exec.Command("kind", "get", "clusters").Output(); err != nil || strings.Contains(string(names), cfg.name) {
			t.Errorf("after down, kind get clusters: %q %v", names, err)
		}
	})
	start := time.Now()
	if err := runUp(ctx, cfg, realHost(), &out); err != nil {
		t.Fatalf("up: %v\n%s", err, out.String())
	}
	t.Logf("up: %s (%s)", time.Since(start).Round(time.Second), strings.TrimSpace(out.String()))

	rc, err := clientcmd.BuildConfigFromFlags("", cfg.kubeconfig)
	must(t, err)
	cs, err := kubernetes.NewForConfig(rc)
	must(t, err)

	testsupport.Eventually(t, 2*time.Minute, "the node Ready", func(ctx context.Context) (bool, string) {
		nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil || len(nodes.Items) != 1 {
			return false, fmt.Sprintf("%d nodes, %v", len(nodes.Items), err)
		}
		for _, c := range nodes.Items[0].Status.Conditions {
			if c.Type == corev1.NodeReady {
				return c.Status == corev1.ConditionTrue, c.Reason + ": " + c.Message
			}
		}
		return false, "no Ready condition"
	})

	t.Logf("the node Ready %s after up began", time.Since(start).Round(100*time.Millisecond))

	built := time.Now()
	echoImage := buildEchoImage(t, dir)
	loaded := time.Now()
	if b, err := exec.Command("kind", "load", "docker-image", "--name", cfg.name, echoImage).CombinedOutput(); err != nil {
		t.Fatalf("kind load docker-image %s: %v\n%s", echoImage, err, b)
	}
	t.Logf("echo image: built in %s, loaded into the node in %s", loaded.Sub(built).Round(100*time.Millisecond), time.Since(loaded).Round(100*time.Millisecond))

	const ns, name, nodePort = "default", "echo", 30080
	labels := map[string]string{"app": name}
	_, err = cs.CoreV1().PersistentVolumeClaims(ns).Create(ctx, &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("10Mi")}},
		},
	}, metav1.CreateOptions{})
	must(t, err)
	_, err = cs.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					Containers: []corev1.Container{{
						Name:            name,
						Image:           echoImage,
						ImagePullPolicy: corev1.PullNever,
						Args:            []string{"echo", "--listen", "0.0.0.0:8080", "--name", name},
						Ports:           []corev1.ContainerPort{{ContainerPort: 8080}},
						ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{
							HTTPGet: &corev1.HTTPGetAction{Path: "/ready", Port: intstr.FromInt32(8080)}}, PeriodSeconds: 1},
						VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data"}},
					}},
					Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{
						PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: name}}}},
				},
			},
		},
	}, metav1.CreateOptions{})
	must(t, err)
	_, err = cs.CoreV1().Services(ns).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeNodePort,
			Selector: labels,
			Ports:    []corev1.ServicePort{{Port: 8080, TargetPort: intstr.FromInt32(8080), NodePort: nodePort}},
		},
	}, metav1.CreateOptions{})
	must(t, err)

	rollout := time.Now()
	testsupport.Eventually(t, 3*time.Minute, "the echo Deployment rolled out", func(ctx context.Context) (bool, string) {
		d, err := cs.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		done, seen := testsupport.DeploymentRolledOut(d, 1)
		if !done {
			seen += "; " + podStates(ctx, cs, ns, name)
		}
		return done, seen
	})
	t.Logf("the echo Deployment (with a new local-path volume) Ready in %s", time.Since(rollout).Round(100*time.Millisecond))
	pvc, err := cs.CoreV1().PersistentVolumeClaims(ns).Get(ctx, name, metav1.GetOptions{})
	must(t, err)
	if pvc.Status.Phase != corev1.ClaimBound || ptr.Deref(pvc.Spec.StorageClassName, "") != "standard" {
		t.Errorf("the volume claim: phase %s, class %q; want Bound by the default class standard", pvc.Status.Phase, ptr.Deref(pvc.Spec.StorageClassName, ""))
	}

	// The NodePort, published by kind on the host's loopback at the same port.
	testsupport.Eventually(t, time.Minute, "the echo answering on the NodePort", func(ctx context.Context) (bool, string) {
		return get(ctx, fmt.Sprintf("http://127.0.0.1:%d/through-nodeport", nodePort))
	})

	pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=" + name})
	must(t, err)
	if len(pods.Items) != 1 {
		t.Fatalf("%d echo pods, want 1", len(pods.Items))
	}
	pod := pods.Items[0].Name

	// Port-forward over SPDY, as the harness reaches backend-redis, system-redis and
	// zync-database on a cluster.
	local := forward(t, rc, cs, ns, pod, 8080)
	if ok, seen := get(ctx, fmt.Sprintf("http://127.0.0.1:%d/through-port-forward", local)); !ok {
		t.Errorf("through port-forward: %s", seen)
	}

	// Scale to 0: the kubelet stops the container with SIGTERM, and the echo says it shut
	// down gracefully before the pod is gone.
	logs, err := cs.CoreV1().Pods(ns).GetLogs(pod, &corev1.PodLogOptions{Follow: true}).Stream(ctx)
	must(t, err)
	defer logs.Close()
	graceful := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(logs)
		for sc.Scan() {
			if strings.Contains(sc.Text(), echo.ShutdownMessage) {
				graceful <- true
				return
			}
		}
		graceful <- false
	}()
	stop := time.Now()
	_, err = cs.AppsV1().Deployments(ns).UpdateScale(ctx, name, scaleTo(ns, name, 0), metav1.UpdateOptions{})
	must(t, err)
	testsupport.Eventually(t, time.Minute, "the echo pod gone", func(ctx context.Context) (bool, string) {
		pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=" + name})
		if err != nil {
			return false, err.Error()
		}
		return len(pods.Items) == 0, fmt.Sprintf("%d pods", len(pods.Items))
	})
	t.Logf("scale to 0: pod gone in %s", time.Since(stop).Round(100*time.Millisecond))
	select {
	case ok := <-graceful:
		if !ok {
			t.Errorf("the echo's log ended without %q: it was not stopped by SIGTERM", echo.ShutdownMessage)
		}
	case <-time.After(30 * time.Second):
		t.Errorf("the echo's log did not end 30 s after its pod was gone")
	}
}

// buildEchoImage builds the twin's echo upstream into an image in the local engine, from
// scratch: a static binary and nothing else, nothing pulled.
func buildEchoImage(t *testing.T, dir string) string {
	t.Helper()
	ctx := filepath.Join(dir, "echo-image")
	must(t, os.MkdirAll(ctx, 0o755))
	build := exec.Command("go", "build", "-trimpath", "-o", filepath.Join(ctx, "threescale-twin"), "../threescale-twin")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build threescale-twin: %v\n%s", err, b)
	}
	dockerfile := "FROM scratch\nCOPY threescale-twin /threescale-twin\nENTRYPOINT [\"/threescale-twin\"]\n"
	must(t, os.WriteFile(filepath.Join(ctx, "Dockerfile"), []byte(dockerfile), 0o644))
	const image = "localhost/threescale-chaos/kind-test-echo:latest"
	cmd := exec.Command("docker", "build", "-q", "-t", image, ctx)
	cmd.Env = append(os.Environ(), "DOCKER_BUILDKIT=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("docker build %s: %v\n%s", image, err, b)
	}
	return image
}

// forward opens a client-go port-forward to the pod's port and returns the local port; it
// is closed when the test ends.
func forward(t *testing.T, rc *rest.Config, cs kubernetes.Interface, ns, pod string, port int) int {
	t.Helper()
	transport, upgrader, err := spdy.RoundTripperFor(rc)
	must(t, err)
	u := cs.CoreV1().RESTClient().Post().Resource("pods").Namespace(ns).Name(pod).SubResource("portforward").URL()
	dialer := spdy.NewDialer(upgrader, &http.Client{Transport: transport}, http.MethodPost, u)
	stop, ready := make(chan struct{}), make(chan struct{})
	pf, err := portforward.NewOnAddresses(dialer, []string{"127.0.0.1"}, []string{"0:" + strconv.Itoa(port)}, stop, ready, io.Discard, io.Discard)
	must(t, err)
	errc := make(chan error, 1)
	go func() { errc <- pf.ForwardPorts() }()
	t.Cleanup(func() { close(stop) })
	select {
	case <-ready:
	case err := <-errc:
		t.Fatalf("port-forward to %s/%s:%d: %v", ns, pod, port, err)
	case <-time.After(30 * time.Second):
		t.Fatalf("port-forward to %s/%s:%d not ready after 30 s", ns, pod, port)
	}
	ports, err := pf.GetPorts()
	must(t, err)
	return int(ports[0].Local)
}

// get asks the echo for a path and checks that the answer echoes it.
func get(ctx context.Context, url string) (bool, string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false, err.Error()
	}
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		return false, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	path := url[strings.LastIndex(url, "/"):]
	return resp.StatusCode == http.StatusOK && strings.Contains(string(body), path),
		fmt.Sprintf("%d %s", resp.StatusCode, body)
}

func scaleTo(ns, name string, n int32) *autoscalingv1.Scale {
	return &autoscalingv1.Scale{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: autoscalingv1.ScaleSpec{Replicas: n}}
}

// podStates says, for a timeout message, what each of the Deployment's pods is waiting for.
func podStates(ctx context.Context, cs kubernetes.Interface, ns, app string) string {
	pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=" + app})
	if err != nil {
		return err.Error()
	}
	var s []string
	for _, p := range pods.Items {
		st := string(p.Status.Phase)
		for _, c := range p.Status.ContainerStatuses {
			if w := c.State.Waiting; w != nil {
				st += " " + w.Reason + ": " + w.Message
			}
		}
		for _, c := range p.Status.Conditions {
			if c.Status != corev1.ConditionTrue && c.Message != "" {
				st += " " + string(c.Type) + ": " + c.Message
			}
		}
		s = append(s, p.Name+" "+st)
	}
	return strings.Join(s, "; ")
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
