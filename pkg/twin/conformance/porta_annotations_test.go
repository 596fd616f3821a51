package conformance

import (
	"fmt"
	"net/url"
	"reflect"
	"testing"
	"time"
)

// Annotations as porta 3scale-2.16.4-GA keeps them on products, backend APIs and accounts: the
// create and update calls permit an annotations hash, the representers render
// annotations_hash as "annotations" ({} when none), a blank value removes one, and only
// managed_by is supported (422 otherwise)
// (porta@3scale-2.16.4-GA:app/controllers/admin/api/services_controller.rb,
// backend_apis_controller.rb DEFAULT_PARAMS, accounts_controller.rb update;
// app/models/account.rb:327; app/models/concerns/annotating/model.rb annotate;
// app/models/annotation.rb SUPPORTED_ANNOTATIONS; app/representers/service_representer.rb,
// backend_api_representer.rb, account_representer.rb). The operator annotates what it manages
// with managed_by=operator and updates whatever lacks it, a DeveloperAccount through the account
// update (3scale-operator@3scale-2.16.3-GA:controllers/capabilities/product.go,
// backend_threescale_reconciler.go, developeraccount_threescale_reconciler.go).
func TestPortaAnnotations(t *testing.T) {
	n := fmt.Sprintf("annot%d%d", time.Now().Unix()%100000, productSeq.Add(1))
	managed := map[string]any{"managed_by": "operator"}
	none := map[string]any{}
	for _, c := range []struct {
		kind, create, self string
		form               url.Values
	}{
		{"service", "/admin/api/services.json", "/admin/api/services/%s.json", url.Values{"name": {n}, "system_name": {n}}},
		{"backend_api", "/admin/api/backend_apis.json", "/admin/api/backend_apis/%s.json", url.Values{"name": {n}, "private_endpoint": {"http://echo:8080"}}},
		{"account", "/admin/api/signup.json", "/admin/api/accounts/%s.json", url.Values{"org_name": {n}, "username": {n}, "email": {n + "@example.com"}}},
	} {
		t.Run(c.kind, func(t *testing.T) {
			form := url.Values{"annotations[managed_by]": {"operator"}}
			for k, v := range c.form {
				form[k] = v
			}
			made := mustAdmin(t, "POST", c.create, form, 201)
			self := fmt.Sprintf(c.self, idOf(made, c.kind))
			defer mustAdmin(t, "DELETE", self, nil, 200)
			if got := field(made, c.kind, "annotations"); !reflect.DeepEqual(got, managed) {
				t.Errorf("created with annotations[managed_by]=operator: annotations %v", got)
			}
			if got := field(mustAdmin(t, "GET", self, nil, 200), c.kind, "annotations"); !reflect.DeepEqual(got, managed) {
				t.Errorf("read back: annotations %v", got)
			}
			if r, err := admin(t, "PUT", self, url.Values{"annotations[colour]": {"blue"}}); err != nil || r.status != 422 {
				t.Errorf("an unsupported annotation: %v %d %s, want 422", err, r.status, r.body)
			}
			upd := mustAdmin(t, "PUT", self, url.Values{"annotations[managed_by]": {""}}, 200)
			if got := field(upd, c.kind, "annotations"); !reflect.DeepEqual(got, none) {
				t.Errorf("after a blank managed_by: annotations %v, want {}", got)
			}
		})
	}
}
