package system

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
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
		return newBackendClient(Stores{BackendURL: r.srv.URL, BackendUser: "u", BackendPassword: "p"}, 5*time.Second)
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
