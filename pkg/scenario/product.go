package scenario

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// Product is how a variant scenario configures the harness's own product before the steady
// state: the policies put in its chain, in order, ahead of the APIcast policy. The harness
// sets it through porta's policies API, promotes it to production and puts the chain back as
// it was after the scenario. A file without product: runs the product as the harness makes
// it (APIcast's default chain).
type Product struct {
	Policies []Policy
}

// Policy is one policy of the chain: a policy the harness knows (KnownPolicies) and its
// configuration, checked against that policy's schema.
type Policy struct {
	// Name is the policy's name in the chain (APIcast's builtin policy directory).
	Name string
	// Configuration is the policy's configuration, as the file gives it.
	Configuration map[string]string
}

// String is the policy as plan and the report show it: name{key: value, ...}.
func (p Policy) String() string {
	keys := sortedKeys(p.Configuration)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + ": " + p.Configuration[k]
	}
	return p.Name + "{" + strings.Join(parts, ", ") + "}"
}

// String is the chain the product runs with, as plan and the report show it.
func (p *Product) String() string {
	if p == nil {
		return "APIcast's default chain"
	}
	parts := make([]string, len(p.Policies))
	for i, pol := range p.Policies {
		parts[i] = pol.String()
	}
	return strings.Join(parts, ", ") + ", then the APIcast policy"
}

// policySchema is what the harness lets a file set in one policy: each field's allowed values.
// A field not listed is refused, so a file cannot ask for what the harness would not know how
// to judge.
type policySchema struct {
	required string
	fields   map[string][]string
}

// KnownPolicies are the policies a scenario file may put in the product's chain, by name.
//
// caching is APIcast's 3scale Auth Caching policy: caching_type strict, resilient, allow or
// none (APIcast@3scale-2.16.3-GA:gateway/src/apicast/policy/caching/apicast-policy.json, where
// caching_type is required; caching.lua handlers). The twin models each mode
// (pkg/twin/apicast/cache.go).
var KnownPolicies = map[string]policySchema{
	"caching": {required: "caching_type", fields: map[string][]string{"caching_type": {"strict", "resilient", "allow", "none"}}},
}

var (
	productFields = []string{"policies"}
	policyFields  = []string{"name", "configuration"}
)

// product decodes product:, a mapping with the list policies.
func (d *decoder) product(raw json.RawMessage) *Product {
	fields := d.object("product", raw, productFields)
	if fields == nil {
		return nil
	}
	list, ok := d.required(fields, "product", "policies")
	if !ok {
		return nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(list, &items); err != nil || len(items) == 0 {
		d.fail("product.policies", "must be a non-empty list of {name, configuration}, got %s", describe(list))
		return nil
	}
	before := len(d.errs)
	p := &Product{}
	at := map[string]int{}
	for i, item := range items {
		field := fmt.Sprintf("product.policies[%d]", i)
		pf := d.object(field, item, policyFields)
		if pf == nil {
			continue
		}
		name := d.requiredText(pf, field, "name")
		if name == "" {
			continue
		}
		schema, known := KnownPolicies[name]
		if !known {
			d.fail(field+".name", "%q is not a policy the harness can set and undo; known: %s", name, strings.Join(sortedKeys(KnownPolicies), ", "))
			continue
		}
		if j, dup := at[name]; dup {
			d.fail(field+".name", "%s is already product.policies[%d]; a policy is named once", name, j)
			continue
		}
		at[name] = i
		pol := Policy{Name: name, Configuration: map[string]string{}}
		if raw, ok := d.required(pf, field, "configuration"); ok {
			conf := d.object(field+".configuration", raw, sortedKeys(schema.fields))
			for _, k := range sortedKeys(conf) {
				allowed, ok := schema.fields[k]
				if !ok {
					continue // reported by object
				}
				v, ok := d.text(field+".configuration."+k, conf[k])
				if !ok {
					continue
				}
				if !slices.Contains(allowed, v) {
					d.fail(field+".configuration."+k, "%q is not one of %s", v, strings.Join(allowed, ", "))
					continue
				}
				pol.Configuration[k] = v
			}
			if _, ok := conf[schema.required]; conf != nil && !ok {
				d.fail(field+".configuration."+schema.required, "is required")
			}
		}
		p.Policies = append(p.Policies, pol)
	}
	if len(d.errs) > before {
		return nil
	}
	return p
}
