package system

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"hash/crc32"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
)

// cache is system-memcache as porta uses it through Rails.cache: a read-through cache whose
// failures are logged and swallowed, so a dead memcached sends every lookup to MySQL and
// nothing raises (research/porta-zync.md §7 "Memcache"). Keys are SHA256-digested, as porta's
// store is configured (digest_class: SHA256).
type cache struct {
	mc  *memcache.Client // nil when no servers are configured
	log *slog.Logger
}

func newCache(servers []string, log *slog.Logger) *cache {
	c := &cache{log: log}
	if len(servers) > 0 {
		c.mc = memcache.NewFromSelector(namedServers(servers))
		// dalli's socket_timeout is 1 s (§7).
		c.mc.Timeout = time.Second
		c.mc.MaxIdleConns = 8
	}
	return c
}

// namedServers picks among memcached's addresses as MEMCACHE_SERVERS names them, unresolved, so
// that the name is resolved each time a connection is opened, as dalli 3.2.4 (porta@3scale-2.16.4-GA:
// Gemfile.lock) does: ConnectionManager#establish_connection opens Dalli::Socket::TCP, a
// TCPSocket made from the host name, and counts a failed resolution (SocketError) as a failed
// request, not as a missing server (dalli@v3.2.4: lib/dalli/protocol/connection_manager.rb:52-59
// and :209, lib/dalli/socket.rb:91). gomemcache's own ServerList resolves the names once, in
// memcache.New, which drops the error: a system-app started while cluster DNS was not yet
// answering ran without memcached for its whole life.
type namedServers []string

type namedAddr string

func (a namedAddr) Network() string {
	if strings.Contains(string(a), "/") {
		return "unix"
	}
	return "tcp"
}

func (a namedAddr) String() string { return string(a) }

// PickServer spreads keys over the servers as gomemcache's ServerList does (the twin names one).
func (ns namedServers) PickServer(key string) (net.Addr, error) {
	switch len(ns) {
	case 0:
		return nil, memcache.ErrNoServers
	case 1:
		return namedAddr(ns[0]), nil
	}
	return namedAddr(ns[crc32.ChecksumIEEE([]byte(key))%uint32(len(ns))]), nil
}

func (ns namedServers) Each(f func(net.Addr) error) error {
	for _, s := range ns {
		if err := f(namedAddr(s)); err != nil {
			return err
		}
	}
	return nil
}

func cacheKey(k string) string {
	sum := sha256.Sum256([]byte(k))
	return hex.EncodeToString(sum[:])
}

// get fills v from the cache; false on a miss or any memcache failure.
func (c *cache) get(key string, v any) bool {
	if c.mc == nil {
		return false
	}
	it, err := c.mc.Get(cacheKey(key))
	if err != nil {
		if !errors.Is(err, memcache.ErrCacheMiss) {
			c.log.Warn("DalliError: memcache read failed, falling back to the database", "key", key, "err", err)
		}
		return false
	}
	return json.Unmarshal(it.Value, v) == nil
}

// set stores v for ttl; failures are logged only.
func (c *cache) set(key string, v any, ttl time.Duration) {
	if c.mc == nil {
		return
	}
	b, err := json.Marshal(v)
	if err != nil {
		return
	}
	if err := c.mc.Set(&memcache.Item{Key: cacheKey(key), Value: b, Expiration: int32(ttl / time.Second)}); err != nil {
		c.log.Warn("DalliError: memcache write failed", "key", key, "err", err)
	}
}

func (c *cache) del(key string) {
	if c.mc == nil {
		return
	}
	if err := c.mc.Delete(cacheKey(key)); err != nil && !errors.Is(err, memcache.ErrCacheMiss) {
		c.log.Warn("DalliError: memcache delete failed", "key", key, "err", err)
	}
}
