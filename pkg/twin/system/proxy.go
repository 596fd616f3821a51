package system

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// The proxy (APIcast settings of a product), its deploys to the sandbox (staging) environment,
// promotion to production, and the proxy-config endpoints APIcast reads (research/porta-zync.md
// §2 proxy rows, §6; apicast-apisonator.md §2.2 for the JSON APIcast parses).

// secretTokenPrefix starts the secret_token porta gives every proxy, followed by 16 hex digits
// (porta@3scale-2.16.4-GA:app/models/proxy.rb create_default_secret_token).
const secretTokenPrefix = "Shared_secret_sent_from_proxy_to_API_backend_"

func newSecretToken() string { return secretTokenPrefix + randomHex(8) }

type proxyRow struct {
	ID, ServiceID                                       int64
	APIBackend, Endpoint, SandboxEndpoint, CredLocation string
	AuthUserKey, AuthAppID, AuthAppKey                  string
	HostnameRewrite, SecretToken                        string
	errText                                             [4]sql.NullString
	errStatus                                           [4]sql.NullInt64
	errHeaders                                          [4]string
	APITestPath                                         sql.NullString
	LockVersion                                         int64
	PoliciesConfig                                      string
	CreatedAt, UpdatedAt                                time.Time
}

// errorFields are the configurable error answers of §1.2 (apicast-apisonator.md), in errText
// order. Every proxy row has them with porta's column defaults (403 for missing credentials,
// where APIcast alone would answer 401; "Usage limit exceeded"; text/plain; charset=us-ascii:
// porta@3scale-2.16.4-GA:db/schema.rb create_table "proxies"), and the config carries them.
var errorFields = [4]string{"auth_failed", "auth_missing", "no_match", "limits_exceeded"}

const proxyCols = `id, service_id, ` + firstUsageEndpoint + `, COALESCE(endpoint,''), COALESCE(sandbox_endpoint,''), credentials_location,
	auth_user_key, auth_app_id, auth_app_key, COALESCE(hostname_rewrite,''), COALESCE(secret_token,''),
	error_auth_failed, error_auth_missing, error_no_match, error_limits_exceeded,
	error_status_auth_failed, error_status_auth_missing, error_status_no_match, error_status_limits_exceeded,
	error_headers_auth_failed, error_headers_auth_missing, error_headers_no_match, error_headers_limits_exceeded,
	api_test_path, lock_version, COALESCE(policies_config,''), created_at, updated_at`

func scanProxy(row interface{ Scan(...any) error }) (*proxyRow, error) {
	var p proxyRow
	err := row.Scan(&p.ID, &p.ServiceID, &p.APIBackend, &p.Endpoint, &p.SandboxEndpoint, &p.CredLocation,
		&p.AuthUserKey, &p.AuthAppID, &p.AuthAppKey, &p.HostnameRewrite, &p.SecretToken,
		&p.errText[0], &p.errText[1], &p.errText[2], &p.errText[3],
		&p.errStatus[0], &p.errStatus[1], &p.errStatus[2], &p.errStatus[3],
		&p.errHeaders[0], &p.errHeaders[1], &p.errHeaders[2], &p.errHeaders[3],
		&p.APITestPath, &p.LockVersion, &p.PoliciesConfig, &p.CreatedAt, &p.UpdatedAt)
	return &p, err
}

func (p *proxyRow) fields() map[string]any {
	m := map[string]any{"id": p.ID, "service_id": p.ServiceID, "endpoint": p.Endpoint, "sandbox_endpoint": p.SandboxEndpoint,
		"api_backend": nullable(p.APIBackend, p.APIBackend != ""), "credentials_location": p.CredLocation, "auth_user_key": p.AuthUserKey,
		"auth_app_id": p.AuthAppID, "auth_app_key": p.AuthAppKey, "hostname_rewrite": p.HostnameRewrite,
		"secret_token": p.SecretToken, "created_at": ts(p.CreatedAt), "updated_at": ts(p.UpdatedAt)}
	for i, f := range errorFields {
		if p.errText[i].Valid {
			m["error_"+f] = p.errText[i].String
		}
		if p.errStatus[i].Valid {
			m["error_status_"+f] = p.errStatus[i].Int64
		}
		m["error_headers_"+f] = p.errHeaders[i]
	}
	m["api_test_path"] = nullable(p.APITestPath.String, p.APITestPath.Valid)
	m["lock_version"] = p.LockVersion
	return m
}

// json is the proxy as ProxyRepresenter shows it (porta@3scale-2.16.4-GA:app/representers/proxy_representer.rb):
// the columns with porta's defaults, no id.
func (p *proxyRow) json() map[string]any {
	m := p.fields()
	delete(m, "id")
	m["policies_config"] = p.policies()
	svc := fmtID("/admin/api/services/", p.ServiceID)
	m["links"] = []any{link("mapping_rules", svc+"/proxy/mapping_rules"), link("self", svc+"/proxy"), link("service", svc)}
	return map[string]any{"proxy": m}
}

type policy struct {
	Name          string          `json:"name"`
	Version       string          `json:"version"`
	Configuration json.RawMessage `json:"configuration"`
	Enabled       *bool           `json:"enabled,omitempty"`
}

// defaultPolicyName is the APIcast policy's name, which every policies config holds
// (porta@3scale-2.16.4-GA:app/models/proxy.rb PolicyConfig::DEFAULT_POLICY).
const defaultPolicyName = "apicast"

// policies is the proxy's policies config as porta normalises it: the stored list, with the
// APIcast policy (builtin, enabled) appended when none is named "apicast"
// (porta@3scale-2.16.4-GA:app/models/proxy.rb PoliciesConfig#policies_normalize).
func (p *proxyRow) policies() []policy {
	var ps []policy
	_ = json.Unmarshal([]byte(p.PoliciesConfig), &ps)
	hasDefault := false
	for i := range ps {
		if len(ps[i].Configuration) == 0 {
			ps[i].Configuration = json.RawMessage(`{}`)
		}
		hasDefault = hasDefault || ps[i].Name == defaultPolicyName
	}
	if !hasDefault {
		t := true
		ps = append(ps, policy{Name: defaultPolicyName, Version: "builtin", Configuration: json.RawMessage(`{}`), Enabled: &t})
	}
	return ps
}

// policyChain is the policy_chain of the proxy's APIcast configuration: the enabled policies
// only, each with its name, version and configuration as stored. Porta adds no prefix: APIcast
// loads a builtin policy from <builtin path>/<name> (porta@3scale-2.16.4-GA:app/models/proxy.rb
// PoliciesConfig#chain selects enabled, PolicyConfig#to_chain_value slices name, version and
// configuration; APIcast@3scale-2.16.3-GA:gateway/src/apicast/policy_loader.lua load_path).
func (p *proxyRow) policyChain() []any {
	chain := []any{}
	for _, pol := range p.policies() {
		if pol.Enabled == nil || !*pol.Enabled {
			continue
		}
		chain = append(chain, map[string]any{"name": pol.Name, "version": pol.Version, "configuration": pol.Configuration})
	}
	return chain
}

func (a *app) proxyOf(ctx context.Context, q querier, sid int64) (*proxyRow, error) {
	p, err := scanProxy(q.QueryRowContext(ctx, `SELECT `+proxyCols+` FROM proxies WHERE service_id=?`, sid))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errNotFound
	}
	return p, err
}

// productProxy opens the handlers of …/services/{id}/proxy: the product, which must be the
// tenant's, then its proxy.
func (a *app) productProxy(ctx context.Context, rc *reqCtx, r *http.Request) (*proxyRow, error) {
	o, err := a.serviceOwner(ctx, rc, r, "id")
	if err != nil {
		return nil, err
	}
	return a.proxyOf(ctx, a.db, o.id)
}

func (a *app) showProxy(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	p, err := a.productProxy(r.Context(), rc, r)
	if err != nil {
		return err
	}
	return ok(w, rc, p.json())
}

// updateProxy is PATCH/PUT …/proxy: the proxy saves (a ZyncWorker for the Proxy event), and
// ProxyDeploymentService deploys a new sandbox config (§2 "Proxy read / update").
func (a *app) updateProxy(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	ctx := r.Context()
	pr, err := a.productProxy(ctx, rc, r)
	if err != nil {
		return err
	}
	p := parseParams(r)
	set := func(dst *string, name string) {
		if p.has(name) {
			*dst = p.get(name)
		}
	}
	set(&pr.Endpoint, "endpoint")
	set(&pr.SandboxEndpoint, "sandbox_endpoint")
	set(&pr.CredLocation, "credentials_location")
	set(&pr.AuthUserKey, "auth_user_key")
	set(&pr.AuthAppID, "auth_app_id")
	set(&pr.AuthAppKey, "auth_app_key")
	set(&pr.HostnameRewrite, "hostname_rewrite")
	set(&pr.SecretToken, "secret_token")
	for i, f := range errorFields {
		if p.has("error_" + f) {
			pr.errText[i] = sql.NullString{String: p.get("error_" + f), Valid: true}
		}
		if p.has("error_status_" + f) {
			pr.errStatus[i] = sql.NullInt64{Int64: p.int64("error_status_" + f), Valid: true}
		}
		set(&pr.errHeaders[i], "error_headers_"+f)
	}
	if p.has("api_test_path") {
		pr.APITestPath = sql.NullString{String: p.get("api_test_path"), Valid: true}
	}
	switch pr.CredLocation {
	case "query", "headers", "authorization":
	default:
		return invalid("credentials_location", "is not included in the list")
	}
	pr, err = a.saveProxy(ctx, rc, pr, func(tx *sql.Tx) ([]job, error) {
		var backendJobs []job
		if p.has("api_backend") {
			var err error
			if backendJobs, err = setAPIBackend(ctx, tx, rc.tenant.ID, pr.ServiceID, p.get("api_backend")); err != nil {
				return nil, err
			}
		}
		_, err := tx.ExecContext(ctx, `UPDATE proxies SET endpoint=?, sandbox_endpoint=?, credentials_location=?, auth_user_key=?,
			auth_app_id=?, auth_app_key=?, hostname_rewrite=?, secret_token=?, error_auth_failed=?, error_auth_missing=?, error_no_match=?,
			error_limits_exceeded=?, error_status_auth_failed=?, error_status_auth_missing=?, error_status_no_match=?,
			error_status_limits_exceeded=?, error_headers_auth_failed=?, error_headers_auth_missing=?, error_headers_no_match=?,
			error_headers_limits_exceeded=?, api_test_path=?, lock_version=lock_version+1, policies_config=?, updated_at=? WHERE id=?`,
			pr.Endpoint, pr.SandboxEndpoint, pr.CredLocation, pr.AuthUserKey, pr.AuthAppID, pr.AuthAppKey,
			nullStr(pr.HostnameRewrite), nullStr(pr.SecretToken), pr.errText[0], pr.errText[1], pr.errText[2], pr.errText[3],
			pr.errStatus[0], pr.errStatus[1], pr.errStatus[2], pr.errStatus[3],
			pr.errHeaders[0], pr.errHeaders[1], pr.errHeaders[2], pr.errHeaders[3], pr.APITestPath, nullStr(pr.PoliciesConfig), now(), pr.ID)
		return backendJobs, err
	})
	if err != nil {
		return err
	}
	return ok(w, rc, pr.json())
}

// saveProxy is what follows every change to a proxy: write runs in one transaction with the
// Proxy event that tells zync (a ZyncWorker job, queued ahead of the jobs write returns), and
// once committed a new sandbox config is deployed. It returns the proxy as saved.
func (a *app) saveProxy(ctx context.Context, rc *reqCtx, pr *proxyRow, write func(tx *sql.Tx) ([]job, error)) (*proxyRow, error) {
	var jobs []job
	err := a.inTx(ctx, func(tx *sql.Tx) error {
		more, err := write(tx)
		if err != nil {
			return err
		}
		zj, err := zyncEvent(ctx, tx, "Proxy", pr.ID, rc.tenant.ID, "OIDC::ProxyChangedEvent", map[string]any{"service_id": pr.ServiceID})
		jobs = append([]job{zj}, more...)
		return err
	})
	if err != nil {
		return nil, err
	}
	if err := a.enqueue(ctx, jobs...); err != nil {
		return nil, err
	}
	if _, err := a.deploySandbox(ctx, pr.ServiceID); err != nil {
		return nil, err
	}
	return a.proxyOf(ctx, a.db, pr.ServiceID)
}

// showPolicies is GET …/proxy/policies: the proxy's policies config
// (porta@3scale-2.16.4-GA:app/controllers/admin/api/services/proxy/policies_controller.rb show,
// app/representers/policies_config_representer.rb wraps it in "policies_config").
func (a *app) showPolicies(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	pr, err := a.productProxy(r.Context(), rc, r)
	if err != nil {
		return err
	}
	return ok(w, rc, map[string]any{"policies_config": pr.policies()})
}

// updatePolicies is PUT …/proxy/policies: the only call that changes a product's policies
// (the proxy update does not permit policies_config). The list is saved normalised and, the
// configuration being APIcast-driven, deployed to the sandbox
// (porta@3scale-2.16.4-GA:app/controllers/admin/api/services/proxy/policies_controller.rb update,
// app/controllers/admin/api/services/proxies_controller.rb proxy_params). Each policy needs a
// name and a version, and a configuration that is an object (PolicyConfig validations).
func (a *app) updatePolicies(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	ctx := r.Context()
	pr, err := a.productProxy(ctx, rc, r)
	if err != nil {
		return err
	}
	p := parseParams(r)
	if !p.has("policies_config") {
		return &httpError{http.StatusBadRequest, map[string]string{"error": "Required parameter missing: proxy"}}
	}
	var raw []map[string]json.RawMessage
	if json.Unmarshal([]byte(p.get("policies_config")), &raw) != nil {
		return invalid("policies_config", "is invalid")
	}
	for _, x := range raw {
		var name, version string
		_ = json.Unmarshal(x["name"], &name)
		_ = json.Unmarshal(x["version"], &version)
		var conf map[string]any
		if name == "" || version == "" || json.Unmarshal(x["configuration"], &conf) != nil || conf == nil {
			return invalid("policies_config", "Invalid policy")
		}
	}
	pr.PoliciesConfig = p.get("policies_config")
	norm, err := json.Marshal(pr.policies())
	if err != nil {
		return err
	}
	pr, err = a.saveProxy(ctx, rc, pr, func(tx *sql.Tx) ([]job, error) {
		_, err := tx.ExecContext(ctx, `UPDATE proxies SET policies_config=?, updated_at=? WHERE id=?`, string(norm), now(), pr.ID)
		return nil, err
	})
	if err != nil {
		return err
	}
	return ok(w, rc, map[string]any{"policies_config": pr.policies()})
}

// deployProxy is POST …/proxy/deploy: a new sandbox ProxyConfig when the content changed,
// 201 with the proxy (§2 "Deploy to staging").
func (a *app) deployProxy(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	ctx := r.Context()
	o, err := a.serviceOwner(ctx, rc, r, "id")
	if err != nil {
		return err
	}
	if _, err := a.deploySandbox(ctx, o.id); err != nil {
		return err
	}
	pr, err := a.proxyOf(ctx, a.db, o.id)
	if err != nil {
		return err
	}
	return created(w, rc, "", pr.json())
}

// serviceContent builds one service's APIcast configuration, the "content" of a proxy config
// (the fields apicast-apisonator.md §1.2/§2.2 names; porta's ProxyConfig content).
func (a *app) serviceContent(ctx context.Context, q querier, sid int64) (map[string]any, []string, int64, error) {
	s, err := scanService(q.QueryRowContext(ctx, `SELECT `+serviceCols+` FROM services WHERE id=?`, sid))
	if err != nil {
		return nil, nil, 0, err
	}
	pr, err := a.proxyOf(ctx, q, sid)
	if err != nil {
		return nil, nil, 0, err
	}
	// Service#backend_authentication_value is service_tokens.first.try(:value): nil until
	// CreateServiceTokenWorker has run (porta@3scale-2.16.4-GA:app/models/service.rb
	// service_token; app/lib/apicast/provider_source.rb serializes it into the content).
	var token sql.NullString
	err = q.QueryRowContext(ctx, `SELECT value FROM service_tokens WHERE service_id=? ORDER BY id LIMIT 1`, sid).Scan(&token)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, nil, 0, err
	}
	// Product rules, then each backend API's rules under its usage path.
	type ruleSrc struct {
		ownerType string
		ownerID   int64
		prefix    string
	}
	srcs := []ruleSrc{{"Proxy", pr.ID, ""}}
	routes, err := usageRoutes(ctx, q, sid)
	if err != nil {
		return nil, nil, 0, err
	}
	for _, u := range routes {
		srcs = append(srcs, ruleSrc{"BackendApi", u.backendID, strings.TrimSuffix(u.path, "/")})
	}
	rules := []any{}
	for _, src := range srcs {
		rrows, err := q.QueryContext(ctx, `SELECT r.id, r.http_method, r.pattern, r.metric_id, r.delta, r.position, r.last, m.system_name, m.owner_type, m.owner_id
			FROM proxy_rules r JOIN metrics m ON m.id=r.metric_id WHERE r.owner_type=? AND r.owner_id=? ORDER BY r.position, r.id`, src.ownerType, src.ownerID)
		if err != nil {
			return nil, nil, 0, err
		}
		for rrows.Next() {
			var rid, mid, ownerID int64
			var method, pattern, mname, ownerType string
			var delta, pos int
			var last bool
			if err := rrows.Scan(&rid, &method, &pattern, &mid, &delta, &pos, &last, &mname, &ownerType, &ownerID); err != nil {
				rrows.Close()
				return nil, nil, 0, err
			}
			m := metricRow{SystemName: mname, OwnerType: ownerType, OwnerID: ownerID}
			rules = append(rules, map[string]any{"id": rid, "http_method": method, "pattern": src.prefix + pattern,
				"metric_id": mid, "metric_system_name": m.backendName(), "delta": delta, "position": pos, "last": last,
				"parameters": []string{}, "querystring_parameters": map[string]any{}, "owner_id": src.ownerID, "owner_type": src.ownerType})
		}
		rrows.Close()
	}
	var hosts []string
	for _, e := range []string{pr.Endpoint, pr.SandboxEndpoint} {
		if u, err := url.Parse(e); err == nil && u.Hostname() != "" {
			hosts = append(hosts, u.Hostname())
		}
	}
	be := map[string]any{"endpoint": a.cfg.BackendPublicURL}
	if u, err := url.Parse(a.cfg.BackendPublicURL); err == nil {
		be["host"] = u.Hostname()
	}
	proxy := pr.fields()
	// With a sub-path usage the routing policy picks the upstream and api_backend is null
	// (porta@3scale-2.16.4-GA:app/services/apicast_v2_deployment_service.rb json_source,
	// app/lib/backend_api_logic/routing_policy.rb).
	if withSubpaths(routes) {
		proxy["api_backend"] = nil
	}
	proxy["hosts"] = hosts
	proxy["proxy_rules"] = rules
	proxy["policy_chain"] = routedChain(pr.policyChain(), routes)
	proxy["backend"] = be
	content := map[string]any{"id": s.ID, "account_id": s.AccountID, "name": s.Name, "system_name": s.SystemName,
		"description": s.Description, "state": s.State, "deployment_option": s.DeploymentOption,
		"backend_version": s.BVersion, "backend_authentication_type": "service_token", "backend_authentication_value": nullable(token.String, token.Valid),
		"created_at": ts(s.CreatedAt), "updated_at": ts(s.UpdatedAt), "proxy": proxy}
	return content, hosts, pr.ID, nil
}

// deploySandbox writes a new sandbox config version unless the newest one has the same content
// (ProxyConfig#differs_from?). It returns the version in effect. While the product has no
// api_backend (no backend usage, or a first usage whose backend API has no private endpoint) no
// config is written and the newest one stays in effect: ProxyConfig validates
// api_backend_exists on create, and ApicastV2DeploymentService#call answers false, which the
// proxy controllers ignore (porta@3scale-2.16.4-GA:app/models/proxy_config.rb,
// app/services/apicast_v2_deployment_service.rb call).
func (a *app) deploySandbox(ctx context.Context, sid int64) (int, error) {
	var version int
	err := a.inTx(ctx, func(tx *sql.Tx) error {
		content, hosts, proxyID, err := a.serviceContent(ctx, tx, sid)
		if err != nil {
			return err
		}
		var apiBackend string
		if err := tx.QueryRowContext(ctx, `SELECT `+firstUsageEndpoint+` FROM proxies WHERE service_id=?`, sid).Scan(&apiBackend); err != nil {
			return err
		}
		b, err := json.Marshal(content)
		if err != nil {
			return err
		}
		var last sql.NullString
		err = tx.QueryRowContext(ctx, `SELECT content, version FROM proxy_configs WHERE proxy_id=? AND environment='sandbox' ORDER BY version DESC LIMIT 1 FOR UPDATE`, proxyID).Scan(&last, &version)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if apiBackend == "" || last.Valid && last.String == string(b) {
			return nil
		}
		version++
		t := now()
		_, err = tx.ExecContext(ctx, `INSERT INTO proxy_configs (proxy_id, service_id, environment, version, hosts, content, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?)`,
			proxyID, sid, "sandbox", version, hostsColumn(hosts), string(b), t, t)
		return err
	})
	return version, err
}

// hostsColumn denormalises hosts as "|h1|h2|" for the by_host filter.
func hostsColumn(hosts []string) any {
	if len(hosts) == 0 {
		return nil
	}
	return "|" + strings.Join(hosts, "|") + "|"
}

// envName maps the API's environment to porta's: staging is an alias of sandbox; anything else
// but production is invalid (ProxyConfig::VALID_ENVIRONMENTS, §2).
func envName(env string) (string, bool) {
	switch env {
	case "sandbox", "staging":
		return "sandbox", true
	case "production":
		return "production", true
	}
	return "", false
}

type configRow struct {
	ID, ServiceID int64
	Version       int
	Environment   string
	Content       string
	CreatedAt     time.Time
}

func (c *configRow) json() map[string]any {
	return map[string]any{"proxy_config": map[string]any{"id": c.ID, "version": c.Version, "environment": c.Environment,
		"content": json.RawMessage(c.Content), "created_at": ts(c.CreatedAt)}}
}

func (a *app) queryConfigs(ctx context.Context, q string, args ...any) ([]any, error) {
	rows, err := a.db.QueryContext(ctx, `SELECT pc.id, pc.service_id, pc.version, pc.environment, pc.content, pc.created_at `+q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []any{}
	for rows.Next() {
		var c configRow
		if err := rows.Scan(&c.ID, &c.ServiceID, &c.Version, &c.Environment, &c.Content, &c.CreatedAt); err != nil {
			return nil, err
		}
		out = append(out, c.json())
	}
	return out, rows.Err()
}

// currentVersion is ProxyConfig.current_versions: the newest version per proxy and environment.
const currentVersion = ` AND pc.version = (SELECT MAX(v.version) FROM proxy_configs v WHERE v.proxy_id=pc.proxy_id AND v.environment=pc.environment)`

// configs serves …/proxy/configs/{env}[/latest|/{version}] of one service.
func (a *app) configs(which string) apiHandler {
	return func(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
		ctx := r.Context()
		o, err := a.serviceOwner(ctx, rc, r, "id")
		if err != nil {
			return err
		}
		env, valid := envName(r.PathValue("env"))
		if !valid {
			return errInvalidEnv
		}
		q := `FROM proxy_configs pc WHERE pc.service_id=? AND pc.environment=?`
		args := []any{o.id, env}
		switch which {
		case "latest":
			q += currentVersion
		case "show":
			v, err := strconv.Atoi(r.PathValue("version"))
			if err != nil {
				return errNotFound
			}
			q += ` AND pc.version=?`
			args = append(args, v)
		}
		out, err := a.queryConfigs(ctx, q+` ORDER BY pc.version DESC`, args...)
		if err != nil {
			return err
		}
		if which == "index" {
			return ok(w, rc, map[string]any{"proxy_configs": out})
		}
		if len(out) == 0 {
			return errNotFound
		}
		return ok(w, rc, out[0])
	}
}

// promote is POST …/configs/{env}/{version}/promote?to=production: the config is cloned into
// the target environment keeping its version (ProxyConfig#clone_to); 201. A version that is
// already there fails validation (422).
func (a *app) promote(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	ctx := r.Context()
	o, err := a.serviceOwner(ctx, rc, r, "id")
	if err != nil {
		return err
	}
	from, valid := envName(r.PathValue("env"))
	if !valid {
		return errInvalidEnv
	}
	toParam := parseParams(r).get("to")
	if toParam == "" {
		return badRequest("Required parameter missing: to")
	}
	to, valid := envName(toParam)
	if !valid {
		return errInvalidEnv
	}
	v, err := strconv.Atoi(r.PathValue("version"))
	if err != nil {
		return errNotFound
	}
	var src configRow
	var proxyID int64
	var hosts sql.NullString
	err = a.db.QueryRowContext(ctx, `SELECT id, proxy_id, content, hosts FROM proxy_configs WHERE service_id=? AND environment=? AND version=?`, o.id, from, v).
		Scan(&src.ID, &proxyID, &src.Content, &hosts)
	if errors.Is(err, sql.ErrNoRows) {
		return errNotFound
	}
	if err != nil {
		return err
	}
	t := now()
	nid, err := lastID(a.db.ExecContext(ctx, `INSERT INTO proxy_configs (proxy_id, service_id, environment, version, hosts, content, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?)`,
		proxyID, o.id, to, v, hosts, src.Content, t, t))
	if isDuplicate(err) {
		return invalid("version", "has already been taken")
	}
	if err != nil {
		return err
	}
	c := configRow{ID: nid, ServiceID: o.id, Version: v, Environment: to, Content: src.Content, CreatedAt: t}
	return created(w, rc, "", c.json())
}

// accountProxyConfigs is GET /admin/api/account/proxy_configs/{env}: self-managed APIcast's
// endpoint (§6); version=latest gives current versions; host filters; a bad env is 422 here.
func (a *app) accountProxyConfigs(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	env, valid := envName(r.PathValue("env"))
	if !valid {
		return &httpError{http.StatusUnprocessableEntity, map[string]string{"error": "invalid environment"}}
	}
	p := parseParams(r)
	q := `FROM proxy_configs pc JOIN services s ON s.id=pc.service_id WHERE s.account_id=? AND s.state<>'deleted' AND pc.environment=?`
	args := []any{rc.tenant.ID, env}
	if p.get("version") == "latest" {
		q += currentVersion
	} else if v := p.get("version"); v != "" {
		q += ` AND pc.version=?`
		args = append(args, p.int64("version"))
	}
	if h := p.get("host"); h != "" {
		q += ` AND pc.hosts LIKE ?`
		args = append(args, "%|"+h+"|%")
	}
	limit, offset := page(p)
	out, err := a.queryConfigs(r.Context(), q+` ORDER BY pc.id LIMIT ? OFFSET ?`, append(args, limit, offset)...)
	if err != nil {
		return err
	}
	return ok(w, rc, map[string]any{"proxy_configs": out})
}

// masterProxyConfigs is GET /master/api/proxy/configs/{env}.json[?host=], the endpoint of the
// operator's THREESCALE_PORTAL_ENDPOINT (§6; apicast-apisonator.md §2.2): current versions
// across every tenant, filtered by host. Auth is a master user's token with
// account_management (APICAST_ACCESS_TOKEN is read-only, which is enough). Without a valid
// token the controller's authenticate! answers 401 with the plain text "unauthorized"; a valid
// token without the scope is the access-token concern's 403 JSON error, which runs after it
// (porta@3scale-2.16.4-GA:app/controllers/master/api/proxy/configs_controller.rb authenticate!,
// app/lib/api_authentication/by_access_token.rb verify_access_token_scopes).
func (a *app) masterProxyConfigs(w http.ResponseWriter, r *http.Request) {
	format := "json"
	rc, err := a.authenticate(r, roleMaster, "account_management")
	var he *httpError
	if errors.As(err, &he) && he != errWrongScope {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte("unauthorized"))
		return
	}
	if err == nil {
		err = a.masterConfigs(w, r, rc)
	}
	if err != nil {
		a.fail(w, r, format, err)
	}
}

func (a *app) masterConfigs(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	rc.format = "json"
	env, valid := envName(r.PathValue("env"))
	if !valid {
		return errInvalidEnv
	}
	q := `FROM proxy_configs pc JOIN services s ON s.id=pc.service_id WHERE s.state<>'deleted' AND pc.environment=?` + currentVersion
	args := []any{env}
	if h := r.URL.Query().Get("host"); h != "" {
		q += ` AND pc.hosts LIKE ?`
		args = append(args, "%|"+h+"|%")
	}
	out, err := a.queryConfigs(r.Context(), q+` ORDER BY pc.id`, args...)
	if err != nil {
		return err
	}
	return ok(w, rc, map[string]any{"proxy_configs": out})
}
