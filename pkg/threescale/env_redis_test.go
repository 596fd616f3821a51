package threescale

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"

	"github.com/threescale-chaos/harness/internal/testsupport"
	"github.com/threescale-chaos/harness/pkg/threescale/target"
)

// Redis stores whose credentials, TLS material and sentinels sit beside the URL in the
// operator's Secrets (operator@3scale-2.16.3-GA component/backend.go, system.go; porta
// config/examples/redis.yml). Each test starts its own redis-server (Debian's, built with
// TLS; its --sentinel mode is what Debian's redis-sentinel package runs) on loopback, and
// connects through Connect with the Secrets in a fake clientset. No twin, no cluster.

// startRedisServer runs redis-server with args on a free loopback port (as --port, or as
// --tls-port with the plain port off when tlsPort), waits until ready says it answers, and
// returns its address; the process is killed when the test ends.
func startRedisServer(t *testing.T, tlsPort bool, args []string, ready func(addr string) error) string {
	t.Helper()
	if _, err := os.Stat(testsupport.RedisServerPath); err != nil {
		t.Fatalf("%s is needed (Debian package redis-server, installed by make deps): %v", testsupport.RedisServerPath, err)
	}
	dir := t.TempDir()
	return testsupport.Launch(t, &testsupport.Server{Name: "redis-server",
		Argv: func(port int) []string {
			all := []string{testsupport.RedisServerPath, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir, "--daemonize", "no"}
			if tlsPort {
				all = append(all, "--port", "0", "--tls-port", strconv.Itoa(port))
			} else {
				all = append(all, "--port", strconv.Itoa(port))
			}
			return append(all, args...)
		},
		Ready: func(_ context.Context, addr string) error { return ready(addr) },
	}).Addr()
}

func pingWith(opt *redis.Options) error {
	c := redis.NewClient(opt)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	return c.Ping(ctx).Err()
}

// connectStores runs Connect against a fake clientset that holds the operator's other
// Secrets and the given store Secrets, with the given stores; edit changes the target first.
func connectStores(t *testing.T, stores target.Stores, storeSecrets map[string]map[string]string, edit ...func(*target.Target)) (*Env, error) {
	t.Helper()
	secrets := map[string]map[string]string{
		"system-seed":           {"ADMIN_ACCESS_TOKEN": "a", "MASTER_ACCESS_TOKEN": "m", "ADMIN_USER": "admin", "ADMIN_PASSWORD": "p"},
		"system-master-apicast": {"ACCESS_TOKEN": "x"},
		"zync":                  {"DATABASE_URL": "postgresql://zync:zpw@zync-database:5432/zync"},
	}
	for k, v := range storeSecrets {
		secrets[k] = v
	}
	cs := fake.NewSimpleClientset()
	for name, data := range secrets {
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "3scale"}, Data: map[string][]byte{}}
		for k, v := range data {
			s.Data[k] = []byte(v)
		}
		if _, err := cs.CoreV1().Secrets("3scale").Create(context.Background(), s, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	tg := &target.Target{
		Namespace: "3scale", Version: "2.16", WildcardDomain: "example.test",
		Gateways:        target.Gateways{Production: target.Endpoint{URL: "http://127.0.0.1:1"}, Staging: target.Endpoint{URL: "http://127.0.0.1:2"}},
		Admin:           target.Endpoint{URL: "http://127.0.0.1:3", Host: "3scale-admin.example.test"},
		Master:          target.Endpoint{URL: "http://127.0.0.1:4", Host: "master.example.test"},
		DeveloperPortal: target.Endpoint{URL: "http://127.0.0.1:5", Host: "3scale.example.test"},
		Credentials: target.Credentials{
			AdminAccessToken:  target.SecretKeyRef{Secret: "system-seed", Key: "ADMIN_ACCESS_TOKEN"},
			MasterAccessToken: target.SecretKeyRef{Secret: "system-seed", Key: "MASTER_ACCESS_TOKEN"},
		},
		Stores:   stores,
		Upstream: target.Endpoint{URL: "http://echo:8080"},
	}
	tg.Stores.ZyncDatabase = target.Store{URL: target.SecretKeyRef{Secret: "zync", Key: "DATABASE_URL"}, Address: "127.0.0.1:1"}
	for _, e := range edit {
		e(tg)
	}
	if err := tg.Validate(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	env, err := connect(ctx, tg, &rest.Config{Host: "https://127.0.0.1:1"}, cs)
	if env != nil {
		t.Cleanup(env.Close)
	}
	return env, err
}

func pingStores(env *Env) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var errs []string
	for name, c := range map[string]*redis.Client{"storage": env.BackendStorage, "queues": env.BackendQueues, "system": env.SystemRedis} {
		if err := c.Set(ctx, "chaos:probe:"+name, name, time.Minute).Err(); err != nil {
			errs = append(errs, name+": "+err.Error())
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}

// The Secrets name an ACL user beside the URL (REDIS_STORAGE_USERNAME/PASSWORD,
// REDIS_QUEUES_*, REDIS_USERNAME/PASSWORD on system-redis); the default user is off, as on
// an install that uses ACLs. Connect authenticates as that user; the passwords are
// redacted. With the URL alone (the old Connect) every command is refused NOAUTH.
func TestConnectRedisACLUserFromTheSecret(t *testing.T) {
	addr := startRedisServer(t, false, []string{"--user", "default", "off", "--user", "chaos", "on", ">s3cret-acl", "~*", "&*", "+@all"},
		func(addr string) error {
			return pingWith(&redis.Options{Addr: addr, Username: "chaos", Password: "s3cret-acl", MaxRetries: -1})
		})
	stores := target.Stores{
		BackendRedisStorage: target.Store{URL: target.SecretKeyRef{Secret: "backend-redis", Key: "REDIS_STORAGE_URL"}, Address: addr},
		BackendRedisQueues:  target.Store{URL: target.SecretKeyRef{Secret: "backend-redis", Key: "REDIS_QUEUES_URL"}, Address: addr},
		SystemRedis:         target.Store{URL: target.SecretKeyRef{Secret: "system-redis", Key: "URL"}, Address: addr},
	}
	env, err := connectStores(t, stores, map[string]map[string]string{
		"backend-redis": {
			"REDIS_STORAGE_URL": "redis://backend-redis:6379/0", "REDIS_STORAGE_USERNAME": "chaos", "REDIS_STORAGE_PASSWORD": "s3cret-acl",
			"REDIS_QUEUES_URL": "redis://backend-redis:6379/1", "REDIS_QUEUES_USERNAME": "chaos", "REDIS_QUEUES_PASSWORD": "s3cret-acl",
			// What the operator adds to the user's Secret (real-operator-check.md §2.2): empty sentinels.
			"REDIS_STORAGE_SENTINEL_HOSTS": "", "REDIS_STORAGE_SENTINEL_ROLE": "", "REDIS_QUEUES_SENTINEL_HOSTS": "", "REDIS_QUEUES_SENTINEL_ROLE": "",
		},
		"system-redis": {"URL": "redis://system-redis:6379/1", "REDIS_USERNAME": "chaos", "REDIS_PASSWORD": "s3cret-acl", "SENTINEL_HOSTS": "", "SENTINEL_ROLE": ""},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := pingStores(env); err != nil {
		t.Fatalf("as the ACL user: %v", err)
	}
	if !strings.Contains(strings.Join(env.Secrets(), "\n"), "s3cret-acl") {
		t.Errorf("the Redis password is not among the secrets to redact")
	}
	// DB 1 of the queues URL is honoured alongside the credentials.
	if got, err := env.BackendQueues.Get(context.Background(), "chaos:probe:queues").Result(); err != nil || got != "queues" {
		t.Errorf("queues DB: %q %v", got, err)
	}
	if n, err := env.BackendStorage.Exists(context.Background(), "chaos:probe:queues").Result(); err != nil || n != 0 {
		t.Errorf("storage (DB 0) sees the queues key (DB 1): %d %v", n, err)
	}

	// Credentials in the URL alone still work; a key beside it wins over the URL's.
	env, err = connectStores(t, stores, map[string]map[string]string{
		"backend-redis": {"REDIS_STORAGE_URL": "redis://chaos:s3cret-acl@backend-redis:6379/0", "REDIS_QUEUES_URL": "redis://chaos:wrong@backend-redis:6379/1", "REDIS_QUEUES_PASSWORD": "s3cret-acl"},
		"system-redis":  {"URL": "redis://chaos:s3cret-acl@system-redis:6379/1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := pingStores(env); err != nil {
		t.Errorf("credentials in the URL: %v", err)
	}

	// The old Connect read the URL only.
	env, err = connectStores(t, stores, map[string]map[string]string{
		"backend-redis": {"REDIS_STORAGE_URL": "redis://backend-redis:6379/0", "REDIS_QUEUES_URL": "redis://backend-redis:6379/1"},
		"system-redis":  {"URL": "redis://system-redis:6379/1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := pingStores(env); err == nil || !strings.Contains(err.Error(), "NOAUTH") {
		t.Errorf("without the Secret's credentials: %v, want NOAUTH", err)
	}
}

// testPKI makes a CA, a server certificate for the in-cluster names and 127.0.0.1, and a
// client certificate, as PEM.
type testPKI struct {
	ca, serverCert, serverKey, clientCert, clientKey []byte
	dir                                              string
}

func newTestPKI(t *testing.T) testPKI {
	t.Helper()
	key := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	pemKey := func(k *ecdsa.PrivateKey) []byte {
		der, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
	}
	caKey := key()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "chaos test CA"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	leaf := func(serial int64, cn string, usage x509.ExtKeyUsage, dns []string) ([]byte, []byte) {
		k := key()
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn}, NotBefore: time.Now().Add(-time.Hour),
			NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
			DNSNames: dns, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pemKey(k)
	}
	p := testPKI{ca: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), dir: t.TempDir()}
	p.serverCert, p.serverKey = leaf(2, "backend-redis", x509.ExtKeyUsageServerAuth, []string{"backend-redis", "system-redis"})
	p.clientCert, p.clientKey = leaf(3, "threescale-chaos", x509.ExtKeyUsageClientAuth, nil)
	for name, b := range map[string][]byte{"ca.crt": p.ca, "server.crt": p.serverCert, "server.key": p.serverKey} {
		if err := os.WriteFile(filepath.Join(p.dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// TLS with client certificates: the operator switches it on in the APIManager (not in the
// URL) and mounts REDIS_SSL_CA, REDIS_SSL_CERT, REDIS_SSL_KEY (REDIS_SSL_QUEUES_* for the
// queues) from the Secret (backend.go backendVolumes). With tls: true in the target,
// Connect verifies the server against that CA under the URL's host name and presents the
// client certificate; a rediss:// URL turns TLS on by itself. The old Connect spoke plain
// TCP to the TLS port.
func TestConnectRedisTLSFromTheSecret(t *testing.T) {
	pki := newTestPKI(t)
	pair, err := tls.X509KeyPair(pki.clientCert, pki.clientKey)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pki.ca)
	addr := startRedisServer(t, true, []string{
		"--tls-cert-file", filepath.Join(pki.dir, "server.crt"), "--tls-key-file", filepath.Join(pki.dir, "server.key"),
		"--tls-ca-cert-file", filepath.Join(pki.dir, "ca.crt"), "--tls-auth-clients", "yes",
	}, func(addr string) error {
		return pingWith(&redis.Options{Addr: addr, MaxRetries: -1, TLSConfig: &tls.Config{ServerName: "backend-redis", RootCAs: roots, Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}})
	})
	material := map[string]string{
		"REDIS_SSL_CA": string(pki.ca), "REDIS_SSL_CERT": string(pki.clientCert), "REDIS_SSL_KEY": string(pki.clientKey),
		"REDIS_SSL_QUEUES_CA": string(pki.ca), "REDIS_SSL_QUEUES_CERT": string(pki.clientCert), "REDIS_SSL_QUEUES_KEY": string(pki.clientKey),
	}
	backend := map[string]string{"REDIS_STORAGE_URL": "redis://backend-redis:6379/0", "REDIS_QUEUES_URL": "rediss://backend-redis:6379/1"}
	system := map[string]string{"URL": "redis://system-redis:6379/1"}
	for k, v := range material {
		backend[k] = v
		if !strings.Contains(k, "QUEUES") {
			system[k] = v
		}
	}
	stores := target.Stores{
		BackendRedisStorage: target.Store{URL: target.SecretKeyRef{Secret: "backend-redis", Key: "REDIS_STORAGE_URL"}, Address: addr, TLS: true},
		// rediss:// in the URL: no flag needed.
		BackendRedisQueues: target.Store{URL: target.SecretKeyRef{Secret: "backend-redis", Key: "REDIS_QUEUES_URL"}, Address: addr},
		SystemRedis:        target.Store{URL: target.SecretKeyRef{Secret: "system-redis", Key: "URL"}, Address: addr, TLS: true},
	}
	env, err := connectStores(t, stores, map[string]map[string]string{"backend-redis": backend, "system-redis": system})
	if err != nil {
		t.Fatal(err)
	}
	if err := pingStores(env); err != nil {
		t.Fatalf("over TLS with the Secret's CA and client certificate: %v", err)
	}

	// Without the client certificate the server refuses the handshake.
	delete(system, "REDIS_SSL_CERT")
	delete(system, "REDIS_SSL_KEY")
	env, err = connectStores(t, stores, map[string]map[string]string{"backend-redis": backend, "system-redis": system})
	if err != nil {
		t.Fatal(err)
	}
	if err := env.SystemRedis.Ping(context.Background()).Err(); err == nil {
		t.Errorf("a TLS connection without the client certificate was accepted")
	}

	// The old Connect: no TLS unless rediss://, so storage spoke plain TCP to the TLS port.
	plain := stores
	plain.BackendRedisStorage.TLS, plain.SystemRedis.TLS = false, false
	env, err = connectStores(t, plain, map[string]map[string]string{"backend-redis": backend, "system-redis": {"URL": "redis://system-redis:6379/1"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := env.BackendStorage.Ping(context.Background()).Err(); err == nil {
		t.Errorf("a plain connection to the TLS port answered")
	}

	// Through a dialer of its own (the port-forward's), TLS is put on top of the
	// connection: go-redis negotiates TLS only with its own dialer.
	conf, err := redisTLS("stores.backendRedisStorage", "backend-redis", keysOf("stores.backendRedisStorage"), map[string][]byte{
		"REDIS_SSL_CA": pki.ca, "REDIS_SSL_CERT": pki.clientCert, "REDIS_SSL_KEY": pki.clientKey,
	})
	if err != nil {
		t.Fatal(err)
	}
	forward := func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "tcp", addr) // stands in for the port-forward
	}
	if err := pingWith(&redis.Options{Addr: "backend-redis:6379", Dialer: tlsOver(forward, conf), MaxRetries: -1}); err != nil {
		t.Errorf("TLS over a custom dialer: %v", err)
	}
	if err := pingWith(&redis.Options{Addr: "backend-redis:6379", Dialer: forward, TLSConfig: conf, MaxRetries: -1}); err == nil {
		t.Errorf("go-redis negotiated TLS over a custom dialer; tlsOver is not needed")
	}

	// A CA key that holds no certificate, and half a client pair, are named.
	if _, err := redisTLS("stores.systemRedis", "system-redis", keysOf("stores.systemRedis"), map[string][]byte{"REDIS_SSL_CA": []byte("nope")}); err == nil || !strings.Contains(err.Error(), "REDIS_SSL_CA") {
		t.Errorf("bad CA: %v", err)
	}
	if _, err := redisTLS("stores.systemRedis", "system-redis", keysOf("stores.systemRedis"), map[string][]byte{"REDIS_SSL_CERT": pki.clientCert}); err == nil || !strings.Contains(err.Error(), "REDIS_SSL_KEY") {
		t.Errorf("half a client pair: %v", err)
	}
}

// Sentinels: SENTINEL_HOSTS on system-redis (REDIS_*_SENTINEL_HOSTS on backend-redis)
// lists them, the URL's host is the master's name, and the sentinel's own ACL user comes
// from REDIS_SENTINEL_USERNAME/PASSWORD or the sentinel URL. Connect asks the sentinel for
// the master and talks to it. The old Connect port-forwarded to a Service named after the
// master, which does not exist.
func TestConnectRedisThroughSentinel(t *testing.T) {
	master := startRedisServer(t, false, nil, func(addr string) error { return pingWith(&redis.Options{Addr: addr, MaxRetries: -1}) })
	host, masterPort, _ := net.SplitHostPort(master)
	dir := t.TempDir()
	sentinel := testsupport.Launch(t, &testsupport.Server{Name: "redis-sentinel",
		Argv: func(port int) []string {
			// The sentinel rewrites its configuration file, so it gets one of its own.
			conf := filepath.Join(dir, "sentinel.conf")
			body := fmt.Sprintf("port %d\nbind 127.0.0.1\nsentinel monitor chaos-master %s %s 1\nuser default off\nuser sentinel-user on >sentinel-pw ~* &* +@all\n", port, host, masterPort)
			if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}
			return []string{testsupport.RedisServerPath, conf, "--sentinel"}
		},
		Ready: func(ctx context.Context, addr string) error {
			c := redis.NewSentinelClient(&redis.Options{Addr: addr, Username: "sentinel-user", Password: "sentinel-pw", MaxRetries: -1})
			defer c.Close()
			ctx, cancel := context.WithTimeout(ctx, time.Second)
			defer cancel()
			_, err := c.GetMasterAddrByName(ctx, "chaos-master").Result()
			return err
		},
	})
	sport := strconv.Itoa(sentinel.Port())

	stores := target.Stores{
		BackendRedisStorage: target.Store{URL: target.SecretKeyRef{Secret: "backend-redis", Key: "REDIS_STORAGE_URL"}},
		BackendRedisQueues:  target.Store{URL: target.SecretKeyRef{Secret: "backend-redis", Key: "REDIS_QUEUES_URL"}},
		SystemRedis:         target.Store{URL: target.SecretKeyRef{Secret: "system-redis", Key: "URL"}},
	}
	secrets := map[string]map[string]string{
		"backend-redis": {
			"REDIS_STORAGE_URL": "redis://chaos-master/0", "REDIS_STORAGE_SENTINEL_HOSTS": "127.0.0.1:" + sport, "REDIS_STORAGE_SENTINEL_ROLE": "master",
			"REDIS_STORAGE_SENTINEL_USERNAME": "sentinel-user", "REDIS_STORAGE_SENTINEL_PASSWORD": "sentinel-pw",
			// Credentials in the sentinel URL, and a second sentinel that is down.
			"REDIS_QUEUES_URL": "redis://chaos-master/1", "REDIS_QUEUES_SENTINEL_HOSTS": "redis://127.0.0.1:1, redis://sentinel-user:sentinel-pw@127.0.0.1:" + sport,
		},
		"system-redis": {"URL": "redis://chaos-master/1", "SENTINEL_HOSTS": "redis://127.0.0.1:" + sport, "SENTINEL_ROLE": "",
			"REDIS_SENTINEL_USERNAME": "sentinel-user", "REDIS_SENTINEL_PASSWORD": "sentinel-pw"},
	}
	env, err := connectStores(t, stores, secrets)
	if err != nil {
		t.Fatal(err)
	}
	if err := pingStores(env); err != nil {
		t.Fatalf("through the sentinel: %v", err)
	}
	direct := redis.NewClient(&redis.Options{Addr: master, DB: 1})
	defer direct.Close()
	if got, err := direct.Get(context.Background(), "chaos:probe:system").Result(); err != nil || got != "system" {
		t.Errorf("the write did not reach the master's DB 1: %q %v", got, err)
	}
	if !strings.Contains(strings.Join(env.Secrets(), "\n"), "sentinel-pw") {
		t.Errorf("the sentinel password is not among the secrets to redact")
	}

	// The old Connect, without the sentinel keys: a port-forward to Service chaos-master.
	secrets["system-redis"] = map[string]string{"URL": "redis://chaos-master/1"}
	env, err = connectStores(t, stores, secrets)
	if err != nil {
		t.Fatal(err)
	}
	if err := env.SystemRedis.Ping(context.Background()).Err(); err == nil || !strings.Contains(err.Error(), "chaos-master") {
		t.Errorf("without the sentinel keys: %v, want a failed port-forward to chaos-master", err)
	}
}

// keysOf is the operator's key names beside the URL of the Redis store at field.
func keysOf(field string) target.RedisKeys {
	k, _ := target.RedisKeysFor(field)
	return k
}

// connectUnreachableStores is connectStores with the three Redis stores at an address nothing
// listens on: the clients are made, and never dial unless a test sends a command.
func connectUnreachableStores(t *testing.T, edit ...func(*target.Target)) (*Env, error) {
	t.Helper()
	stores := target.Stores{
		BackendRedisStorage: target.Store{URL: target.SecretKeyRef{Secret: "backend-redis", Key: "REDIS_STORAGE_URL"}, Address: "127.0.0.1:1"},
		BackendRedisQueues:  target.Store{URL: target.SecretKeyRef{Secret: "backend-redis", Key: "REDIS_QUEUES_URL"}, Address: "127.0.0.1:1"},
		SystemRedis:         target.Store{URL: target.SecretKeyRef{Secret: "system-redis", Key: "URL"}, Address: "127.0.0.1:1"},
	}
	return connectStores(t, stores, map[string]map[string]string{
		"backend-redis": {"REDIS_STORAGE_URL": "redis://backend-redis:6379/0", "REDIS_QUEUES_URL": "redis://backend-redis:6379/1"},
		"system-redis":  {"URL": "redis://system-redis:6379/1"},
	}, edit...)
}

// The target file's admin-request timeout bounds each request of the three API clients.
func TestConnectAdminRequestTimeoutFromTheTarget(t *testing.T) {
	env, err := connectUnreachableStores(t, func(tg *target.Target) { tg.Timeouts = map[string]string{"admin-request": "75s"} })
	if err != nil {
		t.Fatal(err)
	}
	for name, a := range map[string]*Admin{"admin": env.Admin, "master": env.Master, "apicast configs": env.APIcastConfigs} {
		if a.timeout != 75*time.Second {
			t.Errorf("%s: request timeout %s, want the target's 75s", name, a.timeout)
		}
	}
}

// A store command makes one dial attempt: go-redis otherwise redials up to five times
// (DialerRetries, default 5, 100 ms apart), which would turn one sample of a store that
// refuses connections into several attempts and hide the refusal behind their back-off.
func TestStoreClientsDialOnce(t *testing.T) {
	env, err := connectUnreachableStores(t)
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]*redis.Client{"storage": env.BackendStorage, "queues": env.BackendQueues, "system": env.SystemRedis} {
		if o := c.Options(); o.DialerRetries != 1 || o.MaxRetries != 0 { // MaxRetries -1 reads back as 0
			t.Errorf("%s: DialerRetries %d, MaxRetries %d; want one dial and no retry", name, o.DialerRetries, o.MaxRetries)
		}
	}
}
