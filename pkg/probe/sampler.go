package probe

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/threescale-chaos/harness/pkg/scenario"
)

// Sampler observes one capability once. Sample must honour ctx (the runner puts
// the per-sample timeout on it) and return a sample whether or not the
// capability was healthy: an outage is data, not an error. The runner sets the
// sample's Capability and Time; Latency is the sampler's when it sets one,
// otherwise the runner measures it.
type Sampler interface {
	Capability() scenario.Capability
	Sample(ctx context.Context) scenario.Sample
}

// Tuning is what a sampler needs of the runner beyond the run's defaults.
type Tuning struct {
	// MinInterval is the least time between two of its samples: a sampler that writes to
	// 3scale (creates accounts, keys, changes products) on a real install, whose write rate
	// the harness bounds.
	MinInterval time.Duration
	// Timeout is the least per-sample bound it needs: a sampler that waits for an
	// asynchronous effect (an account indexed, a zync entry) needs longer than one request.
	Timeout time.Duration
}

// Tuned is a Sampler with its own Tuning. The runner samples it at the larger of its cadence
// and MinInterval, under the larger of its per-sample timeout and Timeout.
type Tuned interface {
	Sampler
	Tuning() Tuning
}

// Tune gives s its own tuning.
func Tune(s Sampler, t Tuning) Sampler { return tuned{Sampler: s, t: t} }

// Pace bounds s to one sample every interval.
func Pace(s Sampler, interval time.Duration) Sampler { return Tune(s, Tuning{MinInterval: interval}) }

type tuned struct {
	Sampler
	t Tuning
}

func (t tuned) Tuning() Tuning { return t.t }

// Func adapts a function to a Sampler for capability c.
func Func(c scenario.Capability, f func(ctx context.Context) scenario.Sample) Sampler {
	return funcSampler{c: c, f: f}
}

type funcSampler struct {
	c scenario.Capability
	f func(ctx context.Context) scenario.Sample
}

func (s funcSampler) Capability() scenario.Capability { return s.c }

func (s funcSampler) Sample(ctx context.Context) scenario.Sample {
	out := s.f(ctx)
	out.Capability = s.c
	return out
}

// Check adapts a function that returns nil when capability c is healthy. A
// non-nil error gives a failed sample classified by ClassifyError, unless the
// error is (or wraps) a *Failure, whose class, status and detail are used as
// they are.
func Check(c scenario.Capability, f func(ctx context.Context) error) Sampler {
	return Func(c, func(ctx context.Context) scenario.Sample {
		return SampleFromError(c, f(ctx))
	})
}

// Failure is an error that carries its own classification, for checks that know
// better than ClassifyError (a wrong body, an effect that never appeared).
type Failure struct {
	Class  scenario.ErrorClass
	Status int
	Detail string
}

// Error returns the class and the detail.
func (f *Failure) Error() string {
	s := string(f.Class)
	if f.Detail != "" {
		s += ": " + f.Detail
	}
	return s
}

// Failf returns a *Failure of the given class; the detail is formatted with
// fmt.Sprintf rules.
func Failf(class scenario.ErrorClass, format string, args ...any) *Failure {
	return &Failure{Class: class, Detail: fmt.Sprintf(format, args...)}
}

// SampleFromError turns an error into a sample of capability c: nil is healthy;
// a *Failure keeps its class; anything else is classified by ClassifyError.
// Time and Latency are left for the runner.
func SampleFromError(c scenario.Capability, err error) scenario.Sample {
	s := scenario.Sample{Capability: c, OK: err == nil}
	if err == nil {
		return s
	}
	var f *Failure
	if errors.As(err, &f) {
		s.ErrorClass, s.Status, s.Detail = f.Class, f.Status, truncate(f.Detail)
		if s.ErrorClass == scenario.ErrNone {
			s.ErrorClass = scenario.ErrOther
		}
		return s
	}
	s.ErrorClass, s.Detail = ClassifyError(err), ErrorDetail(err)
	return s
}
