package container

import (
	"context"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

var testNode = NodeInfo{NodeName: "twin-node", HostIP: "127.0.0.1", CPUMillis: 2000, MemoryBytes: 4 << 30}

func TestResolveEnvOrderOverrideExpansion(t *testing.T) {
	lk := newLookup(
		configMap("cm", map[string]string{"B": "b", "A": "a"}),
		secret("s", map[string]string{"TOKEN": "t"}),
	)
	c := &corev1.Container{
		Name: "app",
		EnvFrom: []corev1.EnvFromSource{
			{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cm"}}},
			{Prefix: "S_", SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "s"}}},
			{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "gone"}, Optional: ptr(true)}},
		},
		Env: []corev1.EnvVar{
			{Name: "B", Value: "override"},
			{Name: "C", Value: "$(A)-$(B)-$$(A)-$(MISSING)-$(S_TOKEN)"},
			{Name: "EARLY", Value: "$(LATER)"},
			{Name: "LATER", Value: "x"},
			{Name: "EMPTY"},
			{Name: "DOLLAR", Value: "cost $5 $( $"},
		},
	}
	got, err := ResolveEnv(context.Background(), testPod(), c, testNode, lk)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"A=a", "B=override", "S_TOKEN=t",
		"C=a-override-$(A)-$(MISSING)-t",
		"EARLY=$(LATER)", "LATER=x", "EMPTY=",
		"DOLLAR=cost $5 $( $",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("env\n got %q\nwant %q", got, want)
	}
}

func TestResolveEnvFieldRefs(t *testing.T) {
	pod := testPod()
	field := func(name, path string) corev1.EnvVar {
		return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: path}}}
	}
	c := &corev1.Container{Name: "app", Env: []corev1.EnvVar{
		field("NAME", "metadata.name"),
		field("NS", "metadata.namespace"),
		field("UID", "metadata.uid"),
		field("APP", "metadata.labels['app']"),
		field("NOTE", "metadata.annotations['note']"),
		field("NODE", "spec.nodeName"),
		field("SA", "spec.serviceAccountName"),
		field("HOST_IP", "status.hostIP"),
		field("HOST_IPS", "status.hostIPs"),
		field("POD_IP", "status.podIP"),
		field("POD_IPS", "status.podIPs"),
		{Name: "URL", Value: "http://$(POD_IP):8080/$(NAME)"},
	}}
	got, err := ResolveEnv(context.Background(), pod, c, testNode, newLookup())
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"NAME=web-0", "NS=ns", "UID=uid-123", "APP=web", `NOTE=hi "there"`, "NODE=twin-node", "SA=sa",
		"HOST_IP=127.0.0.1", "HOST_IPS=127.0.0.1", "POD_IP=127.0.0.1", "POD_IPS=127.0.0.1",
		"URL=http://127.0.0.1:8080/web-0",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("env\n got %q\nwant %q", got, want)
	}

	// Status values win over the node's when the pod carries them.
	pod.Status.PodIP = "10.0.0.7"
	pod.Status.PodIPs = []corev1.PodIP{{IP: "10.0.0.7"}, {IP: "fd00::7"}}
	got, err = ResolveEnv(context.Background(), pod, c, testNode, newLookup())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(got, "POD_IP=10.0.0.7") || !slices.Contains(got, "POD_IPS=10.0.0.7,fd00::7") {
		t.Fatalf("pod IPs not taken from status: %q", got)
	}

	c.Env = []corev1.EnvVar{field("X", "spec.containers")}
	_, err = ResolveEnv(context.Background(), pod, c, testNode, newLookup())
	wantErr(t, err, "field label not supported: spec.containers")
}

func TestResolveEnvResourceFieldRefs(t *testing.T) {
	res := func(name, r, divisor string) corev1.EnvVar {
		sel := &corev1.ResourceFieldSelector{Resource: r}
		if divisor != "" {
			sel.Divisor = resource.MustParse(divisor)
		}
		return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: sel}}
	}
	c := &corev1.Container{
		Name: "app",
		Resources: corev1.ResourceRequirements{
			Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m")},
			Requests: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")},
		},
		Env: []corev1.EnvVar{
			res("CPU_LIMIT_M", "limits.cpu", "1m"),
			res("CPU_LIMIT", "limits.cpu", ""), // 0.5 rounds up to 1
			res("MEM_LIMIT_MI", "limits.memory", "1Mi"),
			res("MEM_REQUEST", "requests.memory", ""),
			res("CPU_REQUEST", "requests.cpu", ""),
		},
	}
	got, err := ResolveEnv(context.Background(), testPod(), c, testNode, newLookup())
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"CPU_LIMIT_M=500", "CPU_LIMIT=1", "MEM_LIMIT_MI=4096", "MEM_REQUEST=67108864", "CPU_REQUEST=0"}
	if !slices.Equal(got, want) {
		t.Fatalf("env\n got %q\nwant %q", got, want)
	}
}

func TestResolveEnvSecretAndConfigMapKeys(t *testing.T) {
	lk := newLookup(secret("s", map[string]string{"user": "admin"}), configMap("cm", map[string]string{"mode": "fast"}))
	secretKey := func(name, obj, key string, optional bool) corev1.EnvVar {
		return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: obj}, Key: key, Optional: ptr(optional)}}}
	}
	cmKey := func(name, obj, key string, optional bool) corev1.EnvVar {
		return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: obj}, Key: key, Optional: ptr(optional)}}}
	}
	resolve := func(env ...corev1.EnvVar) ([]string, error) {
		return ResolveEnv(context.Background(), testPod(), &corev1.Container{Name: "app", Env: env}, testNode, lk)
	}

	got, err := resolve(
		secretKey("USER", "s", "user", false),
		cmKey("MODE", "cm", "mode", false),
		secretKey("OPT_KEY", "s", "nope", true),
		secretKey("OPT_OBJ", "nope", "k", true),
		cmKey("OPT_CM_KEY", "cm", "nope", true),
		cmKey("OPT_CM_OBJ", "nope", "k", true),
	)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"USER=admin", "MODE=fast"}; !slices.Equal(got, want) {
		t.Fatalf("env = %q, want %q", got, want)
	}

	for _, tc := range []struct {
		env  corev1.EnvVar
		want string
	}{
		{secretKey("X", "missing", "k", false), `secret "missing" not found`},
		{secretKey("X", "s", "K", false), "couldn't find key K in Secret ns/s"},
		{cmKey("X", "missing", "k", false), `configmap "missing" not found`},
		{cmKey("X", "cm", "K", false), "couldn't find key K in ConfigMap ns/cm"},
	} {
		_, err := resolve(tc.env)
		if err == nil || err.Error() != tc.want {
			t.Errorf("error = %v, want %q", err, tc.want)
		}
	}

	_, err = ResolveEnv(context.Background(), testPod(), &corev1.Container{Name: "app", EnvFrom: []corev1.EnvFromSource{
		{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "missing"}}},
	}}, testNode, lk)
	if err == nil || err.Error() != `secret "missing" not found` {
		t.Errorf("envFrom error = %v", err)
	}
}

func TestArgv(t *testing.T) {
	c := &corev1.Container{
		Name:    "app",
		Command: []string{"/bin/echo", "$(GREETING)"},
		Args:    []string{"$$(GREETING)", "$(NOPE)", "--port=$(PORT)"},
	}
	got, err := Argv(c, []string{"GREETING=hello", "PORT=1", "PORT=8080"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"/bin/echo", "hello", "$(GREETING)", "$(NOPE)", "--port=8080"}
	if !slices.Equal(got, want) {
		t.Fatalf("argv = %q, want %q", got, want)
	}

	_, err = Argv(&corev1.Container{Name: "redis", Args: []string{"--port", "6379"}}, nil)
	want1 := `container "redis" has no command: the twin node runs local executables, not images`
	if err == nil || err.Error() != want1 {
		t.Fatalf("error = %v, want %q", err, want1)
	}
}
