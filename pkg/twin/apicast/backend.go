package apicast

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// authrepOptions asks backend-listener for the rejection reason and limit headers instead of an
// XML body, as APIcast does for every service except native OAuth ones (§3 "Authrep request").
const authrepOptions = "rejection_reason_header=1&limit_headers=1&no_body=1"

// userAgent identifies the twin to backend-listener and to upstreams' logs.
const userAgent = "APIcast-twin (threescale-chaos harness)"

// backendClient calls backend-listener's Service Management API.
type backendClient struct {
	http    *http.Client
	timeout time.Duration
}

func newBackendClient(timeout time.Duration) *backendClient {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	return &backendClient{http: &http.Client{Transport: tr}, timeout: timeout}
}

// authrepResult is backend-listener's answer. status is 0 when there was no HTTP answer at all
// (refused, reset, DNS failure, timeout), as APIcast's HTTP client reports it (§1.1 step 6).
type authrepResult struct {
	status int
	header http.Header
	err    error
}

// authrep sends GET <backend>/transactions/authrep.xml?service_token|provider_key=..
// &service_id=..&user_key=..|app_id=..[&app_key=..]&usage%5Bm%5D=n[&log%5Bcode%5D=c]
// (§3). logCode 0 leaves log[code] out.
func (b *backendClient) authrep(ctx context.Context, s *service, creds credentials, encodedUsage string, logCode int) authrepResult {
	if s.backend == nil {
		return authrepResult{err: errors.New("service has no backend endpoint")}
	}
	u := *s.backend
	u.Path = strings.TrimSuffix(u.Path, "/") + "/transactions/authrep.xml"
	if s.backendVersion == "oauth" {
		u.Path = strings.TrimSuffix(s.backend.Path, "/") + "/transactions/oauth_authrep.xml"
	}
	q := make([]string, 0, 6)
	authParam := "service_token"
	if s.authType == "provider_key" {
		authParam = "provider_key"
	}
	q = append(q, authParam+"="+url.QueryEscape(s.authValue), "service_id="+url.QueryEscape(s.id))
	for _, c := range creds {
		q = append(q, c.name+"="+url.QueryEscape(c.value))
	}
	if encodedUsage != "" {
		q = append(q, encodedUsage)
	}
	if logCode > 0 {
		q = append(q, url.QueryEscape("log[code]")+"="+strconv.Itoa(logCode))
	}
	u.RawQuery = strings.Join(q, "&")

	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return authrepResult{err: err}
	}
	req.Header.Set("3scale-options", authrepOptions)
	req.Header.Set("User-Agent", userAgent)
	if s.backendHost != "" {
		req.Host = s.backendHost
	}
	resp, err := b.http.Do(req)
	if err != nil {
		return authrepResult{err: fmt.Errorf("authrep to %s: %w", u.Host, withoutURL(err))}
	}
	defer resp.Body.Close()
	// The body is empty with no_body=1, or an XML error; the verdict is in the status and
	// headers. Drain it so the connection can be reused.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return authrepResult{status: resp.StatusCode, header: resp.Header}
}

// unavailable is APIcast's backend_is_unavailable: no answer, or 499 and above. A 5xx from a
// listener whose Redis is gone counts exactly like a refused connection (§1.1 step 6, §4.2).
func (r authrepResult) unavailable() bool { return r.status == 0 || r.status >= 499 }

// verdict is what the gateway does with a request after its synchronous authrep.
type verdict struct {
	authorized bool
	reason     string // 3scale-rejection-reason, empty when unknown
	retryAfter string // from 3scale-limit-reset, for 429
}

// decide interprets a synchronous authrep after the cache handler has run. When the backend is
// unavailable the cache alone decides, and no reason is known, so a denial is the generic 403.
// Otherwise only a 200 authorizes; a 409 with reason limits_exceeded becomes 429, unless the
// limit's max value is 0 (a disabled metric), which APIcast reports as 403 (§1.1 step 6).
func decide(r authrepResult, cache *authCache, key string) verdict {
	if r.unavailable() {
		st, ok := cache.get(key)
		return verdict{authorized: ok && st == 200}
	}
	if r.status == 200 {
		return verdict{authorized: true}
	}
	v := verdict{reason: r.header.Get("3scale-rejection-reason")}
	if v.reason == "limits_exceeded" {
		if r.header.Get("3scale-limit-max-value") == "0" {
			v.reason = ""
		} else if reset := r.header.Get("3scale-limit-reset"); reset != "" && !strings.HasPrefix(reset, "-") {
			v.retryAfter = reset
		}
	}
	return v
}

// withoutURL drops the request URL from a client error. The authrep URL carries the service
// token and the application's key, and an upstream URL may carry the key too; neither belongs
// in a log line.
func withoutURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
