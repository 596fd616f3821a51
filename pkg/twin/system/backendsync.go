package system

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// backendClient talks to backend-listener's internal API with Basic auth, the way porta's
// pisoni client does (research/apicast-apisonator.md §4.3), with porta's Faraday timeouts:
// read and write `timeout`, and `open_timeout` for the connect
// (faraday-net_http_persistent@v2.1.0:lib/faraday/adapter/net_http_persistent.rb:96-106).
// Keep-alive connections idle longer than net-http-persistent's idle_timeout, 5 s, are not
// reused (net-http-persistent@v4.0.2:lib/net/http/persistent.rb:491,647-652).
type backendClient struct {
	base, user, pass string
	hc               *http.Client
}

// Faraday's timeouts for porta's backend client: 5 s and 3 s open in the web process
// (porta@3scale-2.16.4-GA:config/initializers/core.rb:12-13, the same at 3scale-2.15.1-GA),
// 30 s and 10 s open in Sidekiq (config/initializers/sidekiq.rb:37-38).
const (
	webBackendTimeout, webBackendOpenTimeout         = 5 * time.Second, 3 * time.Second
	sidekiqBackendTimeout, sidekiqBackendOpenTimeout = 30 * time.Second, 10 * time.Second
)

// newBackendClient gives the connect open and each answer timeout. Net::HTTP's read timeout
// bounds each read, so a listener that accepts and never answers costs one timeout per try
// (see netHTTPRetries), and one that is gone costs the open timeout.
func newBackendClient(s Stores, timeout, open time.Duration) *backendClient {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil
	tr.DialContext = (&net.Dialer{Timeout: open, KeepAlive: 30 * time.Second}).DialContext
	tr.ResponseHeaderTimeout = timeout
	tr.IdleConnTimeout = 5 * time.Second
	return &backendClient{
		base: strings.TrimSuffix(s.BackendURL, "/"), user: s.BackendUser, pass: s.BackendPassword,
		hc: &http.Client{Transport: tr},
	}
}

// backendError is a non-2xx answer of the internal API.
type backendError struct {
	method, path string
	status       int
	body         string
}

func (e *backendError) Error() string {
	return fmt.Sprintf("backend internal API %s %s: HTTP %d %s", e.method, e.path, e.status, strings.TrimSpace(e.body))
}

// do sends one request; okStatus lists answers that are not errors besides 2xx (e.g. 404 on
// a delete of something already gone). The decoded JSON body is returned when out != nil.
func (b *backendClient) do(ctx context.Context, method, path string, body, out any, okStatus ...int) (int, error) {
	if b.base == "" {
		return 0, fmt.Errorf("backend internal API: BackendURL not configured")
	}
	var buf []byte
	if body != nil {
		var err error
		if buf, err = json.Marshal(body); err != nil {
			return 0, err
		}
	}
	var resp *http.Response
	for attempt := 0; ; attempt++ {
		var rd io.Reader
		if buf != nil {
			rd = bytes.NewReader(buf)
		}
		req, err := http.NewRequestWithContext(ctx, method, b.base+path, rd)
		if err != nil {
			return 0, err
		}
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		req.Header.Set("Accept", "application/json")
		if b.user != "" || b.pass != "" {
			req.SetBasicAuth(b.user, b.pass)
		}
		resp, err = b.hc.Do(req)
		if err == nil {
			break
		}
		if attempt >= netHTTPMaxRetries || !netHTTPRetries(ctx, method, err) {
			return 0, fmt.Errorf("backend internal API %s %s: %w", method, path, err)
		}
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	ok := resp.StatusCode >= 200 && resp.StatusCode < 300
	for _, s := range okStatus {
		ok = ok || resp.StatusCode == s
	}
	if !ok {
		return resp.StatusCode, &backendError{method, path, resp.StatusCode, string(raw)}
	}
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			return resp.StatusCode, fmt.Errorf("backend internal API %s %s: %w", method, path, err)
		}
	}
	return resp.StatusCode, nil
}

// netHTTPMaxRetries is how often porta's backend client sends an idempotent request again after
// the connection failed under it. pisoni 1.30.0 talks through faraday-net_http_persistent 2.1.0
// and net-http-persistent 4.0.2 (porta@3scale-2.16.4-GA:Gemfile.lock), which keeps connections
// alive and gives each one max_retries = 1 (net-http-persistent@v4.0.2:
// lib/net/http/persistent.rb:493 and :608). Ruby's Net::HTTP#transport_request then sends
// GET, HEAD, PUT, DELETE, OPTIONS and TRACE once more after a read timeout, EOF, ECONNRESET,
// ECONNABORTED, EPIPE or ETIMEDOUT; never a POST, and never after an open timeout or a
// refused connection (ruby/net-http@v0.3.0.1: lib/net/http.rb:1594 and :1624-1640, the
// net-http of Ruby 3.1, porta@3scale-2.16.4-GA:.tool-versions.sample). So a keep-alive
// connection to a backend-listener pod that has since been replaced costs porta nothing on a
// PUT; Go's transport would not resend a PUT, and the twin answered 500 where porta does not.
const netHTTPMaxRetries = 1

// netHTTPRetries says whether Ruby's Net::HTTP would send method again after err.
func netHTTPRetries(ctx context.Context, method string, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPut, http.MethodDelete, http.MethodOptions, http.MethodTrace:
	default:
		return false
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return false // Net::OpenTimeout, ECONNREFUSED: raised at once
	}
	if errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNABORTED) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, syscall.ETIMEDOUT) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() // Net::ReadTimeout
}

func id(n int64) string { return strconv.FormatInt(n, 10) }

// saveService is ThreeScale::Core::Service.save! (§4.2 "Service create/update").
func (b *backendClient) saveService(ctx context.Context, sid int64, providerKey, backendVersion, state string) error {
	_, err := b.do(ctx, http.MethodPut, "/internal/services/"+id(sid), map[string]any{"service": map[string]any{
		"id": id(sid), "provider_key": providerKey, "backend_version": backendVersion, "state": state,
		"referrer_filters_required": false,
	}}, nil)
	return err
}

// saveServiceToken is ThreeScale::Core::ServiceToken.save! (§4.2 "Service tokens").
func (b *backendClient) saveServiceToken(ctx context.Context, token string, sid int64) error {
	_, err := b.do(ctx, http.MethodPost, "/internal/service_tokens/", map[string]any{
		"service_tokens": map[string]any{token: map[string]any{"service_id": id(sid)}}}, nil)
	return err
}

// deleteService is Core::Service.delete_by_id! (BackendDeleteServiceWorker, §4.2).
func (b *backendClient) deleteService(ctx context.Context, sid string) error {
	_, err := b.do(ctx, http.MethodDelete, "/internal/services/"+sid, nil, nil, http.StatusNotFound)
	return err
}

// deleteServiceStats is Core::Service.delete_stats: marks the service for backend-cron's purge
// (apicast-apisonator.md §5).
func (b *backendClient) deleteServiceStats(ctx context.Context, sid string) error {
	_, err := b.do(ctx, http.MethodDelete, "/internal/services/"+sid+"/stats", nil, nil, http.StatusNotFound)
	return err
}

// saveApplication is Core::Application.save (§4.2 "Create/update application").
func (b *backendClient) saveApplication(ctx context.Context, sid int64, appID, state string, planID int64, planName string) error {
	_, err := b.do(ctx, http.MethodPut, "/internal/services/"+id(sid)+"/applications/"+url.PathEscape(appID),
		map[string]any{"application": map[string]any{"state": state, "plan_id": id(planID), "plan_name": planName}}, nil)
	return err
}

// saveUserKey is Core::Application.save_id_by_key: user_key → application id.
func (b *backendClient) saveUserKey(ctx context.Context, sid int64, appID, userKey string) error {
	_, err := b.do(ctx, http.MethodPut, "/internal/services/"+id(sid)+"/applications/"+url.PathEscape(appID)+"/key/"+url.PathEscape(userKey), nil, nil)
	return err
}

func (b *backendClient) deleteUserKey(ctx context.Context, sid, userKey string) error {
	_, err := b.do(ctx, http.MethodDelete, "/internal/services/"+sid+"/applications/key/"+url.PathEscape(userKey), nil, nil, http.StatusNotFound)
	return err
}

func (b *backendClient) deleteApplication(ctx context.Context, sid, appID string) error {
	_, err := b.do(ctx, http.MethodDelete, "/internal/services/"+sid+"/applications/"+url.PathEscape(appID), nil, nil, http.StatusNotFound)
	return err
}

// saveAppKey is Core::ApplicationKey.save (§4.2 "Create application key").
func (b *backendClient) saveAppKey(ctx context.Context, sid int64, appID, value string) error {
	_, err := b.do(ctx, http.MethodPost, "/internal/services/"+id(sid)+"/applications/"+url.PathEscape(appID)+"/keys/",
		map[string]any{"application_key": map[string]any{"value": value}}, nil)
	return err
}

// deleteAppKey is ApplicationKeyBackendService.delete.
func (b *backendClient) deleteAppKey(ctx context.Context, sid, appID, value string) error {
	_, err := b.do(ctx, http.MethodDelete, "/internal/services/"+sid+"/applications/"+url.PathEscape(appID)+"/keys/"+url.PathEscape(value), nil, nil, http.StatusNotFound)
	return err
}

// saveUsageLimit is Core::UsageLimit.save (§4.2 "Usage limits").
func (b *backendClient) saveUsageLimit(ctx context.Context, sid, planID, metricID int64, period string, value int64) error {
	_, err := b.do(ctx, http.MethodPut, fmt.Sprintf("/internal/services/%d/plans/%d/usagelimits/%d/%s", sid, planID, metricID, period),
		map[string]any{"usagelimit": map[string]any{period: value}}, nil)
	return err
}

func (b *backendClient) deleteUsageLimit(ctx context.Context, sid, planID, metricID int64, period string) error {
	_, err := b.do(ctx, http.MethodDelete, fmt.Sprintf("/internal/services/%d/plans/%d/usagelimits/%d/%s", sid, planID, metricID, period), nil, nil, http.StatusNotFound)
	return err
}

// saveMetric is Core::Metric.save (BackendMetricWorker, §4.2).
func (b *backendClient) saveMetric(ctx context.Context, sid, mid string, name string, parentID string) error {
	m := map[string]any{"name": name}
	if parentID != "" {
		m["parent_id"] = parentID
	}
	_, err := b.do(ctx, http.MethodPut, "/internal/services/"+sid+"/metrics/"+mid, map[string]any{"metric": m}, nil)
	return err
}

func (b *backendClient) deleteMetric(ctx context.Context, sid, mid string) error {
	_, err := b.do(ctx, http.MethodDelete, "/internal/services/"+sid+"/metrics/"+mid, nil, nil, http.StatusNotFound)
	return err
}

// backendEvent is one entry of GET /internal/events/ (apicast-apisonator.md §6).
type backendEvent struct {
	ID        int64           `json:"id"`
	Type      string          `json:"type"`
	Timestamp string          `json:"timestamp"`
	Object    json.RawMessage `json:"object"`
}

// events is Core::Event.load_all.
func (b *backendClient) events(ctx context.Context) ([]backendEvent, error) {
	var out struct {
		Events []backendEvent `json:"events"`
	}
	_, err := b.do(ctx, http.MethodGet, "/internal/events/", nil, &out)
	return out.Events, err
}

// deleteEventsUpTo is Core::Event.delete_upto.
func (b *backendClient) deleteEventsUpTo(ctx context.Context, upto int64) error {
	_, err := b.do(ctx, http.MethodDelete, "/internal/events/?upto_id="+id(upto), nil, nil)
	return err
}

// serviceError is one entry of GET /internal/services/:id/errors/, the attributes pisoni keeps
// (code, message, timestamp).
type serviceError struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	Timestamp string `json:"timestamp"`
}

// serviceErrors is Core::ServiceError.load_all: a GET of /internal/services/<id>/errors/ whose
// pagination travels as a JSON body, page before per_page, each as the caller gave it
// (pisoni@v1.31.0:lib/3scale/core/service_error.rb:13-27, api_client/operations.rb:73-116,181-233;
// porta pins 1.30.0, which is not tagged: its version bump, pisoni commit deb60f9, differs
// from v1.31.0 only by api_update_batch). Only a 200 is an answer: load_all's own block turns every other status into an
// exception, a 404 included (its filter_404 applies only without a block), and a 400 about
// per_page into InvalidPerPage; a 5xx raises before that (api_client/support.rb status_ok?).
func (b *backendClient) serviceErrors(ctx context.Context, sid int64, page, perPage any) ([]serviceError, int64, error) {
	var out struct {
		Errors []serviceError `json:"errors"`
		Count  int64          `json:"count"`
	}
	body := struct {
		Page    any `json:"page"`
		PerPage any `json:"per_page"`
	}{page, perPage}
	path := "/internal/services/" + id(sid) + "/errors/"
	status, err := b.do(ctx, http.MethodGet, path, body, &out)
	if err == nil && status != http.StatusOK {
		err = &backendError{http.MethodGet, path, status, ""}
	}
	return out.Errors, out.Count, err
}
