package apicast

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Environments, as THREESCALE_DEPLOYMENT_ENV names them (research/apicast-apisonator.md §2.1).
const (
	EnvironmentProduction = "production"
	EnvironmentStaging    = "staging"
)

// Management API modes, as APICAST_MANAGEMENT_API names them
// (APIcast@3scale-2.16.3-GA gateway/src/apicast/management.lua routes.status, routes.disabled).
const (
	ManagementStatus   = "status"
	ManagementDisabled = "disabled"
)

// Configuration loaders, as APICAST_CONFIGURATION_LOADER names them (§2.1).
const (
	LoaderBoot = "boot"
	LoaderLazy = "lazy"
)

// Defaults taken from APIcast's environment files and documented parameters.
const (
	// DefaultProductionCache is configuration_cache in the production environment file:
	// APICAST_CONFIGURATION_CACHE or 300 seconds (§2.1).
	DefaultProductionCache = 300 * time.Second
	// DefaultConfigurationTimeout is APICAST_CONFIGURATION_TIMEOUT: how long the fallback loader
	// waits for a TCP connection to the portal before giving up (§2.2).
	DefaultConfigurationTimeout = 3 * time.Second
	// DefaultBackendTimeout stands for OpenResty's cosocket default, because APIcast sets no
	// timeout of its own on backend calls (§1.3; the 60s value is UNVERIFIED there).
	DefaultBackendTimeout = 60 * time.Second
)

// Config of one gateway process. The zero value is not usable: PortalEndpoint is required and
// either Addr or Listener must be set for the proxy (and likewise for management).
type Config struct {
	// Addr is the proxy listener, e.g. 127.0.0.1:8080 (APIcast's port 8080, §8).
	Addr string
	// ManagementAddr serves /status/live and /status/ready, e.g. 127.0.0.1:8090 (§2.4).
	ManagementAddr string
	// Listener, when set, is used instead of Addr; tests pass one bound to port 0 so they
	// know the address before Run starts. Run closes it.
	Listener net.Listener
	// ManagementListener, when set, is used instead of ManagementAddr. Run closes it.
	ManagementListener net.Listener

	// Environment is "production" or "staging" (THREESCALE_DEPLOYMENT_ENV). It is also the
	// <env> in the proxy-configs URL. Empty means production, APIcast's default (§2.1).
	Environment string
	// PortalEndpoint is THREESCALE_PORTAL_ENDPOINT: a URL carrying the access token as its
	// userinfo. The operator sets http://TOKEN@system-master:3000/master/api/proxy/configs; with
	// a path the gateway GETs <endpoint>/<env>.json, without one it pages through
	// /admin/api/account/proxy_configs/<env>.json (§2.1, §2.2; porta-zync.md §6).
	PortalEndpoint string
	// BackendEndpoint is BACKEND_ENDPOINT_OVERRIDE: when set it replaces the backend endpoint
	// of every service in the configuration. The operator sets http://backend-listener:3000
	// (§1.3 "How the backend is reached").
	BackendEndpoint string
	// ConfigurationLoader is "boot" or "lazy" (APICAST_CONFIGURATION_LOADER). Empty picks the
	// environment file's value: boot for production, lazy for staging (§2.1).
	ConfigurationLoader string
	// ConfigurationCache is APICAST_CONFIGURATION_CACHE: the refresh period in boot mode and the
	// per-host lifetime in lazy mode. 0 means no cache: lazy fetches on every request, and boot
	// logs that it cannot store the configuration and exits with status 0, so Run returns nil
	// at once (§2.1). Negative means load once and never reload.
	ConfigurationCache time.Duration
	// ConfigurationTimeout is APICAST_CONFIGURATION_TIMEOUT: after the proxy-configs endpoint
	// fails, the fallback (v1) loader waits this long for a TCP connection to the portal,
	// retrying every 100ms, before it gives up (§2.2). That is why a staging request made while
	// system is down takes about 3s. 0 means one attempt and no waiting; ConfigFromEnv applies
	// the 3s default.
	ConfigurationTimeout time.Duration
	// BackendTimeout bounds each call to backend-listener. 0 means DefaultBackendTimeout.
	BackendTimeout time.Duration
	// ResponseCodes is APICAST_RESPONSE_CODES: when true, the authrep sent after a cache hit
	// carries log[code]=<upstream status> (§1.1 step 5).
	ResponseCodes bool
	// ManagementAPI is APICAST_MANAGEMENT_API, which routes the management listener serves
	// (APIcast@3scale-2.16.3-GA gateway/src/apicast/management.lua _M.router): "status" (the
	// default, and the operator's: apicast-environment ConfigMap) serves /status/live and
	// /status/ready; "disabled" answers GET / with 403 and nothing else; any other value
	// serves nothing. "debug" and "policies" are not modelled and are refused by normalize.
	ManagementAPI string
	// Logger receives structured logs. nil means JSON lines on stdout. The portal endpoint's
	// token is never logged.
	Logger *slog.Logger
}

// ConfigFromEnv builds a Config from APIcast's environment variables, as the operator sets them
// on the apicast-production and apicast-staging Deployments (§2.1): THREESCALE_DEPLOYMENT_ENV,
// THREESCALE_PORTAL_ENDPOINT, BACKEND_ENDPOINT_OVERRIDE, APICAST_CONFIGURATION_LOADER,
// APICAST_CONFIGURATION_CACHE (seconds), APICAST_CONFIGURATION_TIMEOUT (seconds),
// APICAST_RESPONSE_CODES, APICAST_MANAGEMENT_API, APICAST_HTTP_PORT (default 8080) and
// APICAST_MANAGEMENT_PORT (default 8090; the twin's own name, APIcast takes the port from its
// template, §2.4). OPENSSL_VERIFY, which the operator also sets (false), only matters for TLS
// to system and backend-listener; the twin reaches both over plain http, so it is not read.
// getenv is os.Getenv in a binary and a map lookup in tests.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	cfg := Config{
		Environment:         getenv("THREESCALE_DEPLOYMENT_ENV"),
		PortalEndpoint:      getenv("THREESCALE_PORTAL_ENDPOINT"),
		BackendEndpoint:     getenv("BACKEND_ENDPOINT_OVERRIDE"),
		ConfigurationLoader: getenv("APICAST_CONFIGURATION_LOADER"),
		ResponseCodes:       envEnabled(getenv("APICAST_RESPONSE_CODES")),
		ManagementAPI:       getenv("APICAST_MANAGEMENT_API"),
	}
	if cfg.Environment == "" {
		cfg.Environment = EnvironmentProduction
	}
	httpPort := orDefault(getenv("APICAST_HTTP_PORT"), "8080")
	mgmtPort := orDefault(getenv("APICAST_MANAGEMENT_PORT"), "8090")
	cfg.Addr = net.JoinHostPort("", httpPort)
	cfg.ManagementAddr = net.JoinHostPort("", mgmtPort)

	// Only the production environment file has a cache default; staging's is unset, i.e. 0.
	if cfg.Environment == EnvironmentProduction {
		cfg.ConfigurationCache = DefaultProductionCache
	}
	if v := getenv("APICAST_CONFIGURATION_CACHE"); v != "" {
		d, err := parseSeconds(v)
		if err != nil {
			return Config{}, fmt.Errorf("APICAST_CONFIGURATION_CACHE: %w", err)
		}
		cfg.ConfigurationCache = d
	}
	cfg.ConfigurationTimeout = DefaultConfigurationTimeout
	if v := getenv("APICAST_CONFIGURATION_TIMEOUT"); v != "" {
		d, err := parseSeconds(v)
		if err != nil {
			return Config{}, fmt.Errorf("APICAST_CONFIGURATION_TIMEOUT: %w", err)
		}
		cfg.ConfigurationTimeout = d
	}
	return cfg, nil
}

// normalize fills defaults and checks the fields Run depends on.
func (c *Config) normalize() error {
	if c.Environment == "" {
		c.Environment = EnvironmentProduction
	}
	if c.Environment != EnvironmentProduction && c.Environment != EnvironmentStaging {
		return fmt.Errorf("environment %q: want %q or %q", c.Environment, EnvironmentProduction, EnvironmentStaging)
	}
	if c.ConfigurationLoader == "" {
		c.ConfigurationLoader = LoaderLazy
		if c.Environment == EnvironmentProduction {
			c.ConfigurationLoader = LoaderBoot
		}
	}
	if c.ConfigurationLoader != LoaderBoot && c.ConfigurationLoader != LoaderLazy {
		return fmt.Errorf("configuration loader %q: want %q or %q", c.ConfigurationLoader, LoaderBoot, LoaderLazy)
	}
	if c.ManagementAPI == "" {
		c.ManagementAPI = ManagementStatus
	}
	if c.ManagementAPI == "debug" || c.ManagementAPI == "policies" {
		return fmt.Errorf("management API %q: the twin models only %q and %q", c.ManagementAPI, ManagementStatus, ManagementDisabled)
	}
	if c.PortalEndpoint == "" {
		return errors.New("portal endpoint is required")
	}
	if c.Listener == nil && c.Addr == "" {
		return errors.New("proxy address is required")
	}
	if c.ManagementListener == nil && c.ManagementAddr == "" {
		return errors.New("management address is required")
	}
	if c.BackendTimeout <= 0 {
		c.BackendTimeout = DefaultBackendTimeout
	}
	if c.ConfigurationTimeout < 0 {
		c.ConfigurationTimeout = 0
	}
	return nil
}

// portal is the parsed portal endpoint with its credential split off, so that no URL the
// gateway builds, logs or wraps in an error ever carries the token. net/http would otherwise
// put the userinfo into *url.Error messages (it masks only a password, and the token is the
// user part).
type portal struct {
	base     *url.URL // scheme, host and path; no userinfo
	user     string
	password string
}

func parsePortal(endpoint string) (portal, error) {
	u, err := url.Parse(endpoint)
	if err != nil {
		// url.Parse errors quote the input; do not let the token through.
		return portal{}, fmt.Errorf("portal endpoint %s: not a URL", redactEndpoint(endpoint))
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return portal{}, fmt.Errorf("portal endpoint %s: want an http(s) URL with a host", redactEndpoint(endpoint))
	}
	p := portal{}
	if u.User != nil {
		p.user = u.User.Username()
		p.password, _ = u.User.Password()
	}
	u.User = nil
	u.RawQuery = ""
	u.Fragment = ""
	p.base = u
	return p, nil
}

// redacted is the endpoint as it may appear in logs.
func (p portal) redacted() string {
	u := *p.base
	if p.user != "" || p.password != "" {
		u.User = url.User("REDACTED")
	}
	return u.String()
}

// redactEndpoint hides the userinfo of a raw endpoint string, even one that does not parse.
func redactEndpoint(s string) string {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return "<unparseable endpoint>"
	}
	if at := strings.LastIndex(strings.SplitN(rest, "/", 2)[0], "@"); at >= 0 {
		rest = "REDACTED" + rest[at:]
	}
	return scheme + "://" + rest
}

func parseSeconds(v string) (time.Duration, error) {
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a number of seconds", v)
	}
	return time.Duration(f * float64(time.Second)), nil
}

// envEnabled follows APIcast's notion of a boolean environment variable (resty.env enabled):
// 1, true, yes and on, case-insensitive.
func envEnabled(v string) bool {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "1", "true", "yes", "on":
		return true
	}
	return false
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
