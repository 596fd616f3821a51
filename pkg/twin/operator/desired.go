package operator

import (
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Mode says how one pass treats a component's replicas.
type Mode string

// The modes a component can be in. They are recorded in status.twin.
const (
	// ModeEnforced: the replicas field is set; the Deployment is put back to it
	// (research/3scale-operator.md 2.1, DeploymentReplicasMutator appended only
	// when the field is non-nil).
	ModeEnforced Mode = "Enforced"
	// ModeHPA: the replicas field is set and hpa is true; the CR value is
	// ignored and the Deployment is put back to 1 (research 2.1 "except when
	// hpa: true ... desired stays 1", 2.4; 3scale-2.16.3-GA
	// backend_options_provider.go / apicast_options_provider.go setReplicas).
	ModeHPA Mode = "HPA"
	// ModeUnmanaged: the replicas field is absent (hpa or not); the operator
	// never writes the Deployment's replicas (research 2.1, 2.2, 2.4).
	ModeUnmanaged Mode = "Unmanaged"
	// ModeZyncDisabled: spec.zync.enabled is false (2.16, research 1.1). The
	// real operator deletes the zync Deployments; the twin leaves them alone.
	ModeZyncDisabled Mode = "ZyncDisabled"
)

// Desired is what one pass wants for one component.
type Desired struct {
	Component Component
	Mode      Mode
	// Replicas is meaningful for ModeEnforced and ModeHPA only.
	Replicas int32
}

// Manages reports whether the pass writes the Deployment's replicas.
func (d Desired) Manages() bool { return d.Mode == ModeEnforced || d.Mode == ModeHPA }

// DesiredReplicas reads the live APIManager and says what the operator wants
// for c. It reads the live object on every pass, never a default: an
// APIManager created by an old operator may carry replicas: 1 in its spec
// (research 2.3 "Gotcha").
func DesiredReplicas(am *unstructured.Unstructured, c Component) (Desired, error) {
	d := Desired{Component: c, Mode: ModeUnmanaged}
	if c.Stage == StageZync {
		enabled, found, err := unstructured.NestedBool(am.Object, zyncEnabledPath...)
		if err != nil {
			return d, fmt.Errorf("APIManager %s/%s: %w", am.GetNamespace(), am.GetName(), err)
		}
		if found && !enabled {
			d.Mode = ModeZyncDisabled
			return d, nil
		}
	}
	raw, found, err := unstructured.NestedFieldNoCopy(am.Object, c.Replicas...)
	if err != nil {
		return d, fmt.Errorf("APIManager %s/%s: %w", am.GetNamespace(), am.GetName(), err)
	}
	if !found || raw == nil {
		return d, nil
	}
	n, err := toInt32(raw)
	if err != nil {
		return d, fmt.Errorf("APIManager %s/%s: %s: %w", am.GetNamespace(), am.GetName(), dotted(c.Replicas), err)
	}
	d.Mode, d.Replicas = ModeEnforced, n
	if c.HPA != nil {
		hpa, _, err := unstructured.NestedBool(am.Object, c.HPA...)
		if err != nil {
			return d, fmt.Errorf("APIManager %s/%s: %s: %w", am.GetNamespace(), am.GetName(), dotted(c.HPA), err)
		}
		if hpa {
			d.Mode, d.Replicas = ModeHPA, 1
		}
	}
	return d, nil
}

func toInt32(v any) (int32, error) {
	var n int64
	switch x := v.(type) {
	case int64:
		n = x
	case int32:
		n = int64(x)
	case int:
		n = int64(x)
	case float64:
		if x != float64(int64(x)) {
			return 0, fmt.Errorf("replicas %v is not an integer", x)
		}
		n = int64(x)
	default:
		return 0, fmt.Errorf("replicas has type %T, want an integer", v)
	}
	if n < 0 || n > 1<<31-1 {
		return 0, fmt.Errorf("replicas %d out of range", n)
	}
	return int32(n), nil
}

func dotted(path []string) string {
	s := ""
	for _, p := range path {
		s += "." + p
	}
	return s
}
