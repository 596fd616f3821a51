package apicast

import (
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// mappingRule is one compiled proxy rule: a method, a path pattern and optional query
// parameters that a request must match for metric to be incremented by delta
// (research/apicast-apisonator.md §1.1 step 3).
type mappingRule struct {
	method string
	path   *regexp.Regexp
	query  []queryCond
	metric string
	delta  int64
	last   bool
	source string
	// owner is the proxy rule's owner_id (its proxy or backend API), 0 when none; the routing
	// policy uses it (APIcast@3scale-2.16.3-GA:gateway/src/apicast/mapping_rule.lua from_proxy_rule).
	owner int64
}

// queryCond is a query parameter the rule requires; any means the pattern had a {placeholder}
// there, so every value matches as long as the parameter is present.
type queryCond struct {
	name  string
	value string
	any   bool
}

// placeholder matches {name} in a pattern; it stands for one path segment.
var placeholder = regexp.MustCompile(`\{[^{}/]*\}`)

// compileRule turns a proxy rule pattern such as /v1/words/{word}.json?lang={lang} into a
// matcher. A pattern matches a prefix of the path unless it ends with $, which anchors it.
func compileRule(r ruleJSON) (mappingRule, error) {
	if r.Pattern == "" || r.Pattern[0] != '/' {
		return mappingRule{}, fmt.Errorf("pattern %q must start with /", r.Pattern)
	}
	if r.MetricSystemName == "" {
		return mappingRule{}, fmt.Errorf("pattern %q has no metric", r.Pattern)
	}
	pathPart, queryPart, _ := strings.Cut(r.Pattern, "?")
	anchored := strings.HasSuffix(pathPart, "$")
	pathPart = strings.TrimSuffix(pathPart, "$")

	var re strings.Builder
	re.WriteString("^")
	last := 0
	for _, loc := range placeholder.FindAllStringIndex(pathPart, -1) {
		re.WriteString(regexp.QuoteMeta(pathPart[last:loc[0]]))
		re.WriteString(`[^/]+`)
		last = loc[1]
	}
	re.WriteString(regexp.QuoteMeta(pathPart[last:]))
	if anchored {
		re.WriteString("$")
	}
	path, err := regexp.Compile(re.String())
	if err != nil {
		return mappingRule{}, fmt.Errorf("pattern %q: %w", r.Pattern, err)
	}

	var conds []queryCond
	// A $ may also close the whole pattern after the query part; it anchors nothing there.
	queryPart = strings.TrimSuffix(queryPart, "$")
	for _, kv := range strings.Split(queryPart, "&") {
		if kv == "" {
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		if uk, err := url.QueryUnescape(k); err == nil {
			k = uk
		}
		c := queryCond{name: k, value: v}
		if placeholder.MatchString(v) && placeholder.FindString(v) == v {
			c.any = true
		} else if uv, err := url.QueryUnescape(v); err == nil {
			c.value = uv
		}
		conds = append(conds, c)
	}

	delta := int64(r.Delta)
	owner, _ := strconv.ParseInt(string(r.OwnerID), 10, 64)
	return mappingRule{
		owner:  owner,
		method: strings.ToUpper(r.HTTPMethod),
		path:   path,
		query:  conds,
		metric: r.MetricSystemName,
		delta:  delta,
		last:   r.Last,
		source: r.Pattern,
	}, nil
}

func (m mappingRule) matches(method, escapedPath string, args url.Values) bool {
	if m.method != "" && m.method != "ANY" && m.method != method {
		return false
	}
	if !m.path.MatchString(escapedPath) {
		return false
	}
	for _, c := range m.query {
		vals, ok := args[c.name]
		if !ok {
			return false
		}
		if c.any {
			continue
		}
		found := false
		for _, v := range vals {
			if v == c.value {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// usage is the metrics and deltas one request adds up to.
type usage map[string]int64

// usageFor evaluates every rule in order, adding the delta of each one that matches, and stops
// after a matching rule marked last.
func usageFor(rules []mappingRule, method, escapedPath string, args url.Values) usage {
	u := usage{}
	for _, r := range rules {
		if !r.matches(method, escapedPath, args) {
			continue
		}
		u[r.metric] += r.delta
		if r.last {
			break
		}
	}
	return u
}

// encoded is the usage as backend query parameters, usage%5Bhits%5D=1&..., sorted by metric
// so that it is stable in the authorization cache key. An empty string means no rule matched,
// which APIcast answers with the no-match error (§1.1 step 3).
func (u usage) encoded() string {
	names := make([]string, 0, len(u))
	for n := range u {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		if b.Len() > 0 {
			b.WriteByte('&')
		}
		b.WriteString(url.QueryEscape("usage[" + n + "]"))
		b.WriteByte('=')
		b.WriteString(strconv.FormatInt(u[n], 10))
	}
	return b.String()
}
