package target

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const validTarget = `
namespace: 3scale
version: "2.16"
wildcardDomain: example.test
gateways:
  production: {url: "http://127.0.0.1:1"}
  staging: {url: "http://127.0.0.1:2"}
admin: {url: "http://127.0.0.1:3", host: 3scale-admin.example.test}
master: {url: "http://127.0.0.1:4", host: master.example.test}
developerPortal: {url: "http://127.0.0.1:5", host: 3scale.example.test}
credentials:
  adminAccessToken: {secret: system-seed, key: ADMIN_ACCESS_TOKEN}
  masterAccessToken: {secret: system-seed, key: MASTER_ACCESS_TOKEN}
stores:
  backendRedisStorage: {url: {secret: backend-redis, key: REDIS_STORAGE_URL}}
  backendRedisQueues: {url: {secret: backend-redis, key: REDIS_QUEUES_URL}, portForward: {selector: "deployment=backend-redis", port: 6379}}
  systemRedis: {url: {secret: system-redis, key: URL}, address: "127.0.0.1:6"}
  zyncDatabase: {url: {secret: zync, key: DATABASE_URL}}
upstream: {url: "http://echo:8080"}
`

func writeTarget(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "target.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadTargetValid(t *testing.T) {
	tg, err := Load(writeTarget(t, validTarget))
	if err != nil {
		t.Fatal(err)
	}
	if tg.Admin.Host != "3scale-admin.example.test" || tg.Stores.BackendRedisQueues.PortForward.Port != 6379 {
		t.Fatalf("parsed wrongly: %+v", tg)
	}
	tg, err = Load(writeTarget(t, strings.Replace(validTarget, "key: REDIS_STORAGE_URL}}", "key: REDIS_STORAGE_URL}, tls: true}", 1)))
	if err != nil || !tg.Stores.BackendRedisStorage.TLS || tg.Stores.SystemRedis.TLS {
		t.Fatalf("tls: %+v %v", tg.Stores, err)
	}
}

func TestLoadTargetErrors(t *testing.T) {
	for name, tc := range map[string]struct {
		edit func(string) string
		want []string
	}{
		"unknown field":     {func(s string) string { return s + "gatewyas: {}\n" }, []string{"gatewyas"}},
		"missing namespace": {func(s string) string { return strings.Replace(s, "namespace: 3scale\n", "", 1) }, []string{"namespace: is required"}},
		"bad url":           {func(s string) string { return strings.Replace(s, `"http://127.0.0.1:1"`, `"ftp://x"`, 1) }, []string{"gateways.production.url", "ftp"}},
		"token in url": {func(s string) string {
			return strings.Replace(s, `"http://127.0.0.1:4"`, `"http://tok@127.0.0.1:4"`, 1)
		}, []string{"master.url", "credentials"}},
		"missing key":      {func(s string) string { return strings.Replace(s, ", key: MASTER_ACCESS_TOKEN", "", 1) }, []string{"credentials.masterAccessToken.key: is required"}},
		"bad address":      {func(s string) string { return strings.Replace(s, `"127.0.0.1:6"`, `"nowhere"`, 1) }, []string{"stores.systemRedis.address"}},
		"bad port-forward": {func(s string) string { return strings.Replace(s, "port: 6379", "port: 0", 1) }, []string{"stores.backendRedisQueues.portForward.port"}},
		"not yaml":         {func(string) string { return "namespace: [" }, []string{"target.yaml"}},
		"tls on postgres": {func(s string) string {
			return strings.Replace(s, "zyncDatabase: {url: {secret: zync, key: DATABASE_URL}}", "zyncDatabase: {url: {secret: zync, key: DATABASE_URL}, tls: true}", 1)
		}, []string{"stores.zyncDatabase.tls", "sslmode"}},
	} {
		t.Run(name, func(t *testing.T) {
			p := writeTarget(t, tc.edit(validTarget))
			_, err := Load(p)
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range append(tc.want, p) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
	if _, err := Load(filepath.Join(t.TempDir(), "absent.yaml")); err == nil {
		t.Fatal("missing file accepted")
	}
}
