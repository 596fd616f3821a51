package probe

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"time"

	"github.com/threescale-chaos/harness/pkg/scenario"
)

// DefaultMaxBody is how much of a response body HTTPCheck reads by default.
const DefaultMaxBody = 1 << 20

// HTTPClientOptions configures NewHTTPClient.
type HTTPClientOptions struct {
	// InsecureSkipVerify accepts any server certificate (routes on test
	// clusters often have self-signed ones).
	InsecureSkipVerify bool
	// ReuseConnections keeps connections alive between samples. Off by
	// default: a fresh connection per sample is what a new client sees, and
	// it is what makes a refused connection show as refused instead of as an
	// error on a pooled connection that the transport might replay.
	ReuseConnections bool
}

// NewHTTPClient returns a client suited to sampling: no redirects followed (a
// redirect is a status to judge), no proxy from the environment (a proxy would
// turn a refused connection into its own 502), no client-wide timeout (the
// per-sample context bounds each request) and, unless asked otherwise, no
// connection reuse, so the transport never retries a request.
func NewHTTPClient(opts HTTPClientOptions) *http.Client {
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           (&net.Dialer{KeepAlive: -1}).DialContext,
		DisableKeepAlives:     !opts.ReuseConnections,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       30 * time.Second,
		TLSHandshakeTimeout:   0, // the request context bounds it
		ExpectContinueTimeout: time.Second,
		ForceAttemptHTTP2:     false,
	}
	if opts.InsecureSkipVerify {
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // test clusters, opted in by the target file
	}
	return &http.Client{
		Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// HTTPCheck samples a capability with one HTTP request: one attempt, bounded by
// Timeout, never retried. The result is healthy when the status satisfies
// WantStatus and the body satisfies WantBody.
//
// A transport error is classified by ClassifyError (refused, timeout, reset...);
// an unwanted status by ClassifyStatus (5xx, 4xx, wrong-status); a wanted status
// whose body fails WantBody is scenario.ErrWrongBody; a body cut off while
// reading is classified by its error. HTTPCheck is a Sampler; its zero values
// for Client, Method, Timeout, WantStatus and MaxBody have defaults.
type HTTPCheck struct {
	// For is the capability the check samples.
	For scenario.Capability
	// Client performs the request; nil means a NewHTTPClient with default
	// options, made once per call (so no connection is ever reused).
	Client *http.Client
	// Method defaults to GET.
	Method string
	// URL is the full request URL. It may carry credentials in its query;
	// samples never include it.
	URL string
	// Host overrides the Host header (endpoints reached by address where
	// no route or DNS name exists).
	Host string
	// Header is added to the request.
	Header http.Header
	// Body is sent as the request body when non-nil.
	Body []byte
	// Timeout bounds the whole request, body included; 0 means
	// DefaultTimeout. The caller's context can only shorten it.
	Timeout time.Duration
	// WantStatus reports whether a status is the healthy one; nil accepts
	// any 2xx.
	WantStatus func(status int) bool
	// WantBody returns nil when the body shows the healthy outcome, else
	// why not (it becomes the sample's detail); nil accepts any body.
	WantBody func(body []byte) error
	// MaxBody bounds how much of the body is read; 0 means DefaultMaxBody.
	MaxBody int64
}

// Capability implements Sampler.
func (c *HTTPCheck) Capability() scenario.Capability { return c.For }

// Sample implements Sampler: it performs the request once and classifies the
// outcome. Time and Latency are measured around the request.
func (c *HTTPCheck) Sample(ctx context.Context) scenario.Sample {
	s, _ := c.Do(ctx)
	return s
}

// Do is Sample that also returns the body that was read (nil when there was no
// response), for probes that need more from it than a predicate.
func (c *HTTPCheck) Do(ctx context.Context) (scenario.Sample, []byte) {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	s := scenario.Sample{Capability: c.For, Time: time.Now()}
	fail := func(class scenario.ErrorClass, detail string) (scenario.Sample, []byte) {
		s.OK, s.ErrorClass, s.Detail = false, class, truncate(detail)
		s.Latency = time.Since(s.Time)
		return s, nil
	}

	method := c.Method
	if method == "" {
		method = http.MethodGet
	}
	var body io.Reader
	if c.Body != nil {
		body = bytes.NewReader(c.Body)
	}
	trace := newRequestTrace(s.Time)
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace.clientTrace()), method, c.URL, body)
	if err != nil {
		return fail(scenario.ErrOther, "building request: "+ErrorDetail(err))
	}
	for k, vs := range c.Header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if c.Host != "" {
		req.Host = c.Host
	}
	client := c.Client
	if client == nil {
		client = NewHTTPClient(HTTPClientOptions{})
		defer client.CloseIdleConnections()
	}

	resp, err := client.Do(req)
	if err != nil {
		return fail(ClassifyError(err), withWhere(ErrorDetail(err), trace.where(time.Since(s.Time))))
	}
	defer resp.Body.Close()
	s.Status = resp.StatusCode
	max := c.MaxBody
	if max <= 0 {
		max = DefaultMaxBody
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, max))
	if err != nil {
		out, _ := fail(ClassifyError(err), withWhere(fmt.Sprintf("status %d, reading body: %s", resp.StatusCode, ErrorDetail(err)), trace.where(time.Since(s.Time))))
		return out, data
	}

	want := c.WantStatus
	if want == nil {
		want = Is2xx
	}
	if !want(resp.StatusCode) {
		out, _ := fail(ClassifyStatus(resp.StatusCode), bodySnippet(data))
		return out, data
	}
	if c.WantBody != nil {
		if err := c.WantBody(data); err != nil {
			out, _ := fail(scenario.ErrWrongBody, err.Error())
			return out, data
		}
	}
	s.OK = true
	s.Latency = time.Since(s.Time)
	return s, data
}

// withWhere appends how far the request got, when known, to a failure's detail.
func withWhere(detail, where string) string {
	if where == "" {
		return detail
	}
	return detail + " (" + where + ")"
}

// Is2xx reports whether status is 200-299.
func Is2xx(status int) bool { return status >= 200 && status <= 299 }

// StatusIn returns a WantStatus predicate accepting exactly the given statuses.
func StatusIn(statuses ...int) func(int) bool {
	return func(got int) bool {
		for _, s := range statuses {
			if got == s {
				return true
			}
		}
		return false
	}
}

// BodyContains returns a WantBody predicate that wants marker in the body.
func BodyContains(marker string) func([]byte) error {
	return func(b []byte) error {
		if bytes.Contains(b, []byte(marker)) {
			return nil
		}
		return fmt.Errorf("body does not contain %q: %s", marker, bodySnippet(b))
	}
}

// bodySnippet is the start of a body for a sample's detail.
func bodySnippet(b []byte) string {
	const n = 80
	s := string(bytes.Join(bytes.Fields(b), []byte(" ")))
	if len(s) > n {
		cut := n
		for cut > 0 && !utf8Start(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	if s == "" {
		return "empty body"
	}
	return "body: " + s
}
