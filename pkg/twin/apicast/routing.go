package apicast

import (
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
)

// The routing policy, as far as porta's generated one uses it: rules whose condition matches
// the request path against a regular expression, an upstream URL, the backend API that owns
// the rule and a replace_path that removes the usage path
// (APIcast@3scale-2.16.3-GA:gateway/src/apicast/policy/routing/;
// porta@3scale-2.16.4-GA:app/lib/backend_api_logic/routing_policy.rb writes them).

// routingPolicyName is the routing policy's directory name.
const routingPolicyName = "routing"

// route is one rule of the routing policy.
type route struct {
	url     *url.URL
	ops     []pathOp // path operations, all of which must hold
	owner   int64    // owner_id, 0 when none
	replace *string  // the string replace_path removes once from the path; nil: no replace_path
}

// pathOp is one operation on the request path: it holds when re matches, or when it does not
// for a negated one ("!=").
type pathOp struct {
	re     *regexp.Regexp
	negate bool
}

// routingRuleJSON is one rule of the routing policy's configuration.
type routingRuleJSON struct {
	URL         string     `json:"url"`
	OwnerID     flexString `json:"owner_id"`
	ReplacePath *string    `json:"replace_path"`
	Condition   struct {
		Operations []struct {
			Match string `json:"match"`
			Op    string `json:"op"`
			Value string `json:"value"`
		} `json:"operations"`
		CombineOp string `json:"combine_op"`
	} `json:"condition"`
}

// removeFirstTemplate is the only replace_path template porta writes.
var removeFirstTemplate = regexp.MustCompile(`^\{\{\s*uri\s*\|\s*remove_first:\s*'([^']*)'\s*\}\}$`)

// parseRoutes reads the rules of one routing policy entry. A rule whose url is no URL is left
// out, as Rule.new_from_config_rule fails on it and init_rules logs and skips it. The twin
// knows only path conditions with "==", "!=" or "matches", combined with "and", and the
// remove_first replace_path; any other rule is an error, so that a configuration the twin
// cannot model is not silently routed wrong.
func parseRoutes(conf json.RawMessage) ([]route, error) {
	var c struct {
		Rules []routingRuleJSON `json:"rules"`
	}
	if len(conf) > 0 {
		if err := json.Unmarshal(conf, &c); err != nil {
			return nil, fmt.Errorf("routing policy: %w", err)
		}
	}
	var out []route
	for i, r := range c.Rules {
		u, err := url.Parse(r.URL)
		if err != nil || u.Host == "" {
			continue
		}
		rt := route{url: u}
		if r.OwnerID != "" {
			if rt.owner, err = strconv.ParseInt(string(r.OwnerID), 10, 64); err != nil {
				return nil, fmt.Errorf("routing rule %d: owner_id %q", i, r.OwnerID)
			}
		}
		if cop := r.Condition.CombineOp; cop != "" && cop != "and" {
			return nil, fmt.Errorf("routing rule %d: combine_op %q is not modelled", i, cop)
		}
		for _, op := range r.Condition.Operations {
			if op.Match != "path" {
				return nil, fmt.Errorf("routing rule %d: match %q is not modelled", i, op.Match)
			}
			// "matches" is ngx.re.match, which finds the expression anywhere in the path
			// (APIcast@3scale-2.16.3-GA:gateway/src/apicast/conditions/operation.lua).
			expr, negate := op.Value, false
			switch op.Op {
			case "matches":
			case "==", "!=":
				expr, negate = "^"+regexp.QuoteMeta(op.Value)+"$", op.Op == "!="
			default:
				return nil, fmt.Errorf("routing rule %d: op %q is not modelled", i, op.Op)
			}
			re, err := regexp.Compile(expr)
			if err != nil {
				return nil, fmt.Errorf("routing rule %d: %w", i, err)
			}
			rt.ops = append(rt.ops, pathOp{re, negate})
		}
		if r.ReplacePath != nil {
			m := removeFirstTemplate.FindStringSubmatch(*r.ReplacePath)
			if m == nil {
				return nil, fmt.Errorf("routing rule %d: replace_path %q is not modelled", i, *r.ReplacePath)
			}
			rt.replace = &m[1]
		}
		out = append(out, rt)
	}
	return out, nil
}

// selectRoute is UpstreamSelector#select: the first rule whose condition holds for the request
// path (ngx.var.uri, the decoded path); a condition without operations holds
// (APIcast@3scale-2.16.3-GA:gateway/src/apicast/policy/routing/upstream_selector.lua,
// gateway/src/apicast/conditions/condition.lua).
func selectRoute(routes []route, path string) *route {
	for i := range routes {
		ok := true
		for _, op := range routes[i].ops {
			if op.re.MatchString(path) == op.negate {
				ok = false
				break
			}
		}
		if ok {
			return &routes[i]
		}
	}
	return nil
}

// target is the upstream path of a request routed by rt. Without replace_path the request path
// follows the rule URL's path, which alone stands for "/". With it, the
// rendered template (the path with its first occurrence of the usage path removed) is joined to
// the URL's path (or "/"), and the request's own path becomes "/", which adds nothing
// (upstream.lua append_path, rewrite_request, prefix_path; routing/upstream_selector.lua
// ngx.req.set_uri("/")). The query string is kept.
func (rt *route) target(path string) string {
	if rt.replace == nil {
		if rt.url.Path != "" && (path == "/" || path == "") {
			return rt.url.Path
		}
		return joinPath(rt.url.Path, path)
	}
	rendered := strings.Replace(path, *rt.replace, "", 1)
	base := rt.url.Path
	if base == "" {
		base = "/"
	}
	if rendered == "" {
		return base
	}
	return joinPath(base, rendered)
}

// joinPath joins two path parts with one slash between them (resty.url join); an empty or
// root base adds nothing.
func joinPath(base, p string) string {
	if base == "" || base == "/" {
		if p == "" {
			return "/"
		}
		return p
	}
	return strings.TrimSuffix(base, "/") + "/" + strings.TrimPrefix(p, "/")
}

// withoutOtherOwners is the routed request's usage cleanup: the deltas of matched rules that
// belong to another owner than the route's are taken back
// (APIcast@3scale-2.16.3-GA:gateway/src/apicast/policy/routing/routing.lua
// route_upstream_usage_cleanup, gateway/src/apicast/mapping_rules_matcher.lua
// clean_usage_by_owner_id, gateway/src/apicast/proxy.lua access). A rule's owner_id is that of
// its proxy_rule, so a product rule (owned by the proxy) counts as another owner too.
func withoutOtherOwners(u usage, rules []mappingRule, method, escapedPath string, args url.Values, owner int64) usage {
	if owner == 0 {
		return u
	}
	for _, r := range rules {
		if !r.matches(method, escapedPath, args) {
			continue
		}
		if r.owner != 0 && r.owner != owner {
			u[r.metric] -= r.delta
		}
		if r.last {
			break
		}
	}
	return u
}
