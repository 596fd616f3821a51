package system

import (
	"context"
	"database/sql"
	"encoding/json"
	"net/url"
	"sort"
	"strings"
)

// A product's api_backend is not its own: it is the private_endpoint of the backend API of its
// first backend usage (lowest id), null while it has none
// (porta@3scale-2.16.4-GA:app/lib/backend_api_logic/proxy_extension.rb delegates api_backend to
// the service, app/lib/backend_api_logic/service_extension.rb BackendApiProxy#backend_api takes
// backend_api_configs.first, app/models/backend_api_config.rb default_scope orders by id,
// app/models/backend_api.rb aliases api_backend to private_endpoint).

// firstUsageEndpoint is the SQL of that value for proxies.service_id.
const firstUsageEndpoint = `COALESCE((SELECT b.private_endpoint FROM backend_usages u JOIN backend_apis b ON b.id=u.backend_api_id
	WHERE u.service_id=proxies.service_id ORDER BY u.id LIMIT 1),'')`

// configPath is a usage path as porta stores it: "/" and the value without leading or trailing
// slashes (porta@3scale-2.16.4-GA:app/models/config_path.rb,
// app/lib/string_utils/strip_slash.rb).
func configPath(p string) string {
	return "/" + strings.Trim(p, "/")
}

// usageRoute is one backend usage of a product with its backend API's private endpoint.
type usageRoute struct {
	backendID int64
	path      string
	endpoint  string
}

// usageRoutes lists a product's backend usages in id order (BackendApiConfig default_scope).
func usageRoutes(ctx context.Context, q querier, sid int64) ([]usageRoute, error) {
	rows, err := q.QueryContext(ctx, `SELECT u.backend_api_id, u.path, COALESCE(b.private_endpoint,'') FROM backend_usages u
		JOIN backend_apis b ON b.id=u.backend_api_id WHERE u.service_id=? ORDER BY u.id`, sid)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []usageRoute
	for rows.Next() {
		var u usageRoute
		if err := rows.Scan(&u.backendID, &u.path, &u.endpoint); err != nil {
			return nil, err
		}
		u.path = configPath(u.path)
		out = append(out, u)
	}
	return out, rows.Err()
}

// withSubpaths is Proxy#with_subpaths?: some usage is not at "/"
// (porta@3scale-2.16.4-GA:app/lib/backend_api_logic/routing_policy.rb,
// app/models/backend_api_config.rb with_subpath?).
func withSubpaths(routes []usageRoute) bool {
	for _, u := range routes {
		if u.path != "/" {
			return true
		}
	}
	return false
}

// routedChain is BackendApiLogic::RoutingPolicy#policy_chain
// (porta@3scale-2.16.4-GA:app/lib/backend_api_logic/routing_policy.rb). Without sub-path usages
// the chain is unchanged. Otherwise a "routing" policy with one rule per usage whose backend has
// a private endpoint, longest path first (sorted_for_proxy_config: path descending), is put
// before "apicast"; the rules of routing policies already in the chain follow the generated
// ones, and those policies leave the chain. Each rule sends a path matching
// ^(<path>/.*|<path>/?) (^(/.*) for "/") to the backend's private endpoint, carries the
// backend API as owner, and, for a sub-path, removes the path from the upstream request's
// (ConfigPath#to_regex; Rule#as_json, Rule#replace_path).
func routedChain(chain []any, routes []usageRoute) []any {
	if !withSubpaths(routes) {
		return chain
	}
	sorted := append([]usageRoute(nil), routes...)
	sort.SliceStable(sorted, func(i, j int) bool { return strings.ToLower(sorted[i].path) > strings.ToLower(sorted[j].path) })
	rules := []any{}
	for _, u := range sorted {
		if u.endpoint == "" {
			continue
		}
		regex := "^(/.*)"
		if u.path != "/" {
			regex = "^(" + u.path + "/.*|" + u.path + "/?)"
		}
		rule := map[string]any{"url": u.endpoint, "owner_id": u.backendID, "owner_type": "BackendApi",
			"condition": map[string]any{"operations": []any{map[string]any{"match": "path", "op": "matches", "value": regex}}}}
		if u.path != "/" {
			rule["replace_path"] = "{{uri | remove_first: '" + u.path + "'}}"
		}
		rules = append(rules, rule)
	}
	var others []any
	for _, p := range chain {
		m, _ := p.(map[string]any)
		if m["name"] != "routing" {
			others = append(others, p)
			continue
		}
		var conf struct {
			Rules []json.RawMessage `json:"rules"`
		}
		if raw, ok := m["configuration"].(json.RawMessage); ok {
			_ = json.Unmarshal(raw, &conf)
		}
		for _, r := range conf.Rules {
			rules = append(rules, r)
		}
	}
	if len(rules) == 0 {
		return others
	}
	routing := map[string]any{"name": "routing", "version": "builtin", "enabled": true, "configuration": map[string]any{"rules": rules}}
	out := make([]any, 0, len(others)+1)
	inserted := false
	for _, p := range others {
		if m, _ := p.(map[string]any); !inserted && m["name"] == defaultPolicyName {
			out = append(out, routing)
			inserted = true
		}
		out = append(out, p)
	}
	return out
}

// setAPIBackend is the proxy's api_backend= with its before_save: the private endpoint of the
// first usage's backend API changes; a product without a usage gets a backend API
// "<name> Backend" (system_name the product's, description "Backend of <name>", its hits
// metric) used at "/" (porta@3scale-2.16.4-GA:app/lib/backend_api_logic/proxy_extension.rb
// save_backend_api, app/lib/backend_api_logic/service_extension.rb BackendApiProxy#update!,
// app/models/backend_api.rb create_default_metrics). The value is validated as the backend
// API's private_endpoint, its errors reported on api_backend (validates :backend_api,
// nested_association report private_endpoint: :api_backend). It returns the jobs of the rows
// it made: the backend API's index job and the metric syncs of the new usage.
func setAPIBackend(ctx context.Context, tx *sql.Tx, accountID, sid int64, endpoint string) ([]job, error) {
	if endpoint == "" {
		return nil, invalid("api_backend", "can't be blank")
	}
	if u, err := url.Parse(endpoint); err != nil || u.Host == "" {
		return nil, invalid("api_backend", "is invalid")
	}
	var bid int64
	err := tx.QueryRowContext(ctx, `SELECT backend_api_id FROM backend_usages WHERE service_id=? ORDER BY id LIMIT 1`, sid).Scan(&bid)
	switch {
	case err == nil:
		_, err = tx.ExecContext(ctx, `UPDATE backend_apis SET private_endpoint=?, updated_at=? WHERE id=?`, endpoint, now(), bid)
		return []job{indexJob("BackendApi", bid)}, err
	case err != sql.ErrNoRows:
		return nil, err
	}
	var name, sys string
	if err := tx.QueryRowContext(ctx, `SELECT name, system_name FROM services WHERE id=?`, sid).Scan(&name, &sys); err != nil {
		return nil, err
	}
	t := now()
	bid, err = lastID(tx.ExecContext(ctx, `INSERT INTO backend_apis (account_id, name, system_name, description, private_endpoint, created_at, updated_at)
		VALUES (?,?,?,?,?,?,?)`, accountID, name+" Backend", sys, "Backend of "+name, endpoint, t, t))
	if isDuplicate(err) {
		return nil, invalid("backend_api", "is invalid")
	}
	if err != nil {
		return nil, err
	}
	hits, err := lastID(tx.ExecContext(ctx, `INSERT INTO metrics (owner_type, owner_id, system_name, friendly_name, unit, created_at, updated_at)
		VALUES ('BackendApi',?,?,?,?,?,?)`, bid, "hits", "Hits", "hit", t, t))
	if err != nil {
		return nil, err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO backend_usages (service_id, backend_api_id, path, created_at, updated_at) VALUES (?,?,?,?,?)`, sid, bid, "/", t, t); err != nil {
		return nil, err
	}
	return []job{indexJob("BackendApi", bid), indexJob("Metric", hits), metricSyncJob(sid, hits)}, nil
}

// defaultAPIBackend is the private endpoint of the seeded products' backend APIs, porta's echo
// API (porta@3scale-2.16.4-GA:app/models/backend_api.rb default_api_backend). A product made
// through the API has none.
const defaultAPIBackend = "https://echo-api.3scale.net:443"
