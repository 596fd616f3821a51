package deploy_test

import (
	"encoding/json"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func unstructuredString(obj map[string]any, path ...string) (string, bool, error) {
	return unstructured.NestedString(obj, path...)
}

func unstructuredMap(obj map[string]any, path ...string) (map[string]any, bool, error) {
	return unstructured.NestedMap(obj, path...)
}

func unstructuredBool(obj map[string]any, path ...string) (bool, bool, error) {
	return unstructured.NestedBool(obj, path...)
}

func toJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
