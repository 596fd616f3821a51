package node

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/threescale-chaos/harness/pkg/twin/node/container"
)

// startProbes runs the container's startup, liveness and readiness probes until ctx ends.
// A startup or liveness probe that fails failureThreshold times in a row asks for a restart
// on kill; readiness sets the container's ready flag.
func (w *podWorker) startProbes(ctx context.Context, pod *corev1.Pod, c *ctrState, spec container.ProcessSpec, kill chan<- string) {
	started := make(chan struct{})
	ip := w.a.cfg.HostIP
	run := func(p *corev1.Probe) container.ProbeResult {
		execSpec := spec
		execSpec.LogPath = ""
		return container.RunProbe(ctx, p, c.spec, ip, execSpec)
	}
	if p := c.spec.StartupProbe; p != nil {
		go func() {
			ok := w.probeLoop(ctx, pod, c, p, "Startup", run, func(healthy bool, out string) bool {
				if healthy {
					w.mu.Lock()
					c.started = true
					if c.spec.ReadinessProbe == nil {
						c.ready = true
					}
					w.mu.Unlock()
					w.markDirty()
					close(started)
					return false // a startup probe stops once it succeeds
				}
				select {
				case kill <- "failed startup probe":
				default:
				}
				return false
			})
			_ = ok
		}()
	} else {
		close(started)
		if c.spec.ReadinessProbe == nil {
			w.mu.Lock()
			c.ready = true
			w.mu.Unlock()
			w.markDirty()
		}
	}
	if p := c.spec.LivenessProbe; p != nil {
		go func() {
			select {
			case <-ctx.Done():
				return
			case <-started:
			}
			w.probeLoop(ctx, pod, c, p, "Liveness", run, func(healthy bool, out string) bool {
				if healthy {
					return true
				}
				select {
				case kill <- "failed liveness probe":
				default:
				}
				return false
			})
		}()
	}
	if p := c.spec.ReadinessProbe; p != nil {
		go func() {
			select {
			case <-ctx.Done():
				return
			case <-started:
			}
			w.probeLoop(ctx, pod, c, p, "Readiness", run, func(healthy bool, out string) bool {
				w.mu.Lock()
				changed := c.ready != healthy
				c.ready = healthy
				w.mu.Unlock()
				if changed {
					w.markDirty()
				}
				return true
			})
		}()
	}
}

// probeLoop probes every periodSeconds after initialDelaySeconds (counted from the container's
// start) and calls transition when the result crosses successThreshold or failureThreshold;
// transition returns whether to keep probing.
func (w *podWorker) probeLoop(ctx context.Context, pod *corev1.Pod, c *ctrState, p *corev1.Probe, kind string,
	run func(*corev1.Probe) container.ProbeResult, transition func(healthy bool, out string) bool) bool {
	period := seconds(p.PeriodSeconds, 10)
	success := int(max(p.SuccessThreshold, 1))
	failure := int(max(p.FailureThreshold, 0))
	if p.FailureThreshold == 0 {
		failure = 3
	}
	select {
	case <-ctx.Done():
		return false
	case <-time.After(seconds(p.InitialDelaySeconds, 0)):
	}
	var okRun, failRun int
	var healthy *bool
	tick := time.NewTicker(period)
	defer tick.Stop()
	for {
		res := run(p)
		if ctx.Err() != nil {
			return false
		}
		if res.OK {
			okRun, failRun = okRun+1, 0
		} else {
			okRun, failRun = 0, failRun+1
			w.a.recorder.Eventf(pod, corev1.EventTypeWarning, "Unhealthy", "%s probe failed: %s", kind, res.Output)
		}
		switch {
		case okRun >= success && (healthy == nil || !*healthy):
			healthy = ptrBool(true)
			if !transition(true, res.Output) {
				return true
			}
		case failRun >= failure && (healthy == nil || *healthy || kind != "Readiness"):
			healthy = ptrBool(false)
			if !transition(false, res.Output) {
				return true
			}
		}
		select {
		case <-ctx.Done():
			return false
		case <-tick.C:
		}
	}
}

func seconds(v, def int32) time.Duration {
	if v <= 0 {
		v = def
	}
	return time.Duration(v) * time.Second
}

func ptrBool(b bool) *bool { return &b }
