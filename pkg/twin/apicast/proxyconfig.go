package apicast

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// proxyConfigsDoc is the body of system's proxy-configs endpoint:
// {"proxy_configs":[{"proxy_config":{"id","version","environment","content":{service}}}]}
// (research/apicast-apisonator.md §2.2; porta-zync.md §1.5).
type proxyConfigsDoc struct {
	ProxyConfigs []struct {
		ProxyConfig struct {
			ID          flexString      `json:"id"`
			Version     flexString      `json:"version"`
			Environment string          `json:"environment"`
			Content     json.RawMessage `json:"content"`
		} `json:"proxy_config"`
	} `json:"proxy_configs"`
}

// v1ConfigDoc is the older whole-gateway configuration the fallback loader downloads:
// {"services":[{service}]} (§2.2 "Fallback after remote_v2 fails").
type v1ConfigDoc struct {
	Services []json.RawMessage `json:"services"`
}

// serviceJSON is the part of one service's APIcast configuration (the proxy config "content")
// that the twin reads. Field names are those of the configuration system generates; the error_*
// ones are listed in §1.2, the caching policy entry in §1.3, the credential location in §1.1.
type serviceJSON struct {
	ID                         flexString `json:"id"`
	BackendVersion             flexString `json:"backend_version"`
	BackendAuthenticationType  string     `json:"backend_authentication_type"`
	BackendAuthenticationValue string     `json:"backend_authentication_value"`
	// Backend sits under proxy in system's output; older files put it at the top level.
	Backend *backendJSON `json:"backend"`
	Proxy   struct {
		APIBackend                 string       `json:"api_backend"`
		Hosts                      []string     `json:"hosts"`
		Endpoint                   string       `json:"endpoint"`
		SandboxEndpoint            string       `json:"sandbox_endpoint"`
		HostnameRewrite            string       `json:"hostname_rewrite"`
		SecretToken                string       `json:"secret_token"`
		AuthUserKey                string       `json:"auth_user_key"`
		AuthAppID                  string       `json:"auth_app_id"`
		AuthAppKey                 string       `json:"auth_app_key"`
		CredentialsLocation        string       `json:"credentials_location"`
		Backend                    *backendJSON `json:"backend"`
		ProxyRules                 []ruleJSON   `json:"proxy_rules"`
		PolicyChain                []policyJSON `json:"policy_chain"`
		ErrorAuthFailed            *string      `json:"error_auth_failed"`
		ErrorStatusAuthFailed      flexInt      `json:"error_status_auth_failed"`
		ErrorHeadersAuthFailed     string       `json:"error_headers_auth_failed"`
		ErrorAuthMissing           *string      `json:"error_auth_missing"`
		ErrorStatusAuthMissing     flexInt      `json:"error_status_auth_missing"`
		ErrorHeadersAuthMissing    string       `json:"error_headers_auth_missing"`
		ErrorNoMatch               *string      `json:"error_no_match"`
		ErrorStatusNoMatch         flexInt      `json:"error_status_no_match"`
		ErrorHeadersNoMatch        string       `json:"error_headers_no_match"`
		ErrorLimitsExceeded        *string      `json:"error_limits_exceeded"`
		ErrorStatusLimitsExceeded  flexInt      `json:"error_status_limits_exceeded"`
		ErrorHeadersLimitsExceeded string       `json:"error_headers_limits_exceeded"`
	} `json:"proxy"`
}

type backendJSON struct {
	Endpoint string `json:"endpoint"`
	Host     string `json:"host"`
}

type ruleJSON struct {
	HTTPMethod       string     `json:"http_method"`
	Pattern          string     `json:"pattern"`
	MetricSystemName string     `json:"metric_system_name"`
	Delta            flexInt    `json:"delta"`
	Last             bool       `json:"last"`
	Position         flexString `json:"position"`
	OwnerID          flexString `json:"owner_id"`
}

type policyJSON struct {
	Name          string          `json:"name"`
	Version       string          `json:"version"`
	Configuration json.RawMessage `json:"configuration"`
}

// cachingPolicyName is the policy chain entry of the caching policy (§1.3): porta writes a
// builtin policy under its directory name, and APIcast loads it from <builtin path>/<name>
// (APIcast@3scale-2.16.3-GA:gateway/src/apicast/policy_loader.lua load_path,
// gateway/src/apicast/policy/caching; porta@3scale-2.16.4-GA:app/models/proxy.rb
// PolicyConfig#to_chain_value). An entry named otherwise ("apicast.policy.caching") is no
// policy APIcast knows: it logs that it failed to load it and leaves it out of the chain
// (APIcast@3scale-2.16.3-GA:gateway/src/apicast/configuration.lua build_policy_chain).
const cachingPolicyName = "caching"

// builtinPolicies are the directories of APIcast's builtin policies
// (APIcast@3scale-2.16.3-GA:gateway/src/apicast/policy/).
var builtinPolicies = map[string]bool{}

func init() {
	for _, n := range strings.Fields(`3scale_batcher 3scale_referrer apicast caching camel clear_context
		conditional content_caching cors custom_metrics default_credentials echo fapi find_service grpc
		headers http_proxy ip_check jwt_claim_check jwt_parser keycloak_role_check liquid_context_debug
		load_configuration local_chain logging maintenance_mode management nginx_filters nginx_metrics
		oauth_mtls on_failed payload_limits phase_logger rate_limit rate_limit_headers request_unbuffered
		retry rewrite_url_captures routing soap standalone statuscode_overwrite tls tls_validation
		token_introspection upstream upstream_connection upstream_mtls url_rewriting websocket`) {
		builtinPolicies[n] = true
	}
}

// Default error responses (§1.2). The bodies carry no trailing newline.
const (
	defaultErrorContentType = "text/plain; charset=utf-8"
	bodyAuthFailed          = "Authentication failed"
	bodyAuthMissing         = "Authentication parameters missing"
	bodyNoMatch             = "No Mapping Rule matched"
	bodyLimitsExceeded      = "Limits exceeded"
)

// errorResponse is one configurable error answer of a service.
type errorResponse struct {
	status      int
	body        string
	contentType string
}

// service is one parsed service configuration, ready for request handling.
type service struct {
	id             string
	backendVersion string // "1" user_key, "2" app_id/app_key, or "oauth"/"oidc"
	authType       string // backend_authentication_type: service_token or provider_key
	authValue      string
	hosts          []string // lower-case host names, no port
	upstream       *url.URL // nil when the service has no api_backend
	routes         []route  // the routing policy's rules, in order; nil without one
	hostRewrite    string
	secretToken    string
	userKeyParam   string
	appIDParam     string
	appKeyParam    string
	credsLocation  string // query, headers or authorization
	backend        *url.URL
	backendHost    string
	rules          []mappingRule
	cache          cacheMode
	errAuthFailed  errorResponse
	errAuthMissing errorResponse
	errNoMatch     errorResponse
	errLimits      errorResponse
}

// parseService turns one service's JSON into a service. env decides which endpoint supplies
// the hosts when the configuration carries no explicit hosts list. backendOverride is
// BACKEND_ENDPOINT_OVERRIDE.
func parseService(raw json.RawMessage, env, backendOverride string, log *slog.Logger) (*service, error) {
	var sj serviceJSON
	if err := json.Unmarshal(raw, &sj); err != nil {
		return nil, fmt.Errorf("service configuration: %w", err)
	}
	if sj.ID == "" {
		return nil, fmt.Errorf("service configuration without an id")
	}
	p := sj.Proxy
	s := &service{
		id:             string(sj.ID),
		backendVersion: orDefault(string(sj.BackendVersion), "1"),
		authType:       orDefault(sj.BackendAuthenticationType, "service_token"),
		authValue:      sj.BackendAuthenticationValue,
		hostRewrite:    p.HostnameRewrite,
		secretToken:    p.SecretToken,
		userKeyParam:   orDefault(p.AuthUserKey, "user_key"),
		appIDParam:     orDefault(p.AuthAppID, "app_id"),
		appKeyParam:    orDefault(p.AuthAppKey, "app_key"),
		// APIcast reads credentials from the query string unless told otherwise (§1.1 step 2).
		credsLocation:  orDefault(p.CredentialsLocation, "query"),
		errAuthFailed:  errResp(p.ErrorStatusAuthFailed, 403, p.ErrorAuthFailed, bodyAuthFailed, p.ErrorHeadersAuthFailed),
		errAuthMissing: errResp(p.ErrorStatusAuthMissing, 401, p.ErrorAuthMissing, bodyAuthMissing, p.ErrorHeadersAuthMissing),
		errNoMatch:     errResp(p.ErrorStatusNoMatch, 404, p.ErrorNoMatch, bodyNoMatch, p.ErrorHeadersNoMatch),
		errLimits:      errResp(p.ErrorStatusLimitsExceeded, 429, p.ErrorLimitsExceeded, bodyLimitsExceeded, p.ErrorHeadersLimitsExceeded),
	}

	// Hosts: APIcast's host-based finder matches the service's hosts list. When a configuration
	// lacks one, fall back to the host of the endpoint that belongs to this environment.
	hosts := p.Hosts
	if len(hosts) == 0 {
		ep := p.Endpoint
		if env == EnvironmentStaging {
			ep = p.SandboxEndpoint
		}
		if h := hostOfURL(ep); h != "" {
			hosts = []string{h}
		}
	}
	for _, h := range hosts {
		if h = normalizeHost(h); h != "" {
			s.hosts = append(s.hosts, h)
		}
	}

	if p.APIBackend != "" {
		u, err := url.Parse(p.APIBackend)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("service %s: api_backend %q is not a URL", s.id, p.APIBackend)
		}
		s.upstream = u
	}

	backend := sj.Backend
	if p.Backend != nil {
		backend = p.Backend
	}
	endpoint := backendOverride
	if endpoint == "" && backend != nil {
		endpoint = backend.Endpoint
		s.backendHost = backend.Host
	}
	if endpoint != "" {
		u, err := url.Parse(endpoint)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("service %s: backend endpoint %q is not a URL", s.id, endpoint)
		}
		s.backend = u
	}

	for i, r := range p.ProxyRules {
		mr, err := compileRule(r)
		if err != nil {
			return nil, fmt.Errorf("service %s: mapping rule %d: %w", s.id, i, err)
		}
		s.rules = append(s.rules, mr)
	}

	s.cache = cacheStrictDefault
	for _, pol := range p.PolicyChain {
		if pol.Version == "builtin" && !builtinPolicies[pol.Name] {
			log.Warn("failed to load policy", "service", s.id, "policy", pol.Name, "version", pol.Version)
			continue
		}
		if pol.Name == routingPolicyName {
			rs, err := parseRoutes(pol.Configuration)
			if err != nil {
				return nil, fmt.Errorf("service %s: %w", s.id, err)
			}
			s.routes = append(s.routes, rs...)
			continue
		}
		if pol.Name != cachingPolicyName {
			continue
		}
		var c struct {
			CachingType string `json:"caching_type"`
		}
		_ = json.Unmarshal(pol.Configuration, &c)
		mode, ok := parseCacheMode(c.CachingType)
		if !ok {
			// The caching policy turns a missing or unknown caching_type into "none" and logs it
			// at ERR (§1.3).
			log.Error("caching policy: invalid caching_type, using none", "service", s.id, "caching_type", c.CachingType)
		}
		s.cache = mode
	}
	return s, nil
}

func errResp(status flexInt, defStatus int, body *string, defBody, contentType string) errorResponse {
	e := errorResponse{status: int(status), body: defBody, contentType: orDefault(contentType, defaultErrorContentType)}
	if e.status <= 0 {
		e.status = defStatus
	}
	if body != nil {
		e.body = *body
	}
	return e
}

func hostOfURL(s string) string {
	if s == "" {
		return ""
	}
	u, err := url.Parse(s)
	if err != nil {
		return ""
	}
	return u.Hostname()
}

// normalizeHost lower-cases a host and drops a port, as nginx's $host does.
func normalizeHost(h string) string {
	h = strings.TrimSpace(strings.ToLower(h))
	if host, _, err := net.SplitHostPort(h); err == nil {
		return host
	}
	return strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
}

// flexString accepts a JSON string or number (system emits ids as numbers, versions as either).
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		*f = ""
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flexString(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return err
	}
	*f = flexString(n.String())
	return nil
}

// flexInt accepts a JSON number, a numeric string or null.
type flexInt int64

func (f *flexInt) UnmarshalJSON(b []byte) error {
	var s flexString
	if err := s.UnmarshalJSON(b); err != nil {
		return err
	}
	if s == "" {
		*f = 0
		return nil
	}
	n, err := strconv.ParseFloat(string(s), 64)
	if err != nil {
		return fmt.Errorf("%q is not a number", string(s))
	}
	*f = flexInt(n)
	return nil
}
