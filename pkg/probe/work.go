package probe

import (
	"context"
	"time"

	"github.com/threescale-chaos/harness/pkg/scenario"
)

// WorkProbe judges deferred or lost work, which a sample alone cannot: work created while a
// component is down must be applied after it is back (or, where the documentation says the
// work is lost, must never be). The runner calls Baseline before the fault, Submit while it
// holds (a Submit that cannot create work returns an error the runner records), and Check
// after recovery.
type WorkProbe interface {
	Capability() scenario.Capability
	// Baseline is taken before the fault.
	Baseline(ctx context.Context) error
	// Submit creates the work while the component is down.
	Submit(ctx context.Context) error
	// Check compares what was submitted with what was applied, after recovery. budget is
	// the cell's recovery budget: how long the work may take to land, counted from the
	// check (a probe may wait longer for work 3scale has scheduled later, such as a
	// Sidekiq retry, and says so).
	Check(ctx context.Context, budget time.Duration) (scenario.WorkCheck, error)
}

// WindowEnder is a WorkProbe that also looks at its work at the end of the fault-held window,
// before the component is restored: what still waits then is what the outage deferred (the
// depth of Sidekiq's queues, say). The runner calls WindowEnd once, after Submit returned; an
// error is logged, and Check judges without what WindowEnd would have recorded.
type WindowEnder interface {
	WindowEnd(ctx context.Context) error
}

// Disturber is a WorkProbe whose work itself cuts some capabilities off for a moment (a
// rollout of a gateway stops the pod that served them). The runner calls Disturbances after
// Check and judges the cells with them (scenario.EvaluateCell).
type Disturber interface {
	Disturbances() []scenario.Disturbance
}
