// Package echo is the twin's upstream API: an HTTP server that answers every request with a
// JSON description of it, so a test can see what the gateway forwarded. It listens with
// SO_REUSEPORT so that several replicas of a hostNetwork Deployment share one port.
package echo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/threescale-chaos/harness/pkg/twin/reuseport"
)

// ShutdownMessage is printed when the server stops on its context (SIGTERM in the binary).
const ShutdownMessage = "echo: shutting down gracefully"

// Config of one echo server.
type Config struct {
	// Addr is host:port to listen on.
	Addr string
	// ReadyFile, when set, makes /ready answer 200 only while that file exists, so a test can
	// drive a readiness probe from outside. Without it /ready is always 200.
	ReadyFile string
	// Name is reported in every answer (the pod name, for example).
	Name string
}

// Handler answers /healthz (always 200), /ready (see Config.ReadyFile) and echoes anything else.
func Handler(cfg Config) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/ready", func(w http.ResponseWriter, _ *http.Request) {
		if cfg.ReadyFile != "" {
			if _, err := os.Stat(cfg.ReadyFile); err != nil {
				http.Error(w, "not ready: "+cfg.ReadyFile+" is absent", http.StatusServiceUnavailable)
				return
			}
		}
		fmt.Fprintln(w, "ready")
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"method":  r.Method,
			"path":    r.URL.Path,
			"query":   r.URL.RawQuery,
			"host":    r.Host,
			"headers": r.Header,
			"server":  cfg.Name,
		})
	})
	return mux
}

// Serve runs the server until ctx ends, then shuts down gracefully (in-flight requests
// finish), as a well-behaved pod does on SIGTERM.
func Serve(ctx context.Context, cfg Config) error {
	l, err := reuseport.Listen(ctx, cfg.Addr)
	if err != nil {
		return fmt.Errorf("echo: listen on %s: %w", cfg.Addr, err)
	}
	srv := &http.Server{Handler: Handler(cfg), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	// Said on stdout so that a test can tell a graceful stop from a SIGKILL.
	fmt.Println(ShutdownMessage)
	shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
