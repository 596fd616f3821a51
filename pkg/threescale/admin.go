package threescale

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/go-resty/resty/v2"

	"github.com/threescale-chaos/harness/pkg/probe"
	"github.com/threescale-chaos/harness/pkg/threescale/target"
	"github.com/threescale-chaos/harness/pkg/timing"
)

// Admin is a client of system's token-authenticated APIs on one host: the provider's
// Account Management and Analytics APIs (Host <tenant>-admin.<domain>), or master's.
//
// Every request carries the Host header the target names, X-Forwarded-Proto: https (porta
// redirects plain HTTP on tenant hosts with a 301, research/porta-zync.md §1.3) and the
// token as the access_token parameter (porta ignores Authorization: Bearer, §1.4). Paths
// take .json (XML is the default under /admin/api, §1.5). Requests are made once, never
// retried (a retried POST could create an object twice), and each is bounded by the caller's
// context and by the client's request timeout, the admin-request timeout (SetRequestTimeout).
//
// Errors never contain the token: they name the method and the path without the query.
type Admin struct {
	rc      *resty.Client
	base    string
	host    string
	token   string
	timeout time.Duration
}

// NewAdmin returns a client of the API at e with token. hc performs the requests (nil: a
// probe.NewHTTPClient, no connection reuse, no redirects followed).
func NewAdmin(e target.Endpoint, token string, hc *http.Client) *Admin {
	if hc == nil {
		hc = probe.NewHTTPClient(probe.HTTPClientOptions{})
	}
	rc := resty.NewWithClient(hc).SetRetryCount(0).SetLogger(quietLogger{})
	rc.SetRedirectPolicy(resty.NoRedirectPolicy())
	return &Admin{rc: rc, base: strings.TrimSuffix(e.URL, "/"), host: e.Host, token: token,
		timeout: timing.Timeouts{}.Get(timing.AdminRequest)}
}

// SetRequestTimeout bounds each request (the admin-request timeout; its default until set).
func (a *Admin) SetRequestTimeout(d time.Duration) {
	if d > 0 {
		a.timeout = d
	}
}

// Host is the Host header the client sends ("" when the URL's host is used).
func (a *Admin) Host() string { return a.host }

// Token is the access token the client sends, for a request made without the client (a
// sample built as a probe.HTTPCheck). It is a secret: never log it.
func (a *Admin) Token() string { return a.token }

// RequestURL is the URL of path with query and the token as the access_token parameter, for a
// request made without the client (a sample built as a probe.HTTPCheck). It carries a
// secret: never log it.
func (a *Admin) RequestURL(path string, query url.Values) string {
	q := url.Values{}
	for k, v := range query {
		q[k] = v
	}
	q.Set("access_token", a.token)
	return a.base + path + "?" + q.Encode()
}

// APIError is an answer with an unexpected status.
type APIError struct {
	Method, Path string
	Status       int
	// Body is the start of the response body.
	Body string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("%s %s: status %d: %s", e.Method, e.Path, e.Status, e.Body)
}

// IsNotFound reports whether err is an APIError with status 404.
func IsNotFound(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Status == http.StatusNotFound
}

// StatusOf returns the HTTP status carried by err (an APIError), or 0.
func StatusOf(err error) int {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Status
	}
	return 0
}

// TransportError is a request that got no answer (refused, timeout, reset). Err keeps the
// cause so probe.ClassifyError sees it; the URL (and its query) is dropped.
type TransportError struct {
	Method, Path string
	Err          error
}

func (e *TransportError) Error() string {
	return fmt.Sprintf("%s %s: %s", e.Method, e.Path, probe.ErrorDetail(e.Err))
}

func (e *TransportError) Unwrap() error { return e.Err }

// transportError wraps a request's failure, dropping the *url.Error around it: that one
// carries the URL, query (and token) included.
func transportError(method, path string, err error) *TransportError {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return &TransportError{Method: method, Path: path, Err: err}
}

// Do sends one request. GET and DELETE carry params in the query, other methods as a form
// body; the token is added. It returns the status and body when the status is one of want
// (any 2xx when want is empty), else an *APIError; no answer is a *TransportError.
func (a *Admin) Do(ctx context.Context, method, path string, params url.Values, want ...int) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	req := a.rc.R().SetContext(ctx).SetHeader("X-Forwarded-Proto", "https").SetHeader("Accept", "application/json")
	if a.host != "" {
		req.SetHeader("Host", a.host)
	}
	q := url.Values{}
	for k, v := range params {
		q[k] = v
	}
	q.Set("access_token", a.token)
	if method == http.MethodGet || method == http.MethodDelete {
		req.SetQueryParamsFromValues(q)
	} else {
		req.SetFormDataFromValues(q)
	}
	resp, err := req.Execute(method, a.base+path)
	if err != nil {
		return 0, nil, transportError(method, path, err)
	}
	status, body := resp.StatusCode(), resp.Body()
	ok := len(want) == 0 && status/100 == 2
	for _, w := range want {
		ok = ok || status == w
	}
	if !ok {
		return status, body, &APIError{Method: method, Path: path, Status: status, Body: Snippet(body)}
	}
	return status, body, nil
}

// JSON is Do that decodes a 2xx body into out (nil: discard).
func (a *Admin) JSON(ctx context.Context, method, path string, params url.Values, out any) error {
	_, body, err := a.Do(ctx, method, path, params)
	if err != nil {
		return err
	}
	if out == nil || len(body) == 0 {
		return nil
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("%s %s: decoding answer: %w (%s)", method, path, err, Snippet(body))
	}
	return nil
}

// Snippet is the start of a body, on one line, for errors: at most 160 characters, "empty
// body" for none.
func Snippet(b []byte) string {
	s := strings.Join(strings.Fields(string(b)), " ")
	if len(s) > 160 {
		s = s[:160] + "…"
	}
	if s == "" {
		return "empty body"
	}
	return s
}

// quietLogger drops resty's own log lines: they can carry request URLs.
type quietLogger struct{}

func (quietLogger) Errorf(string, ...any) {}
func (quietLogger) Warnf(string, ...any)  {}
func (quietLogger) Debugf(string, ...any) {}
