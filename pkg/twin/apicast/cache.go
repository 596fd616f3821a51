package apicast

import (
	"container/list"
	"sync"
)

// cacheMode is how a service's authorization cache reacts to backend answers: the default
// strict handler, or one of the caching policy's modes (research/apicast-apisonator.md §1.3).
type cacheMode string

const (
	// cacheStrictDefault is the handler used when the service has no caching policy. It behaves
	// as the policy's strict mode.
	cacheStrictDefault cacheMode = "strict (default)"
	cacheStrict        cacheMode = "strict"
	cacheResilient     cacheMode = "resilient"
	cacheAllow         cacheMode = "allow"
	cacheNone          cacheMode = "none"
)

// parseCacheMode reads caching_type; anything else is none, and ok is false so the caller can
// log it as the policy does.
func parseCacheMode(s string) (mode cacheMode, ok bool) {
	switch cacheMode(s) {
	case cacheStrict, cacheResilient, cacheAllow, cacheNone:
		return cacheMode(s), true
	}
	return cacheNone, false
}

// hitsEnabled says whether a cached 200 lets a request through without a synchronous authrep.
// The none mode disables the cache (cache_is_disabled).
func (m cacheMode) hitsEnabled() bool { return m != cacheNone }

// validStatus is the caching policy's notion of an answer worth caching: a real HTTP status
// below 500. Status 0 stands for a connection error or timeout.
func validStatus(status int) bool { return status > 0 && status < 500 }

// handle updates the cache after a backend answer (status 0 when backend-listener could not be
// reached), as the mode's handler does. It runs before the answer is interpreted, for
// synchronous authreps and for the authrep sent after a cache hit alike (§1.1 step 6;
// APIcast@3scale-2.16.3-GA:gateway/src/apicast/proxy.lua:384-389 handle_backend_response calls
// the handler, then lets an unavailable backend authorize only a key cached as 200). The modes
// are caching.lua's strict_handler, resilient_handler, allow_handler (handle_500_allow_mode's
// add) and disabled_cache_handler (APIcast@3scale-2.16.3-GA:gateway/src/apicast/policy/
// caching/caching.lua:27-81); strict without the policy is backend/cache_handler.lua's default,
// which differs only in not writing a key twice.
func (m cacheMode) handle(c *authCache, key string, status int) {
	switch m {
	case cacheResilient:
		// Keep whatever is cached when the backend is unavailable, so a cached 200 survives
		// the outage indefinitely.
		if validStatus(status) {
			c.set(key, status)
		}
	case cacheAllow:
		if validStatus(status) {
			c.set(key, status)
			return
		}
		// Backend unavailable: authorize a key never seen before. add does not overwrite, so a
		// key cached as denied stays denied.
		c.add(key, 200)
	case cacheNone:
		c.del(key)
	default: // strict, with or without the policy
		// Only a 200 is kept; anything else, a failed call included, removes the key. That
		// is why a cached key passes exactly once more after the backend goes away: the hit
		// goes through, and its after-response authrep fails and deletes the entry.
		if status == 200 {
			c.set(key, 200)
		} else {
			c.del(key)
		}
	}
}

// authCache stands for APIcast's api_keys shared dictionary: one per gateway process, shared by
// all its workers, entries without expiry, evicted least-recently-used when full (§1.1 step 4).
type authCache struct {
	mu    sync.Mutex
	max   int
	order *list.List // front = most recently used; values are *cacheEntry
	byKey map[string]*list.Element
}

type cacheEntry struct {
	key    string
	status int
}

// defaultCacheEntries bounds the dictionary; APIcast sizes it in bytes (30m), which holds a few
// hundred thousand keys.
const defaultCacheEntries = 100_000

func newAuthCache(max int) *authCache {
	return &authCache{max: max, order: list.New(), byKey: map[string]*list.Element{}}
}

func (c *authCache) get(key string) (status int, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.byKey[key]
	if !ok {
		return 0, false
	}
	c.order.MoveToFront(el)
	return el.Value.(*cacheEntry).status, true
}

func (c *authCache) set(key string, status int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.setLocked(key, status)
}

// add stores status only when key is absent.
func (c *authCache) add(key string, status int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.byKey[key]; !ok {
		c.setLocked(key, status)
	}
}

func (c *authCache) setLocked(key string, status int) {
	if el, ok := c.byKey[key]; ok {
		el.Value.(*cacheEntry).status = status
		c.order.MoveToFront(el)
		return
	}
	c.byKey[key] = c.order.PushFront(&cacheEntry{key: key, status: status})
	for c.order.Len() > c.max {
		oldest := c.order.Back()
		c.order.Remove(oldest)
		delete(c.byKey, oldest.Value.(*cacheEntry).key)
	}
}

func (c *authCache) del(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.byKey[key]; ok {
		c.order.Remove(el)
		delete(c.byKey, key)
	}
}

func (c *authCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}
