package chaos

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/threescale-chaos/harness/pkg/probe"
	"github.com/threescale-chaos/harness/pkg/scenario"
)

// waitSteady waits until each capability's last opts.SteadySamples samples are all healthy.
// It returns "" when they are, or what is unhealthy when the steady timeout ends.
func waitSteady(ctx context.Context, tl *probe.Timeline, caps []scenario.Capability, opts Options) string {
	deadline := time.Now().Add(opts.SteadyTimeout)
	tick := time.NewTicker(opts.SampleInterval / 2)
	defer tick.Stop()
	for {
		unhealthy := unhealthyNow(tl, caps, time.Time{}, opts.SteadySamples)
		if len(unhealthy) == 0 {
			return ""
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return strings.Join(unhealthy, "; ")
		}
		select {
		case <-ctx.Done():
		case <-tick.C:
		}
	}
}

// unhealthyNow lists capabilities whose last n samples since `since` are not all healthy,
// with the last failure seen.
func unhealthyNow(tl *probe.Timeline, caps []scenario.Capability, since time.Time, n int) []string {
	var out []string
	for _, c := range caps {
		samples := tl.Samples(c)
		var recent []scenario.Sample
		for _, s := range samples {
			if !s.Time.Before(since) {
				recent = append(recent, s)
			}
		}
		if len(recent) < n {
			out = append(out, fmt.Sprintf("%s (%d samples so far)", c, len(recent)))
			continue
		}
		for _, s := range recent[len(recent)-n:] {
			if !s.OK {
				out = append(out, fmt.Sprintf("%s (%s %d %s)", c, s.ErrorClass, s.Status, s.Detail))
				break
			}
		}
	}
	sort.Strings(out)
	return out
}

// waitRecovered keeps sampling after restore until every capability is healthy again or the
// largest recovery budget (plus a margin) has passed. It decides nothing: EvaluateRecovery
// judges each capability against its own budget from the samples.
func waitRecovered(ctx context.Context, tl *probe.Timeline, sc scenario.Scenario, restoreAt time.Time, opts Options) {
	var longest time.Duration
	var caps []scenario.Capability
	for _, exp := range sc.Cells() {
		caps = append(caps, exp.Capability)
		longest = max(longest, exp.RecoveryBudget)
	}
	deadline := restoreAt.Add(longest + opts.RecoveryMargin)
	tick := time.NewTicker(opts.SampleInterval / 2)
	defer tick.Stop()
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if len(unhealthyNow(tl, caps, restoreAt, opts.SteadySamples)) == 0 {
			return
		}
		select {
		case <-ctx.Done():
		case <-tick.C:
		}
	}
}
