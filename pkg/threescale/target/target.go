package target

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/threescale-chaos/harness/pkg/timing"
)

// Target is the target file: how the harness reaches one 3scale install (README "On a real
// cluster (OpenShift, kind)" shows how to write one). The schema is the one the twin writes
// (threescale-twin deploy) and the one a user writes for kind or OpenShift; the harness has
// its own copy of it because it never imports the twin. Credentials are never in the file:
// it names the Secret and key to read them from, in Namespace.
//
// A minimal file for a real cluster names the namespace, the endpoints and the Secrets;
// stores without an address are reached through a client-go port-forward to their pod.
type Target struct {
	// Kubeconfig is the kubeconfig to use; empty means the caller's default loading
	// rules (KUBECONFIG, ~/.kube/config, in-cluster).
	Kubeconfig string `json:"kubeconfig,omitempty"`
	// Namespace is where 3scale is installed (and where the Secrets are read).
	Namespace string `json:"namespace"`
	// Version is the 3scale version ("2.16"); the catalog picks workload names by it.
	Version string `json:"version"`
	// WildcardDomain is the APIManager's wildcardDomain: products get their gateway Host
	// from it (<system_name>-<tenant>-apicast-{production,staging}.<domain>).
	WildcardDomain string `json:"wildcardDomain"`
	// Gateways are APIcast's proxy endpoints.
	Gateways Gateways `json:"gateways"`
	// Admin is the provider admin portal and Account Management API (system-provider,
	// Host <tenant>-admin.<domain>; research/porta-zync.md §1.2).
	Admin Endpoint `json:"admin"`
	// Master is system-master (Host master.<domain>), which serves the proxy configs a
	// gateway boots from (research/porta-zync.md §6).
	Master Endpoint `json:"master"`
	// DeveloperPortal is system-developer (Host <tenant>.<domain>).
	DeveloperPortal Endpoint `json:"developerPortal"`
	// Credentials say which Secrets hold the access tokens.
	Credentials Credentials `json:"credentials"`
	// Stores say how to reach the internal datastores for queue and lost-work checks.
	Stores Stores `json:"stores"`
	// Upstream is the API the harness's product proxies to. It must answer any path with
	// a JSON object whose "path" is the request path (3scale's echo-api does), and be
	// reachable from the gateway pods (URL) and, for the harness, not at all: the harness
	// only ever reaches it through a gateway.
	Upstream Endpoint `json:"upstream"`
	// Operator names the APIManager that owns the components' replicas, if any.
	Operator *Operator `json:"operator,omitempty"`
	// Backend is how to reach backend-listener's Service Management and internal APIs.
	// Optional: by default the URL is read from the operator's Secret backend-listener
	// (key service_endpoint) and the internal API credentials from backend-internal-api.
	Backend *Backend `json:"backend,omitempty"`
	// InsecureSkipVerify accepts self-signed certificates on https endpoints (routes on
	// test clusters).
	InsecureSkipVerify bool `json:"insecureSkipVerify,omitempty"`
	// Timeouts override the run's waits for this install, by name ("provision: 10m";
	// pkg/timing lists the names and defaults). Flags override the file.
	Timeouts map[string]string `json:"timeouts,omitempty"`
}

// TimeoutOverrides are the file's timeouts, parsed (Validate has checked them); none for a
// nil target.
func (t *Target) TimeoutOverrides() timing.Timeouts {
	if t == nil {
		return nil
	}
	o, _ := timing.Parse(t.Timeouts)
	return o
}

// Endpoint is a base URL, and the Host header to send when the URL's host is not the name
// 3scale routes on (no Route or DNS name in front of it).
type Endpoint struct {
	URL  string `json:"url"`
	Host string `json:"host,omitempty"`
}

// Gateways are APIcast's proxy endpoints.
type Gateways struct {
	Production Endpoint `json:"production"`
	Staging    Endpoint `json:"staging"`
}

// SecretKeyRef names one key of a Secret in the target's namespace.
type SecretKeyRef struct {
	Secret string `json:"secret"`
	Key    string `json:"key"`
}

// Credentials say where the harness reads its tokens.
type Credentials struct {
	// AdminAccessToken is the provider admin's token (ADMIN_ACCESS_TOKEN of system-seed:
	// all scopes, rw; research/porta-zync.md §1.4).
	AdminAccessToken SecretKeyRef `json:"adminAccessToken"`
	// MasterAccessToken is the master user's token (MASTER_ACCESS_TOKEN).
	MasterAccessToken SecretKeyRef `json:"masterAccessToken"`
	// APIcastAccessToken is the read-only master token APIcast boots with; optional,
	// default Secret system-master-apicast key ACCESS_TOKEN (research/porta-zync.md §6).
	APIcastAccessToken *SecretKeyRef `json:"apicastAccessToken,omitempty"`
	// AdminUser and AdminPassword sign in to the admin portal, whose pages take a session
	// and not a token (the alerts page); optional, default Secret system-seed keys
	// ADMIN_USER and ADMIN_PASSWORD (research/3scale-operator.md §3.5).
	AdminUser     *SecretKeyRef `json:"adminUser,omitempty"`
	AdminPassword *SecretKeyRef `json:"adminPassword,omitempty"`
}

// Store is how to reach one internal datastore: a URL read from a Secret (a redis:// or
// postgresql:// URL naming the in-cluster Service), and either an address that replaces
// the URL's host:port, or a port-forward to the store's pod.
type Store struct {
	URL SecretKeyRef `json:"url"`
	// Address (host:port) replaces the URL's host:port when set.
	Address string `json:"address,omitempty"`
	// PortForward overrides how the pod is found when Address is empty; by default the
	// pod is one that backs the Service named by the URL's host, on the Service's
	// target port.
	PortForward *PortForward `json:"portForward,omitempty"`
	// TLS says the store speaks TLS although its URL is redis://: the operator turns
	// TLS on with APIManager switches (spec.backend.backendRedisTLSEnabled,
	// spec.backend.queuesRedisTLSEnabled, spec.system.systemRedisTLSEnabled), not in the
	// URL. The CA and client certificate come from the URL's Secret (REDIS_SSL_* keys).
	// Redis stores only; a rediss:// URL needs no flag.
	TLS bool `json:"tls,omitempty"`
}

// PortForward names the pods a client-go port-forward may go to, and their port.
type PortForward struct {
	// Selector is a label selector of the store's pods ("deployment=backend-redis").
	Selector string `json:"selector"`
	// Port is the container port.
	Port int `json:"port"`
}

// Stores are the internal stores the harness inspects.
type Stores struct {
	// BackendRedisStorage is apisonator's storage database (counters, alerts).
	BackendRedisStorage Store `json:"backendRedisStorage"`
	// BackendRedisQueues is apisonator's Resque database (resque:queue:priority,
	// resque:failed).
	BackendRedisQueues Store `json:"backendRedisQueues"`
	// SystemRedis is system's Sidekiq database (DB 1).
	SystemRedis Store `json:"systemRedis"`
	// ZyncDatabase is zync's PostgreSQL database.
	ZyncDatabase Store `json:"zyncDatabase"`
}

// RedisKeys are the keys that sit beside a store's URL key in the operator's Secret: ACL
// credentials, sentinels and the TLS material. Each install-provided Redis has its own
// names for them (operator@3scale-2.16.3-GA pkg/3scale/amp/component/backend.go: the
// BackendSecretBackendRedis* constants, backendVolumes; system.go:
// SystemSecretSystemRedis* constants, SystemRedisEnvVars and the system-redis-tls volume).
type RedisKeys struct {
	Username, Password                 string
	SentinelHosts, SentinelRole        string
	SentinelUsername, SentinelPassword string
	TLSCA, TLSCert, TLSKey             string
}

// redisLayouts are the operator's key names for each Redis store of the target, by field path.
var redisLayouts = map[string]RedisKeys{
	"stores.backendRedisStorage": {
		Username: "REDIS_STORAGE_USERNAME", Password: "REDIS_STORAGE_PASSWORD",
		SentinelHosts: "REDIS_STORAGE_SENTINEL_HOSTS", SentinelRole: "REDIS_STORAGE_SENTINEL_ROLE",
		SentinelUsername: "REDIS_STORAGE_SENTINEL_USERNAME", SentinelPassword: "REDIS_STORAGE_SENTINEL_PASSWORD",
		TLSCA: "REDIS_SSL_CA", TLSCert: "REDIS_SSL_CERT", TLSKey: "REDIS_SSL_KEY",
	},
	"stores.backendRedisQueues": {
		Username: "REDIS_QUEUES_USERNAME", Password: "REDIS_QUEUES_PASSWORD",
		SentinelHosts: "REDIS_QUEUES_SENTINEL_HOSTS", SentinelRole: "REDIS_QUEUES_SENTINEL_ROLE",
		SentinelUsername: "REDIS_QUEUES_SENTINEL_USERNAME", SentinelPassword: "REDIS_QUEUES_SENTINEL_PASSWORD",
		TLSCA: "REDIS_SSL_QUEUES_CA", TLSCert: "REDIS_SSL_QUEUES_CERT", TLSKey: "REDIS_SSL_QUEUES_KEY",
	},
	"stores.systemRedis": {
		Username: "REDIS_USERNAME", Password: "REDIS_PASSWORD",
		SentinelHosts: "SENTINEL_HOSTS", SentinelRole: "SENTINEL_ROLE",
		SentinelUsername: "REDIS_SENTINEL_USERNAME", SentinelPassword: "REDIS_SENTINEL_PASSWORD",
		TLSCA: "REDIS_SSL_CA", TLSCert: "REDIS_SSL_CERT", TLSKey: "REDIS_SSL_KEY",
	},
}

// RedisKeysFor gives the operator's key names beside the URL of the Redis store at field
// ("stores.backendRedisStorage"): threescale.Connect reads their values, Discover notes
// which are present. The second result is false for a field that is not a Redis store.
func RedisKeysFor(field string) (RedisKeys, bool) {
	k, ok := redisLayouts[field]
	return k, ok
}

// Operator names the APIManager that owns the components' replicas.
type Operator struct {
	APIManager string `json:"apiManager"`
}

// Backend is how to reach backend-listener.
type Backend struct {
	// URL is the listener's base URL; when empty it is read from URLSecret.
	URL string `json:"url,omitempty"`
	// URLSecret defaults to Secret backend-listener key service_endpoint.
	URLSecret *SecretKeyRef `json:"urlSecret,omitempty"`
	// InternalUser and InternalPassword are the internal API's Basic credentials;
	// default Secret backend-internal-api keys username and password.
	InternalUser     *SecretKeyRef `json:"internalUser,omitempty"`
	InternalPassword *SecretKeyRef `json:"internalPassword,omitempty"`
}

// Defaults for the optional references: the operator's own Secret names
// (research/3scale-operator.md §3.5).
var (
	DefaultAPIcastToken     = SecretKeyRef{Secret: "system-master-apicast", Key: "ACCESS_TOKEN"}
	DefaultAdminUser        = SecretKeyRef{Secret: "system-seed", Key: "ADMIN_USER"}
	DefaultAdminPassword    = SecretKeyRef{Secret: "system-seed", Key: "ADMIN_PASSWORD"}
	DefaultBackendURL       = SecretKeyRef{Secret: "backend-listener", Key: "service_endpoint"}
	DefaultInternalUser     = SecretKeyRef{Secret: "backend-internal-api", Key: "username"}
	DefaultInternalPassword = SecretKeyRef{Secret: "backend-internal-api", Key: "password"}
)

// Load reads and validates a target file. Unknown fields are rejected, so a typo
// does not silently fall back to a default; errors name the file, the field and why.
func Load(path string) (*Target, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("target file: %w", err)
	}
	var t Target
	if err := yaml.UnmarshalStrict(b, &t); err != nil {
		return nil, fmt.Errorf("target file %s: %w", path, err)
	}
	if err := t.Validate(); err != nil {
		return nil, fmt.Errorf("target file %s: %w", path, err)
	}
	return &t, nil
}

// Validate checks that every required field is present and well formed. The error lists
// every problem, each with its field path.
func (t *Target) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	if t.Namespace == "" {
		bad("namespace", "is required")
	}
	if _, err := timing.Parse(t.Timeouts); err != nil {
		errs = append(errs, err)
	}
	if t.Version == "" {
		bad("version", "is required (the 3scale version, e.g. \"2.16\")")
	}
	if t.WildcardDomain == "" {
		bad("wildcardDomain", "is required (products' gateway hosts are made from it)")
	}
	endpoint := func(field string, e Endpoint) {
		if e.URL == "" {
			bad(field+".url", "is required")
			return
		}
		u, err := url.Parse(e.URL)
		switch {
		case err != nil:
			bad(field+".url", "is not a URL: %v", err)
		case u.Scheme != "http" && u.Scheme != "https":
			bad(field+".url", "scheme %q is not http or https", u.Scheme)
		case u.Host == "":
			bad(field+".url", "has no host")
		case u.User != nil:
			bad(field+".url", "must not carry credentials (they belong in a Secret)")
		case u.RawQuery != "":
			bad(field+".url", "must not have a query")
		}
		if strings.ContainsAny(e.Host, "/ ?#") {
			bad(field+".host", "%q is not a host name", e.Host)
		}
	}
	endpoint("gateways.production", t.Gateways.Production)
	endpoint("gateways.staging", t.Gateways.Staging)
	endpoint("admin", t.Admin)
	endpoint("master", t.Master)
	endpoint("developerPortal", t.DeveloperPortal)
	endpoint("upstream", t.Upstream)
	ref := func(field string, r SecretKeyRef) {
		if r.Secret == "" {
			bad(field+".secret", "is required")
		}
		if r.Key == "" {
			bad(field+".key", "is required")
		}
	}
	ref("credentials.adminAccessToken", t.Credentials.AdminAccessToken)
	ref("credentials.masterAccessToken", t.Credentials.MasterAccessToken)
	if t.Credentials.APIcastAccessToken != nil {
		ref("credentials.apicastAccessToken", *t.Credentials.APIcastAccessToken)
	}
	if t.Credentials.AdminUser != nil {
		ref("credentials.adminUser", *t.Credentials.AdminUser)
	}
	if t.Credentials.AdminPassword != nil {
		ref("credentials.adminPassword", *t.Credentials.AdminPassword)
	}
	store := func(field string, s Store) {
		ref(field+".url", s.URL)
		if s.Address != "" {
			if _, port, err := net.SplitHostPort(s.Address); err != nil || port == "" {
				bad(field+".address", "%q is not host:port", s.Address)
			}
		}
		if s.PortForward != nil {
			if s.Address != "" {
				bad(field+".portForward", "is set together with address; give one")
			}
			if s.PortForward.Selector == "" {
				bad(field+".portForward.selector", "is required")
			}
			if s.PortForward.Port <= 0 || s.PortForward.Port > 65535 {
				bad(field+".portForward.port", "%d is not a port", s.PortForward.Port)
			}
		}
	}
	store("stores.backendRedisStorage", t.Stores.BackendRedisStorage)
	store("stores.backendRedisQueues", t.Stores.BackendRedisQueues)
	store("stores.systemRedis", t.Stores.SystemRedis)
	store("stores.zyncDatabase", t.Stores.ZyncDatabase)
	if t.Stores.ZyncDatabase.TLS {
		bad("stores.zyncDatabase.tls", "applies to the Redis stores only; PostgreSQL's TLS is set in its URL (sslmode)")
	}
	if t.Operator != nil && t.Operator.APIManager == "" {
		bad("operator.apiManager", "is required when operator is set")
	}
	if b := t.Backend; b != nil {
		if b.URL != "" {
			endpoint("backend", Endpoint{URL: b.URL})
		}
		for _, r := range []struct {
			field string
			ref   *SecretKeyRef
		}{{"backend.urlSecret", b.URLSecret}, {"backend.internalUser", b.InternalUser}, {"backend.internalPassword", b.InternalPassword}} {
			if r.ref != nil {
				ref(r.field, *r.ref)
			}
		}
	}
	return errors.Join(errs...)
}
