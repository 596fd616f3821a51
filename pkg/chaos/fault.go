package chaos

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/threescale-chaos/harness/pkg/catalog"
	"github.com/threescale-chaos/harness/pkg/kube"
)

// Fault is what a scenario breaks, the runner's only way to change the cluster (the
// disruption of Kubernetes' chaosmonkey, as a parameter): the runner prepares it, injects it
// once the steady state is healthy, holds it for the observation window while the samplers
// run, and restores it on every way out.
type Fault interface {
	// Prepare resolves what will be broken and how; it changes nothing. A Preflight with
	// Invalid set is a fault that cannot be run as planned: the scenario is INVALID and
	// nothing is touched.
	Prepare(ctx context.Context) (Preflight, error)
	// Inject breaks it and returns once it is broken (the pods gone). An error wrapping
	// kube.ErrFaultNotHeld or kube.ErrCannotHold makes the scenario INVALID.
	Inject(ctx context.Context) error
	// Hold watches for window that nothing undoes the fault.
	Hold(ctx context.Context, window time.Duration) (kube.HoldReport, error)
	// Restore puts back what Inject changed. It is idempotent and safe before Inject.
	Restore(ctx context.Context) error
}

// Preflight is a prepared fault, for the journal.
type Preflight struct {
	// Workload names what is broken ("Deployment/3scale/backend-listener", comma-separated
	// for several); Method is how.
	Workload, Method string
	// Plan is the plan in words, one step per line.
	Plan string
	// OriginalReplicas is the replica count before the fault (of the first workload).
	OriginalReplicas int32
	// Invalid says why the fault cannot be run as planned; empty when it can.
	Invalid string
}

// ScaleToZero is a Fault that scales components to zero in one namespace, each through its
// own kube.Fault (ledger entry first, restore to the recorded replicas): one component is
// the documented single-component outage, several break together and come back together.
func ScaleToZero(c *kube.Client, namespace string, v catalog.Version, runID string, comps []catalog.Component, plan kube.PlanOptions, opts kube.Options) Fault {
	return &scaleToZero{c: c, ns: namespace, v: v, runID: runID, comps: comps, planOpts: plan, opts: opts}
}

type scaleToZero struct {
	c        *kube.Client
	ns       string
	v        catalog.Version
	runID    string
	comps    []catalog.Component
	planOpts kube.PlanOptions
	opts     kube.Options

	mu     sync.Mutex
	faults []componentFault // prepared, in component order
}

// componentFault is one component's part of a scaleToZero: a *kube.Fault, or a test's fake.
type componentFault interface {
	Record(ctx context.Context) error
	TakeDown(ctx context.Context) error
	WaitGone(ctx context.Context) error
	Hold(ctx context.Context, opts kube.HoldOptions) (kube.HoldReport, error)
	Restore(ctx context.Context) error
}

func (s *scaleToZero) Prepare(ctx context.Context) (Preflight, error) {
	if len(s.comps) == 0 {
		return Preflight{}, errors.New("chaos: a fault with no component")
	}
	var pf Preflight
	var workloads, methods, plans, invalid []string
	for i, comp := range s.comps {
		target, err := kube.Resolve(ctx, s.c, comp, s.ns, s.v)
		if err != nil {
			return pf, fmt.Errorf("resolve %s: %w", comp.Name, err)
		}
		p := kube.NewPlan(target, s.planOpts)
		workloads = append(workloads, target.Workload.String())
		methods = append(methods, string(p.Method))
		plans = append(plans, p.String())
		if i == 0 {
			pf.OriginalReplicas = target.Replicas
		}
		switch {
		case p.Invalid != "":
			invalid = append(invalid, "the fault cannot hold: "+p.Invalid)
		case target.Replicas == 0:
			invalid = append(invalid, fmt.Sprintf("%s is already at zero replicas before the experiment", target.Workload))
		}
		f, err := kube.NewFault(s.c, p, s.runID, s.opts)
		if err != nil {
			return pf, err
		}
		s.mu.Lock()
		s.faults = append(s.faults, f)
		s.mu.Unlock()
	}
	pf.Workload = strings.Join(workloads, ", ")
	pf.Method = strings.Join(uniq(methods), ", ")
	pf.Plan = strings.Join(plans, "\n")
	pf.Invalid = strings.Join(invalid, "; ")
	return pf, nil
}

func (s *scaleToZero) prepared() []componentFault {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]componentFault(nil), s.faults...)
}

// Inject records every component in the ledger before anything changes, then takes them
// all down, then waits for all their pods to be gone: one fault. If a step fails, what is
// recorded stays in the ledger and Restore (which the runner always calls) brings every
// recorded component back.
func (s *scaleToZero) Inject(ctx context.Context) error {
	fs := s.prepared()
	if len(fs) == 0 {
		return errors.New("chaos: Inject before Prepare")
	}
	for _, step := range []func(componentFault, context.Context) error{componentFault.Record, componentFault.TakeDown, componentFault.WaitGone} {
		for _, f := range fs {
			if err := step(f, ctx); err != nil {
				return err
			}
		}
	}
	return nil
}

// Hold watches every component at once; the report has every violation.
func (s *scaleToZero) Hold(ctx context.Context, window time.Duration) (kube.HoldReport, error) {
	fs := s.prepared()
	reps := make([]kube.HoldReport, len(fs))
	errs := eachAtOnce(fs, func(i int, f componentFault) (err error) {
		reps[i], err = f.Hold(ctx, kube.HoldOptions{Window: window})
		return err
	})
	var out kube.HoldReport
	for i, r := range reps {
		if i == 0 || r.Start.Before(out.Start) {
			out.Start = r.Start
		}
		if r.End.After(out.End) {
			out.End = r.End
		}
		out.Violations = append(out.Violations, r.Violations...)
	}
	return out, errors.Join(errs...)
}

// Restore brings every component back at once, each waiting for its own replicas, and
// joins the errors: one that fails does not keep the others at zero, nor waits for them.
func (s *scaleToZero) Restore(ctx context.Context) error {
	return errors.Join(eachAtOnce(s.prepared(), func(_ int, f componentFault) error { return f.Restore(ctx) })...)
}

// eachAtOnce runs do for every component at once and returns their errors by index.
func eachAtOnce(fs []componentFault, do func(int, componentFault) error) []error {
	errs := make([]error, len(fs))
	var wg sync.WaitGroup
	for i, f := range fs {
		wg.Go(func() { errs[i] = do(i, f) })
	}
	wg.Wait()
	return errs
}

func uniq(ss []string) []string {
	var out []string
	for _, s := range ss {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}
