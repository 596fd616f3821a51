package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"
)

func deployment(name string, available bool, reason string) appsv1.Deployment {
	d := appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace, Generation: 1},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"deployment": name}},
		},
		Status: appsv1.DeploymentStatus{ObservedGeneration: 1},
	}
	status := corev1.ConditionFalse
	if available {
		status = corev1.ConditionTrue
		d.Status.AvailableReplicas = 1
	}
	d.Status.Conditions = []appsv1.DeploymentCondition{{Type: appsv1.DeploymentAvailable, Status: status, Reason: reason}}
	return d
}

func TestAssessDeployments(t *testing.T) {
	lagging := deployment("zync", true, "MinimumReplicasAvailable")
	lagging.Generation = 2
	noCondition := deployment("apicast-staging", false, "")
	noCondition.Status.Conditions = nil
	items := []appsv1.Deployment{
		deployment("backend-redis", true, "MinimumReplicasAvailable"),
		deployment("system-app", false, "MinimumReplicasUnavailable"),
		lagging,
		noCondition,
		deployment("something-else", false, "MinimumReplicasUnavailable"),
		deployment("also-fine", true, ""),
	}
	ready, total, waiting := assessDeployments(items, []string{"backend-redis", "system-app", "zync", "apicast-staging", "zync-que"}, nil)
	if ready != 1 || total != 5 {
		t.Errorf("ready %d/%d, want 1/5", ready, total)
	}
	want := []string{
		"system-app (0/1 available, MinimumReplicasUnavailable)",
		"zync (1/1 available, rollout not observed yet)",
		"apicast-staging (0/1 available, no Available condition yet)",
		"zync-que (not created yet)",
		"something-else (0/1 available, MinimumReplicasUnavailable)",
	}
	if strings.Join(waiting, "\n") != strings.Join(want, "\n") {
		t.Errorf("waiting:\n%s\nwant:\n%s", strings.Join(waiting, "\n"), strings.Join(want, "\n"))
	}
}

func TestJobState(t *testing.T) {
	cond := func(typ batchv1.JobConditionType, reason, msg string) *batchv1.Job {
		return &batchv1.Job{Status: batchv1.JobStatus{Conditions: []batchv1.JobCondition{{Type: typ, Status: corev1.ConditionTrue, Reason: reason, Message: msg}}}}
	}
	if done, failed, _ := jobState(cond(batchv1.JobComplete, "", "")); !done || failed {
		t.Error("a complete Job is not done")
	}
	if done, failed, why := jobState(cond(batchv1.JobFailed, "BackoffLimitExceeded", "Job has reached the specified backoff limit")); done || !failed || !strings.Contains(why, "BackoffLimitExceeded") {
		t.Errorf("failed Job: done %v failed %v why %q", done, failed, why)
	}
	if done, failed, why := jobState(&batchv1.Job{Status: batchv1.JobStatus{Active: 1, Failed: 2}}); done || failed || why != "1 active, 2 failed attempts" {
		t.Errorf("running Job: done %v failed %v why %q", done, failed, why)
	}
}

func TestDescribePod(t *testing.T) {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "system-app-1"},
		Status: corev1.PodStatus{
			Phase: corev1.PodPending,
			InitContainerStatuses: []corev1.ContainerStatus{
				{Name: "done", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed"}}},
			},
			ContainerStatuses: []corev1.ContainerStatus{
				{Name: "system-master", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff", Message: "Back-off pulling image"}}},
				{Name: "system-provider", Ready: true},
				{Name: "system-developer", RestartCount: 3, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}},
			},
		},
	}
	got := describePod(p)
	want := "pod system-app-1 Pending, container system-master waiting: ImagePullBackOff Back-off pulling image, container system-developer running, not ready (3 restarts)"
	if got != want {
		t.Errorf("describePod:\n got %s\nwant %s", got, want)
	}
}

func zyncQue(env ...corev1.EnvVar) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: zyncQueDeployment, Namespace: namespace},
		Spec: appsv1.DeploymentSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{
			{Name: zyncQueContainer, Image: "quay.io/3scale/zync:latest", Env: env},
		}}}},
	}
}

func TestDisableZyncRoutes(t *testing.T) {
	ctx := context.Background()
	kc := fake.NewClientset()
	if done, err := disableZyncRoutes(ctx, kc, namespace); done || err != nil {
		t.Fatalf("before the operator made zync-que: done %v, err %v; want not done, no error", done, err)
	}
	if _, err := kc.AppsV1().Deployments(namespace).Create(ctx, zyncQue(corev1.EnvVar{Name: "RAILS_ENV", Value: "production"}), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if done, err := disableZyncRoutes(ctx, kc, namespace); !done || err != nil {
		t.Fatalf("done %v, err %v", done, err)
	}
	d, err := kc.AppsV1().Deployments(namespace).Get(ctx, zyncQueDeployment, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for _, e := range d.Spec.Template.Spec.Containers[0].Env {
		env[e.Name] = e.Value
	}
	if len(env) != 2 || env["RAILS_ENV"] != "production" || env[zyncRoutesEnv] != "1" {
		t.Errorf("env %v, want the operator's RAILS_ENV kept and %s=1 added", env, zyncRoutesEnv)
	}
	patches := 0
	for _, a := range kc.Actions() {
		if a.GetVerb() == "patch" {
			patches++
		}
	}
	if done, err := disableZyncRoutes(ctx, kc, namespace); !done || err != nil {
		t.Fatalf("second call: done %v, err %v", done, err)
	}
	after := 0
	for _, a := range kc.Actions() {
		if a.GetVerb() == "patch" {
			after++
		}
	}
	if patches != 1 || after != 1 {
		t.Errorf("%d patches, then %d; want one, and none when the variable is there", patches, after)
	}

	other := fake.NewClientset(&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: zyncQueDeployment, Namespace: namespace},
		Spec: appsv1.DeploymentSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "renamed"}}}}}})
	if _, err := disableZyncRoutes(ctx, other, namespace); err == nil || !strings.Contains(err.Error(), zyncQueContainer) {
		t.Errorf("a zync-que without container %s: %v", zyncQueContainer, err)
	}
}

func apiManager(conditions ...map[string]any) *unstructured.Unstructured {
	am := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apps.3scale.net/v1alpha1", "kind": "APIManager",
		"metadata": map[string]any{"name": apiManagerName, "namespace": namespace},
		"spec":     map[string]any{"wildcardDomain": "kind.localhost"},
	}}
	if len(conditions) > 0 {
		var cs []any
		for _, c := range conditions {
			cs = append(cs, c)
		}
		am.Object["status"] = map[string]any{"conditions": cs}
	}
	return am
}

func newWaiter(objs []runtime.Object, dynObjs []runtime.Object, deps, jobs []string) (*waiter, *bytes.Buffer) {
	out := &bytes.Buffer{}
	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{apiManagerGVR: "APIManagerList"}, dynObjs...)
	return &waiter{
		kube: fake.NewClientset(objs...), dyn: dyn, namespace: namespace, apiManager: apiManagerName,
		deployments: deps, jobs: jobs, interval: 10 * time.Millisecond, progressEvery: time.Hour,
		out: out, start: time.Now(),
	}, out
}

// When everything is there and Available, the wait returns, having set zync-que's variable
// and printed its progress.
func TestWaitSucceeds(t *testing.T) {
	deps := []string{"backend-redis", zyncQueDeployment}
	objs := []runtime.Object{ptr.To(deployment("backend-redis", true, "")), zyncQue()}
	zq := objs[1].(*appsv1.Deployment)
	zq.Generation, zq.Status = 1, deployment(zyncQueDeployment, true, "").Status
	objs = append(objs, &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "minio-bucket", Namespace: namespace},
		Status: batchv1.JobStatus{Conditions: []batchv1.JobCondition{{Type: batchv1.JobComplete, Status: corev1.ConditionTrue}}}})
	w, out := newWaiter(objs, []runtime.Object{apiManager()}, deps, []string{"minio-bucket"})
	if err := w.run(context.Background(), 5*time.Second); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !strings.Contains(out.String(), "2/2 Deployments Available") || !strings.Contains(out.String(), zyncRoutesEnv+"=1 is set") {
		t.Errorf("progress does not say it:\n%s", out)
	}
}

// A timeout names every object still missing, what its pods wait on, and the APIManager's
// conditions.
func TestWaitTimesOutSayingWhatIsMissing(t *testing.T) {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "system-app-abc", Namespace: namespace, Labels: map[string]string{"deployment": "system-app"}},
		Status: corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{
			{Name: "system-provider", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ErrImagePull"}}},
		}},
	}
	objs := []runtime.Object{ptr.To(deployment("system-app", false, "MinimumReplicasUnavailable")), pod,
		&batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "minio-bucket", Namespace: namespace}, Status: batchv1.JobStatus{Active: 1}}}
	w, out := newWaiter(objs, []runtime.Object{apiManager(map[string]any{"type": "Available", "status": "False", "message": "routes not ready"})},
		[]string{"system-app", "zync"}, []string{"minio-bucket"})
	err := w.run(context.Background(), 200*time.Millisecond)
	if err == nil {
		t.Fatalf("no timeout\n%s", out)
	}
	for _, want := range []string{
		"within 200ms", "0/2 Deployments Available",
		"system-app (0/1 available, MinimumReplicasUnavailable; pod system-app-abc Pending, container system-provider waiting: ErrImagePull)",
		"zync (not created yet)", "Job minio-bucket (1 active, 0 failed attempts)",
		zyncRoutesEnv + " not yet set", "Available=False (routes not ready)",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not say %q:\n%v", want, err)
		}
	}
}

// A Job that failed for good ends the wait at once.
func TestWaitStopsOnAFailedJob(t *testing.T) {
	objs := []runtime.Object{&batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "minio-bucket", Namespace: namespace},
		Status: batchv1.JobStatus{Conditions: []batchv1.JobCondition{{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded"}}}}}
	w, _ := newWaiter(objs, []runtime.Object{apiManager()}, nil, []string{"minio-bucket"})
	start := time.Now()
	err := w.run(context.Background(), time.Minute)
	if err == nil || !strings.Contains(err.Error(), "Job minio-bucket failed: BackoffLimitExceeded") {
		t.Fatalf("error %v", err)
	}
	if time.Since(start) > 10*time.Second {
		t.Errorf("took %s: a failed Job should end the wait at once", time.Since(start))
	}
}

func TestCRDEstablished(t *testing.T) {
	crd := &unstructured.Unstructured{Object: map[string]any{"status": map[string]any{"conditions": []any{
		map[string]any{"type": "NamesAccepted", "status": "True", "reason": "NoConflicts"},
		map[string]any{"type": "Established", "status": "True", "reason": "InitialNamesAccepted"},
	}}}}
	if ok, seen := crdEstablished(crd); !ok || !strings.Contains(seen, "NamesAccepted=True (NoConflicts)") {
		t.Errorf("established %v, seen %q", ok, seen)
	}
	if ok, seen := crdEstablished(&unstructured.Unstructured{Object: map[string]any{}}); ok || seen != "no conditions" {
		t.Errorf("no status: established %v, seen %q", ok, seen)
	}
}
