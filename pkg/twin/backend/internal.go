package backend

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// The internal API system uses to sync its model into backend (research/apicast-apisonator.md
// §4.3; porta-zync.md §4.2 lists which admin actions call it synchronously). All bodies are
// JSON. Only the routes system's sync and event fetching need are served; referrer filters,
// application batches, provider-key changes and the SaaS routes are left out.

func (l *listener) internalHandler() http.Handler {
	mux := http.NewServeMux()
	// route registers a pattern with and without a trailing slash: Sinatra accepts both for
	// "/" routes and pisoni writes them with the slash.
	route := func(method, path string, h func(http.ResponseWriter, *http.Request) (int, any, error)) {
		hf := l.jsonHandler(h)
		mux.HandleFunc(method+" "+path, hf)
		mux.HandleFunc(method+" "+path+"/{$}", hf)
	}
	route("GET", "/internal/status", func(http.ResponseWriter, *http.Request) (int, any, error) {
		return 200, map[string]any{"status": "ok", "version": map[string]string{"backend": l.cfg.Version}}, nil
	})
	route("GET", "/internal/check.json", func(http.ResponseWriter, *http.Request) (int, any, error) {
		return 200, map[string]string{"status": "ok"}, nil
	})

	route("POST", "/internal/services", l.createService)
	route("GET", "/internal/services/{id}", l.getService)
	route("PUT", "/internal/services/{id}", l.updateService)
	route("DELETE", "/internal/services/{id}", l.removeService)
	route("DELETE", "/internal/services/{sid}/stats", l.markStatsDeleted)

	route("GET", "/internal/services/{sid}/applications/{id}", l.getApplication)
	route("POST", "/internal/services/{sid}/applications/{id}", l.createApplication)
	route("PUT", "/internal/services/{sid}/applications/{id}", l.updateApplication)
	route("DELETE", "/internal/services/{sid}/applications/{id}", l.removeApplication)
	// "key/{user_key}" and "{id}/keys" overlap for ServeMux; the two-segment GET is dispatched
	// by hand.
	route("GET", "/internal/services/{sid}/applications/{a}/{b}", l.getAppByUserKey)
	route("PUT", "/internal/services/{sid}/applications/{id}/key/{user_key}", l.setUserKey)
	route("DELETE", "/internal/services/{sid}/applications/key/{user_key}", l.removeUserKey)

	route("GET", "/internal/services/{sid}/applications/{id}/keys", l.listAppKeys)
	route("POST", "/internal/services/{sid}/applications/{id}/keys", l.createAppKey)
	route("DELETE", "/internal/services/{sid}/applications/{id}/keys/{key}", l.removeAppKey)
	route("GET", "/internal/services/{sid}/applications/{id}/utilization", l.utilization)

	route("GET", "/internal/services/{sid}/metrics/{id}", l.getMetric)
	route("POST", "/internal/services/{sid}/metrics/{id}", l.saveMetricHandler(http.StatusCreated, "created"))
	route("PUT", "/internal/services/{sid}/metrics/{id}", l.saveMetricHandler(http.StatusOK, "modified"))
	route("DELETE", "/internal/services/{sid}/metrics/{id}", l.removeMetric)

	route("GET", "/internal/services/{sid}/plans/{pid}/usagelimits/{mid}/{period}", l.getUsageLimit)
	route("PUT", "/internal/services/{sid}/plans/{pid}/usagelimits/{mid}/{period}", l.putUsageLimit)
	route("DELETE", "/internal/services/{sid}/plans/{pid}/usagelimits/{mid}/{period}", l.removeUsageLimit)

	route("POST", "/internal/service_tokens", l.saveServiceTokens)
	route("DELETE", "/internal/service_tokens", l.removeServiceTokens)
	route("HEAD", "/internal/service_tokens/{token}/{sid}", l.headServiceToken)
	route("GET", "/internal/service_tokens/{token}/{sid}/provider_key", l.serviceTokenProviderKey)

	route("GET", "/internal/services/{sid}/alert_limits", l.listAlertLimits)
	route("POST", "/internal/services/{sid}/alert_limits", l.createAlertLimit)
	route("DELETE", "/internal/services/{sid}/alert_limits/{value}", l.removeAlertLimit)

	route("GET", "/internal/services/{sid}/errors", l.listErrors)
	route("DELETE", "/internal/services/{sid}/errors", l.clearErrors)

	route("GET", "/internal/events", l.listEventsHandler)
	route("DELETE", "/internal/events", l.deleteEventsUpTo)
	route("DELETE", "/internal/events/{id}", l.deleteEvent)

	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusNotFound, notFound("Not found"))
	})
	return mux
}

// notFound is respond_with_404's body, {status: :not_found, error: message}, in that key order
// (apisonator@3scale-2.16.4-GA:app/api/internal/internal.rb respond_with_404).
func notFound(msg string) any {
	return struct {
		Status string `json:"status"`
		Error  string `json:"error"`
	}{"not_found", msg}
}
func badRequest(msg string) map[string]string {
	return map[string]string{"status": "error", "error": msg}
}

func writeJSON(w http.ResponseWriter, code int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	if body != nil {
		// Ruby's to_json writes < > & as they are.
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		_ = enc.Encode(body)
	}
}

// jsonHandler turns an (status, body, err) handler into HTTP. An error is a Redis failure:
// 500, as Sinatra answers an unhandled exception (exact body unverified, §4.2).
func (l *listener) jsonHandler(h func(http.ResponseWriter, *http.Request) (int, any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		code, body, err := h(w, r)
		if err != nil {
			l.log.Warn("internal API request failed", "method", r.Method, "path", r.URL.Path, "err", err)
			w.Header().Set("Content-Type", "text/html;charset=utf-8")
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = w.Write([]byte("<h1>Internal Server Error</h1>"))
			return
		}
		if r.Method == http.MethodHead {
			w.WriteHeader(code)
			return
		}
		writeJSON(w, code, body)
	}
}

// decodeBody reads a JSON object body; an empty body is an empty object.
func decodeBody(r *http.Request, v any) error {
	b, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil || len(b) == 0 {
		return err
	}
	return json.Unmarshal(b, v)
}

func (l *listener) createService(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	var body struct {
		Service *service `json:"service"`
	}
	if err := decodeBody(r, &body); err != nil || body.Service == nil {
		return 400, badRequest("missing parameter 'service'"), nil
	}
	if err := saveService(r.Context(), l.st.storage, body.Service); err != nil {
		if isRedisErr(err) {
			return 0, nil, err
		}
		return 400, badRequest(err.Error()), nil
	}
	s, err := loadService(r.Context(), l.st.storage, string(body.Service.ID))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, map[string]any{"service": s, "status": "created"}, nil
}

func (l *listener) getService(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	s, err := loadService(r.Context(), l.st.storage, r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	if s == nil {
		return 404, map[string]string{"error": "not_found"}, nil
	}
	return 200, map[string]any{"status": "found", "service": s}, nil
}

// updateService merges the given attributes into the stored service (or creates it).
func (l *listener) updateService(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	ctx, id := r.Context(), r.PathValue("id")
	cur, err := loadService(ctx, l.st.storage, id)
	if err != nil {
		return 0, nil, err
	}
	var raw struct {
		Service json.RawMessage `json:"service"`
	}
	if err := decodeBody(r, &raw); err != nil || raw.Service == nil {
		return 400, badRequest("missing parameter 'service'"), nil
	}
	s := cur
	if s == nil {
		s = &service{}
	}
	s.DefaultService = false
	if err := json.Unmarshal(raw.Service, s); err != nil {
		return 400, badRequest(err.Error()), nil
	}
	s.ID = flexString(id)
	if err := saveService(ctx, l.st.storage, s); err != nil {
		if isRedisErr(err) {
			return 0, nil, err
		}
		return 400, badRequest(err.Error()), nil
	}
	s, err = loadService(ctx, l.st.storage, id)
	if err != nil {
		return 0, nil, err
	}
	return 200, map[string]any{"service": s, "status": "ok"}, nil
}

func (l *listener) removeService(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	switch err := deleteService(r.Context(), l.st.storage, r.PathValue("id")); {
	case errors.Is(err, errNotFound):
		return 404, map[string]string{"error": "service id is invalid"}, nil
	case errors.Is(err, errDefaultService):
		return 400, map[string]string{"error": err.Error()}, nil
	case err != nil:
		return 0, nil, err
	}
	return 200, map[string]string{"status": "deleted"}, nil
}

// markStatsDeleted is how system asks for a deleted service's stats to be purged; backend-cron
// does the purge later (research/apicast-apisonator.md §5, Cleaner.mark_service_to_be_deleted).
func (l *listener) markStatsDeleted(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	if err := l.st.storage.SAdd(r.Context(), DeletedServicesSet, r.PathValue("sid")).Err(); err != nil {
		return 0, nil, err
	}
	return 200, map[string]string{"status": "to_be_deleted"}, nil
}

func (l *listener) getApplication(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	app, err := loadApplication(r.Context(), l.st.storage, r.PathValue("sid"), r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	if app == nil {
		return 404, notFound("application not found"), nil
	}
	return 200, map[string]any{"status": "found", "application": app}, nil
}

func (l *listener) decodeApplication(r *http.Request) (*application, bool) {
	var body struct {
		Application *application `json:"application"`
	}
	if err := decodeBody(r, &body); err != nil || body.Application == nil {
		return nil, false
	}
	body.Application.ServiceID = flexString(r.PathValue("sid"))
	body.Application.ID = flexString(r.PathValue("id"))
	return body.Application, true
}

func (l *listener) createApplication(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	app, ok := l.decodeApplication(r)
	if !ok {
		return 400, badRequest("invalid parameter 'application'"), nil
	}
	ctx := r.Context()
	cur, err := loadApplication(ctx, l.st.storage, string(app.ServiceID), string(app.ID))
	if err != nil {
		return 0, nil, err
	}
	if cur != nil {
		return 405, map[string]string{"status": "exists", "error": "application cannot be created, exists already"}, nil
	}
	if err := saveApplication(ctx, l.st.storage, app); err != nil {
		return 0, nil, err
	}
	return 201, map[string]any{"status": "created", "application": app}, nil
}

func (l *listener) updateApplication(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	app, ok := l.decodeApplication(r)
	if !ok {
		return 400, badRequest("invalid parameter 'application'"), nil
	}
	ctx := r.Context()
	cur, err := loadApplication(ctx, l.st.storage, string(app.ServiceID), string(app.ID))
	if err != nil {
		return 0, nil, err
	}
	if cur != nil && app.State == "" {
		app.State = cur.State
	}
	if err := saveApplication(ctx, l.st.storage, app); err != nil {
		return 0, nil, err
	}
	saved, err := loadApplication(ctx, l.st.storage, string(app.ServiceID), string(app.ID))
	if err != nil {
		return 0, nil, err
	}
	status := "created"
	if cur != nil {
		status = "modified"
	}
	return 200, map[string]any{"status": status, "application": saved}, nil
}

func (l *listener) removeApplication(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	err := deleteApplication(r.Context(), l.st.storage, r.PathValue("sid"), r.PathValue("id"))
	if errors.Is(err, errNotFound) {
		return 404, notFound("application not found"), nil
	}
	if err != nil {
		return 0, nil, err
	}
	return 200, map[string]string{"status": "deleted"}, nil
}

func (l *listener) getAppByUserKey(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	if r.PathValue("a") != "key" {
		return 404, notFound("Not found"), nil
	}
	id, err := getOpt(r.Context(), l.st.storage, userKeyKey(r.PathValue("sid"), r.PathValue("b")))
	if err != nil {
		return 0, nil, err
	}
	if id == "" {
		return 404, notFound("application key not found"), nil
	}
	return 200, map[string]any{"status": "found", "application": map[string]string{"id": id}}, nil
}

func (l *listener) setUserKey(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	id := r.PathValue("id")
	if err := l.st.storage.Set(r.Context(), userKeyKey(r.PathValue("sid"), r.PathValue("user_key")), id, 0).Err(); err != nil {
		return 0, nil, err
	}
	return 200, map[string]any{"status": "modified", "application": map[string]string{"id": id}}, nil
}

func (l *listener) removeUserKey(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	if err := l.st.storage.Del(r.Context(), userKeyKey(r.PathValue("sid"), r.PathValue("user_key"))).Err(); err != nil {
		return 0, nil, err
	}
	return 200, map[string]string{"status": "deleted"}, nil
}

// appExists is the before-filter of the application keys routes.
func (l *listener) appExists(ctx context.Context, sid, id string) (bool, error) {
	n, err := l.st.storage.Exists(ctx, appAttrKey(sid, id, "state")).Result()
	return n > 0, err
}

func (l *listener) listAppKeys(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	ctx, sid, id := r.Context(), r.PathValue("sid"), r.PathValue("id")
	if ok, err := l.appExists(ctx, sid, id); err != nil || !ok {
		return 404, notFound("application not found"), err
	}
	keys, err := l.st.storage.SMembers(ctx, appKeysKey(sid, id)).Result()
	if err != nil {
		return 0, nil, err
	}
	out := make([]map[string]string, 0, len(keys))
	for _, k := range keys {
		out = append(out, map[string]string{"service_id": sid, "app_id": id, "value": k})
	}
	return 200, map[string]any{"status": "found", "application_keys": out}, nil
}

func (l *listener) createAppKey(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	ctx, sid, id := r.Context(), r.PathValue("sid"), r.PathValue("id")
	if ok, err := l.appExists(ctx, sid, id); err != nil || !ok {
		return 404, notFound("application not found"), err
	}
	var body struct {
		ApplicationKey struct {
			Value flexString `json:"value"`
		} `json:"application_key"`
	}
	if err := decodeBody(r, &body); err != nil {
		return 400, badRequest(err.Error()), nil
	}
	v := string(body.ApplicationKey.Value)
	if v == "" {
		v = randomKey()
	}
	if err := l.st.storage.SAdd(ctx, appKeysKey(sid, id), v).Err(); err != nil {
		return 0, nil, err
	}
	return 201, map[string]any{"status": "created", "application_key": map[string]string{"app_id": id, "value": v}}, nil
}

func (l *listener) removeAppKey(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	ctx, sid, id := r.Context(), r.PathValue("sid"), r.PathValue("id")
	if ok, err := l.appExists(ctx, sid, id); err != nil || !ok {
		return 404, notFound("application not found"), err
	}
	n, err := l.st.storage.SRem(ctx, appKeysKey(sid, id), r.PathValue("key")).Result()
	if err != nil {
		return 0, nil, err
	}
	if n == 0 {
		return 404, notFound("application key not found"), nil
	}
	return 200, map[string]string{"status": "deleted"}, nil
}

// utilization serves the app's current usage against its limits (§6; porta's "current
// utilization" view).
func (l *listener) utilization(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	ctx, sid, id := r.Context(), r.PathValue("sid"), r.PathValue("id")
	svc, err := loadService(ctx, l.st.storage, sid)
	if err != nil {
		return 0, nil, err
	}
	if svc == nil {
		return 404, notFound("service not found"), nil
	}
	app, err := loadApplication(ctx, l.st.storage, sid, id)
	if err != nil {
		return 0, nil, err
	}
	if app == nil {
		return 404, notFound("application not found"), nil
	}
	ms, err := loadMetrics(ctx, l.st.storage, sid)
	if err != nil {
		return 0, nil, err
	}
	reports, err := loadUsageReports(ctx, l.st.storage, sid, app, ms, nil, time.Now())
	if err != nil {
		return 0, nil, err
	}
	out := make([]map[string]any, 0, len(reports))
	for _, rep := range reports {
		out = append(out, map[string]any{"period": string(rep.period), "metric_name": rep.metric.Name,
			"max_value": rep.max, "current_value": rep.current})
	}
	return 200, map[string]any{"status": "found", "utilization": out}, nil
}

type metricJSON struct {
	ServiceID string     `json:"service_id"`
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	ParentID  flexString `json:"parent_id,omitempty"`
}

func (l *listener) getMetric(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	ctx, sid, id := r.Context(), r.PathValue("sid"), r.PathValue("id")
	vals, err := l.st.storage.MGet(ctx, metricAttrKey(sid, id, "name"), metricAttrKey(sid, id, "parent_id")).Result()
	if err != nil {
		return 0, nil, err
	}
	if str(vals[0]) == "" {
		return 404, notFound("metric not found"), nil
	}
	return 200, map[string]any{"status": "found", "metric": metricJSON{sid, id, str(vals[0]), flexString(str(vals[1]))}}, nil
}

func (l *listener) saveMetricHandler(code int, status string) func(http.ResponseWriter, *http.Request) (int, any, error) {
	return func(_ http.ResponseWriter, r *http.Request) (int, any, error) {
		ctx, sid, id := r.Context(), r.PathValue("sid"), r.PathValue("id")
		var body struct {
			Metric struct {
				Name     flexString `json:"name"`
				ParentID flexString `json:"parent_id"`
			} `json:"metric"`
		}
		if err := decodeBody(r, &body); err != nil {
			return 400, badRequest(err.Error()), nil
		}
		if err := saveMetric(ctx, l.st.storage, sid, id, string(body.Metric.Name), string(body.Metric.ParentID)); err != nil {
			if isRedisErr(err) {
				return 0, nil, err
			}
			return 400, badRequest(err.Error()), nil
		}
		name, err := getOpt(ctx, l.st.storage, metricAttrKey(sid, id, "name"))
		if err != nil {
			return 0, nil, err
		}
		return code, map[string]any{"status": status, "metric": metricJSON{sid, id, name, body.Metric.ParentID}}, nil
	}
}

func (l *listener) removeMetric(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	err := deleteMetric(r.Context(), l.st.storage, r.PathValue("sid"), r.PathValue("id"))
	if errors.Is(err, errNotFound) {
		return 404, notFound("metric not found"), nil
	}
	if err != nil {
		return 0, nil, err
	}
	return 200, map[string]string{"status": "deleted"}, nil
}

func (l *listener) usageLimitParams(r *http.Request) (key string, out map[string]any, ok bool) {
	sid, pid, mid, per := r.PathValue("sid"), r.PathValue("pid"), r.PathValue("mid"), r.PathValue("period")
	if _, ok := parsePeriod(per); !ok {
		return "", nil, false
	}
	return usageLimitKey(sid, pid, mid, per), map[string]any{"service_id": sid, "plan_id": pid, "metric_id": mid}, true
}

func (l *listener) getUsageLimit(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	key, out, ok := l.usageLimitParams(r)
	if !ok {
		return 404, notFound("usagelimit not found"), nil
	}
	v, err := getOpt(r.Context(), l.st.storage, key)
	if err != nil {
		return 0, nil, err
	}
	if v == "" {
		return 404, notFound("usagelimit not found"), nil
	}
	n, _ := strconv.ParseInt(v, 10, 64)
	out[r.PathValue("period")] = n
	return 200, map[string]any{"status": "found", "usagelimit": out}, nil
}

// putUsageLimit takes {"usagelimit": {"<period>": max}}, the period repeated from the path.
func (l *listener) putUsageLimit(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	key, out, ok := l.usageLimitParams(r)
	if !ok {
		return 400, badRequest("invalid period"), nil
	}
	var body struct {
		UsageLimit map[string]flexString `json:"usagelimit"`
	}
	if err := decodeBody(r, &body); err != nil || body.UsageLimit == nil {
		return 400, badRequest("invalid parameter 'usagelimit'"), nil
	}
	per := r.PathValue("period")
	v, ok := body.UsageLimit[per]
	n, err := strconv.ParseInt(string(v), 10, 64)
	if !ok || err != nil {
		return 400, badRequest("missing parameter '" + per + "'"), nil
	}
	if err := l.st.storage.Set(r.Context(), key, n, 0).Err(); err != nil {
		return 0, nil, err
	}
	out[per] = n
	return 200, map[string]any{"status": "modified", "usagelimit": out}, nil
}

func (l *listener) removeUsageLimit(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	key, _, ok := l.usageLimitParams(r)
	if ok {
		if err := l.st.storage.Del(r.Context(), key).Err(); err != nil {
			return 0, nil, err
		}
	}
	return 200, map[string]string{"status": "deleted"}, nil
}

// tokenPairs reads service_tokens in either shape pisoni uses: {"T": {"service_id": S}} for
// saving, [{"service_token": T, "service_id": S}] for deleting.
func tokenPairs(r *http.Request) ([][2]string, bool) {
	var body struct {
		ServiceTokens json.RawMessage `json:"service_tokens"`
	}
	if err := decodeBody(r, &body); err != nil || body.ServiceTokens == nil {
		return nil, false
	}
	var asMap map[string]struct {
		ServiceID flexString `json:"service_id"`
	}
	var out [][2]string
	if json.Unmarshal(body.ServiceTokens, &asMap) == nil {
		for t, info := range asMap {
			out = append(out, [2]string{t, string(info.ServiceID)})
		}
		return out, true
	}
	var asList []struct {
		ServiceToken flexString `json:"service_token"`
		ServiceID    flexString `json:"service_id"`
	}
	if json.Unmarshal(body.ServiceTokens, &asList) != nil {
		return nil, false
	}
	for _, p := range asList {
		out = append(out, [2]string{string(p.ServiceToken), string(p.ServiceID)})
	}
	return out, true
}

func (l *listener) saveServiceTokens(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	pairs, ok := tokenPairs(r)
	if !ok {
		return 400, map[string]string{"error": "missing parameter 'service_tokens'"}, nil
	}
	for _, p := range pairs {
		if p[0] == "" {
			return 422, badRequest("Service token cannot be blank"), nil
		}
		if p[1] == "" {
			return 422, badRequest("Service ID cannot be blank"), nil
		}
	}
	for _, p := range pairs {
		// A hash with one placeholder field, as ServiceToken.save stores it.
		if err := l.st.storage.HSet(r.Context(), serviceTokenKey(p[0], p[1]), "permissions", "").Err(); err != nil {
			return 0, nil, err
		}
	}
	return 201, map[string]string{"status": "created"}, nil
}

func (l *listener) removeServiceTokens(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	pairs, ok := tokenPairs(r)
	if !ok {
		return 400, map[string]string{"error": "missing parameter 'service_tokens'"}, nil
	}
	var deleted int64
	for _, p := range pairs {
		n, err := l.st.storage.Del(r.Context(), serviceTokenKey(p[0], p[1])).Result()
		if err != nil {
			return 0, nil, err
		}
		deleted += n
	}
	return 200, map[string]any{"status": "deleted", "count": deleted}, nil
}

func (l *listener) headServiceToken(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	n, err := l.st.storage.Exists(r.Context(), serviceTokenKey(r.PathValue("token"), r.PathValue("sid"))).Result()
	if err != nil {
		return 0, nil, err
	}
	if n == 0 {
		return 404, nil, nil
	}
	return 200, nil, nil
}

func (l *listener) serviceTokenProviderKey(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	ctx, sid := r.Context(), r.PathValue("sid")
	n, err := l.st.storage.Exists(ctx, serviceTokenKey(r.PathValue("token"), sid)).Result()
	if err != nil {
		return 0, nil, err
	}
	if n == 0 {
		return 404, notFound("token/service combination not found"), nil
	}
	pk, err := getOpt(ctx, l.st.storage, serviceAttrKey(sid, "provider_key"))
	if err != nil {
		return 0, nil, err
	}
	return 200, map[string]string{"status": "found", "provider_key": pk}, nil
}

// alertBins are the utilization levels alerts fire at (research/apicast-apisonator.md §6).
var alertBins = []int{0, 50, 80, 90, 100, 120, 150, 200, 300}

// validAlertLevel is AlertLimit.valid_value?: any of ALERT_BINS, 0 included (a 0 limit is
// stored but never raises, since only levels above 0 alert)
// (apisonator@3scale-2.16.4-GA:lib/3scale/backend/alert_limit.rb, lib/3scale/backend/alerts.rb).
func validAlertLevel(v int) bool {
	for _, b := range alertBins {
		if b == v {
			return true
		}
	}
	return false
}

func (l *listener) listAlertLimits(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	sid := r.PathValue("sid")
	vals, err := l.st.storage.SMembers(r.Context(), alertsAllowedKey(sid)).Result()
	if err != nil {
		return 0, nil, err
	}
	out := make([]map[string]any, 0, len(vals))
	for _, v := range vals {
		n, _ := strconv.Atoi(v)
		out = append(out, map[string]any{"service_id": sid, "value": n})
	}
	return 200, map[string]any{"status": "found", "alert_limits": out}, nil
}

func (l *listener) createAlertLimit(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	sid := r.PathValue("sid")
	var body struct {
		AlertLimit struct {
			Value flexString `json:"value"`
		} `json:"alert_limit"`
	}
	_ = decodeBody(r, &body)
	v, err := strconv.Atoi(string(body.AlertLimit.Value))
	if err != nil || !validAlertLevel(v) {
		return 400, map[string]string{"error": "alert limit is invalid"}, nil
	}
	// AlertLimit#save is `sadd?`: a value already in the set is not saved, and the API answers
	// it as invalid (apisonator@3scale-2.16.4-GA:app/api/internal/alert_limits.rb post '/').
	added, err := l.st.storage.SAdd(r.Context(), alertsAllowedKey(sid), v).Result()
	if err != nil {
		return 0, nil, err
	}
	if added == 0 {
		return 400, map[string]string{"error": "alert limit is invalid"}, nil
	}
	return 201, map[string]any{"status": "created", "alert_limit": map[string]any{"service_id": sid, "value": v}}, nil
}

func (l *listener) removeAlertLimit(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	n, err := l.st.storage.SRem(r.Context(), alertsAllowedKey(r.PathValue("sid")), r.PathValue("value")).Result()
	if err != nil {
		return 0, nil, err
	}
	if n == 0 {
		return 404, notFound("alert limit not found"), nil
	}
	return 200, map[string]string{"status": "deleted"}, nil
}

// errorsService is the errors API's before filter: a service that does not exist (no
// provider_key attribute, Service.exists?) is 404 with respond_with_404's body, on GET and
// DELETE alike (apisonator@3scale-2.16.4-GA:app/api/internal/errors.rb:5-9,
// app/api/internal/internal.rb respond_with_404, lib/3scale/backend/service.rb exists?).
func (l *listener) errorsService(r *http.Request) (string, any, error) {
	sid := r.PathValue("sid")
	n, err := l.st.storage.Exists(r.Context(), serviceAttrKey(sid, "provider_key")).Result()
	if err != nil || n == 0 {
		return "", notFound("service not found"), err
	}
	return sid, nil, nil
}

// errorsPage is the answer of GET /internal/services/:id/errors/, in its key order.
type errorsPage struct {
	Status string            `json:"status"`
	Errors []json.RawMessage `json:"errors"`
	Count  int64             `json:"count"`
}

// listErrors is ErrorStorage.list and count: page (default 1) and per_page (default 100), read
// from the query or the JSON body (pisoni sends them in the body of its GET) and taken as
// Ruby's to_i, select the LRANGE ((page-1)*per_page .. that + per_page-1) of the newest-first
// list; count is the whole list's LLEN. A per_page that is sent and is not above 0 is 400
// (apisonator@3scale-2.16.4-GA:app/api/internal/errors.rb:11-22,
// lib/3scale/backend/error_storage.rb:20-32,44-49). The entries are stored JSON, timestamps
// included as the strings Time#to_s wrote. 3scale-2.15.1-GA has the same code.
func (l *listener) listErrors(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	sid, nf, err := l.errorsService(r)
	if err != nil {
		return 0, nil, err
	}
	if nf != nil {
		return 404, nf, nil
	}
	p := internalParams(r)
	page, perPage := int64(1), int64(100)
	if v, ok := p["page"]; ok {
		page = rubyParamToI(v)
	}
	if v, ok := p["per_page"]; ok {
		if perPage = rubyParamToI(v); perPage <= 0 {
			return 400, map[string]string{"error": "per_page needs to be > 0"}, nil
		}
	}
	start := (page - 1) * perPage
	ctx, rdb := r.Context(), l.st.storage
	var items *redis.StringSliceCmd
	var count *redis.IntCmd
	if _, err := rdb.Pipelined(ctx, func(pl redis.Pipeliner) error {
		items = pl.LRange(ctx, errorsKey(sid), start, start+perPage-1)
		count = pl.LLen(ctx, errorsKey(sid))
		return nil
	}); err != nil {
		return 0, nil, err
	}
	out := errorsPage{Status: "found", Errors: []json.RawMessage{}, Count: count.Val()}
	for _, e := range items.Val() {
		if !json.Valid([]byte(e)) {
			return 0, nil, fmt.Errorf("errors of service %s: entry is not JSON: %q", sid, e)
		}
		out.Errors = append(out.Errors, json.RawMessage(e))
	}
	return 200, out, nil
}

// internalParams is Sinatra's params for the internal API: the query, then the JSON body
// merged over it (apisonator@3scale-2.16.4-GA:app/api/internal/internal.rb parse_json_params).
// A JSON null is no value.
func internalParams(r *http.Request) map[string]any {
	p := map[string]any{}
	for k, vs := range r.URL.Query() {
		if len(vs) > 0 {
			p[k] = vs[len(vs)-1]
		}
	}
	var body map[string]any
	if decodeBody(r, &body) == nil {
		for k, v := range body {
			if v == nil {
				delete(p, k)
				continue
			}
			p[k] = v
		}
	}
	return p
}

// rubyParamToI is to_i on a parameter: String#to_i for a string, truncation for a JSON number.
func rubyParamToI(v any) int64 {
	switch x := v.(type) {
	case string:
		return rubyToI(x)
	case float64:
		return int64(x)
	}
	return 0
}

// clearErrors is ErrorStorage.delete_all behind the same 404 for an unknown service
// (apisonator@3scale-2.16.4-GA:app/api/internal/errors.rb:24-27).
func (l *listener) clearErrors(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	sid, nf, err := l.errorsService(r)
	if err != nil {
		return 0, nil, err
	}
	if nf != nil {
		return 404, nf, nil
	}
	if err := l.st.storage.Del(r.Context(), errorsKey(sid)).Err(); err != nil {
		return 0, nil, err
	}
	return 200, map[string]string{"status": "deleted"}, nil
}

func (l *listener) listEventsHandler(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	evs, err := listEvents(r.Context(), l.st.storage)
	if err != nil {
		return 0, nil, err
	}
	return 200, map[string]any{"status": "found", "events": evs}, nil
}

// deleteEventsUpTo is how system acknowledges the events it fetched (?upto_id=N).
func (l *listener) deleteEventsUpTo(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	upto, _ := strconv.ParseInt(r.URL.Query().Get("upto_id"), 10, 64)
	n, err := deleteEvents(r.Context(), l.st.storage, 0, upto)
	if err != nil {
		return 0, nil, err
	}
	return 200, map[string]any{"status": "deleted", "num_events": n}, nil
}

func (l *listener) deleteEvent(_ http.ResponseWriter, r *http.Request) (int, any, error) {
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	n, err := deleteEvents(r.Context(), l.st.storage, id, id)
	if err != nil {
		return 0, nil, err
	}
	if n == 0 {
		return 404, notFound("event not found"), nil
	}
	return 200, map[string]string{"status": "deleted"}, nil
}
