package system

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// resetter is a backend-listener stand-in that resets the connection under the first `resets`
// requests it reads (what a client sees when its keep-alive connection led to a pod that has
// since been replaced) and answers 200 after that.
type resetter struct {
	srv    *httptest.Server
	mu     sync.Mutex
	resets int
	seen   []string
}

func newResetter(t *testing.T, resets int) *resetter {
	r := &resetter{resets: resets}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		_, _ = io.Copy(io.Discard, req.Body)
		r.mu.Lock()
		r.seen = append(r.seen, req.Method)
		reset := r.resets > 0
		if reset {
			r.resets--
		}
		r.mu.Unlock()
		if !reset {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, "{}")
			return
		}
		conn, _, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		_ = conn.(*net.TCPConn).SetLinger(0) // close with RST, not FIN
		_ = conn.Close()
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *resetter) requests() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.seen...)
}

// TestBackendClientRetriesIdempotentRequestsOnceAfterAReset pins netHTTPMaxRetries: porta's
// client (Ruby's Net::HTTP under net-http-persistent, max_retries 1) sends a PUT or DELETE once
// more when the connection is reset under it, gives up after the second reset, and never
// resends a POST.
func TestBackendClientRetriesIdempotentRequestsOnceAfterAReset(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client := func(r *resetter) *backendClient {
		return newBackendClient(Stores{BackendURL: r.srv.URL, BackendUser: "u", BackendPassword: "p"}, 5*time.Second, 3*time.Second)
	}

	t.Run("PUT after one reset is sent again and succeeds", func(t *testing.T) {
		r := newResetter(t, 1)
		if err := client(r).saveService(ctx, 5, "pk", "1", "live"); err != nil {
			t.Fatalf("saveService after one reset: %v (porta's Net::HTTP retries a PUT once)", err)
		}
		if got := r.requests(); len(got) != 2 {
			t.Fatalf("backend saw %v, want the PUT twice", got)
		}
	})
	t.Run("DELETE after one reset is sent again and succeeds", func(t *testing.T) {
		r := newResetter(t, 1)
		if err := client(r).deleteService(ctx, "5"); err != nil {
			t.Fatalf("deleteService after one reset: %v", err)
		}
		if got := r.requests(); len(got) != 2 {
			t.Fatalf("backend saw %v, want the DELETE twice", got)
		}
	})
	t.Run("PUT after two resets fails: one retry only", func(t *testing.T) {
		r := newResetter(t, 2)
		if err := client(r).saveService(ctx, 5, "pk", "1", "live"); err == nil {
			t.Fatal("saveService succeeded after two resets; max_retries is 1")
		}
		if got := r.requests(); len(got) != 2 {
			t.Fatalf("backend saw %v, want the PUT twice", got)
		}
	})
	t.Run("POST after a reset fails and is not sent again", func(t *testing.T) {
		r := newResetter(t, 1)
		if err := client(r).saveServiceToken(ctx, "tok", 5); err == nil {
			t.Fatal("saveServiceToken succeeded after a reset; Net::HTTP never resends a POST")
		}
		if got := r.requests(); len(got) != 1 {
			t.Fatalf("backend saw %v, want the POST once", got)
		}
	})
	t.Run("a refused connection is not retried", func(t *testing.T) {
		r := newResetter(t, 0)
		c := client(r)
		r.srv.Close()
		if !netHTTPRetries(ctx, http.MethodPut, func() error { _, err := c.hc.Get(c.base); return err }()) {
			return
		}
		t.Fatal("a refused connection counts as retryable; Net::HTTP raises ECONNREFUSED at once")
	})
}

// fullListener is a TCP port whose accept queue is full and never drained: the kernel drops
// further SYNs, so a connect to it hangs the way one to a pod IP that is gone does.
func fullListener(t *testing.T) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(sa.(*syscall.SockaddrInet4).Port))
	// Fill the queue: connections the kernel completes until it starts dropping SYNs.
	for i := 0; i < 8; i++ {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil {
			return addr
		}
		t.Cleanup(func() { _ = c.Close() })
	}
	t.Skip("the kernel kept accepting connections into a full queue")
	return ""
}

// TestBackendClientTimeouts pins porta's Faraday timeouts: a connect that hangs fails after
// open_timeout as a connect error, which Net::HTTP does not retry; a listener that accepts
// and does not answer in `timeout` fails as a read timeout, which it retries once for a PUT.
func TestBackendClientTimeouts(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	t.Run("a connect that hangs is an open timeout", func(t *testing.T) {
		c := newBackendClient(Stores{BackendURL: "http://" + fullListener(t)}, 10*time.Second, 200*time.Millisecond)
		err := c.saveService(ctx, 5, "pk", "1", "live")
		var op *net.OpError
		if !errors.As(err, &op) || op.Op != "dial" || !op.Timeout() {
			t.Fatalf("saveService to a connect that hangs: %v, want a dial timeout", err)
		}
		if ctx.Err() != nil {
			t.Fatal("the connect waited for the test's deadline, not open_timeout")
		}
	})
	t.Run("an answer that does not come is a read timeout, retried once for a PUT", func(t *testing.T) {
		var mu sync.Mutex
		seen := 0
		release := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			seen++
			mu.Unlock()
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}))
		defer srv.Close()
		defer close(release)
		c := newBackendClient(Stores{BackendURL: srv.URL}, 200*time.Millisecond, 10*time.Second)
		err := c.saveService(ctx, 5, "pk", "1", "live")
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Fatalf("saveService to a listener that does not answer: %v, want a timeout", err)
		}
		mu.Lock()
		defer mu.Unlock()
		if seen != 2 {
			t.Fatalf("the listener saw the PUT %d times, want 2 (max_retries 1)", seen)
		}
	})
}
