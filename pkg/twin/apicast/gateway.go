package apicast

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// gateway is one APIcast process: its configuration, its authorization cache and its clients.
type gateway struct {
	cfg      Config
	log      *slog.Logger
	loader   *loader
	boot     atomic.Pointer[store] // boot mode: the configuration in force
	lazy     lazyCache             // lazy mode with a configuration cache
	cache    *authCache
	backend  *backendClient
	upstream *http.Client
}

func newGateway(cfg Config, p portal, log *slog.Logger) *gateway {
	up := http.DefaultTransport.(*http.Transport).Clone()
	up.DisableCompression = true // pass Accept-Encoding and bodies through untouched
	up.ResponseHeaderTimeout = 60 * time.Second
	up.MaxIdleConnsPerHost = 64
	return &gateway{
		cfg: cfg,
		log: log,
		loader: &loader{
			portal:          p,
			env:             cfg.Environment,
			backendOverride: cfg.BackendEndpoint,
			v1Wait:          cfg.ConfigurationTimeout,
			http:            &http.Client{},
			log:             log,
		},
		cache:   newAuthCache(defaultCacheEntries),
		backend: newBackendClient(cfg.BackendTimeout),
		upstream: &http.Client{
			Transport: up,
			// A gateway hands redirects to its client; it does not follow them.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
}

// findService resolves the request host to a service under the configured loader.
func (g *gateway) findService(ctx context.Context, host string) *service {
	if g.cfg.ConfigurationLoader == LoaderBoot {
		// Boot mode never asks system per request: an unknown host stays unknown until the
		// next refresh.
		return g.boot.Load().find(host)
	}
	ttl := g.cfg.ConfigurationCache
	var stale *store
	if ttl != 0 {
		if e, err := g.lazy.get(host); err == nil {
			if ttl < 0 || time.Since(e.at) < ttl {
				return e.st.find(host)
			}
			stale = e.st
		}
	}
	// Lazy with cache 0 (the staging default) builds a fresh configuration for every request,
	// so each staging request depends on system answering (§2.3 "Lazy with cache 0").
	svcs, err := g.loader.load(ctx, host)
	if err != nil {
		g.log.Error("failed to load config for host", "host", host, "err", err)
		if stale != nil {
			g.log.Warn("using stale configuration for host", "host", host)
			return stale.find(host)
		}
		return nil
	}
	st := newStore(svcs, g.log)
	if ttl != 0 {
		g.lazy.put(host, st)
	}
	return st.find(host)
}

// ServeHTTP is the proxy port: find the service, read credentials, match mapping rules,
// authorize with one authrep, and proxy to the upstream (§1.1).
func (g *gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// The proxy port's own health location answers regardless of Host (§2.4).
	if r.URL.Path == "/_threescale/healthz" {
		w.WriteHeader(http.StatusOK)
		return
	}
	host := normalizeHost(r.Host)
	svc := g.findService(r.Context(), host)
	if svc == nil || svc.upstream == nil && len(svc.routes) == 0 {
		// Unknown host, or a service without an upstream: 404 with an empty body (§1.1 step 1,
		// §1.2). This is also every staging request while system is down.
		w.WriteHeader(http.StatusNotFound)
		g.log.Debug("no service for host", "host", host, "path", r.URL.Path)
		return
	}

	args := r.URL.Query()
	if svc.credsLocation == "query" {
		args = withFormArgs(r, args)
	}
	creds, ok := svc.extractCredentials(r, args)
	if !ok {
		writeError(w, svc.errAuthMissing)
		return
	}
	u := usageFor(svc.rules, r.Method, r.URL.EscapedPath(), r.URL.Query())
	if len(u) == 0 {
		// APIcast also resets the matched-rules debug header here (§1.2).
		writeError(w, svc.errNoMatch)
		return
	}
	// The routing policy, before the APIcast policy in the chain, picks the upstream in its
	// access phase; the APIcast policy's access then authorizes the usage without the rules of
	// other owners (routing.go).
	rt := selectRoute(svc.routes, r.URL.Path)
	if rt != nil {
		u = withoutOtherOwners(u, svc.rules, r.Method, r.URL.EscapedPath(), r.URL.Query(), rt.owner)
	}
	encUsage := u.encoded()
	key := svc.id + ":" + creds.cacheKeyPart() + ":" + encUsage
	mode := svc.cache

	if st, ok := g.cache.get(key); ok && st == 200 && mode.hitsEnabled() {
		// Cache hit: proxy first, then report with one authrep after the response, like the
		// post_action location does. The response is complete (Content-Length, flushed) before
		// the authrep starts, and the handler returns only after it, so on a keep-alive
		// connection the next request sees the cache as this authrep left it.
		status := g.proxy(w, r, svc, rt)
		logCode := 0
		if g.cfg.ResponseCodes {
			logCode = status
		}
		res := g.backend.authrep(context.WithoutCancel(r.Context()), svc, creds, encUsage, logCode)
		mode.handle(g.cache, key, res.status)
		if res.unavailable() {
			g.log.Warn("backend unavailable after a cache hit; the report is lost",
				"service", svc.id, "cache", string(mode), "status", res.status, "err", errString(res.err))
		}
		return
	}

	res := g.backend.authrep(r.Context(), svc, creds, encUsage, 0)
	mode.handle(g.cache, key, res.status)
	v := decide(res, g.cache, key)
	if res.unavailable() {
		g.log.Warn("backend unavailable", "service", svc.id, "cache", string(mode),
			"status", res.status, "authorized", v.authorized, "err", errString(res.err))
	}
	if !v.authorized {
		if v.reason == "limits_exceeded" {
			if v.retryAfter != "" {
				w.Header().Set("Retry-After", v.retryAfter)
			}
			writeError(w, svc.errLimits)
			return
		}
		writeError(w, svc.errAuthFailed)
		return
	}
	g.proxy(w, r, svc, rt)
}

// writeError writes one of the service's configurable error answers. error_headers_* is the
// Content-Type (§1.2).
func writeError(w http.ResponseWriter, e errorResponse) {
	w.Header().Set("Content-Type", e.contentType)
	w.WriteHeader(e.status)
	_, _ = io.WriteString(w, e.body)
}

// maxFormBody bounds how much of a form body is read to look for credentials.
const maxFormBody = 1 << 20

// withFormArgs adds the fields of an urlencoded form body to the query arguments, because
// APIcast reads credentials from the body of non-GET requests too. The body is put back for
// the upstream.
func withFormArgs(r *http.Request, args url.Values) url.Values {
	if r.Method == http.MethodGet || r.Method == http.MethodHead || r.Body == nil {
		return args
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct != "application/x-www-form-urlencoded" {
		return args
	}
	buf, err := io.ReadAll(io.LimitReader(r.Body, maxFormBody+1))
	r.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(buf), r.Body), r.Body}
	if err != nil || len(buf) > maxFormBody {
		return args
	}
	form, err := url.ParseQuery(string(buf))
	if err != nil {
		return args
	}
	merged := url.Values{}
	for k, v := range args {
		merged[k] = v
	}
	for k, v := range form {
		merged[k] = append(merged[k], v...)
	}
	return merged
}

// hopHeaders are connection-level headers a proxy must not forward (RFC 9110 §7.6.1).
var hopHeaders = []string{
	"Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate", "Proxy-Authorization",
	"TE", "Trailer", "Transfer-Encoding", "Upgrade",
}

func removeHopHeaders(h http.Header) {
	for _, f := range h.Values("Connection") {
		for _, name := range strings.Split(f, ",") {
			if name = strings.TrimSpace(name); name != "" {
				h.Del(name)
			}
		}
	}
	for _, name := range hopHeaders {
		h.Del(name)
	}
}

// maxBufferedBody is how much of an upstream answer is buffered so it can be sent with a
// Content-Length before the after-response authrep; larger answers are streamed.
const maxBufferedBody = 16 << 20

// proxy forwards the request to the service's api_backend, or to the upstream the routing
// policy chose (rt), and copies the answer back. The upstream URL is api_backend's scheme and
// host, its path as a prefix, then the request's path and query unchanged; a routed request's
// path is the route's target. Host is hostname_rewrite, or else the upstream's host name. With
// neither an upstream nor a route the APIcast policy answers 404 with an empty body
// (APIcast@3scale-2.16.3-GA:gateway/src/apicast/policy/apicast/apicast.lua content,
// gateway/src/apicast/errors.lua upstream_not_found). It returns the status sent to the client.
func (g *gateway) proxy(w http.ResponseWriter, r *http.Request, svc *service, rt *route) int {
	var target url.URL
	switch {
	case rt != nil:
		target = *rt.url
		target.Path, target.RawPath = rt.target(r.URL.Path), ""
	case svc.upstream == nil:
		w.WriteHeader(http.StatusNotFound)
		return http.StatusNotFound
	default:
		target = *svc.upstream
		prefix := strings.TrimSuffix(svc.upstream.EscapedPath(), "/")
		rawPath := prefix + r.URL.EscapedPath()
		if p, err := url.PathUnescape(rawPath); err == nil {
			target.Path, target.RawPath = p, rawPath
		} else {
			target.Path, target.RawPath = prefix+r.URL.Path, ""
		}
	}
	target.RawQuery = r.URL.RawQuery
	target.Fragment = ""

	out, err := http.NewRequestWithContext(r.Context(), r.Method, target.String(), r.Body)
	if err != nil {
		return g.badGateway(w, svc, &target, err)
	}
	out.ContentLength = r.ContentLength
	out.Header = r.Header.Clone()
	removeHopHeaders(out.Header)
	out.Host = target.Hostname()
	if svc.hostRewrite != "" {
		out.Host = svc.hostRewrite
	}
	if ip, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		out.Header.Set("X-Real-IP", ip)
	}
	if svc.secretToken != "" {
		out.Header.Set("X-3scale-proxy-secret-token", svc.secretToken)
	}
	if out.Header.Get("User-Agent") == "" {
		// Keep Go from adding its own User-Agent to requests that had none.
		out.Header["User-Agent"] = nil
	}

	resp, err := g.upstream.Do(out)
	if err != nil {
		return g.badGateway(w, svc, &target, err)
	}
	defer resp.Body.Close()
	h := w.Header()
	for k, v := range resp.Header {
		h[k] = v
	}
	removeHopHeaders(h)

	buf, err := io.ReadAll(io.LimitReader(resp.Body, maxBufferedBody+1))
	if err != nil {
		// Headers are not sent yet; the client gets a clean 502.
		for k := range h {
			h.Del(k)
		}
		return g.badGateway(w, svc, &target, err)
	}
	if len(buf) <= maxBufferedBody {
		if r.Method != http.MethodHead {
			h.Set("Content-Length", strconv.Itoa(len(buf)))
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = w.Write(buf)
	} else {
		h.Del("Content-Length")
		w.WriteHeader(resp.StatusCode)
		_, _ = w.Write(buf)
		_, _ = io.Copy(w, resp.Body)
	}
	_ = http.NewResponseController(w).Flush()
	return resp.StatusCode
}

// badGatewayBody is what the twin answers when the upstream cannot be reached, in the shape of
// nginx's default 502 page.
const badGatewayBody = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n"

func (g *gateway) badGateway(w http.ResponseWriter, svc *service, upstream *url.URL, err error) int {
	g.log.Error("upstream unreachable", "service", svc.id, "upstream", upstream.Host, "err", withoutURL(err))
	w.Header().Set("Content-Type", "text/html")
	w.WriteHeader(http.StatusBadGateway)
	_, _ = io.WriteString(w, badGatewayBody)
	return http.StatusBadGateway
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
