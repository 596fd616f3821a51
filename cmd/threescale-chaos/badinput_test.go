package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Bad input is exit 3 with a clear message, and changes nothing. These need no cluster.
func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "target.yaml")
	unreachable := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(unreachable, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: not-a-real-token}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
`), 0o600); err != nil {
		t.Fatal(err)
	}
	good := `kubeconfig: ` + unreachable + `
namespace: 3scale
version: "2.16"
wildcardDomain: example.com
gateways:
  production: {url: "http://127.0.0.1:1"}
  staging: {url: "http://127.0.0.1:1"}
admin: {url: "http://127.0.0.1:1", host: 3scale-admin.example.com}
master: {url: "http://127.0.0.1:1", host: master.example.com}
developerPortal: {url: "http://127.0.0.1:1", host: 3scale.example.com}
credentials:
  adminAccessToken: {secret: system-seed, key: ADMIN_ACCESS_TOKEN}
  masterAccessToken: {secret: system-seed, key: MASTER_ACCESS_TOKEN}
stores:
  backendRedisStorage: {url: {secret: backend-redis, key: REDIS_STORAGE_URL}}
  backendRedisQueues: {url: {secret: backend-redis, key: REDIS_QUEUES_URL}}
  systemRedis: {url: {secret: system-redis, key: URL}}
  zyncDatabase: {url: {secret: zync, key: DATABASE_URL}}
upstream: {url: "http://127.0.0.1:1"}
`
	badTimeouts := filepath.Join(dir, "bad-timeouts.yaml")
	if err := os.WriteFile(badTimeouts, []byte(good+"timeouts: {gone: 0s}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(target, []byte(good), 0o644); err != nil {
		t.Fatal(err)
	}
	malformed := filepath.Join(dir, "scenarios")
	_ = os.MkdirAll(malformed, 0o755)
	_ = os.WriteFile(filepath.Join(malformed, "zync.yaml"), []byte("component: zync\ntiming: {observe: 10s}\nexpectations:\n  production-traffic: {expect: lsot}\n"), 0o644)

	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown component", []string{"plan", "--target", target, "--component", "backend-lisener"}, "backend-lisener"},
		{"malformed scenario file", []string{"plan", "--target", target, "--scenarios", malformed}, "zync.yaml"},
		{"missing target file", []string{"plan", "--target", filepath.Join(dir, "nope.yaml")}, "nope.yaml"},
		{"malformed target file", []string{"plan", "--target", filepath.Join(malformed, "zync.yaml")}, "zync.yaml"},
		{"unreachable cluster", []string{"run", "--target", target, "--component", "zync"}, "127.0.0.1:1"},
		{"restore on an unreachable cluster", []string{"restore", "--target", target}, "127.0.0.1:1"},
		{"bad run id", []string{"restore", "--target", target, "--run-id", "../../etc"}, "run id"},
		{"no target", []string{"run"}, "target"},
		{"write interval under a second", []string{"run", "--target", target, "--write-interval", "100ms"}, "--write-interval"},
		{"stall threshold of zero", []string{"run", "--target", target, "--stall-threshold", "0s"}, "--stall-threshold 0"},
		{"unknown timeout", []string{"run", "--target", target, "--timeout", "provison=5m"}, `"provison" is not a timeout`},
		{"timeout that is not a duration", []string{"run", "--target", target, "--timeout", "ready=later"}, "ready: time: invalid duration"},
		{"target file with a bad timeout", []string{"plan", "--target", badTimeouts}, "gone: 0s is not positive"},
		{"summary of a missing journal", []string{"summary", filepath.Join(dir, "no-such-report")}, "no-such-report"},
		{"summary of a file that is not a journal", []string{"summary", target}, "target.yaml"},
		{"discover on an unreachable cluster", []string{"discover", "--namespace", "3scale", "--kubeconfig", unreachable}, "127.0.0.1:1"},
		{"discover with a malformed override", []string{"discover", "--namespace", "3scale", "--kubeconfig", unreachable, "--override", filepath.Join(malformed, "zync.yaml")}, "zync.yaml"},
		{"discover with an override for another namespace", []string{"discover", "--namespace", "other", "--kubeconfig", unreachable, "--override", target}, "differs"},
		{"discover with a missing override", []string{"discover", "--namespace", "3scale", "--kubeconfig", unreachable, "--override", filepath.Join(dir, "nope.yaml")}, "nope.yaml"},
		{"discover without a namespace", []string{"discover", "--kubeconfig", unreachable}, "namespace"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, code := cli(t, time.Minute, tc.args...)
			if code != 3 || !strings.Contains(out, tc.want) {
				t.Fatalf("want exit 3 mentioning %q, got %d:\n%s", tc.want, code, out)
			}
			if strings.Contains(out, "not-a-real-token") {
				t.Fatalf("a credential leaked into the output:\n%s", out)
			}
		})
	}
}
