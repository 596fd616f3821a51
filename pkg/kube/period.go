package kube

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/threescale-chaos/harness/pkg/catalog"
)

// ReadPeriod reads a period's setting from the live workload of its component: the one
// Resolve finds (a Deployment from 3scale 2.15, a DeploymentConfig before), its container
// named like the workload (the operator names APIcast's so) or else its first. It never
// fails: when the workload or the variable cannot be read the reading says why and carries
// the period's default, so that a caller never falls back silently. Nothing is changed.
func ReadPeriod(ctx context.Context, c *Client, namespace string, v catalog.Version, p catalog.Period) catalog.PeriodReading {
	comp, err := catalog.Lookup(p.Component)
	if err != nil {
		return p.Unreadable(err.Error())
	}
	t, err := Resolve(ctx, c, comp, namespace, v)
	if err != nil {
		return p.Unreadable(err.Error())
	}
	if t.Absent != "" {
		return p.Unreadable(fmt.Sprintf("%s is absent by design (%s)", comp.Name, t.Absent))
	}
	obj, err := c.Dynamic.Resource(gvrOf(t.Workload)).Namespace(namespace).Get(ctx, t.Workload.Name, metav1.GetOptions{})
	if err != nil {
		return p.Unreadable(fmt.Sprintf("read %s: %v", t.Workload, err))
	}
	raw, _, _ := unstructured.NestedMap(obj.Object, "spec", "template")
	var tmpl corev1.PodTemplateSpec
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(raw, &tmpl); err != nil {
		return p.Unreadable(fmt.Sprintf("%s spec.template: %v", t.Workload, err))
	}
	var ctr *corev1.Container
	for i := range tmpl.Spec.Containers {
		if tmpl.Spec.Containers[i].Name == t.Workload.Name {
			ctr = &tmpl.Spec.Containers[i]
		}
	}
	if ctr == nil && len(tmpl.Spec.Containers) > 0 {
		ctr = &tmpl.Spec.Containers[0]
	}
	if ctr == nil {
		return p.Unreadable(fmt.Sprintf("%s has no container", t.Workload))
	}
	env, envFrom := containerEnv(ctr)
	return p.Interpret(env, envFrom, t.Workload.String())
}

// containerEnv lists a container's environment as the harness can know it: literal values,
// and for the rest where they would come from, plus the envFrom sources it does not read
// (their ConfigMaps and Secrets are not the harness's to read). A variable set twice takes
// its last value, as the kubelet does.
func containerEnv(ctr *corev1.Container) (map[string]catalog.EnvValue, string) {
	env := map[string]catalog.EnvValue{}
	for _, e := range ctr.Env {
		if e.ValueFrom != nil {
			env[e.Name] = catalog.EnvValue{Indirect: "comes from " + valueFromString(e.ValueFrom)}
			continue
		}
		env[e.Name] = catalog.EnvValue{Value: e.Value, Set: true}
	}
	var srcs []string
	for _, f := range ctr.EnvFrom {
		switch {
		case f.ConfigMapRef != nil:
			srcs = append(srcs, "ConfigMap "+f.ConfigMapRef.Name)
		case f.SecretRef != nil:
			srcs = append(srcs, "Secret "+f.SecretRef.Name)
		}
	}
	return env, strings.Join(srcs, ", ")
}

func valueFromString(vf *corev1.EnvVarSource) string {
	switch {
	case vf.ConfigMapKeyRef != nil:
		return fmt.Sprintf("key %s of ConfigMap %s", vf.ConfigMapKeyRef.Key, vf.ConfigMapKeyRef.Name)
	case vf.SecretKeyRef != nil:
		return fmt.Sprintf("key %s of Secret %s", vf.SecretKeyRef.Key, vf.SecretKeyRef.Name)
	case vf.FieldRef != nil:
		return "field " + vf.FieldRef.FieldPath
	case vf.ResourceFieldRef != nil:
		return "resource " + vf.ResourceFieldRef.Resource
	}
	return "valueFrom"
}
