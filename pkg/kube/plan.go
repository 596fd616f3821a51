package kube

import (
	"fmt"
	"strings"
)

// Method is how a component is taken to zero.
type Method string

// Methods.
const (
	// MethodCRPatch patches the APIManager's replicas field to 0 and later back to its
	// original value. The operator then does the scaling, and keeps the fault in place.
	MethodCRPatch Method = "cr-patch"
	// MethodScaleSubresource scales the workload through its scale subresource. It
	// holds only when nothing owns the replicas (the APIManager field is unset, or the
	// component has none).
	MethodScaleSubresource Method = "scale-subresource"
)

// PlanOptions are the user's choices about how to inject.
type PlanOptions struct {
	// ForceScaleSubresource scales the workload even when the APIManager enforces its
	// replicas field. The operator will then revert the fault; Plan.ExpectReverted says
	// so, and Hold reports it. It exists for the negative test that proves a reverted
	// fault makes the run INVALID.
	ForceScaleSubresource bool
}

// Plan says how one component will be taken down and put back. It is data: the plan
// command prints it, Fault carries it out.
type Plan struct {
	Target Target
	Method Method
	// Invalid is non-empty when the fault cannot hold by design (the verdict would be
	// INVALID whatever happens); Fault.Inject refuses such a plan and changes nothing.
	Invalid string
	// ExpectReverted is non-empty when the plan was forced onto a path that the
	// operator reverts (ForceScaleSubresource with the field set).
	ExpectReverted string
	// Notes explain the choice (HPA handling, the field's original value) for humans.
	Notes []string
}

// NewPlan chooses the method for a resolved target. It does not talk to the cluster.
//
// The rules (research/3scale-operator.md §2.1–2.6):
//   - APIManager field set, hpa switch off: cr-patch (a scale alone is reverted at once),
//     unless ForceScaleSubresource, which scales anyway and expects the revert.
//   - field set and the operator's hpa switch on: the operator pins the workload to 1
//     whatever the field or the scale say; the plan is Invalid.
//   - field unset, or the component has none: scale-subresource (nothing reverts it).
//   - an HPA targeting the workload is recorded and left alone: the HPA controller does
//     not scale a target whose replicas are 0, and resumes when they are restored.
func NewPlan(t Target, opts PlanOptions) Plan {
	p := Plan{Target: t, Method: MethodScaleSubresource}
	am := t.APIManager
	switch {
	case am == nil:
		p.Notes = append(p.Notes, "no APIManager in the namespace: nothing reconciles the replicas")
	case !t.Component.HasReplicasField():
		p.Notes = append(p.Notes, "the APIManager has no replicas field for "+t.Component.Name+": the operator never writes its replicas after creation")
	case !am.FieldSet:
		p.Notes = append(p.Notes, fmt.Sprintf("APIManager %s leaves %s unset: the operator does not enforce the replicas", am.Name, am.Field))
	case am.HPAEnabled:
		p.Invalid = fmt.Sprintf("APIManager %s sets %s=%d and %s=true: the operator pins %s to 1 replica on every reconcile, so neither a CR patch nor a scale can hold it at 0",
			am.Name, am.Field, am.FieldValue, t.Component.HPAField, t.Workload)
	case opts.ForceScaleSubresource:
		p.ExpectReverted = fmt.Sprintf("APIManager %s sets %s=%d and the scale subresource was forced: the operator will scale %s back to %d",
			am.Name, am.Field, am.FieldValue, t.Workload, am.FieldValue)
	default:
		p.Method = MethodCRPatch
		p.Notes = append(p.Notes, fmt.Sprintf("APIManager %s sets %s=%d: patch it to 0, restore %d", am.Name, am.Field, am.FieldValue, am.FieldValue))
	}
	for _, h := range t.HPAs {
		p.Notes = append(p.Notes, fmt.Sprintf("HPA %s (min %s, max %d) targets %s: recorded, left unchanged; it does not scale a target at 0 replicas",
			h.Name, minString(h.MinReplicas), h.MaxReplicas, t.Workload))
	}
	if t.Replicas == 0 && p.Invalid == "" {
		p.Invalid = fmt.Sprintf("%s is already at 0 replicas: there is nothing to take down, and its original state is unknown", t.Workload)
	}
	return p
}

// String renders the plan on one line per fact.
func (p Plan) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s, %d replicas, pods by %s (%s)\n", p.Target, p.Method, p.Target.Replicas, p.Target.SelectorSource, p.Target.Selector)
	if p.Invalid != "" {
		fmt.Fprintf(&b, "  INVALID by design: %s\n", p.Invalid)
	}
	if p.ExpectReverted != "" {
		fmt.Fprintf(&b, "  expect reverted: %s\n", p.ExpectReverted)
	}
	for _, n := range p.Notes {
		fmt.Fprintf(&b, "  %s\n", n)
	}
	return b.String()
}

func minString(p *int32) string {
	if p == nil {
		return "default"
	}
	return fmt.Sprint(*p)
}
