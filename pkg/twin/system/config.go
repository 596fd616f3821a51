package system

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// Stores is where system's dependencies live. Both processes (system-app and system-sidekiq)
// read the same settings, as porta's two Deployments share one set of env vars
// (research/porta-zync.md §1.1, §4.1).
type Stores struct {
	// DatabaseURL is system-mysql: porta's DATABASE_URL form mysql2://user:pass@host:port/db
	// (mysql:// is accepted too), or a go-sql-driver DSN (user:pass@tcp(host:port)/db).
	DatabaseURL string
	// RedisURL is system-redis, Sidekiq's store; porta's default is redis://system-redis:6379/1 (§1.1).
	RedisURL string
	// BackendRedisURL is backend-redis's storage DB, read directly for analytics (§2
	// "where the data comes from").
	BackendRedisURL string
	// MemcacheServers is system-memcache (host:port each); empty disables the cache (§7).
	MemcacheServers []string
	// SearchdAddr is searchd's SphinxQL listener host:port (THINKING_SPHINX_ADDRESS/PORT, §1.1).
	SearchdAddr string
	// BackendURL is backend-listener's base URL for the internal API (/internal/...), with
	// BackendUser/BackendPassword its Basic credentials (apicast-apisonator.md §4.3).
	BackendURL, BackendUser, BackendPassword string
}

// Seed is what porta's db/seeds.rb creates on an empty database (§1.2, §1.4): the master
// account and its tokens, one provider tenant, and their domains.
type Seed struct {
	// Superdomain is THREESCALE_SUPERDOMAIN; domains are <TENANT_NAME>-admin.<superdomain> and
	// <TENANT_NAME>.<superdomain>, and <MasterDomain>.<superdomain> for master (§1.2).
	Superdomain string
	// MasterDomain is the master account's subdomain (MASTER_DOMAIN, default "master").
	MasterDomain string
	MasterName   string
	// MasterUser and MasterPassword are the master admin's login.
	MasterUser, MasterPassword string
	// MasterAccessToken is MASTER_ACCESS_TOKEN: master user, account_management, rw.
	MasterAccessToken string
	// ApicastAccessToken is APICAST_ACCESS_TOKEN: master user, account_management, ro; the
	// token APIcast puts in THREESCALE_PORTAL_ENDPOINT (§6).
	ApicastAccessToken string
	// TenantName is TENANT_NAME, the provider tenant's subdomain prefix.
	TenantName string
	// ProviderName is the provider's organisation name (PROVIDER_NAME).
	ProviderName string
	// AdminUser, AdminPassword and AdminEmail are the provider admin's login.
	AdminUser, AdminPassword, AdminEmail string
	// AdminAccessToken is ADMIN_ACCESS_TOKEN: provider admin, all scopes, rw.
	AdminAccessToken string
	// ProviderKey is the provider account's api_key (the provider_key credential); random when "".
	ProviderKey string
	// MasterService, MasterPlan and ProviderPlan name the master service and its two
	// application plans (MASTER_SERVICE, MASTER_PLAN, PROVIDER_PLAN; "Master Service",
	// "Master Plan" and "enterprise" when "", porta@3scale-2.16.4-GA:db/seeds.rb).
	MasterService, MasterPlan, ProviderPlan string
	// MasterAccessCode is the master portal's site access code (MASTER_ACCESS_CODE, "" by
	// default, porta@3scale-2.16.4-GA:db/seeds.rb).
	MasterAccessCode string
	// NoSampleData is SAMPLE_DATA=0: the provider gets no sample plans, buyer and application
	// (porta's default, SAMPLE_DATA '1', creates them: porta@3scale-2.16.4-GA:db/seeds.rb).
	NoSampleData bool
}

// withDefaults fills the names db/seeds.rb defaults.
func (s Seed) withDefaults() Seed {
	if s.MasterService == "" {
		s.MasterService = "Master Service"
	}
	if s.MasterPlan == "" {
		s.MasterPlan = "Master Plan"
	}
	if s.ProviderPlan == "" {
		s.ProviderPlan = "enterprise"
	}
	return s
}

// AdminDomain is the provider's admin portal host.
func (s Seed) AdminDomain() string { return s.TenantName + "-admin." + s.Superdomain }

// DeveloperDomain is the provider's developer portal host.
func (s Seed) DeveloperDomain() string { return s.TenantName + "." + s.Superdomain }

// MasterHost is the master account's host.
func (s Seed) MasterHost() string { return s.MasterDomain + "." + s.Superdomain }

// AppConfig configures RunApp: the three system-app listeners of one pod (§1.1).
type AppConfig struct {
	Stores
	Seed Seed
	// MasterAddr, ProviderAddr and DeveloperAddr are the listen addresses of the system-master
	// (3002), system-provider (3000) and system-developer (3001) containers (§1.1).
	MasterAddr, ProviderAddr, DeveloperAddr string
	// BackendPublicURL is the backend endpoint written into proxy configs
	// (proxy.backend.endpoint); BackendURL when "".
	BackendPublicURL string
	// ApicastStagingDomain and ApicastProductionDomain build a new service's default
	// sandbox_endpoint / endpoint hosts: <system_name>-<tenant>-apicast-staging.<superdomain>
	// when "" (porta's apicast wildcard defaults).
	ApicastStagingDomain, ApicastProductionDomain string
	// EventsSharedSecret is the secret backend's events hook sends to /master/events/import
	// (apicast-apisonator.md §6); the hook answers 403 when it differs.
	EventsSharedSecret string
	// AccessCode is ACCESS_CODE, the developer portal access code of a provider without its own
	// site_access_code (ThreeScale.config.access_code, "" by default:
	// porta@3scale-2.16.4-GA:config/examples/settings.yml).
	AccessCode string
	// RecaptchaPublicKey is RECAPTCHA_PUBLIC_KEY (the operator's system-recaptcha Secret),
	// shown in the sign-in page's props (porta@3scale-2.16.4-GA:config/examples/settings.yml
	// recaptcha_public_key; porta's own default, used when the variable is unset, is a
	// placeholder the operator never leaves: it always sets the variable,
	// 3scale-operator@3scale-2.16.3-GA:pkg/3scale/amp/component/system.go buildSystemBaseEnv).
	RecaptchaPublicKey string
	// ForceSSL answers 301 to https unless X-Forwarded-Proto is https or the Host is
	// system-(master|provider|developer) (§1.3).
	ForceSSL bool
	// DBTimeout bounds the database connect; defaults suit a local cluster.
	DBTimeout time.Duration
	// BackendTimeout and BackendOpenTimeout are Faraday's timeout and open_timeout for the
	// backend client (5 s and 3 s when 0, as porta's web process).
	BackendTimeout, BackendOpenTimeout time.Duration
	Logger                             *slog.Logger
}

// SidekiqConfig configures RunSidekiq.
type SidekiqConfig struct {
	Stores
	// ZyncEndpoint is zync's base URL (ZYNC_ENDPOINT); "" makes ZyncWorker skip (§5.1 step 1).
	ZyncEndpoint string
	// ZyncToken is ZYNC_AUTHENTICATION_TOKEN, sent as Authorization: Token token="..." (§5.1).
	ZyncToken string
	// ProviderEndpointScheme is the scheme of the tenant endpoint sent to zync's PUT /tenant
	// ("https" when ""; porta sends the admin root URL).
	ProviderEndpointScheme string
	// Concurrency is Sidekiq's worker count (RAILS_MAX_THREADS=25 in the operator; 5 when 0).
	Concurrency int
	// Heartbeat, PollInterval and Identity pass through to sidekiq.ServerConfig.
	Heartbeat, PollInterval time.Duration
	Identity                string
	// RetryScale multiplies every retry delay (1 when 0); tests use it to see retries quickly.
	RetryScale float64
	// BackendTimeout and BackendOpenTimeout are Faraday's timeout and open_timeout for the
	// backend client (30 s and 10 s when 0, as porta's Sidekiq).
	BackendTimeout, BackendOpenTimeout time.Duration
	Logger                             *slog.Logger
}

// Validate reports the missing settings RunApp cannot start without.
func (c AppConfig) Validate() error {
	var errs []error
	if c.DatabaseURL == "" {
		errs = append(errs, errors.New("DatabaseURL is required"))
	}
	if c.RedisURL == "" {
		errs = append(errs, errors.New("RedisURL is required"))
	}
	if c.MasterAddr == "" || c.ProviderAddr == "" || c.DeveloperAddr == "" {
		errs = append(errs, errors.New("MasterAddr, ProviderAddr and DeveloperAddr are required"))
	}
	if c.Seed.Superdomain == "" || c.Seed.TenantName == "" || c.Seed.MasterDomain == "" {
		errs = append(errs, errors.New("Seed.Superdomain, Seed.TenantName and Seed.MasterDomain are required"))
	}
	if c.Seed.MasterAccessToken == "" || c.Seed.AdminAccessToken == "" {
		errs = append(errs, errors.New("Seed.MasterAccessToken and Seed.AdminAccessToken are required"))
	}
	return errors.Join(errs...)
}

// Validate reports the missing settings RunSidekiq cannot start without.
func (c SidekiqConfig) Validate() error {
	var errs []error
	if c.DatabaseURL == "" {
		errs = append(errs, errors.New("DatabaseURL is required"))
	}
	if c.RedisURL == "" {
		errs = append(errs, errors.New("RedisURL is required"))
	}
	return errors.Join(errs...)
}

// env is a lookup function, os.LookupEnv in production.
type env func(string) (string, bool)

func (e env) get(name, def string) string {
	if v, ok := e(name); ok && v != "" {
		return v
	}
	return def
}

// storesFromEnv reads porta's env names (research/porta-zync.md §1.1, §2, §4.1, §7;
// apicast-apisonator.md §4.3): DATABASE_URL, REDIS_URL, BACKEND_REDIS_URL, MEMCACHE_SERVERS,
// THINKING_SPHINX_ADDRESS + THINKING_SPHINX_PORT, BACKEND_URL and
// CONFIG_INTERNAL_API_USER/PASSWORD.
func storesFromEnv(e env) Stores {
	s := Stores{
		DatabaseURL:     e.get("DATABASE_URL", "mysql2://root@system-mysql:3306/system"),
		RedisURL:        e.get("REDIS_URL", "redis://system-redis:6379/1"),
		BackendRedisURL: e.get("BACKEND_REDIS_URL", "redis://backend-redis:6379/0"),
		SearchdAddr: net.JoinHostPort(e.get("THINKING_SPHINX_ADDRESS", "system-searchd"),
			e.get("THINKING_SPHINX_PORT", "9306")),
		BackendURL:      e.get("BACKEND_URL", "http://backend-listener:3000"),
		BackendUser:     e.get("CONFIG_INTERNAL_API_USER", "3scale_api_user"),
		BackendPassword: e.get("CONFIG_INTERNAL_API_PASSWORD", ""),
	}
	for _, m := range strings.Split(e.get("MEMCACHE_SERVERS", "system-memcache:11211"), ",") {
		if m = strings.TrimSpace(m); m != "" {
			s.MemcacheServers = append(s.MemcacheServers, m)
		}
	}
	return s
}

// AppConfigFromEnv builds an AppConfig from porta-like environment variables: the Stores
// names above, the system-seed names (TENANT_NAME, MASTER_ACCESS_TOKEN, ADMIN_ACCESS_TOKEN,
// APICAST_ACCESS_TOKEN, ADMIN_USER, ADMIN_PASSWORD, ADMIN_EMAIL, MASTER_USER,
// MASTER_PASSWORD, MASTER_DOMAIN, MASTER_NAME, PROVIDER_NAME, THREESCALE_SUPERDOMAIN),
// BACKEND_PUBLIC_URL, EVENTS_SHARED_SECRET, and twin-only MASTER_PORT / PROVIDER_PORT /
// DEVELOPER_PORT (one process serves what porta runs as three containers) and FORCE_SSL.
func AppConfigFromEnv() AppConfig { return appConfigFromEnv(os.LookupEnv) }

func appConfigFromEnv(e env) AppConfig {
	force, _ := strconv.ParseBool(e.get("FORCE_SSL", "true"))
	return AppConfig{
		Stores: storesFromEnv(e),
		Seed: Seed{
			Superdomain:        e.get("THREESCALE_SUPERDOMAIN", "example.com"),
			MasterDomain:       e.get("MASTER_DOMAIN", "master"),
			MasterName:         e.get("MASTER_NAME", "Master Account"),
			MasterUser:         e.get("MASTER_USER", "master"),
			MasterPassword:     e.get("MASTER_PASSWORD", ""),
			MasterAccessToken:  e.get("MASTER_ACCESS_TOKEN", ""),
			ApicastAccessToken: e.get("APICAST_ACCESS_TOKEN", ""),
			TenantName:         e.get("TENANT_NAME", "3scale"),
			ProviderName:       e.get("PROVIDER_NAME", "Provider Name"),
			AdminUser:          e.get("ADMIN_USER", "admin"),
			AdminPassword:      e.get("ADMIN_PASSWORD", ""),
			AdminEmail:         e.get("ADMIN_EMAIL", "admin@example.com"),
			AdminAccessToken:   e.get("ADMIN_ACCESS_TOKEN", ""),
			ProviderKey:        e.get("PROVIDER_KEY", ""),
			MasterService:      e.get("MASTER_SERVICE", "Master Service"),
			MasterPlan:         e.get("MASTER_PLAN", "Master Plan"),
			ProviderPlan:       e.get("PROVIDER_PLAN", "enterprise"),
			MasterAccessCode:   e.get("MASTER_ACCESS_CODE", ""),
			NoSampleData:       e.get("SAMPLE_DATA", "1") == "0",
		},
		MasterAddr:         ":" + e.get("MASTER_PORT", "3002"),
		ProviderAddr:       ":" + e.get("PROVIDER_PORT", "3000"),
		DeveloperAddr:      ":" + e.get("DEVELOPER_PORT", "3001"),
		BackendPublicURL:   e.get("BACKEND_PUBLIC_URL", ""),
		EventsSharedSecret: e.get("EVENTS_SHARED_SECRET", ""),
		RecaptchaPublicKey: e.get("RECAPTCHA_PUBLIC_KEY", ""),
		AccessCode:         e.get("ACCESS_CODE", ""),
		ForceSSL:           force,
	}
}

// SidekiqConfigFromEnv builds a SidekiqConfig from the Stores names plus ZYNC_ENDPOINT and
// ZYNC_AUTHENTICATION_TOKEN (§5.1) and RAILS_MAX_THREADS (§1.1).
func SidekiqConfigFromEnv() SidekiqConfig { return sidekiqConfigFromEnv(os.LookupEnv) }

func sidekiqConfigFromEnv(e env) SidekiqConfig {
	n, _ := strconv.Atoi(e.get("RAILS_MAX_THREADS", "0"))
	return SidekiqConfig{
		Stores:       storesFromEnv(e),
		ZyncEndpoint: e.get("ZYNC_ENDPOINT", ""),
		ZyncToken:    e.get("ZYNC_AUTHENTICATION_TOKEN", ""),
		Concurrency:  n,
	}
}

// mysqlDSN turns DATABASE_URL into a function building a go-sql-driver DSN for a database
// name ("" connects without one), plus the configured database name. A short dial timeout makes
// a stopped MariaDB fail requests quickly (§7 "MySQL down").
func mysqlDSN(raw string, timeout time.Duration) (dsn func(db string) string, dbName string, err error) {
	if timeout <= 0 {
		timeout = 3 * time.Second
	}
	opts := fmt.Sprintf("parseTime=true&loc=UTC&timeout=%s&readTimeout=30s&writeTimeout=30s&charset=utf8mb4", timeout)
	var prefix string
	if strings.Contains(raw, "://") {
		u, err := url.Parse(raw)
		if err != nil {
			return nil, "", fmt.Errorf("DATABASE_URL: %w", err)
		}
		host := u.Host
		if u.Port() == "" {
			host = net.JoinHostPort(u.Hostname(), "3306")
		}
		userinfo := u.User.Username()
		if pass, ok := u.User.Password(); ok && pass != "" {
			userinfo += ":" + pass
		}
		dbName = strings.TrimPrefix(u.Path, "/")
		prefix = fmt.Sprintf("%s@tcp(%s)/", userinfo, host)
	} else {
		slash := strings.LastIndex(raw, "/")
		if slash < 0 {
			return nil, "", fmt.Errorf("DATABASE_URL %q: want user:pass@tcp(host:port)/db", raw)
		}
		var extra string
		dbName, extra, _ = strings.Cut(raw[slash+1:], "?")
		if extra != "" {
			opts = extra + "&" + opts
		}
		prefix = raw[:slash+1]
	}
	if dbName == "" {
		dbName = "system"
	}
	return func(db string) string { return prefix + db + "?" + opts }, dbName, nil
}
