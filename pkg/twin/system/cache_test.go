package system

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"

	"github.com/bradfitz/gomemcache/memcache"
)

// TestCacheResolvesMemcachedsNameWhenItConnects: a name that does not resolve when system-app
// starts (cluster DNS not answering yet) costs the lookups made while it does not, and no more:
// once it resolves, the cache works, as dalli's per-connection resolution does.
func TestCacheResolvesMemcachedsNameWhenItConnects(t *testing.T) {
	mc := startMemcached(t)
	const name = "system-memcache.twin.test:11211"

	var mu sync.Mutex
	resolvable := false
	var dialed []string
	c := newCache([]string{name}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	// The dialer stands in for the resolver: it is handed the address as the cache names it,
	// and answers "no such host" until the name resolves, then reaches the real memcached.
	c.mc.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		mu.Lock()
		defer mu.Unlock()
		dialed = append(dialed, addr)
		if !resolvable {
			return nil, &net.OpError{Op: "dial", Net: network, Err: &net.DNSError{Err: "no such host", Name: "system-memcache.twin.test", IsNotFound: true}}
		}
		var d net.Dialer
		return d.DialContext(ctx, network, mc.Addr())
	}

	var v map[string]string
	if c.get("k", &v) {
		t.Fatal("a hit while memcached's name does not resolve")
	}
	c.set("k", map[string]string{"a": "b"}, 0) // logged and dropped, as a DalliError is
	mu.Lock()
	resolvable = true
	mu.Unlock()

	c.set("k", map[string]string{"a": "b"}, 0)
	if !c.get("k", &v) || v["a"] != "b" {
		t.Fatalf("after the name resolves the cache still misses (got %v): it was resolved once, at start", v)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, a := range dialed {
		if a != name {
			t.Errorf("the cache dialed %q, want the name %q as MEMCACHE_SERVERS gives it", a, name)
		}
	}
}

func TestNamedServersWithoutServers(t *testing.T) {
	if _, err := namedServers(nil).PickServer("k"); !errors.Is(err, memcache.ErrNoServers) {
		t.Fatalf("PickServer with no servers: %v", err)
	}
}
