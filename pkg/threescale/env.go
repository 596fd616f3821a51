package threescale

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/threescale-chaos/harness/pkg/probe"
	"github.com/threescale-chaos/harness/pkg/threescale/target"
	"github.com/threescale-chaos/harness/pkg/timing"
)

// Store timeouts: short, so that a store that is down shows as a failed check within a
// sample's budget instead of hanging it.
const (
	storeDialTimeout = 2 * time.Second
	storeIOTimeout   = 3 * time.Second
)

// Env is a connected 3scale install: clients for its APIs and stores, built from a
// Target. It is safe for concurrent use by samplers.
type Env struct {
	Target     *target.Target
	RESTConfig *rest.Config
	Kube       kubernetes.Interface
	// Admin is the provider Account Management API (Host <tenant>-admin.<domain>, the
	// admin token).
	Admin *Admin
	// Master is system-master with the master token.
	Master *Admin
	// APIcastConfigs is system-master with the read-only token APIcast boots with
	// (research/porta-zync.md §6).
	APIcastConfigs *Admin
	// Portal is the provider's admin portal, signed in as the admin (pages that take a
	// session, such as the alerts list).
	Portal *Portal
	// Production and Staging are the two gateways.
	Production, Staging *Gateway
	// Listener is backend-listener (Service Management and internal APIs); nil when
	// neither the target nor the operator's Secret says where it is.
	Listener *Listener
	// BackendStorage, BackendQueues and SystemRedis are the Redis databases of
	// apisonator's storage, its Resque queues and system's Sidekiq.
	BackendStorage, BackendQueues, SystemRedis *redis.Client
	// ZyncDB is zync's PostgreSQL database.
	ZyncDB *pgxpool.Pool
	// HTTP is the client for samples: no connection reuse, no redirects, no proxy.
	HTTP *http.Client

	secrets []string
}

// Connect reads the tokens from the Secrets the target names and opens clients for every
// API and store. Stores are opened lazily (no connection is made here), through the
// target's address when it gives one, else through a port-forward to the store's pod.
// Store clients never retry a command: a retried INCR or que insert could count twice.
func Connect(ctx context.Context, t *target.Target, rc *rest.Config) (*Env, error) {
	if t == nil || rc == nil {
		return nil, errors.New("connect: a target and a REST config are required")
	}
	if err := t.Validate(); err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	kube, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("connect: kubernetes client: %w", err)
	}
	return connect(ctx, t, rc, kube)
}

// connect is Connect with the Kubernetes client given, so that the store clients can be
// tested against real servers with the Secrets in a fake clientset.
func connect(ctx context.Context, t *target.Target, rc *rest.Config, kube kubernetes.Interface) (*Env, error) {
	var err error
	e := &Env{Target: t, RESTConfig: rc, Kube: kube,
		HTTP: probe.NewHTTPClient(probe.HTTPClientOptions{InsecureSkipVerify: t.InsecureSkipVerify})}
	ok := false
	defer func() {
		if !ok {
			e.Close()
		}
	}()

	secrets := map[string]map[string][]byte{}
	read := func(ref target.SecretKeyRef, field string) (string, error) {
		data, seen := secrets[ref.Secret]
		if !seen {
			s, err := kube.CoreV1().Secrets(t.Namespace).Get(ctx, ref.Secret, metav1.GetOptions{})
			if err != nil {
				return "", fmt.Errorf("connect: %s: Secret %s/%s: %w", field, t.Namespace, ref.Secret, err)
			}
			data = s.Data
			secrets[ref.Secret] = data
		}
		v, found := data[ref.Key]
		if !found || len(v) == 0 {
			return "", fmt.Errorf("connect: %s: Secret %s/%s has no key %q", field, t.Namespace, ref.Secret, ref.Key)
		}
		return strings.TrimSpace(string(v)), nil
	}
	adminToken, err := read(t.Credentials.AdminAccessToken, "credentials.adminAccessToken")
	if err != nil {
		return nil, err
	}
	masterToken, err := read(t.Credentials.MasterAccessToken, "credentials.masterAccessToken")
	if err != nil {
		return nil, err
	}
	e.secrets = append(e.secrets, adminToken, masterToken)
	apicastRef := target.DefaultAPIcastToken
	if t.Credentials.APIcastAccessToken != nil {
		apicastRef = *t.Credentials.APIcastAccessToken
	}
	apicastToken, err := read(apicastRef, "credentials.apicastAccessToken")
	if err != nil {
		return nil, err
	}
	e.secrets = append(e.secrets, apicastToken)
	e.Admin = NewAdmin(t.Admin, adminToken, e.HTTP)
	e.Master = NewAdmin(t.Master, masterToken, e.HTTP)
	e.APIcastConfigs = NewAdmin(t.Master, apicastToken, e.HTTP)
	e.SetAdminRequestTimeout(t.TimeoutOverrides().Get(timing.AdminRequest))
	userRef, passwordRef := target.DefaultAdminUser, target.DefaultAdminPassword
	if t.Credentials.AdminUser != nil {
		userRef = *t.Credentials.AdminUser
	}
	if t.Credentials.AdminPassword != nil {
		passwordRef = *t.Credentials.AdminPassword
	}
	adminUser, err := read(userRef, "credentials.adminUser")
	if err != nil {
		return nil, err
	}
	adminPassword, err := read(passwordRef, "credentials.adminPassword")
	if err != nil {
		return nil, err
	}
	e.secrets = append(e.secrets, adminPassword)
	e.Portal = NewPortal(t.Admin, adminUser, adminPassword, e.HTTP)
	e.Production = &Gateway{Name: "production", URL: t.Gateways.Production.URL, Client: e.HTTP}
	e.Staging = &Gateway{Name: "staging", URL: t.Gateways.Staging.URL, Client: e.HTTP}

	if err := e.connectListener(read); err != nil {
		return nil, err
	}

	redisStore := func(s target.Store, field string) (*redis.Client, error) {
		raw, err := read(s.URL, field+".url")
		if err != nil {
			return nil, err
		}
		e.addURLSecret(raw)
		// The keys beside the URL in the same Secret (credentials, TLS, sentinels) are
		// optional; a Secret read once is cached by read, so this costs no request.
		return e.redisClient(s, field, raw, secrets[s.URL.Secret])
	}
	if e.BackendStorage, err = redisStore(t.Stores.BackendRedisStorage, "stores.backendRedisStorage"); err != nil {
		return nil, err
	}
	if e.BackendQueues, err = redisStore(t.Stores.BackendRedisQueues, "stores.backendRedisQueues"); err != nil {
		return nil, err
	}
	if e.SystemRedis, err = redisStore(t.Stores.SystemRedis, "stores.systemRedis"); err != nil {
		return nil, err
	}

	raw, err := read(t.Stores.ZyncDatabase.URL, "stores.zyncDatabase.url")
	if err != nil {
		return nil, err
	}
	e.addURLSecret(raw)
	pc, err := pgxpool.ParseConfig(raw)
	if err != nil {
		return nil, fmt.Errorf("connect: stores.zyncDatabase.url: the Secret's value is not a PostgreSQL URL: %s", probe.ErrorDetail(errors.Unwrap(err)))
	}
	pc.ConnConfig.ConnectTimeout = storeDialTimeout
	pc.MaxConns, pc.MinConns = 4, 0
	pc.HealthCheckPeriod = 5 * time.Second
	pc.ConnConfig.RuntimeParams["statement_timeout"] = strconv.Itoa(int(storeIOTimeout.Milliseconds()))
	pc.ConnConfig.RuntimeParams["application_name"] = "threescale-chaos"
	if a := t.Stores.ZyncDatabase.Address; a != "" {
		host, port, _ := net.SplitHostPort(a)
		p, err := strconv.ParseUint(port, 10, 16)
		if err != nil {
			return nil, fmt.Errorf("connect: stores.zyncDatabase.address: %q: bad port", a)
		}
		pc.ConnConfig.Host, pc.ConnConfig.Port = host, uint16(p)
		// Fallbacks are sslmode=prefer's plain-text retry of the same server.
		for _, fb := range pc.ConnConfig.Fallbacks {
			fb.Host, fb.Port = host, uint16(p)
		}
	} else {
		d, err := e.podDialer(t.Stores.ZyncDatabase, net.JoinHostPort(pc.ConnConfig.Host, strconv.Itoa(int(pc.ConnConfig.Port))))
		if err != nil {
			return nil, fmt.Errorf("connect: stores.zyncDatabase: %w", err)
		}
		pc.ConnConfig.DialFunc = d.DialContext
		// The in-cluster name does not resolve outside the cluster, and need not.
		pc.ConnConfig.LookupFunc = func(_ context.Context, host string) ([]string, error) { return []string{host}, nil }
	}
	if e.ZyncDB, err = pgxpool.NewWithConfig(ctx, pc); err != nil {
		return nil, fmt.Errorf("connect: stores.zyncDatabase: %s", probe.ErrorDetail(err))
	}
	ok = true
	return e, nil
}

// connectListener builds the backend-listener client from the target or the operator's
// Secrets; a listener that cannot be located leaves Listener nil (the alerts capability
// then reports every sample failed with a reason).
func (e *Env) connectListener(read func(target.SecretKeyRef, string) (string, error)) error {
	b := e.Target.Backend
	if b == nil {
		b = &target.Backend{}
	}
	base := b.URL
	if base == "" {
		ref := target.DefaultBackendURL
		if b.URLSecret != nil {
			ref = *b.URLSecret
		}
		v, err := read(ref, "backend.urlSecret")
		if err != nil {
			if b.URLSecret != nil {
				return err
			}
			return nil
		}
		base = v
	}
	l := &Listener{URL: strings.TrimSuffix(base, "/"), Client: e.HTTP}
	userRef, passRef := target.DefaultInternalUser, target.DefaultInternalPassword
	if b.InternalUser != nil {
		userRef = *b.InternalUser
	}
	if b.InternalPassword != nil {
		passRef = *b.InternalPassword
	}
	if u, err := read(userRef, "backend.internalUser"); err == nil {
		l.internalUser = u
	} else if b.InternalUser != nil {
		return err
	}
	if p, err := read(passRef, "backend.internalPassword"); err == nil {
		l.internalPassword = p
		e.secrets = append(e.secrets, p)
	} else if b.InternalPassword != nil {
		return err
	}
	e.Listener = l
	return nil
}

// podDialer is the port-forward for a store without an address: the target's
// portForward, else the Service named by the URL's host.
func (e *Env) podDialer(s target.Store, urlAddr string) (*podDialer, error) {
	d := &podDialer{rc: e.RESTConfig, kube: e.Kube, ns: e.Target.Namespace}
	if pf := s.PortForward; pf != nil {
		d.selector, d.port = pf.Selector, pf.Port
		return d, nil
	}
	host, port, err := net.SplitHostPort(urlAddr)
	if err != nil {
		return nil, fmt.Errorf("store address %q from its URL: %w", urlAddr, err)
	}
	d.service = strings.SplitN(host, ".", 2)[0]
	d.servicePort, _ = strconv.Atoi(port)
	return d, nil
}

// addURLSecret records a store URL's password (and the URL itself when it has one) for
// redaction.
func (e *Env) addURLSecret(raw string) {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return
	}
	if p, set := u.User.Password(); set && p != "" {
		e.secrets = append(e.secrets, p, raw)
	}
}

// Ping checks that every store answers, for preflight. It returns every failure.
func (e *Env) Ping(ctx context.Context) error {
	var errs []error
	for name, c := range map[string]*redis.Client{"backend-redis storage": e.BackendStorage, "backend-redis queues": e.BackendQueues, "system-redis": e.SystemRedis} {
		if err := c.Ping(ctx).Err(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %s", name, probe.ErrorDetail(err)))
		}
	}
	if err := e.ZyncDB.Ping(ctx); err != nil {
		errs = append(errs, fmt.Errorf("zync-database: %s", probe.ErrorDetail(err)))
	}
	return errors.Join(errs...)
}

// SetAdminRequestTimeout bounds each request of the Admin, Master and APIcastConfigs
// clients (the admin-request timeout; Connect sets the target file's).
func (e *Env) SetAdminRequestTimeout(d time.Duration) {
	for _, a := range []*Admin{e.Admin, e.Master, e.APIcastConfigs} {
		if a != nil {
			a.SetRequestTimeout(d)
		}
	}
}

// Close closes every store client. It is safe to call more than once and on a partly
// connected Env.
func (e *Env) Close() {
	for _, c := range []**redis.Client{&e.BackendStorage, &e.BackendQueues, &e.SystemRedis} {
		if *c != nil {
			_ = (*c).Close()
			*c = nil
		}
	}
	if e.ZyncDB != nil {
		e.ZyncDB.Close()
		e.ZyncDB = nil
	}
	if e.HTTP != nil {
		e.HTTP.CloseIdleConnections()
	}
}

// Secrets returns every token and password the Env read, for redaction in logs and
// reports (pkg/report). Empty values are left out.
func (e *Env) Secrets() []string {
	out := make([]string, 0, len(e.secrets))
	for _, s := range e.secrets {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// defaultSentinelPort is the port of a sentinel given without one (apisonator
// lib/3scale/backend/storage_helpers.rb DEFAULT_SENTINEL_PORT, porta
// app/lib/three_scale/redis_config.rb DEFAULT_SENTINEL_PORT).
const defaultSentinelPort = "26379"

// redisClient builds the client of one Redis store from its URL and the keys beside it
// in the same Secret (data), the way 3scale's own clients combine them:
//
//   - ACL user and password: the Secret's *_USERNAME/*_PASSWORD keys when set, else the
//     URL's user info (porta config/examples/redis.yml `username`, `password` next to
//     `url`; apisonator storage_helpers.rb CONN_WHITELIST).
//   - TLS: on when the URL is rediss:// (porta redis_config.rb parse_uri) or the target
//     says tls: true (the operator turns it on with the APIManager's
//     backendRedisTLSEnabled, queuesRedisTLSEnabled, systemRedisTLSEnabled and then
//     mounts the Secret's REDIS_SSL_* keys: the CA, and a client certificate and key).
//     The server name is the URL's host, through a port-forward too.
//   - Sentinels: when the *_SENTINEL_HOSTS key lists any (comma-separated, each a redis://
//     URL or host[:port], port 26379 by default, credentials in a URL or in the
//     *_SENTINEL_USERNAME/PASSWORD keys), the URL's host is the master's name (porta
//     redis_config.rb apply_sentinels_config!; apisonator cfg_sentinels_handler) and
//     the client asks the sentinels for the master. The harness always follows the
//     master whatever *_SENTINEL_ROLE says: it checks what the master holds, and a
//     replica may lag. Sentinels and the master they name are dialled directly (they are
//     outside the cluster, or the harness runs inside it); an address or portForward in
//     the target overrides them and reaches one server.
func (e *Env) redisClient(s target.Store, field, raw string, data map[string][]byte) (*redis.Client, error) {
	opt, err := redis.ParseURL(raw)
	if err != nil {
		return nil, fmt.Errorf("connect: %s.url: the Secret's value is not a redis URL: %s", field, probe.ErrorDetail(err))
	}
	keys, _ := target.RedisKeysFor(field)
	value := func(key string) string {
		if key == "" {
			return ""
		}
		return strings.TrimSpace(string(data[key]))
	}
	if u := value(keys.Username); u != "" {
		opt.Username = u
	}
	if p := value(keys.Password); p != "" {
		opt.Password = p
		e.secrets = append(e.secrets, p)
	}
	opt.DialTimeout, opt.ReadTimeout, opt.WriteTimeout = storeDialTimeout, storeIOTimeout, storeIOTimeout
	opt.MaxRetries = -1 // go-redis: 0 means 3 retries, -1 none
	// One dial per command, as one attempt per request: go-redis otherwise redials up to five
	// times, 100 ms apart (DialerRetries <= 0 means 5).
	opt.DialerRetries = 1
	opt.PoolSize, opt.MinIdleConns = 4, 0
	opt.ContextTimeoutEnabled = true

	host, _, _ := net.SplitHostPort(opt.Addr)
	var tlsConf *tls.Config
	if s.TLS || opt.TLSConfig != nil {
		if tlsConf, err = redisTLS(field, host, keys, data); err != nil {
			return nil, err
		}
	}
	opt.TLSConfig = tlsConf

	if hosts := value(keys.SentinelHosts); hosts != "" && s.Address == "" && s.PortForward == nil {
		fo, err := failoverOptions(opt, host, hosts, value(keys.SentinelUsername), value(keys.SentinelPassword))
		if err != nil {
			return nil, fmt.Errorf("connect: %s: Secret %s key %s: %w", field, s.URL.Secret, keys.SentinelHosts, err)
		}
		if fo.SentinelPassword != "" {
			e.secrets = append(e.secrets, fo.SentinelPassword)
		}
		return redis.NewFailoverClient(fo), nil
	}

	if s.Address != "" {
		// go-redis's own dialer negotiates TLS when TLSConfig is set.
		opt.Addr = s.Address
		return redis.NewClient(opt), nil
	}
	d, err := e.podDialer(s, opt.Addr)
	if err != nil {
		return nil, fmt.Errorf("connect: %s: %w", field, err)
	}
	// A custom dialer is used as it is: TLS goes on top of the forwarded connection here.
	opt.Dialer, opt.TLSConfig = tlsOver(d.DialContext, tlsConf), nil
	return redis.NewClient(opt), nil
}

// redisTLS is the TLS configuration from the Secret's CA and client certificate, when it
// has them (else the system's roots and no client certificate).
func redisTLS(field, serverName string, keys target.RedisKeys, data map[string][]byte) (*tls.Config, error) {
	conf := &tls.Config{ServerName: serverName, MinVersion: tls.VersionTLS12}
	if ca := data[keys.TLSCA]; len(ca) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(ca) {
			return nil, fmt.Errorf("connect: %s: key %s holds no PEM certificate", field, keys.TLSCA)
		}
		conf.RootCAs = pool
	}
	cert, key := data[keys.TLSCert], data[keys.TLSKey]
	switch {
	case len(cert) > 0 && len(key) > 0:
		pair, err := tls.X509KeyPair(cert, key)
		if err != nil {
			return nil, fmt.Errorf("connect: %s: client certificate (keys %s, %s): %w", field, keys.TLSCert, keys.TLSKey, err)
		}
		conf.Certificates = []tls.Certificate{pair}
	case len(cert) > 0 || len(key) > 0:
		return nil, fmt.Errorf("connect: %s: keys %s and %s must both be set for a client certificate, or neither", field, keys.TLSCert, keys.TLSKey)
	}
	return conf, nil
}

// tlsOver wraps a dialer's connections in TLS; conf nil leaves them plain.
func tlsOver(dial func(ctx context.Context, network, addr string) (net.Conn, error), conf *tls.Config) func(ctx context.Context, network, addr string) (net.Conn, error) {
	if conf == nil {
		return dial
	}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		raw, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		c := tls.Client(raw, conf)
		if err := c.HandshakeContext(ctx); err != nil {
			_ = raw.Close()
			return nil, fmt.Errorf("TLS handshake with %s: %w", conf.ServerName, err)
		}
		return c, nil
	}
}

// failoverOptions turns a client's options and the Secret's sentinel keys into go-redis's
// sentinel client options, the master being named by the URL's host.
func failoverOptions(opt *redis.Options, master, hosts, user, password string) (*redis.FailoverOptions, error) {
	fo := &redis.FailoverOptions{
		MasterName: master, Username: opt.Username, Password: opt.Password, DB: opt.DB,
		SentinelUsername: user, SentinelPassword: password,
		DialTimeout: opt.DialTimeout, ReadTimeout: opt.ReadTimeout, WriteTimeout: opt.WriteTimeout,
		MaxRetries: opt.MaxRetries, DialerRetries: opt.DialerRetries, PoolSize: opt.PoolSize, MinIdleConns: opt.MinIdleConns,
		ContextTimeoutEnabled: opt.ContextTimeoutEnabled, TLSConfig: opt.TLSConfig,
	}
	for _, h := range strings.Split(hosts, ",") {
		h = strings.TrimSpace(h)
		if h == "" {
			continue
		}
		if !strings.Contains(h, "://") {
			h = "redis://" + h
		}
		u, err := url.Parse(h)
		if err != nil || u.Hostname() == "" {
			return nil, fmt.Errorf("sentinel %q is not a host[:port] or redis:// URL", h)
		}
		port := u.Port()
		if port == "" {
			port = defaultSentinelPort
		}
		fo.SentinelAddrs = append(fo.SentinelAddrs, net.JoinHostPort(u.Hostname(), port))
		// Credentials in a sentinel URL count when the keys give none, as in 3scale.
		if u.User != nil {
			if fo.SentinelUsername == "" {
				fo.SentinelUsername = u.User.Username()
			}
			if p, ok := u.User.Password(); ok && fo.SentinelPassword == "" {
				fo.SentinelPassword = p
			}
		}
	}
	if len(fo.SentinelAddrs) == 0 {
		return nil, errors.New("lists no sentinel")
	}
	if master == "" {
		return nil, errors.New("the URL names no master (its host)")
	}
	return fo, nil
}

type discardRedisLog struct{}

func (discardRedisLog) Printf(context.Context, string, ...any) {}

// SilenceRedisClientLog stops go-redis from writing its own log lines ("failed to dial after
// N attempts", reconnects) to stderr. The harness takes Redis away on purpose, and each failed
// command already reaches the sample that made it, classified, in the journal; the lines only
// bury the run's own output. The setting is process-wide, so commands call it, not libraries.
func SilenceRedisClientLog() { redis.SetLogger(discardRedisLog{}) }
