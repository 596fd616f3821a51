package conformance

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/threescale-chaos/harness/internal/testsupport"
)

// getAPIManagerRaw reads the twin's APIManager as plain JSON, without the twin operator's types.
func getAPIManagerRaw(ctx context.Context) (map[string]any, error) {
	b, err := client.Discovery().RESTClient().Get().
		AbsPath("/apis/apps.3scale.net/v1alpha1/namespaces", namespace, "apimanagers", "3scale").DoRaw(ctx)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	return m, json.Unmarshal(b, &m)
}

type rawCondition struct {
	Type, Status, Reason, Message string
	LastTransitionTime            string `json:"lastTransitionTime"`
}

type rawStatus struct {
	Conditions  []rawCondition `json:"conditions"`
	Deployments struct {
		Ready, Starting, Stopped []string
	} `json:"deployments"`
}

// apiManagerStatus returns the status, its top-level keys and the annotations.
func apiManagerStatus(ctx context.Context) (rawStatus, []string, map[string]any, error) {
	var st rawStatus
	m, err := getAPIManagerRaw(ctx)
	if err != nil {
		return st, nil, nil, err
	}
	raw, _ := m["status"].(map[string]any)
	var keys []string
	for k := range raw {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	b, _ := json.Marshal(raw)
	meta, _ := m["metadata"].(map[string]any)
	ann, _ := meta["annotations"].(map[string]any)
	return st, keys, ann, json.Unmarshal(b, &st)
}

// The twin's APIManager as the real operator 0.13.3 leaves it on an install without a router
// (research/real-operator-check.md §2.1, §2.4; operator@3scale-2.16.3-GA
// controllers/apps/apimanager_status_reconciler.go, apis/apps/v1alpha1/apimanager_types.go
// setAPIManagerAnnotationsDefaults): version annotations 2.16.3 and 0.13.3; a status with
// exactly conditions and deployments, the twelve operator Deployments ready and nothing else
// listed, Available False without a reason (every watched Secret exists, no default Route is
// admitted).
func TestAPIManagerAsTheRealOperatorLeavesIt(t *testing.T) {
	var st rawStatus
	var keys []string
	var ann map[string]any
	testsupport.Eventually(t, 2*time.Minute, "the twelve operator Deployments ready in the APIManager status", func(ctx context.Context) (bool, string) {
		var err error
		st, keys, ann, err = apiManagerStatus(ctx)
		if err != nil {
			return false, errSeen(ctx, err)
		}
		return reflect.DeepEqual(st.Deployments.Ready, operatorDeployments) && len(st.Deployments.Starting)+len(st.Deployments.Stopped) == 0,
			fmt.Sprintf("%+v", st.Deployments)
	})
	if !reflect.DeepEqual(keys, []string{"conditions", "deployments"}) {
		t.Errorf("status keys %v, want exactly [conditions deployments] (no observedGeneration, nothing twin-only)", keys)
	}
	if ann["apps.3scale.net/apimanager-threescale-version"] != "2.16.3" || ann["apps.3scale.net/threescale-operator-version"] != "0.13.3" {
		t.Errorf("version annotations: %v", ann)
	}
	if len(st.Conditions) != 1 || st.Conditions[0].Type != "Available" || st.Conditions[0].Status != "False" || st.Conditions[0].Reason != "" || st.Conditions[0].LastTransitionTime == "" {
		t.Errorf("conditions %+v, want one Available=False without a reason, with a transition time", st.Conditions)
	}
}

// The objects the operator creates are owned by the APIManager (a controller reference), the
// Secrets and the 2.16 external datastores are not (research/real-operator-check.md §2.2;
// base_apimanager_logic_reconciler.go ReconcileResource skips Secrets).
func TestOperatorObjectsAreOwnedByTheAPIManager(t *testing.T) {
	ctx := context.Background()
	m, err := getAPIManagerRaw(ctx)
	if err != nil {
		t.Fatal(err)
	}
	uid := m["metadata"].(map[string]any)["uid"]
	owned := func(refs []metav1.OwnerReference) bool {
		for _, r := range refs {
			if string(r.UID) == uid && r.Kind == "APIManager" && r.Controller != nil && *r.Controller {
				return true
			}
		}
		return false
	}
	for _, name := range operatorDeployments {
		d, err := client.AppsV1().Deployments(namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !owned(d.OwnerReferences) {
			t.Errorf("Deployment %s is not owned by the APIManager: %+v", name, d.OwnerReferences)
		}
	}
	for _, name := range []string{"backend-redis", "system-redis", "system-mysql"} {
		d, err := client.AppsV1().Deployments(namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(d.OwnerReferences) > 0 {
			t.Errorf("Deployment %s is the user's in 2.16 but has owners %+v", name, d.OwnerReferences)
		}
	}
	cm, err := client.CoreV1().ConfigMaps(namespace).Get(ctx, "apicast-environment", metav1.GetOptions{})
	if err != nil || !owned(cm.OwnerReferences) {
		t.Errorf("ConfigMap apicast-environment not owned by the APIManager: %v %v", err, cm.OwnerReferences)
	}
	for _, sa := range []string{"amp", "zync-que-sa"} {
		got, err := client.CoreV1().ServiceAccounts(namespace).Get(ctx, sa, metav1.GetOptions{})
		if err != nil || !owned(got.OwnerReferences) {
			t.Errorf("ServiceAccount %s not owned by the APIManager: %v", sa, err)
		}
	}
	s, err := client.CoreV1().Secrets(namespace).Get(ctx, "system-seed", metav1.GetOptions{})
	if err != nil || len(s.OwnerReferences) > 0 {
		t.Errorf("Secret system-seed: %v, owners %+v; the operator owns no Secret", err, s.OwnerReferences)
	}
}

// spec.apicast.productionSpec.hpa: true makes the operator create the HPA apicast-production
// (1 to 5 replicas, memory and cpu at 85 %, targeting the Deployment) and add the two HPA
// warnings (the twin's APIManager has resourceRequirementsEnabled: false); switched off, the
// HPA is deleted and the warnings removed (base_apimanager_logic_reconciler.go ReconcileHpa,
// component/hpa.go DefaultHpa, apimanager_status_reconciler.go reconcileHpaWarningMessages).
func TestHPAForApicastProduction(t *testing.T) {
	patchAPIManager(t, `{"spec":{"apicast":{"productionSpec":{"hpa":true}}}}`)
	t.Cleanup(func() { patchAPIManager(t, `{"spec":{"apicast":{"productionSpec":{"hpa":null}}}}`) })
	testsupport.Eventually(t, 30*time.Second, "HPA apicast-production as the operator makes it", func(ctx context.Context) (bool, string) {
		h, err := client.AutoscalingV2().HorizontalPodAutoscalers(namespace).Get(ctx, "apicast-production", metav1.GetOptions{})
		if err != nil {
			return false, errSeen(ctx, err)
		}
		var metrics []string
		for _, m := range h.Spec.Metrics {
			if m.Resource != nil && m.Resource.Target.AverageUtilization != nil {
				metrics = append(metrics, fmt.Sprintf("%s=%d%%", m.Resource.Name, *m.Resource.Target.AverageUtilization))
			}
		}
		ref := h.Spec.ScaleTargetRef
		ok := h.Spec.MinReplicas != nil && *h.Spec.MinReplicas == 1 && h.Spec.MaxReplicas == 5 &&
			slices.Equal(metrics, []string{"memory=85%", "cpu=85%"}) && ref.Kind == "Deployment" && ref.Name == "apicast-production" && ref.APIVersion == "apps/v1"
		return ok, fmt.Sprintf("min %v max %d metrics %v target %+v", h.Spec.MinReplicas, h.Spec.MaxReplicas, metrics, ref)
	})
	warnings := func(ctx context.Context) ([]string, string) {
		st, _, _, err := apiManagerStatus(ctx)
		if err != nil {
			return nil, errSeen(ctx, err)
		}
		var w []string
		for _, c := range st.Conditions {
			if c.Type == "Warning" {
				w = append(w, c.Reason)
			}
		}
		return w, fmt.Sprint(w)
	}
	testsupport.Eventually(t, 30*time.Second, "the two HPA warnings", func(ctx context.Context) (bool, string) {
		w, seen := warnings(ctx)
		return slices.Equal(w, []string{"HPA & ResourceRequirementsEnabled false", "HPA"}), seen
	})
	patchAPIManager(t, `{"spec":{"apicast":{"productionSpec":{"hpa":false}}}}`)
	testsupport.Eventually(t, 30*time.Second, "HPA apicast-production deleted and the warnings gone", func(ctx context.Context) (bool, string) {
		_, err := client.AutoscalingV2().HorizontalPodAutoscalers(namespace).Get(ctx, "apicast-production", metav1.GetOptions{})
		w, seen := warnings(ctx)
		return apierrors.IsNotFound(err) && len(w) == 0, fmt.Sprintf("HPA get: %v; warnings %s", err, seen)
	})
}
