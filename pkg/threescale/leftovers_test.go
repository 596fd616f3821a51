package threescale

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
)

// A tenant after a killed run: the run's product, backend API, its usage and three buyer
// accounts, next to the tenant's own objects (one named like the harness, but without a run
// token) and another run's account. FindLeftovers groups by token; Delete removes one run's
// objects in the order a run does, and nothing of the tenant's.
func TestLeftovers(t *testing.T) {
	const run, other = "20261205001648a1b2c3", "20261204120000ffffff"
	var mu sync.Mutex
	var deleted []string
	lists := map[string]any{
		"/admin/api/services.json": map[string]any{"services": []any{
			map[string]any{"service": map[string]any{"id": 1, "system_name": "api"}},
			map[string]any{"service": map[string]any{"id": 7, "system_name": "chaos_" + run}},
			map[string]any{"service": map[string]any{"id": 8, "system_name": "chaos_monkey"}},
		}},
		"/admin/api/backend_apis.json": map[string]any{"backend_apis": []any{
			map[string]any{"backend_api": map[string]any{"id": 2, "system_name": "api_backend"}},
			map[string]any{"backend_api": map[string]any{"id": 9, "system_name": "chaos_" + run + "_backend"}},
		}},
		"/admin/api/accounts.json": map[string]any{"accounts": []any{
			map[string]any{"account": map[string]any{"id": 3, "org_name": "Developer"}},
			map[string]any{"account": map[string]any{"id": 10, "org_name": "chaosorg" + run}},
			map[string]any{"account": map[string]any{"id": 11, "org_name": "chaosidx" + run + "n4ab12"}},
			map[string]any{"account": map[string]any{"id": 12, "org_name": "chaoswork" + run + "n1cd34"}},
			map[string]any{"account": map[string]any{"id": 13, "org_name": "chaoswork" + other + "n1ee56"}},
			map[string]any{"account": map[string]any{"id": 14, "org_name": "chaosorgy"}},
		}},
		"/admin/api/services/7/backend_usages.json": []any{
			map[string]any{"backend_usage": map[string]any{"id": 21, "path": "/", "service_id": 7, "backend_id": 9}},
		},
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodDelete {
			mu.Lock()
			deleted = append(deleted, r.URL.Path)
			mu.Unlock()
			return
		}
		body, ok := lists[r.URL.Path]
		if !ok || r.URL.Query().Get("page") > "1" {
			body = map[string]any{}
			if strings.HasSuffix(r.URL.Path, "backend_usages.json") {
				body = []any{}
			}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(body)
	}))
	defer srv.Close()
	a := NewAdmin(Endpoint{URL: srv.URL}, "token", nil)
	ctx := context.Background()

	found, err := FindLeftovers(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	if len(found) != 2 || found[0].Token != other || found[1].Token != run {
		t.Fatalf("leftovers %+v, want the two runs", found)
	}
	l := found[1]
	if l.ProductID != 7 || l.BackendAPIID != 9 || l.BackendUsageID != 21 || len(l.Accounts) != 3 {
		t.Fatalf("run's leftover %+v", l)
	}
	if kept, _ := FindLeftovers(ctx, a, run); len(kept) != 1 || kept[0].Token != other {
		t.Fatalf("with the run kept: %+v", kept)
	}
	if err := l.Delete(ctx, a); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"/admin/api/accounts/10.json", "/admin/api/accounts/11.json", "/admin/api/accounts/12.json",
		"/admin/api/services/7/backend_usages/21.json", "/admin/api/services/7.json", "/admin/api/backend_apis/9.json",
	}
	if !slices.Equal(deleted, want) {
		t.Fatalf("deleted %q,\nwant %q", deleted, want)
	}
}
