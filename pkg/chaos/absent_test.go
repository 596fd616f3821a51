package chaos_test

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/threescale-chaos/harness/pkg/catalog"
	"github.com/threescale-chaos/harness/pkg/chaos"
	"github.com/threescale-chaos/harness/pkg/kube"
	"github.com/threescale-chaos/harness/pkg/scenario"
)

// A scenario for a component that is absent by design (here system-redis on 3scale 2.16,
// whose operator runs no Redis, with no workload of that name in the namespace) ends
// INVALID with the plan's reason, as data, not as a harness error; nothing is sampled or
// scaled.
func TestRunIsInvalidForAComponentAbsentByDesign(t *testing.T) {
	local.Get(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ns := "absent-by-design"
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cs.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{}) })
	var b strings.Builder
	b.WriteString("component: system-redis\ndoc: {section: system-redis, summary: absent test}\ntiming: {observe: 4s, recoveryBudget: 30s}\nexpectations:\n")
	for _, c := range scenario.Capabilities() {
		b.WriteString("  " + string(c) + ": {expect: kept}\n")
	}
	sc, err := scenario.Parse("absent-test.yaml", []byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	steady := steadyServer(t)
	res, err := chaos.Run(ctx, chaos.Input{
		Scenario: sc, Kube: kc, Namespace: ns, Version: catalog.V2_16, RunID: kube.NewRunID(time.Now()),
		Samplers: samplers(steady, steady),
		Options:  chaos.Options{SampleInterval: 250 * time.Millisecond, SteadyTimeout: 10 * time.Second},
	})
	if err != nil {
		t.Fatalf("a component absent by design is not a harness error: %v", err)
	}
	if res.Verdict != scenario.Invalid || !strings.Contains(res.Invalid, "system-redis is absent by design (external from 3scale 2.16)") {
		t.Fatalf("want INVALID absent by design, got %s: %s", res.Verdict, res.Invalid)
	}
	if len(res.Phases) != 0 {
		t.Errorf("phases %v: nothing should have been sampled or injected", res.Phases)
	}
}
