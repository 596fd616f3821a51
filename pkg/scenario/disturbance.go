package scenario

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Disturbance is an interval in which something other than the fault cut some capabilities
// off, so their failed samples then say nothing about the outage. Two things do:
//
//   - the harness's own action: gateway-rollout's rollout of apicast-production stops the pod
//     that served them, and until kube-proxy drops that pod's endpoint a request can reach a
//     gateway that has already exited (apicast's nginx exits at once on SIGTERM, and
//     3scale-operator@3scale-2.16.3-GA gives apicast-production no preStop hook). A user's
//     own rollout does the same; the outage did not.
//   - a stall of the test bed (AnyFailure): the harness's process, or the cluster's API
//     server that it checks beside the samples, stopped answering in time (probe.StallWatch).
//     Everything behind it was then late too, whichever component was down.
type Disturbance struct {
	Start, End time.Time
	// Capabilities are those whose samples go through what was disturbed.
	Capabilities []Capability
	// AnyFailure makes the disturbance account for failed samples of every class, not only
	// those without an answer. A stall delays every hop, and a component that times out
	// waiting on another answers with an error of its own: APIcast denies a request with
	// 403 "Authentication failed" when backend's authrep does not answer and the key is not
	// cached as authorized (APIcast@3scale-2.16.3-GA gateway/src/apicast/proxy.lua
	// _M:authorize and handle_backend_response, the default "strict" cache handler).
	AnyFailure bool
	// What says what happened, for reports.
	What string
}

// Excludes says whether s is a sample the disturbance accounts for: one of its
// capabilities, failed without an answer (refused, reset or timed out: the gateway was
// gone, not answering wrongly) or, with AnyFailure, failed in any way, and under way at
// some moment of [Start, End].
func (d Disturbance) Excludes(s Sample) bool {
	if s.OK || !slices.Contains(d.Capabilities, s.Capability) {
		return false
	}
	switch s.ErrorClass {
	case ErrRefused, ErrReset, ErrTimeout:
	default:
		if !d.AnyFailure {
			return false
		}
	}
	return !s.Time.Add(s.Latency).Before(d.Start) && !s.Time.After(d.End)
}

// String describes the disturbance for verdict reasons.
func (d Disturbance) String() string {
	return fmt.Sprintf("%s (%s–%s UTC)", d.What, d.Start.UTC().Format("15:04:05.000"), d.End.UTC().Format("15:04:05.000"))
}

// partition splits samples into those to judge and those a disturbance accounts for.
func partition(samples []Sample, ds []Disturbance) (judged, excluded []Sample) {
	for _, s := range samples {
		if slices.ContainsFunc(ds, func(d Disturbance) bool { return d.Excludes(s) }) {
			excluded = append(excluded, s)
		} else {
			judged = append(judged, s)
		}
	}
	return judged, excluded
}

// excludedNote is the clause a verdict's reason gets for the samples it did not judge,
// naming the disturbances that account for them; empty when there are none.
func excludedNote(excluded []Sample, ds []Disturbance) string {
	if len(excluded) == 0 {
		return ""
	}
	var by []string
	for _, d := range ds {
		if slices.ContainsFunc(excluded, d.Excludes) {
			by = append(by, d.String())
		}
	}
	return fmt.Sprintf("; %d failed samples not judged, not the outage's doing: %s", len(excluded), strings.Join(by, "; "))
}
