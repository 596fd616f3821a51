package threescale

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/threescale-chaos/harness/pkg/report"
)

// Inventory is what a tenant holds of the kinds a run adds to and must take away again: its
// products, backend APIs and buyer accounts, as the Account Management API lists them. A
// product or backend API the run deleted is gone from these lists at once: porta marks it
// deleted (hidden by the `accessible` scope) and removes its data later in a background job
// (porta@3scale-2.16.4-GA:app/models/service.rb scope :accessible, mark_as_deleted;
// app/controllers/admin/api/backend_apis_controller.rb index). Buyer accounts are destroyed
// in the request (app/controllers/admin/api/accounts_controller.rb destroy).
type Inventory struct {
	Products, BackendAPIs, Accounts []Object
}

// Object is one listed object.
type Object struct {
	ID   int64
	Name string
}

// inventoryPages bounds each listing: 20 pages of 500, the API's largest page
// (porta@3scale-2.16.4-GA:app/controllers/admin/api/filters/pagination.rb per_page_range).
const inventoryPages = 20

// TakeInventory lists the tenant's products, backend APIs and buyer accounts. It only reads.
func TakeInventory(ctx context.Context, env *Env) (Inventory, error) {
	var inv Inventory
	var err error
	if inv.Products, err = listObjects(ctx, env.Admin, "/admin/api/services.json", "services", "service", "name"); err != nil {
		return inv, err
	}
	if inv.BackendAPIs, err = listObjects(ctx, env.Admin, "/admin/api/backend_apis.json", "backend_apis", "backend_api", "name"); err != nil {
		return inv, err
	}
	if inv.Accounts, err = listObjects(ctx, env.Admin, "/admin/api/accounts.json", "accounts", "account", "org_name"); err != nil {
		return inv, err
	}
	return inv, nil
}

// listObjects pages through one collection ({"<list>":[{"<item>":{"id":…,"<name>":…}}]}).
func listObjects(ctx context.Context, a *Admin, path, list, item, name string) ([]Object, error) {
	var out []Object
	for page := 1; page <= inventoryPages; page++ {
		var body map[string][]map[string]map[string]any
		if err := a.JSON(ctx, http.MethodGet, path, url.Values{"page": {strconv.Itoa(page)}, "per_page": {"500"}}, &body); err != nil {
			return out, fmt.Errorf("inventory: %w", err)
		}
		rows := body[list]
		for _, r := range rows {
			o := r[item]
			id, _ := o["id"].(float64)
			n, _ := o[name].(string)
			out = append(out, Object{ID: int64(id), Name: n})
		}
		if len(rows) < 500 {
			return out, nil
		}
	}
	return out, fmt.Errorf("inventory: %s lists more than %d objects", path, inventoryPages*500)
}

// Added is what other holds that i does not (by id): what a run left behind when i is the
// inventory before it and other the one after.
func (i Inventory) Added(other Inventory) Inventory {
	diff := func(before, after []Object) []Object {
		seen := map[int64]bool{}
		for _, o := range before {
			seen[o.ID] = true
		}
		var out []Object
		for _, o := range after {
			if !seen[o.ID] {
				out = append(out, o)
			}
		}
		sort.Slice(out, func(a, b int) bool { return out[a].ID < out[b].ID })
		return out
	}
	return Inventory{Products: diff(i.Products, other.Products), BackendAPIs: diff(i.BackendAPIs, other.BackendAPIs), Accounts: diff(i.Accounts, other.Accounts)}
}

// Empty reports whether the inventory lists nothing.
func (i Inventory) Empty() bool {
	return len(i.Products) == 0 && len(i.BackendAPIs) == 0 && len(i.Accounts) == 0
}

// Counts is "N products, N backend APIs, N accounts".
func (i Inventory) Counts() string {
	return fmt.Sprintf("%d products, %d backend APIs, %d accounts", len(i.Products), len(i.BackendAPIs), len(i.Accounts))
}

// String names what the inventory lists, a few of each kind.
func (i Inventory) String() string {
	var parts []string
	for _, k := range []struct {
		kind string
		objs []Object
	}{{"product", i.Products}, {"backend API", i.BackendAPIs}, {"account", i.Accounts}} {
		if len(k.objs) == 0 {
			continue
		}
		var names []string
		for j, o := range k.objs {
			if j == 5 {
				names = append(names, fmt.Sprintf("and %d more", len(k.objs)-5))
				break
			}
			names = append(names, fmt.Sprintf("%q (id %d)", o.Name, o.ID))
		}
		parts = append(parts, fmt.Sprintf("%d %s(s): %s", len(k.objs), k.kind, strings.Join(names, ", ")))
	}
	if len(parts) == 0 {
		return "nothing"
	}
	return strings.Join(parts, "; ")
}

// Cleanup deletes the run's objects (Delete), takes the tenant's inventory again and returns
// the journal's record of it: the counts before (from before) and after, what the run added
// and did not remove, and the deletion's and the count's failures.
func (f *Fixture) Cleanup(ctx context.Context, env *Env, before Inventory) report.Tenant {
	t := report.Tenant{Before: before.Counts()}
	derr := f.Delete(ctx, env)
	after, ierr := TakeInventory(ctx, env)
	if err := errors.Join(derr, ierr); err != nil {
		t.Error = err.Error()
	}
	if ierr == nil {
		t.After = after.Counts()
		if left := before.Added(after); !left.Empty() {
			t.LeftBehind = left.String()
		}
	}
	return t
}
