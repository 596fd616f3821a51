package probe

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/threescale-chaos/harness/pkg/scenario"
)

const marker = "upstream-marker-42"

func server(t *testing.T, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func check(url string) *HTTPCheck {
	return &HTTPCheck{For: scenario.ProductionTraffic, URL: url, Timeout: 2 * time.Second, WantBody: BodyContains(marker)}
}

func TestHTTPCheckHealthy(t *testing.T) {
	var host atomic.Value
	srv := server(t, func(w http.ResponseWriter, r *http.Request) {
		host.Store(r.Host)
		_, _ = io.WriteString(w, "hello "+marker)
	})
	c := check(srv.URL + "/ping?user_key=abc")
	c.Host = "api.example.test"
	s := c.Sample(context.Background())
	if !s.OK || s.Status != 200 || s.ErrorClass != scenario.ErrNone || s.Capability != scenario.ProductionTraffic {
		t.Fatalf("sample = %+v, want a healthy 200", s)
	}
	if s.Latency <= 0 || s.Time.IsZero() {
		t.Errorf("sample has no time or latency: %+v", s)
	}
	if got := host.Load(); got != "api.example.test" {
		t.Errorf("Host header = %v, want the override", got)
	}
}

func TestHTTPCheckRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	s := check("http://" + addr + "/?user_key=very-secret-key").Sample(context.Background())
	if s.OK || s.ErrorClass != scenario.ErrRefused || s.Status != 0 {
		t.Fatalf("sample = %+v, want refused", s)
	}
	if strings.Contains(s.Detail, "very-secret-key") {
		t.Errorf("detail leaks the URL's key: %q", s.Detail)
	}
}

func TestHTTPCheckTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := server(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	t.Cleanup(func() { close(release) }) // runs before srv.Close
	c := check(srv.URL)
	c.Timeout = 50 * time.Millisecond
	s := c.Sample(context.Background())
	if s.OK || s.ErrorClass != scenario.ErrTimeout {
		t.Fatalf("sample = %+v, want timeout", s)
	}
	if s.Latency < c.Timeout {
		t.Errorf("latency %s shorter than the timeout %s", s.Latency, c.Timeout)
	}

	// The caller's context can only shorten the check's own timeout.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	c.Timeout = time.Minute
	if s := c.Sample(ctx); s.ErrorClass != scenario.ErrTimeout {
		t.Fatalf("sample under a shorter caller deadline = %+v, want timeout", s)
	}
}

func TestHTTPCheckStatusAndBody(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		want   scenario.ErrorClass
	}{
		{"5xx", http.StatusServiceUnavailable, "no upstream", scenario.Err5xx},
		{"500 with marker is still 5xx", http.StatusInternalServerError, marker, scenario.Err5xx},
		{"4xx", http.StatusForbidden, "Authentication failed", scenario.Err4xx},
		{"redirect is not followed", http.StatusFound, "", scenario.ErrWrongStatus},
		{"wrong body", http.StatusOK, "gateway default page", scenario.ErrWrongBody},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := server(t, func(w http.ResponseWriter, r *http.Request) {
				if tt.status == http.StatusFound {
					w.Header().Set("Location", "/elsewhere")
				}
				w.WriteHeader(tt.status)
				_, _ = io.WriteString(w, tt.body)
			})
			s := check(srv.URL).Sample(context.Background())
			if s.OK || s.ErrorClass != tt.want || s.Status != tt.status {
				t.Fatalf("sample = %+v, want %s with status %d", s, tt.want, tt.status)
			}
			if s.Detail == "" {
				t.Errorf("failed sample has no detail")
			}
		})
	}
}

func TestHTTPCheckWantStatus(t *testing.T) {
	srv := server(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = io.WriteString(w, "Limits exceeded")
	})
	c := &HTTPCheck{For: scenario.RateLimiting, URL: srv.URL, WantStatus: StatusIn(429), WantBody: BodyContains("Limits exceeded")}
	if s := c.Sample(context.Background()); !s.OK || s.Status != 429 {
		t.Fatalf("sample = %+v, want healthy 429", s)
	}
}

// A server that hangs up without answering is a reset, and the request is made
// exactly once: a sampler must see the outage, not a transport retry.
func TestHTTPCheckResetIsNotRetried(t *testing.T) {
	var requests atomic.Int32
	srv := server(t, func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		conn, _, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Errorf("hijack: %v", err)
			return
		}
		if tc, ok := conn.(*net.TCPConn); ok {
			_ = tc.SetLinger(0) // RST, not FIN
		}
		_ = conn.Close()
	})
	c := check(srv.URL)
	c.Client = NewHTTPClient(HTTPClientOptions{})
	s := c.Sample(context.Background())
	if s.OK || s.ErrorClass != scenario.ErrReset {
		t.Fatalf("sample = %+v, want reset", s)
	}
	if n := requests.Load(); n != 1 {
		t.Errorf("server saw %d requests, want exactly 1 (no retries)", n)
	}
}

func TestHTTPCheckBadURL(t *testing.T) {
	s := check("://nope").Sample(context.Background())
	if s.OK || s.ErrorClass != scenario.ErrOther {
		t.Fatalf("sample = %+v, want other", s)
	}
}

// A request that failed without an answer says how far it got: a connect that
// never completed (the network path) is told from a request sent and never
// answered (the server), and from an answer cut off.
func TestHTTPCheckSaysWhereAFailedRequestStopped(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	hang := server(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	cut := server(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "partial")
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := ln.Addr().String()
	_ = ln.Close()
	// A connect that never completes (SYNs dropped on the way): the dial
	// reports its start as net.Dialer does, then waits.
	stuck := &http.Client{Transport: &http.Transport{DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if tr := httptrace.ContextClientTrace(ctx); tr != nil && tr.ConnectStart != nil {
				tr.ConnectStart(network, addr)
			}
			<-ctx.Done()
			return nil, ctx.Err()
		}}}

	for _, tt := range []struct {
		name   string
		url    string
		client *http.Client
		class  scenario.ErrorClass
		want   []string
		not    []string
	}{
		{"sent, never answered", hang.URL, nil, scenario.ErrTimeout,
			[]string{"(connected to " + strings.TrimPrefix(hang.URL, "http://") + " in ", ", request sent at ", ", no response in the "}, nil},
		{"answer cut off", cut.URL, nil, scenario.ErrTimeout, []string{"reading body", "(response began at "}, nil},
		{"connect never completed", "http://192.0.2.1:30082/", stuck, scenario.ErrTimeout, []string{"(TCP connect to 192.0.2.1:30082 not done after "}, nil},
		{"refused says nothing more", "http://" + refused + "/", nil, scenario.ErrRefused, nil, []string{"("}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := check(tt.url)
			c.Client = tt.client
			c.Timeout = 200 * time.Millisecond
			s := c.Sample(context.Background())
			if s.OK || s.ErrorClass != tt.class {
				t.Fatalf("sample = %+v, want %s", s, tt.class)
			}
			for _, w := range tt.want {
				if !strings.Contains(s.Detail, w) {
					t.Errorf("detail %q does not say %q", s.Detail, w)
				}
			}
			for _, n := range tt.not {
				if strings.Contains(s.Detail, n) {
					t.Errorf("detail %q says %q", s.Detail, n)
				}
			}
		})
	}
}
