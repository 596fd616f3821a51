package container

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
)

// NodeInfo describes the node a pod runs on, for the downward API: the host IP
// stands in for status IPs the pod does not carry yet, and the allocatable CPU and
// memory stand in for container limits that are unset (as the kubelet does).
type NodeInfo struct {
	NodeName    string
	HostIP      string
	CPUMillis   int64
	MemoryBytes int64
}

// ResolveEnv returns the container's environment as KEY=VALUE, in kubelet order:
// envFrom (configMapRef, secretRef, with prefix; optional honoured) then env (later
// wins), with $(VAR) expansion of env values against the variables defined before
// them ("$$" escapes, unresolved references are left as written).
//
// valueFrom supports fieldRef, resourceFieldRef (limits default to the node's
// allocatable values, requests to zero, as in the kubelet), secretKeyRef and
// configMapKeyRef. A missing optional object or key yields no variable; a missing
// required one is an error worded like the kubelet's (`secret "x" not found`,
// `couldn't find key K in Secret ns/x`).
//
// The kubelet builds the environment from a map, so its order is unspecified; here a
// variable keeps the position where it was first defined, so the result is stable.
func ResolveEnv(ctx context.Context, pod *corev1.Pod, c *corev1.Container, node NodeInfo, lk Lookup) ([]string, error) {
	r := &envResolver{ctx: ctx, pod: pod, c: c, node: node, objs: newObjectCache(lk)}
	for i := range c.EnvFrom {
		if err := r.addEnvFrom(&c.EnvFrom[i]); err != nil {
			return nil, err
		}
	}
	for i := range c.Env {
		if err := r.addEnv(&c.Env[i]); err != nil {
			return nil, err
		}
	}
	return r.vars.list(), nil
}

// Argv returns command followed by args, each with $(VAR) expanded against env.
// An empty command is an error: this node runs local executables, there is no image
// whose entrypoint could stand in for it.
func Argv(c *corev1.Container, env []string) ([]string, error) {
	if len(c.Command) == 0 {
		return nil, fmt.Errorf("container %q has no command: the twin node runs local executables, not images", c.Name)
	}
	vars := envMap(env)
	lookup := func(name string) (string, bool) {
		v, ok := vars[name]
		return v, ok
	}
	argv := make([]string, 0, len(c.Command)+len(c.Args))
	for _, s := range c.Command {
		argv = append(argv, expand(s, lookup))
	}
	for _, s := range c.Args {
		argv = append(argv, expand(s, lookup))
	}
	return argv, nil
}

// envResolver carries what resolving one container's environment needs.
type envResolver struct {
	ctx  context.Context
	pod  *corev1.Pod
	c    *corev1.Container
	node NodeInfo
	objs *objectCache
	vars orderedEnv
}

func (r *envResolver) addEnvFrom(src *corev1.EnvFromSource) error {
	var data map[string]string
	switch {
	case src.ConfigMapRef != nil:
		cm, err := r.objs.configMap(r.ctx, r.pod.Namespace, src.ConfigMapRef.Name)
		if err != nil {
			return skipIfOptionalNotFound(err, src.ConfigMapRef.Optional)
		}
		data = cm.Data
	case src.SecretRef != nil:
		s, err := r.objs.secret(r.ctx, r.pod.Namespace, src.SecretRef.Name)
		if err != nil {
			return skipIfOptionalNotFound(err, src.SecretRef.Optional)
		}
		data = secretStrings(s)
	default:
		return nil
	}
	for _, k := range sortedKeys(data) {
		r.vars.set(src.Prefix+k, data[k])
	}
	return nil
}

func (r *envResolver) addEnv(ev *corev1.EnvVar) error {
	if ev.Value != "" || ev.ValueFrom == nil {
		r.vars.set(ev.Name, expand(ev.Value, r.vars.get))
		return nil
	}
	val, ok, err := r.valueFrom(ev.ValueFrom)
	if err != nil {
		return err
	}
	if ok {
		r.vars.set(ev.Name, val)
	}
	return nil
}

// valueFrom resolves one valueFrom source; ok is false when an optional source is
// missing and the variable must not be defined at all.
func (r *envResolver) valueFrom(src *corev1.EnvVarSource) (val string, ok bool, err error) {
	ns := r.pod.Namespace
	switch {
	case src.FieldRef != nil:
		val, err = podField(r.pod, src.FieldRef.FieldPath, r.node)
		return val, err == nil, err
	case src.ResourceFieldRef != nil:
		val, err = resourceValue(r.pod, r.c, src.ResourceFieldRef, r.node)
		return val, err == nil, err
	case src.ConfigMapKeyRef != nil:
		ref := src.ConfigMapKeyRef
		cm, err := r.objs.configMap(r.ctx, ns, ref.Name)
		if err != nil {
			return "", false, skipIfOptionalNotFound(err, ref.Optional)
		}
		v, found := cm.Data[ref.Key]
		if !found {
			if isTrue(ref.Optional) {
				return "", false, nil
			}
			return "", false, fmt.Errorf("couldn't find key %v in ConfigMap %v/%v", ref.Key, ns, ref.Name)
		}
		return v, true, nil
	case src.SecretKeyRef != nil:
		ref := src.SecretKeyRef
		s, err := r.objs.secret(r.ctx, ns, ref.Name)
		if err != nil {
			return "", false, skipIfOptionalNotFound(err, ref.Optional)
		}
		v, found := secretStrings(s)[ref.Key]
		if !found {
			if isTrue(ref.Optional) {
				return "", false, nil
			}
			return "", false, fmt.Errorf("couldn't find key %v in Secret %v/%v", ref.Key, ns, ref.Name)
		}
		return v, true, nil
	}
	return "", false, fmt.Errorf("unsupported valueFrom source")
}

// skipIfOptionalNotFound turns "object missing" into "no variable" for optional
// references, and keeps every other error.
func skipIfOptionalNotFound(err error, optional *bool) error {
	if apierrors.IsNotFound(err) && isTrue(optional) {
		return nil
	}
	return err
}

// podField returns the downward API value of fieldPath. Status IPs fall back to the
// node's host IP: every pod here shares the host network, so that is their IP too.
func podField(pod *corev1.Pod, fieldPath string, node NodeInfo) (string, error) {
	if key, ok := subscript(fieldPath, "metadata.labels"); ok {
		return pod.Labels[key], nil
	}
	if key, ok := subscript(fieldPath, "metadata.annotations"); ok {
		return pod.Annotations[key], nil
	}
	switch fieldPath {
	case "metadata.name":
		return pod.Name, nil
	case "metadata.namespace":
		return pod.Namespace, nil
	case "metadata.uid":
		return string(pod.UID), nil
	case "metadata.labels":
		return formatMap(pod.Labels), nil
	case "metadata.annotations":
		return formatMap(pod.Annotations), nil
	case "spec.nodeName":
		return firstNonEmpty(pod.Spec.NodeName, node.NodeName), nil
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, nil
	case "status.hostIP":
		return firstNonEmpty(pod.Status.HostIP, node.HostIP), nil
	case "status.hostIPs":
		return joinIPs(pod.Status.HostIPs, pod.Status.HostIP, node.HostIP), nil
	case "status.podIP":
		return firstNonEmpty(pod.Status.PodIP, node.HostIP), nil
	case "status.podIPs":
		return joinIPs(podIPs(pod.Status.PodIPs), pod.Status.PodIP, node.HostIP), nil
	}
	return "", fmt.Errorf("field label not supported: %s", fieldPath)
}

// subscript parses `prefix['key']` and returns key.
func subscript(fieldPath, prefix string) (string, bool) {
	rest, ok := strings.CutPrefix(fieldPath, prefix+"['")
	if !ok {
		return "", false
	}
	return strings.CutSuffix(rest, "']")
}

// formatMap renders labels or annotations as the kubelet does: sorted key="value" lines.
func formatMap(m map[string]string) string {
	var b strings.Builder
	for i, k := range sortedKeys(m) {
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "%v=%q", k, m[k])
	}
	return b.String()
}

func podIPs(ips []corev1.PodIP) []corev1.HostIP {
	out := make([]corev1.HostIP, len(ips))
	for i, ip := range ips {
		out[i] = corev1.HostIP{IP: ip.IP}
	}
	return out
}

func joinIPs(ips []corev1.HostIP, single, fallback string) string {
	if len(ips) == 0 {
		return firstNonEmpty(single, fallback)
	}
	s := make([]string, len(ips))
	for i, ip := range ips {
		s[i] = ip.IP
	}
	return strings.Join(s, ",")
}

// resourceValue implements resourceFieldRef like the kubelet: the value is divided by
// the divisor and rounded up; an unset limit is the node's allocatable amount.
func resourceValue(pod *corev1.Pod, c *corev1.Container, ref *corev1.ResourceFieldSelector, node NodeInfo) (string, error) {
	target := c
	if ref.ContainerName != "" && ref.ContainerName != c.Name {
		target = findContainer(pod, ref.ContainerName)
		if target == nil {
			return "", fmt.Errorf("container %s not found", ref.ContainerName)
		}
	}
	divisor := ref.Divisor
	if divisor.IsZero() {
		divisor = resource.MustParse("1")
	}
	limits, requests := target.Resources.Limits, target.Resources.Requests
	switch ref.Resource {
	case "limits.cpu":
		return ceilDiv(float64(quantityOr(limits, corev1.ResourceCPU, node.CPUMillis, true)), float64(divisor.MilliValue())), nil
	case "requests.cpu":
		return ceilDiv(float64(quantityOr(requests, corev1.ResourceCPU, 0, true)), float64(divisor.MilliValue())), nil
	case "limits.memory":
		return ceilDiv(float64(quantityOr(limits, corev1.ResourceMemory, node.MemoryBytes, false)), float64(divisor.Value())), nil
	case "requests.memory":
		return ceilDiv(float64(quantityOr(requests, corev1.ResourceMemory, 0, false)), float64(divisor.Value())), nil
	}
	return "", fmt.Errorf("unsupported container resource : %v", ref.Resource)
}

// quantityOr returns the resource in milli-units (milli true) or units, or def when unset.
func quantityOr(list corev1.ResourceList, name corev1.ResourceName, def int64, milli bool) int64 {
	q, ok := list[name]
	if !ok {
		return def
	}
	if milli {
		return q.MilliValue()
	}
	return q.Value()
}

func ceilDiv(v, d float64) string {
	return strconv.FormatInt(int64(math.Ceil(v/d)), 10)
}

func findContainer(pod *corev1.Pod, name string) *corev1.Container {
	for _, list := range [][]corev1.Container{pod.Spec.Containers, pod.Spec.InitContainers} {
		for i := range list {
			if list[i].Name == name {
				return &list[i]
			}
		}
	}
	return nil
}

// expand replaces $(VAR) references like the kubelet's expansion package: "$$" is a
// literal "$", an unknown or unterminated reference stays as written.
func expand(s string, lookup func(string) (string, bool)) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch next := s[i+1]; next {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				b.WriteString("$(")
				i++
				continue
			}
			name := s[i+2 : i+2+end]
			if v, ok := lookup(name); ok {
				b.WriteString(v)
			} else {
				b.WriteString("$(" + name + ")")
			}
			i += 2 + end
		default:
			b.WriteByte('$')
		}
	}
	return b.String()
}

// orderedEnv is a variable set that remembers where each name was first defined.
type orderedEnv struct {
	names []string
	vals  map[string]string
}

func (e *orderedEnv) set(k, v string) {
	if e.vals == nil {
		e.vals = map[string]string{}
	}
	if _, ok := e.vals[k]; !ok {
		e.names = append(e.names, k)
	}
	e.vals[k] = v
}

func (e *orderedEnv) get(k string) (string, bool) {
	v, ok := e.vals[k]
	return v, ok
}

func (e *orderedEnv) list() []string {
	out := make([]string, len(e.names))
	for i, k := range e.names {
		out[i] = k + "=" + e.vals[k]
	}
	return out
}

// envMap turns KEY=VALUE pairs into a map, later entries winning.
func envMap(env []string) map[string]string {
	m := make(map[string]string, len(env))
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}

// objectCache fetches each Secret and ConfigMap once per resolution, so a container
// that references one object many times sees one consistent version of it, and
// rewrites not-found errors into the kubelet's wording.
type objectCache struct {
	lk         Lookup
	secrets    map[string]*corev1.Secret
	configMaps map[string]*corev1.ConfigMap
}

func newObjectCache(lk Lookup) *objectCache {
	return &objectCache{lk: lk, secrets: map[string]*corev1.Secret{}, configMaps: map[string]*corev1.ConfigMap{}}
}

func (o *objectCache) secret(ctx context.Context, ns, name string) (*corev1.Secret, error) {
	if s, ok := o.secrets[name]; ok {
		return s, nil
	}
	if o.lk == nil {
		return nil, fmt.Errorf("couldn't get secret %v/%v, no lookup defined", ns, name)
	}
	s, err := o.lk.Secret(ctx, ns, name)
	if err != nil {
		return nil, kubeletNotFound(err, "secret", name)
	}
	o.secrets[name] = s
	return s, nil
}

func (o *objectCache) configMap(ctx context.Context, ns, name string) (*corev1.ConfigMap, error) {
	if cm, ok := o.configMaps[name]; ok {
		return cm, nil
	}
	if o.lk == nil {
		return nil, fmt.Errorf("couldn't get configMap %v/%v, no lookup defined", ns, name)
	}
	cm, err := o.lk.ConfigMap(ctx, ns, name)
	if err != nil {
		return nil, kubeletNotFound(err, "configmap", name)
	}
	o.configMaps[name] = cm
	return cm, nil
}

// kubeletNotFound rewords a not-found error the way the kubelet's secret and configmap
// managers report it (`secret "x" not found`), whatever wording the Lookup used.
func kubeletNotFound(err error, resourceName, name string) error {
	if !apierrors.IsNotFound(err) {
		return err
	}
	return apierrors.NewNotFound(corev1.Resource(resourceName), name)
}

// secretStrings returns a secret's data as strings; StringData is merged on top, as
// the API server would on write, so hand-built secrets behave like stored ones.
func secretStrings(s *corev1.Secret) map[string]string {
	m := make(map[string]string, len(s.Data)+len(s.StringData))
	for k, v := range s.Data {
		m[k] = string(v)
	}
	for k, v := range s.StringData {
		m[k] = v
	}
	return m
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func isTrue(b *bool) bool { return b != nil && *b }

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
