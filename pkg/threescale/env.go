package threescale

import (
	"context"
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
	Target     *Target
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
func Connect(ctx context.Context, t *Target, rc *rest.Config) (*Env, error) {
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
	e := &Env{Target: t, RESTConfig: rc, Kube: kube,
		HTTP: probe.NewHTTPClient(probe.HTTPClientOptions{InsecureSkipVerify: t.InsecureSkipVerify})}
	ok := false
	defer func() {
		if !ok {
			e.Close()
		}
	}()

	secrets := map[string]map[string][]byte{}
	read := func(ref SecretKeyRef, field string) (string, error) {
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
	apicastRef := defaultAPIcastToken
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
	userRef, passwordRef := defaultAdminUser, defaultAdminPassword
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

	redisStore := func(s Store, field string) (*redis.Client, error) {
		raw, err := read(s.URL, field+".url")
		if err != nil {
			return nil, err
		}
		e.addURLSecret(raw)
		opt, err := redis.ParseURL(raw)
		if err != nil {
			return nil, fmt.Errorf("connect: %s.url: the Secret's value is not a redis URL: %s", field, probe.ErrorDetail(err))
		}
		opt.DialTimeout, opt.ReadTimeout, opt.WriteTimeout = storeDialTimeout, storeIOTimeout, storeIOTimeout
		opt.MaxRetries = -1 // go-redis: 0 means 3 retries, -1 none
		opt.PoolSize, opt.MinIdleConns = 4, 0
		opt.ContextTimeoutEnabled = true
		if s.Address != "" {
			opt.Addr = s.Address
		} else {
			d, err := e.podDialer(s, opt.Addr)
			if err != nil {
				return nil, fmt.Errorf("connect: %s: %w", field, err)
			}
			opt.Dialer = d.DialContext
		}
		return redis.NewClient(opt), nil
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
func (e *Env) connectListener(read func(SecretKeyRef, string) (string, error)) error {
	b := e.Target.Backend
	if b == nil {
		b = &Backend{}
	}
	base := b.URL
	if base == "" {
		ref := defaultBackendURL
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
	userRef, passRef := defaultInternalUser, defaultInternalPassword
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
func (e *Env) podDialer(s Store, urlAddr string) (*podDialer, error) {
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
