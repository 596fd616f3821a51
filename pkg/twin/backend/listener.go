package backend

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/threescale-chaos/harness/pkg/twin/reuseport"
)

// ListenerConfig configures backend-listener.
type ListenerConfig struct {
	// Addr is host:port to serve on; apisonator listens on 3000
	// (research/apicast-apisonator.md §4.1). Port 0 picks a free port (see OnListen).
	Addr string
	// RedisURL is the storage DB (apisonator's CONFIG_REDIS_PROXY), e.g.
	// redis://backend-redis:6379/0.
	RedisURL string
	// QueuesRedisURL is the Resque DB (CONFIG_QUEUES_MASTER_NAME); empty means RedisURL.
	QueuesRedisURL string
	// RedisTimeout bounds each Redis dial, read and write; zero means DefaultRedisTimeout.
	RedisTimeout time.Duration
	// InternalUser and InternalPassword guard /internal/ with HTTP Basic auth
	// (CONFIG_INTERNAL_API_USER / _PASSWORD, the operator's backend-internal-api Secret).
	InternalUser, InternalPassword string
	// AllowInsecureInternalAPI serves /internal/ without auth when both credentials are
	// empty. apisonator only allows that outside production and otherwise refuses to boot
	// (§4.3), so without this flag empty credentials are an error.
	AllowInsecureInternalAPI bool
	// Version is reported by GET /status; empty means APISonatorVersion.
	Version string
	// OnListen, when set, is called with the bound address once the socket is open.
	OnListen func(addr string)
	// Logger receives request failures; nil means slog.Default().
	Logger *slog.Logger
}

// RunListener serves backend-listener until ctx ends, then shuts down gracefully.
//
// It answers the Service Management API (GET /transactions/authrep.xml, GET
// /transactions/authorize.xml and their oauth_ variants, POST /transactions.xml), the health
// endpoints (/status, /available, /check.txt) and the internal API under /internal/. Redis is
// not contacted at start: like apisonator, the listener is up and /status is 200 whether or
// not Redis answers, and each data request fails with 500 while it does not.
func RunListener(ctx context.Context, cfg ListenerConfig) error {
	if cfg.InternalUser == "" && cfg.InternalPassword == "" && !cfg.AllowInsecureInternalAPI {
		return errors.New("backend-listener: internal API credentials are empty (set them, or AllowInsecureInternalAPI)")
	}
	st, err := openStores(cfg.RedisURL, cfg.QueuesRedisURL, cfg.RedisTimeout)
	if err != nil {
		return fmt.Errorf("backend-listener: %w", err)
	}
	defer st.close()
	if cfg.Addr == "" {
		cfg.Addr = ":3000"
	}
	if cfg.Version == "" {
		cfg.Version = APISonatorVersion
	}
	l := &listener{cfg: cfg, st: st, log: loggerOr(cfg.Logger).With("component", "backend-listener")}

	// SO_REUSEPORT: listener replicas are processes on one host network and share the port,
	// as pods behind the backend-listener Service share its address.
	ln, err := reuseport.Listen(ctx, cfg.Addr)
	if err != nil {
		return fmt.Errorf("backend-listener: listen on %s: %w", cfg.Addr, err)
	}
	if cfg.OnListen != nil {
		cfg.OnListen(ln.Addr().String())
	}
	srv := &http.Server{Handler: l.handler(), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("backend-listener: serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("backend-listener: shutdown: %w", err)
	}
	return nil
}

type listener struct {
	cfg ListenerConfig
	st  *stores
	log *slog.Logger
}

func (l *listener) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", l.status)
	mux.HandleFunc("HEAD /available", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	mux.HandleFunc("GET /check.txt", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("ok"))
	})
	mux.HandleFunc("GET /transactions/authrep.xml", l.auth(true))
	mux.HandleFunc("GET /transactions/oauth_authrep.xml", l.auth(true))
	mux.HandleFunc("GET /transactions/authorize.xml", l.auth(false))
	mux.HandleFunc("GET /transactions/oauth_authorize.xml", l.auth(false))
	mux.HandleFunc("POST /transactions.xml", l.report)
	internal := l.basicAuth(l.internalHandler())
	mux.Handle("/internal/", internal)
	mux.Handle("/internal", internal)
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		// apisonator's not_found: 404, the XML content type, no body (§4.1).
		w.Header().Set("Content-Type", xmlContentType)
		w.WriteHeader(http.StatusNotFound)
	})
	return mux
}

// APISonatorVersion is the version apisonator reports at the tag the twin models
// (apisonator@3scale-2.16.4-GA:lib/3scale/backend/version.rb). Clients parse it as a semver
// to gate features such as flat_usage, so the twin answers the real one.
const APISonatorVersion = "3.4.3"

// status never touches Redis, which is why readiness stays green through a Redis outage (§4.1).
func (l *listener) status(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	b, _ := json.Marshal(map[string]any{"status": "ok", "version": map[string]string{"backend": l.cfg.Version}})
	_, _ = w.Write(b)
}

// fail answers a request that could not be served. API errors get their XML; anything else is
// a Redis failure and becomes apisonator's InternalErrorCatcher answer: 500, no headers, body
// "Internal Server Error\n" (research/apicast-apisonator.md §4.2 "Redis down").
func (l *listener) fail(w http.ResponseWriter, r *http.Request, err error) {
	var ae *apiError
	if errors.As(err, &ae) {
		w.Header().Set("Content-Type", xmlContentType)
		w.WriteHeader(ae.status)
		_, _ = w.Write([]byte(errorXML(ae)))
		return
	}
	l.log.Warn("request failed", "path", r.URL.Path, "err", err)
	w.Header()["Content-Type"] = nil // suppress Go's sniffed Content-Type: apisonator sends none
	w.WriteHeader(http.StatusInternalServerError)
	_, _ = w.Write([]byte("Internal Server Error\n"))
}

// options are the 3scale-options header flags APIcast sends:
// rejection_reason_header=1&limit_headers=1&no_body=1 (§3, §4.2).
type options struct {
	rejectionReason, limitHeaders, noBody bool
	// hierarchy and listAppKeys are the extensions that add <hierarchy> and <app_keys> to a
	// status; each is on only when its value is exactly "1"
	// (apisonator@3scale-2.16.4-GA:lib/3scale/backend/transactor.rb:109-111).
	hierarchy, listAppKeys bool
	raw                    map[string]string
}

func parseOptions(r *http.Request, q url.Values) options {
	o := options{raw: map[string]string{}}
	v, _ := url.ParseQuery(r.Header.Get("3scale-options"))
	for k := range v {
		o.raw[k] = v.Get(k)
	}
	truthy := func(s string) bool { return s == "1" || s == "true" }
	o.rejectionReason = truthy(v.Get("rejection_reason_header"))
	o.limitHeaders = truthy(v.Get("limit_headers"))
	o.noBody = truthy(v.Get("no_body")) || truthy(q.Get("no_body"))
	o.hierarchy = v.Get("hierarchy") == "1"
	o.listAppKeys = v.Get("list_app_keys") == "1"
	return o
}

// bracketParams collects prefix[name]=value parameters, e.g. usage[hits]=1.
func bracketParams(q url.Values, prefix string) map[string]string {
	out := map[string]string{}
	for k, vs := range q {
		if strings.HasPrefix(k, prefix+"[") && strings.HasSuffix(k, "]") && len(vs) > 0 {
			out[k[len(prefix)+1:len(k)-1]] = vs[0]
		}
	}
	return out
}

// usageParams reads usage[name]=value from a raw query in request order; a name given twice
// keeps its first place and its last value, as Rack builds the params hash. notHash reports a
// usage parameter that is not a hash (usage=5, usage[]=5), which apisonator refuses with a bare
// 403 (apisonator@3scale-2.16.4-GA:lib/3scale/backend/listener.rb valid_usage_params?).
func usageParams(rawQuery string) (params []usageParam, notHash bool) {
	at := map[string]int{}
	for _, kv := range strings.Split(rawQuery, "&") {
		k, v, _ := strings.Cut(kv, "=")
		key, err1 := url.QueryUnescape(k)
		val, err2 := url.QueryUnescape(v)
		if err1 != nil || err2 != nil {
			continue
		}
		if key == "usage" || key == "usage[]" {
			notHash = true
			continue
		}
		if !strings.HasPrefix(key, "usage[") || !strings.HasSuffix(key, "]") {
			continue
		}
		name := key[len("usage[") : len(key)-1]
		if i, ok := at[name]; ok {
			params[i].value = val
			continue
		}
		at[name] = len(params)
		params = append(params, usageParam{name, val})
	}
	return params, notHash
}

// auth serves authrep (report=true) and authorize. A denial is 409 with the reason in the body
// and, when asked, in 3scale-rejection-reason; an authorized authrep with usage or log enqueues
// a ReportJob and does not touch any counter (research/apicast-apisonator.md §4.2, §5).
func (l *listener) auth(authrep bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		q := r.URL.Query()
		opts := parseOptions(r, q)
		rdb := l.st.storage
		// rescuePK is params[:provider_key] when an error is rescued: the parameter, or, once
		// the service token has given the provider key, that key.
		rescuePK := nonBlank(q.Get("provider_key"))
		fail := func(err error) {
			l.storeAuthError(r, q, opts, rescuePK, err)
			l.fail(w, r, err)
		}
		svc, err := resolveService(ctx, rdb, q.Get("provider_key"), q.Get("service_token"), q.Get("service_id"))
		if err != nil {
			fail(err)
			return
		}
		// user_id is refused once the provider's credentials are known
		// (apisonator@3scale-2.16.4-GA:lib/3scale/backend/listener.rb do_api_method, check_no_user_id).
		if q.Get("user_id") != "" {
			fail(errEndUsers)
			return
		}
		if rescuePK == "" {
			rescuePK = string(svc.ProviderKey)
		}
		rawUsage, notHash := usageParams(r.URL.RawQuery)
		if notHash {
			w.Header().Set("Content-Type", xmlContentType)
			w.WriteHeader(http.StatusForbidden)
			return
		}
		userKey := q.Get("user_key")
		app, err := resolveApplication(ctx, rdb, svc, userKey, q.Get("app_id"))
		if err != nil {
			fail(err)
			return
		}
		ms, err := loadMetrics(ctx, rdb, string(svc.ID))
		if err != nil {
			fail(err)
			return
		}
		if opts.noBody {
			if err := checkUsageMetrics(ms, rawUsage); err != nil {
				fail(err)
				return
			}
		}
		// The usage is parsed only by the Limits validator, the last one: a request an earlier
		// validator denies gets that denial whatever its usage holds
		// (apisonator@3scale-2.16.4-GA:lib/3scale/backend/validators.rb, validators/limits.rb).
		rej, err := validate(ctx, rdb, svc, app, q.Get("app_key"), userKey != "")
		if err != nil {
			fail(err)
			return
		}
		var usage map[string]usageValue
		if rej == nil {
			if usage, err = parseUsage(ms, rawUsage); err != nil {
				fail(err)
				return
			}
		}
		now := time.Now().UTC()
		reports, err := loadUsageReports(ctx, rdb, string(svc.ID), app, ms, usage, now)
		if err != nil {
			fail(err)
			return
		}
		if rej == nil {
			rej = checkLimits(reports, usage)
		}
		st := &authStatus{authorized: rej == nil, reason: rej, plan: string(app.PlanName), reports: reports, now: now}
		if opts.hierarchy {
			st.hierarchy = ms.children()
		}
		if opts.listAppKeys {
			keys, err := rdb.SMembers(ctx, appKeysKey(string(svc.ID), string(app.ID))).Result()
			if err != nil {
				fail(err)
				return
			}
			sort.Strings(keys)
			st.appKeys = &appKeys{app: string(app.ID), svc: string(svc.ID), keys: keys}
		}

		if authrep && st.authorized {
			if err := l.enqueueAuthrep(ctx, string(svc.ID), string(app.ID), rawUsage, bracketParams(q, "log"), opts, now); err != nil {
				fail(err)
				return
			}
		}
		l.writeStatus(w, st, authrep, opts)
	}
}

// storeAuthError is do_api_method's rescue: a ThreeScale::Backend::Error raised while
// serving authorize, authrep or their oauth_ variants is stored with ErrorStorage under the
// request's service, and the answer stays the error's
// (apisonator@3scale-2.16.4-GA:lib/3scale/backend/listener.rb:149-182). That service is the
// service_id parameter when params[:provider_key] owns it, else the provider key's default
// service (listener.rb service_id:544-553; service.rb authenticate_service_id,
// default_id!). When neither resolves, ProviderKeyInvalid is rescued there and nothing is
// stored: an unknown provider key, another provider's service, or a service token request
// that failed before its provider key was known. A service_id of no service at all, asked
// without a provider key, matches its missing provider key (nil == nil) and is stored under.
// Denials (409) are no errors and are not stored; neither is a Redis failure. 3scale-2.15.1-GA
// has the same rescue.
func (l *listener) storeAuthError(r *http.Request, q url.Values, opts options, pk string, err error) {
	var ae *apiError
	if !errors.As(err, &ae) {
		return
	}
	ctx, rdb := r.Context(), l.st.storage
	sid := q.Get("service_id")
	if nonBlank(sid) == "" {
		def, gerr := getOpt(ctx, rdb, providerDefaultServiceKey(pk))
		if gerr != nil || def == "" {
			l.logStoreErr(gerr)
			return
		}
		sid = def
	} else {
		owner, gerr := getOpt(ctx, rdb, serviceAttrKey(sid, "provider_key"))
		if gerr != nil || owner != pk {
			l.logStoreErr(gerr)
			return
		}
	}
	l.logStoreErr(storeIntegrationError(ctx, rdb, sid, ae, requestInfo(r, q, opts), time.Now()))
}

func (l *listener) logStoreErr(err error) {
	if err != nil {
		l.log.Warn("cannot store integration error", "err", err)
	}
}

// requestInfo is the listener's request_info, stored as the error's context_info
// (apisonator@3scale-2.16.4-GA:lib/3scale/backend/listener.rb:555-566): the URL, the method,
// the form body (none on a GET), User-Agent, the client's address, Content-Type and
// Content-Length when sent, and the 3scale-options extensions, no_body as a boolean
// (threescale_extensions:625-641). The client's address is the peer's; Rack would also read
// X-Forwarded-For.
func requestInfo(r *http.Request, q url.Values, opts options) map[string]any {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	ext := map[string]any{}
	for k, v := range opts.raw {
		ext[k] = v
	}
	nb, inHeader := opts.raw["no_body"]
	if !inHeader && q.Has("no_body") {
		nb, inHeader = q.Get("no_body"), true
	}
	if inHeader {
		ext["no_body"] = nb != "false" && nb != "0"
	}
	ip, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		ip = r.RemoteAddr
	}
	info := map[string]any{
		"url":            scheme + "://" + r.Host + r.URL.RequestURI(),
		"method":         r.Method,
		"form_vars":      nil,
		"user_agent":     nilIfEmpty(r.UserAgent()),
		"ip":             ip,
		"content_type":   nilIfEmpty(r.Header.Get("Content-Type")),
		"content_length": nil,
		"extensions":     ext,
	}
	if cl := r.Header.Get("Content-Length"); cl != "" {
		info["content_length"] = cl
	}
	return info
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// nonBlank is normalize_non_empty_keys!: a parameter of only blanks counts as absent.
func nonBlank(s string) string {
	if strings.TrimSpace(s) == "" {
		return ""
	}
	return s
}

func (l *listener) enqueueAuthrep(ctx context.Context, sid, appID string, rawUsage []usageParam, logs map[string]string, opts options, now time.Time) error {
	// Only a value that is exactly "0" is left out
	// (apisonator@3scale-2.16.4-GA:lib/3scale/backend/transactor.rb filter_metrics_without_inc).
	usage := map[string]string{}
	for _, p := range rawUsage {
		if p.value != "0" {
			usage[p.name] = p.value
		}
	}
	if len(usage) == 0 && len(logs) == 0 {
		return nil
	}
	tx := jobTransaction{AppID: appID, Usage: usage}
	if len(logs) > 0 {
		tx.Log = logs
	}
	payload, err := encodeReportJob(sid, map[string]jobTransaction{"0": tx}, now, opts.raw)
	if err != nil {
		return err
	}
	return enqueue(ctx, l.st.queues, QueuePriority, payload)
}

func (l *listener) writeStatus(w http.ResponseWriter, st *authStatus, authrep bool, opts options) {
	h := w.Header()
	h.Set("Content-Type", xmlContentType)
	if opts.rejectionReason && st.reason != nil {
		h.Set("3scale-rejection-reason", st.reason.code)
	}
	if opts.limitHeaders && (st.authorized || st.reason == rejLimitsExceeded) {
		rem, reset, maxValue, ok := limitHeaders(st, authrep)
		h.Set("3scale-limit-remaining", itoa(rem))
		h.Set("3scale-limit-reset", itoa(reset))
		if ok {
			h.Set("3scale-limit-max-value", itoa(maxValue))
		}
	}
	code := http.StatusOK
	if !st.authorized {
		code = http.StatusConflict
	}
	w.WriteHeader(code)
	if !opts.noBody {
		_, _ = w.Write([]byte(statusXML(st, authrep)))
	}
}

// report serves POST /transactions.xml: check the provider credentials and the service,
// enqueue the transactions as they are, answer 202. Applications and metrics are only checked
// by the worker (research/apicast-apisonator.md §5).
//
// Before anything else a body that is neither a form nor multipart is refused with 400
// content_type_invalid; after the credentials, a transaction with a user_id is refused with
// 400 end_users_no_longer_supported (apisonator@3scale-2.16.4-GA:lib/3scale/backend/listener.rb
// check_post_content_type!, check_transactions_validity; lib/3scale/backend/errors.rb).
func (l *listener) report(w http.ResponseWriter, r *http.Request) {
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "" && ct != "application/x-www-form-urlencoded" && ct != "multipart/form-data" {
		l.fail(w, r, &apiError{http.StatusBadRequest, "content_type_invalid", "invalid Content-Type: " + ct})
		return
	}
	if err := r.ParseForm(); err != nil {
		l.fail(w, r, &apiError{http.StatusBadRequest, "bad_request", "request contains syntax errors, should not be repeated without modification"})
		return
	}
	ctx := r.Context()
	f := r.Form
	svc, err := resolveService(ctx, l.st.storage, f.Get("provider_key"), f.Get("service_token"), f.Get("service_id"))
	if err != nil {
		l.fail(w, r, err)
		return
	}
	txs := parseTransactions(f)
	if len(txs) == 0 {
		l.fail(w, r, errTransactionsBlank)
		return
	}
	for k, vs := range f {
		if parts, ok := splitBrackets(k); ok && parts[0] == "transactions" && len(parts) == 3 && parts[2] == "user_id" && len(vs) > 0 && vs[0] != "" {
			l.fail(w, r, errEndUsers)
			return
		}
	}
	if txs = withoutZeroUsage(txs); len(txs) == 0 {
		w.WriteHeader(http.StatusAccepted) // nothing to count: no job
		return
	}
	payload, err := encodeReportJob(string(svc.ID), txs, time.Now().UTC(), parseOptions(r, f).raw)
	if err == nil {
		err = enqueue(ctx, l.st.queues, QueuePriority, payload)
	}
	if err != nil {
		l.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

// withoutZeroUsage is Transactor.report's filter_usages_with_0: a usage value that is the
// string "0" is removed, and a transaction whose usage is then empty is dropped (one without
// usage stays). When none is left the report is answered 202 and nothing is queued, so no job
// runs and backend neither counts nor pings system's events hook for it
// (apisonator@3scale-2.16.4-GA:lib/3scale/backend/transactor.rb:20-31,190-201; the same at
// 3scale-2.15.1-GA). The kept transactions keep their indexes.
func withoutZeroUsage(txs map[string]jobTransaction) map[string]jobTransaction {
	out := make(map[string]jobTransaction, len(txs))
	for k, tx := range txs {
		if tx.Usage != nil {
			for m, v := range tx.Usage {
				if v == "0" {
					delete(tx.Usage, m)
				}
			}
			if len(tx.Usage) == 0 {
				continue
			}
		}
		out[k] = tx
	}
	return out
}

// parseTransactions reads transactions[i][app_id|user_key|timestamp] and
// transactions[i][usage|log][name] form fields, renumbering them "0", "1", ... in index order.
func parseTransactions(f url.Values) map[string]jobTransaction {
	byIdx := map[string]*jobTransaction{}
	for k, vs := range f {
		parts, ok := splitBrackets(k)
		if !ok || parts[0] != "transactions" || len(parts) < 3 || len(vs) == 0 {
			continue
		}
		tx := byIdx[parts[1]]
		if tx == nil {
			tx = &jobTransaction{}
			byIdx[parts[1]] = tx
		}
		v := vs[0]
		switch {
		case len(parts) == 3 && parts[2] == "app_id":
			tx.AppID = v
		case len(parts) == 3 && parts[2] == "user_key":
			tx.UserKey = v
		case len(parts) == 3 && parts[2] == "timestamp":
			tx.Timestamp = v
		case len(parts) == 4 && parts[2] == "usage":
			if tx.Usage == nil {
				tx.Usage = map[string]string{}
			}
			tx.Usage[parts[3]] = v
		case len(parts) == 4 && parts[2] == "log":
			if tx.Log == nil {
				tx.Log = map[string]string{}
			}
			tx.Log[parts[3]] = v
		}
	}
	idx := make([]string, 0, len(byIdx))
	for k := range byIdx {
		idx = append(idx, k)
	}
	sort.Slice(idx, func(i, j int) bool {
		a, ea := strconv.Atoi(idx[i])
		b, eb := strconv.Atoi(idx[j])
		if ea == nil && eb == nil {
			return a < b
		}
		return idx[i] < idx[j]
	})
	out := map[string]jobTransaction{}
	for i, k := range idx {
		out[strconv.Itoa(i)] = *byIdx[k]
	}
	return out
}

// splitBrackets splits a[b][c] into [a b c].
func splitBrackets(k string) ([]string, bool) {
	i := strings.IndexByte(k, '[')
	if i <= 0 || !strings.HasSuffix(k, "]") {
		return nil, false
	}
	parts := []string{k[:i]}
	for _, p := range strings.Split(k[i+1:len(k)-1], "][") {
		parts = append(parts, p)
	}
	return parts, true
}

// basicAuth guards the internal API (§4.3). A wrong password gets Rack::Auth::Basic's 401 with
// a challenge; its exact body is unverified in the research, the twin sends none.
func (l *listener) basicAuth(next http.Handler) http.Handler {
	if l.cfg.InternalUser == "" && l.cfg.InternalPassword == "" {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		if !ok || subtle.ConstantTimeCompare([]byte(u), []byte(l.cfg.InternalUser)) != 1 ||
			subtle.ConstantTimeCompare([]byte(p), []byte(l.cfg.InternalPassword)) != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm="Restricted Area"`)
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}
