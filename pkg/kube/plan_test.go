package kube

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/threescale-chaos/harness/pkg/catalog"
)

func target(t *testing.T, component string, am *APIManagerInfo, hpas ...HPAInfo) Target {
	t.Helper()
	c, err := catalog.Lookup(component)
	if err != nil {
		t.Fatal(err)
	}
	if am != nil {
		am.Name, am.Field = "apimanager", c.ReplicasField
	}
	return Target{
		Component: c, Namespace: "ns", Version: catalog.V2_15, Workload: c.WorkloadFor(catalog.V2_15),
		Replicas: 2, Selector: labels.SelectorFromSet(c.PodSelector(catalog.V2_15)), SelectorSource: "catalog",
		APIManager: am, HPAs: hpas,
	}
}

func TestNewPlan(t *testing.T) {
	hpa := HPAInfo{Name: "backend-listener", MinReplicas: ptrTo(int32(1)), MaxReplicas: 5}
	tests := []struct {
		name                     string
		target                   Target
		opts                     PlanOptions
		method                   Method
		invalid, reverted, notes string
	}{
		{name: "no APIManager", target: target(t, "backend-listener", nil), method: MethodScaleSubresource, notes: "no APIManager"},
		{name: "component without field", target: target(t, "system-memcache", &APIManagerInfo{}), method: MethodScaleSubresource, notes: "no replicas field"},
		{name: "field unset", target: target(t, "backend-listener", &APIManagerInfo{}), method: MethodScaleSubresource, notes: "leaves spec.backend.listenerSpec.replicas unset"},
		{name: "field set", target: target(t, "backend-listener", &APIManagerInfo{FieldSet: true, FieldValue: 2}), method: MethodCRPatch, notes: "patch it to 0, restore 2"},
		{name: "field set, forced", target: target(t, "backend-listener", &APIManagerInfo{FieldSet: true, FieldValue: 2}), opts: PlanOptions{ForceScaleSubresource: true},
			method: MethodScaleSubresource, reverted: "will scale Deployment/backend-listener back to 2"},
		{name: "operator hpa and field set", target: target(t, "backend-listener", &APIManagerInfo{FieldSet: true, FieldValue: 2, HPAEnabled: true}),
			method: MethodScaleSubresource, invalid: "pins Deployment/backend-listener to 1 replica"},
		{name: "operator hpa, field unset", target: target(t, "backend-listener", &APIManagerInfo{HPAEnabled: true}, hpa),
			method: MethodScaleSubresource, notes: "HPA backend-listener (min 1, max 5) targets Deployment/backend-listener: recorded, left unchanged"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := NewPlan(tt.target, tt.opts)
			if p.Method != tt.method {
				t.Errorf("method %s, want %s", p.Method, tt.method)
			}
			if (p.Invalid == "") != (tt.invalid == "") || !strings.Contains(p.Invalid, tt.invalid) {
				t.Errorf("Invalid %q, want %q", p.Invalid, tt.invalid)
			}
			if (p.ExpectReverted == "") != (tt.reverted == "") || !strings.Contains(p.ExpectReverted, tt.reverted) {
				t.Errorf("ExpectReverted %q, want %q", p.ExpectReverted, tt.reverted)
			}
			if !strings.Contains(p.String(), tt.notes) {
				t.Errorf("plan %q lacks %q", p, tt.notes)
			}
		})
	}

	zero := target(t, "zync", nil)
	zero.Replicas = 0
	if p := NewPlan(zero, PlanOptions{}); !strings.Contains(p.Invalid, "already at 0 replicas") {
		t.Errorf("a target at 0 must be INVALID by design, got %q", p.Invalid)
	}
}
