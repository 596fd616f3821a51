package apicast

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Timeouts of the configuration loader's HTTP calls. The fallback download uses 10s (§2.2); the
// twin uses the same bound for the proxy-configs call, so a black-holed system-app stalls a
// staging request for a bounded time.
const (
	portalRequestTimeout = 10 * time.Second
	// portalPageSize is per_page of the path-less endpoint; APIcast asks for the next page while
	// a page comes back full (§2.2).
	portalPageSize = 500
	// v1RetryEvery is how often the fallback loader retries its TCP connection (§2.2).
	v1RetryEvery = 100 * time.Millisecond
)

// loader fetches service configurations from system, the way APIcast's remote loaders do.
type loader struct {
	portal          portal
	env             string
	backendOverride string
	v1Wait          time.Duration
	http            *http.Client
	log             *slog.Logger
}

// load returns the services for host, or every service of the environment when host is empty
// (boot passes no host). It tries the proxy-configs endpoint first and then the v1 fallback, as
// configuration_loader's load does, so a failure costs the fallback's connection wait too.
func (l *loader) load(ctx context.Context, host string) ([]*service, error) {
	svcs, err := l.remoteV2(ctx, host)
	if err == nil {
		return svcs, nil
	}
	svcs, errV1 := l.remoteV1(ctx)
	if errV1 == nil {
		return svcs, nil
	}
	return nil, fmt.Errorf("load configuration from %s: %w (fallback: %w)", l.portal.redacted(), err, errV1)
}

// remoteV2 reads system's proxy-configs endpoint. With a path in the portal endpoint (the
// operator's case) it is one GET of <path>/<env>.json[?host=]; without one it pages through the
// account endpoint (§2.2; porta-zync.md §6).
func (l *loader) remoteV2(ctx context.Context, host string) ([]*service, error) {
	basePath := strings.TrimSuffix(l.portal.base.Path, "/")
	if basePath != "" {
		q := url.Values{}
		if host != "" {
			q.Set("host", host)
		}
		doc, err := l.getProxyConfigs(ctx, basePath+"/"+l.env+".json", q)
		if err != nil {
			return nil, err
		}
		return l.parseProxyConfigs(doc), nil
	}
	var all []*service
	for page := 1; ; page++ {
		q := url.Values{}
		q.Set("host", host)
		q.Set("version", "latest")
		q.Set("page", strconv.Itoa(page))
		q.Set("per_page", strconv.Itoa(portalPageSize))
		doc, err := l.getProxyConfigs(ctx, "/admin/api/account/proxy_configs/"+l.env+".json", q)
		if err != nil {
			return nil, err
		}
		all = append(all, l.parseProxyConfigs(doc)...)
		if len(doc.ProxyConfigs) < portalPageSize {
			return all, nil
		}
	}
}

func (l *loader) getProxyConfigs(ctx context.Context, path string, q url.Values) (*proxyConfigsDoc, error) {
	body, err := l.get(ctx, path, q)
	if err != nil {
		return nil, err
	}
	var doc proxyConfigsDoc
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("GET %s: decode proxy configs: %w", path, err)
	}
	return &doc, nil
}

func (l *loader) parseProxyConfigs(doc *proxyConfigsDoc) []*service {
	var out []*service
	for _, pc := range doc.ProxyConfigs {
		s, err := parseService(pc.ProxyConfig.Content, l.env, l.backendOverride, l.log)
		if err != nil {
			// One broken service must not take the others down with it.
			l.log.Error("skipping service configuration", "err", err, "proxy_config", string(pc.ProxyConfig.ID))
			continue
		}
		out = append(out, s)
	}
	return out
}

// remoteV1 is the fallback: wait up to the configuration timeout for a TCP connection to the
// portal, then download the whole configuration from the endpoint's path, or
// /admin/api/nginx/spec.json without one (§2.2).
func (l *loader) remoteV1(ctx context.Context) ([]*service, error) {
	if err := l.waitForPortal(ctx); err != nil {
		return nil, err
	}
	path := l.portal.base.Path
	if strings.Trim(path, "/") == "" {
		path = "/admin/api/nginx/spec.json"
	}
	body, err := l.get(ctx, path, nil)
	if err != nil {
		return nil, err
	}
	var doc v1ConfigDoc
	if err := json.Unmarshal(body, &doc); err != nil || doc.Services == nil {
		return nil, fmt.Errorf("GET %s: not a gateway configuration", path)
	}
	var out []*service
	for _, raw := range doc.Services {
		s, err := parseService(raw, l.env, l.backendOverride, l.log)
		if err != nil {
			l.log.Error("skipping service configuration", "err", err)
			continue
		}
		out = append(out, s)
	}
	return out, nil
}

func (l *loader) waitForPortal(ctx context.Context) error {
	addr := l.portal.base.Host
	if l.portal.base.Port() == "" {
		port := "80"
		if l.portal.base.Scheme == "https" {
			port = "443"
		}
		addr = net.JoinHostPort(l.portal.base.Hostname(), port)
	}
	deadline := time.Now().Add(l.v1Wait)
	var d net.Dialer
	for {
		dctx, cancel := context.WithTimeout(ctx, time.Second)
		conn, err := d.DialContext(dctx, "tcp", addr)
		cancel()
		if err == nil {
			_ = conn.Close()
			return nil
		}
		if time.Now().Add(v1RetryEvery).After(deadline) {
			return fmt.Errorf("portal %s not reachable: %w", addr, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(v1RetryEvery):
		}
	}
}

// get performs an authenticated GET against the portal. The token travels as Basic userinfo,
// as APIcast sends it, and never as part of a URL that could end up in an error message.
func (l *loader) get(ctx context.Context, path string, q url.Values) ([]byte, error) {
	u := *l.portal.base
	u.Path = path
	u.RawPath = ""
	if len(q) > 0 {
		u.RawQuery = q.Encode()
	}
	ctx, cancel := context.WithTimeout(ctx, portalRequestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	if l.portal.user != "" || l.portal.password != "" {
		req.SetBasicAuth(l.portal.user, l.portal.password)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", userAgent)
	resp, err := l.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, fmt.Errorf("GET %s: read body: %w", u.Path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: status %d", u.Path, resp.StatusCode)
	}
	return body, nil
}

// store is one loaded configuration: services in the order system listed them.
type store struct {
	services []*service
	byHost   map[string]*service
}

func newStore(svcs []*service, log *slog.Logger) *store {
	st := &store{services: svcs, byHost: map[string]*service{}}
	for _, s := range svcs {
		for _, h := range s.hosts {
			if prev, dup := st.byHost[h]; dup {
				// The first service claiming a host wins, so a later one cannot take over
				// traffic; log it, as the overlap is a configuration mistake.
				log.Warn("host claimed by two services; keeping the first", "host", h, "service", prev.id, "ignored", s.id)
				continue
			}
			st.byHost[h] = s
		}
	}
	return st
}

func (st *store) find(host string) *service {
	if st == nil {
		return nil
	}
	return st.byHost[host]
}

// lazyCache keeps per-host configurations in lazy mode when APICAST_CONFIGURATION_CACHE is not
// 0. Expired entries are refetched, and still served while the refetch fails (§2.3 "Lazy with
// cache > 0").
type lazyCache struct {
	mu      sync.Mutex
	entries map[string]lazyEntry
}

type lazyEntry struct {
	st *store
	at time.Time
}

var errNoLazyEntry = errors.New("no cached configuration")

func (c *lazyCache) get(host string) (lazyEntry, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[host]
	if !ok {
		return lazyEntry{}, errNoLazyEntry
	}
	return e, nil
}

func (c *lazyCache) put(host string, st *store) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = map[string]lazyEntry{}
	}
	c.entries[host] = lazyEntry{st: st, at: time.Now()}
}

func (c *lazyCache) services() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, e := range c.entries {
		n += len(e.st.services)
	}
	return n
}
