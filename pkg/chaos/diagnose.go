package chaos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/threescale-chaos/harness/pkg/kube"
)

// DiagnoseOptions bound a diagnostic dump. Zero values take the defaults.
type DiagnoseOptions struct {
	// Since keeps container log lines from this time on (zero: all the kubelet keeps).
	Since time.Time
	// LogBytes bounds each container's log (default 256 KiB, the end of the log is kept
	// by TailLines first); TailLines bounds its lines (default 2000).
	LogBytes  int64
	TailLines int64
	// PerLog bounds the read of one container's log (default 15 s).
	PerLog time.Duration
	// Redact, when set, rewrites each log before it is written: logs carry request lines
	// with keys and tokens.
	Redact func(string) string
	// Held, when set, are the pod states taken while the fault held (PodStates, before the
	// restore), written as <name>-pods-held.json.
	Held []PodState
}

// PodState is one pod's phase, readiness and container states.
type PodState struct {
	Name, Phase string
	Ready       bool
	Containers  []corev1.ContainerStatus
	Init        []corev1.ContainerStatus `json:",omitempty"`
}

// PodStates lists the namespace's pods as PodStates: what the outage looked like, when
// taken before the restore.
func PodStates(ctx context.Context, c *kube.Client, namespace string) ([]PodState, error) {
	pods, err := c.Kube.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("pods: %w", err)
	}
	return podStates(pods.Items), nil
}

func podStates(pods []corev1.Pod) []PodState {
	states := []PodState{}
	for _, p := range pods {
		ready := false
		for _, cond := range p.Status.Conditions {
			if cond.Type == corev1.PodReady {
				ready = cond.Status == corev1.ConditionTrue
			}
		}
		states = append(states, PodState{Name: p.Name, Phase: string(p.Status.Phase), Ready: ready, Containers: p.Status.ContainerStatuses, Init: p.Status.InitContainerStatuses})
	}
	return states
}

func (o *DiagnoseOptions) defaults() {
	if o.LogBytes <= 0 {
		o.LogBytes = 256 << 10
	}
	if o.TailLines <= 0 {
		o.TailLines = 2000
	}
	if o.PerLog <= 0 {
		o.PerLog = 15 * time.Second
	}
}

// Diagnose writes the namespace's events, pod states and container logs into dir, named
// after name (<name>-pods-held.json when opts.Held is set, <name>-events.json,
// <name>-pods.json, <name>-logs/<pod>.<container>.log, with .previous.log for a restarted
// container's last run), and returns the files written (relative to dir). It is bounded by ctx and by opts; a log that cannot be read is listed in
// <name>-logs/unavailable.txt with the reason, and the error returned names what is missing.
func Diagnose(ctx context.Context, c *kube.Client, namespace, dir, name string, opts DiagnoseOptions) ([]string, error) {
	opts.defaults()
	cs := c.Kube
	var files []string
	write := func(rel string, b []byte) error {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, rel)), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, rel), b, 0o644); err != nil {
			return err
		}
		files = append(files, rel)
		return nil
	}
	writeJSON := func(suffix string, v any) error {
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return err
		}
		return write(fmt.Sprintf("%s-%s.json", name, suffix), b)
	}
	if opts.Held != nil {
		if err := writeJSON("pods-held", opts.Held); err != nil {
			return files, err
		}
	}
	events, err := cs.CoreV1().Events(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return files, fmt.Errorf("events: %w", err)
	}
	sort.Slice(events.Items, func(i, j int) bool {
		return events.Items[i].LastTimestamp.Before(&events.Items[j].LastTimestamp)
	})
	if err := writeJSON("events", events.Items); err != nil {
		return files, err
	}
	pods, err := cs.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return files, fmt.Errorf("pods: %w", err)
	}
	if err := writeJSON("pods", podStates(pods.Items)); err != nil {
		return files, err
	}

	// Container logs: the current run of each container, and the previous one of a
	// container that restarted, which is often where a crash during the outage shows.
	var unavailable []string
	for _, p := range pods.Items {
		restarts := map[string]int32{}
		for _, st := range append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
			restarts[st.Name] = st.RestartCount
		}
		for _, ct := range append(append([]corev1.Container{}, p.Spec.InitContainers...), p.Spec.Containers...) {
			for _, previous := range []bool{false, true} {
				if previous && restarts[ct.Name] == 0 {
					continue
				}
				if ctx.Err() != nil {
					unavailable = append(unavailable, fmt.Sprintf("%s/%s: %v", p.Name, ct.Name, ctx.Err()))
					continue
				}
				suffix := ".log"
				if previous {
					suffix = ".previous.log"
				}
				b, err := containerLog(ctx, cs, namespace, p.Name, ct.Name, previous, opts)
				if err != nil {
					unavailable = append(unavailable, fmt.Sprintf("%s/%s%s: %v", p.Name, ct.Name, strings.TrimSuffix(suffix, ".log"), err))
					continue
				}
				if opts.Redact != nil {
					b = []byte(opts.Redact(string(b)))
				}
				if err := write(filepath.Join(name+"-logs", p.Name+"."+ct.Name+suffix), b); err != nil {
					return files, err
				}
			}
		}
	}
	if len(unavailable) > 0 {
		if err := write(filepath.Join(name+"-logs", "unavailable.txt"), []byte(strings.Join(unavailable, "\n")+"\n")); err != nil {
			return files, err
		}
		return files, fmt.Errorf("%d container log(s) could not be read (each with its reason in %s)", len(unavailable), filepath.Join(name+"-logs", "unavailable.txt"))
	}
	return files, nil
}

// containerLog reads one container's log within opts' bounds.
func containerLog(ctx context.Context, cs kubernetes.Interface, namespace, pod, container string, previous bool, opts DiagnoseOptions) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, opts.PerLog)
	defer cancel()
	lo := &corev1.PodLogOptions{Container: container, Previous: previous, LimitBytes: &opts.LogBytes, TailLines: &opts.TailLines, Timestamps: true}
	if !opts.Since.IsZero() && !previous {
		t := metav1.NewTime(opts.Since)
		lo.SinceTime = &t
	}
	rc, err := cs.CoreV1().Pods(namespace).GetLogs(pod, lo).Stream(ctx)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, opts.LogBytes))
	if err != nil && !errors.Is(err, io.EOF) {
		return b, err
	}
	return b, nil
}
