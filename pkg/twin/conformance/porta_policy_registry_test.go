package conformance

import "testing"

// A tenant's APIcast policy registry as porta 3scale-2.16.4-GA lists it: GET
// /admin/api/registry/policies.json answers {"policies":[…]}, the tenant's custom policies,
// none on a tenant that has made none (porta@3scale-2.16.4-GA:
// app/controllers/admin/api/registry/policies_controller.rb index;
// app/representers/policies_representer.rb). The operator's CustomPolicyDefinition
// reconciler lists it (3scale-porta-go-client policy-registry.go ListAPIcastPolicies).
func TestPortaPolicyRegistryList(t *testing.T) {
	r, err := admin(t, "GET", "/admin/api/registry/policies.json", nil)
	if err != nil || r.status != 200 || r.body != `{"policies":[]}` {
		t.Errorf("policy registry: %v %d %q, want 200 {\"policies\":[]}", err, r.status, r.body)
	}
}
