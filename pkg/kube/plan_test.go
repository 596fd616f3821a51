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

	// The operator's gate before system, zync and APIcast (real-operator-check.md §2.3).
	gated := target(t, "system-app", &APIManagerInfo{FieldSet: true, FieldValue: 1})
	gated.Gate = &GateInfo{Component: "system-searchd", Closed: "Deployment/system-searchd is not Available (readyReplicas 0 of 1)"}
	if p := NewPlan(gated, PlanOptions{}); !strings.Contains(p.Invalid, "the operator will not act") || !strings.Contains(p.Invalid, "not Available") {
		t.Errorf("gated cr-patch: Invalid %q", p.Invalid)
	}
	if p := NewPlan(gated, PlanOptions{ForceScaleSubresource: true}); p.Invalid != "" || p.ExpectReverted != "" {
		t.Errorf("gated forced scale: Invalid %q ExpectReverted %q, want neither (nothing reverts it)", p.Invalid, p.ExpectReverted)
	}
	gated.Gate.Closed = ""
	if p := NewPlan(gated, PlanOptions{}); p.Invalid != "" || p.Method != MethodCRPatch {
		t.Errorf("open gate: %s", p)
	}

	// Absent by design: no method, INVALID with the reason.
	absent := target(t, "zync", &APIManagerInfo{})
	absent.Absent, absent.AbsentDetail = "spec.zync.enabled: false", "APIManager apimanager sets spec.zync.enabled: false: the operator deletes it"
	if p := NewPlan(absent, PlanOptions{}); p.Method != "" || !strings.Contains(p.Invalid, "zync is absent by design (spec.zync.enabled: false)") ||
		!strings.Contains(p.String(), "absent by design (spec.zync.enabled: false)") {
		t.Errorf("absent: method %q\n%s", p.Method, p)
	}

	// A datastore the operator of 2.16 does not run is the install's own.
	ext := target(t, "backend-redis", &APIManagerInfo{})
	ext.Version = catalog.V2_16
	if s := NewPlan(ext, PlanOptions{}).String(); !strings.Contains(s, "backend-redis is not the operator's") || strings.Contains(s, "after creation") {
		t.Errorf("external datastore:\n%s", s)
	}
	ext.Version = catalog.V2_15
	if s := NewPlan(ext, PlanOptions{}).String(); !strings.Contains(s, "never writes its replicas after creation") {
		t.Errorf("2.15 operator-run datastore:\n%s", s)
	}

	zero := target(t, "zync", nil)
	zero.Replicas = 0
	if p := NewPlan(zero, PlanOptions{}); !strings.Contains(p.Invalid, "already at 0 replicas") {
		t.Errorf("a target at 0 must be INVALID by design, got %q", p.Invalid)
	}
}
