package kube

import (
	"fmt"
	"strings"

	"github.com/threescale-chaos/harness/pkg/catalog"
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
//   - a component absent by design (Target.Absent) has no plan: it is Invalid with the
//     reason, and has no method.
//   - cr-patch while the operator's gate before the component is closed (Target.Gate):
//     the operator never gets to apply the patch, so the plan is Invalid; a forced scale
//     is then not reverted either, until the gate opens.
func NewPlan(t Target, opts PlanOptions) Plan {
	if t.Absent != "" {
		return Plan{Target: t, Invalid: fmt.Sprintf("%s is absent by design (%s): %s; there is nothing to take down", t.Component.Name, t.Absent, t.AbsentDetail)}
	}
	p := Plan{Target: t, Method: MethodScaleSubresource}
	am := t.APIManager
	switch {
	case am == nil:
		p.Notes = append(p.Notes, "no APIManager in the namespace: nothing reconciles the replicas")
	case len(switchNames(am.Switches, true)) > 0:
		// The install's own workload: the operator neither created it nor reconciles it.
		sw := firstSwitch(am.Switches, true)
		p.Notes = append(p.Notes, fmt.Sprintf("%s is not the operator's: APIManager %s sets %s, and %s; %s is the install's own and nothing reconciles its replicas",
			t.Component.Name, am.Name, strings.Join(switchNames(am.Switches, true), ", "), sw.Why, t.Workload))
	case !t.Component.OperatorManaged(t.Version):
		p.Notes = append(p.Notes, fmt.Sprintf("%s is not the operator's: from 3scale %d.%d %s; %s is the install's own and nothing reconciles its replicas",
			t.Component.Name, t.Component.ExternalFrom.Major, t.Component.ExternalFrom.Minor, t.Component.ExternalWhy, t.Workload))
	case len(am.Switches) > 0:
		sw := firstSwitch(am.Switches, false)
		p.Notes = append(p.Notes, fmt.Sprintf("APIManager %s sets %s, yet %s exists: %s, so expect it to go away under a running operator",
			am.Name, strings.Join(switchNames(am.Switches, false), ", "), t.Workload, sw.Why))
	case !t.Component.HasReplicasField():
		p.Notes = append(p.Notes, "the APIManager has no replicas field for "+t.Component.Name+": the operator never writes its replicas after creation")
	case !am.FieldSet:
		p.Notes = append(p.Notes, fmt.Sprintf("APIManager %s leaves %s unset: the operator does not enforce the replicas", am.Name, am.Field))
	case am.HPAEnabled:
		p.Invalid = fmt.Sprintf("APIManager %s sets %s=%d and %s=true: the operator pins %s to 1 replica on every reconcile, so neither a CR patch nor a scale can hold it at 0",
			am.Name, am.Field, am.FieldValue, t.Component.HPAField, t.Workload)
	case opts.ForceScaleSubresource && t.gateClosed():
		p.Notes = append(p.Notes, fmt.Sprintf("APIManager %s sets %s=%d and the scale subresource was forced, but %s: %s, so the operator will not scale %s back until that changes",
			am.Name, am.Field, am.FieldValue, t.Gate.Closed, gateWhy(t.Component.Name, t.Gate.Component), t.Workload))
	case opts.ForceScaleSubresource:
		p.ExpectReverted = fmt.Sprintf("APIManager %s sets %s=%d and the scale subresource was forced: the operator will scale %s back to %d",
			am.Name, am.Field, am.FieldValue, t.Workload, am.FieldValue)
	case t.gateClosed():
		p.Method = MethodCRPatch
		p.Invalid = fmt.Sprintf("the operator will not act: APIManager %s sets %s=%d, so the fault must be a patch of it, but %s: %s, so a patch to 0 would never be applied",
			am.Name, am.Field, am.FieldValue, t.Gate.Closed, gateWhy(t.Component.Name, t.Gate.Component))
	default:
		p.Method = MethodCRPatch
		p.Notes = append(p.Notes, fmt.Sprintf("APIManager %s sets %s=%d: patch it to 0, restore %d", am.Name, am.Field, am.FieldValue, am.FieldValue))
	}
	if t.Gate != nil && t.Gate.Missing && am != nil && am.FieldSet {
		p.Notes = append(p.Notes, fmt.Sprintf("Deployment/%s does not exist: a running operator would create it and reconcile %s only once it is Available; the harness takes that gate as open", t.Gate.Component, t.Component.Name))
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

func firstSwitch(sws []catalog.FieldSwitch, external bool) catalog.FieldSwitch {
	for _, sw := range sws {
		if sw.External == external {
			return sw
		}
	}
	return catalog.FieldSwitch{}
}

// gateClosed reports whether the operator is stopped before the target.
func (t Target) gateClosed() bool { return t.Gate != nil && t.Gate.Closed != "" }

// gateWhy says why the operator waits, with its source.
func gateWhy(component, gate string) string {
	return fmt.Sprintf("the operator reconciles %s only once %s is Available and not progressing (operator@3scale-2.16.3-GA controllers/apps/apimanager_controller.go reconcileAPIManagerLogic stops at the first reconciler that requeues, and pkg/3scale/amp/operator/system_searchd_reconciler.go:112 requeues until then)",
		component, gate)
}

// String renders the plan on one line per fact.
func (p Plan) String() string {
	var b strings.Builder
	if p.Target.Absent != "" {
		fmt.Fprintf(&b, "%s: absent by design (%s)\n", p.Target, p.Target.Absent)
		fmt.Fprintf(&b, "  INVALID by design: %s\n", p.Invalid)
		return b.String()
	}
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
