package chaos_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/threescale-chaos/harness/pkg/chaos"
	"github.com/threescale-chaos/harness/pkg/kube"
	"github.com/threescale-chaos/harness/pkg/scenario"
)

// A kept claim that spans apicast-production's refresh makes the runner hold the fault for
// the period read from the cluster plus the margin, not the file's observe, and the journal
// records the window and why.
func TestRunHoldsTheFaultForTheSpannedPeriod(t *testing.T) {
	ns, url := component(t, "backend-worker")
	// Only its pod template is read: APICAST_CONFIGURATION_CACHE=6, the boot loader.
	gw := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "apicast-production"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(int32(0)),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"deployment": "apicast-production"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"deployment": "apicast-production"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "apicast-production", Image: "none", Env: []corev1.EnvVar{
					{Name: "APICAST_CONFIGURATION_LOADER", Value: "boot"}, {Name: "APICAST_CONFIGURATION_CACHE", Value: "6"},
				}}}},
			},
		},
	}
	if _, err := cs.AppsV1().Deployments(ns).Create(context.Background(), gw, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("component: backend-worker\ndoc: {section: backend-worker, summary: window test}\ntiming: {observe: 3s, recoveryBudget: 30s, periodMargin: 2s}\nexpectations:\n")
	for _, c := range scenario.Capabilities() {
		exp := "{expect: kept}"
		switch c {
		case scenario.ProductionTraffic:
			exp = "{expect: lost}"
		case scenario.UnauthorizedDenial:
			exp = "{expect: kept, spans: apicast-production-configuration-refresh}"
		}
		fmt.Fprintf(&b, "  %s: %s\n", c, exp)
	}
	sc, err := scenario.Parse("window-test.yaml", []byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	res, err := chaos.Run(ctx, chaos.Input{
		Scenario: sc, Kube: kc, Namespace: ns, RunID: kube.NewRunID(time.Now()), Samplers: samplers(url, steadyServer(t)),
		Options: chaos.Options{SampleInterval: 250 * time.Millisecond, SteadyTimeout: 30 * time.Second},
		Logf:    t.Logf,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Verdict != scenario.Pass {
		t.Fatalf("verdict %s: %s %s", res.Verdict, res.Reason, res.Invalid)
	}
	o := res.Observation
	if o == nil || time.Duration(o.Planned) != 3*time.Second || time.Duration(o.Effective) != 8*time.Second || len(o.Reasons) != 1 ||
		!strings.Contains(o.Reasons[0], "unauthorized-denial (kept) rests on apicast-production's configuration refresh every 6s") ||
		!strings.Contains(o.Reasons[0], "APICAST_CONFIGURATION_CACHE=6") {
		t.Fatalf("journal observation %+v", o)
	}
	if held := res.Window.End.Sub(res.Window.Start); held < 8*time.Second {
		t.Errorf("the fault was held %s, want at least the 8s window", held)
	}
}
