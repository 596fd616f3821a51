package apicast

import (
	"io"
	"net/http"
)

// managementHandler serves APIcast's management API in its default "status" mode (§2.4):
//
//	GET /status/live   200 {"status":"live","success":true}
//	GET /status/ready  200 {"status":"ready","success":true} with at least one service,
//	                   200 {"status":"warning","warning":"no services","success":true} with none,
//	                   412 {"status":"error","error":"not configured","success":false} before
//	                   a boot configuration is loaded.
//
// Neither probe looks at backend-listener or system. Lazy mode counts as configured from the
// start, so a staging gateway stays ready while system is down.
func (g *gateway) managementHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status/live", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, bodyLive)
	})
	mux.HandleFunc("GET /status/ready", func(w http.ResponseWriter, _ *http.Request) {
		configured, services := g.readiness()
		switch {
		case !configured:
			writeJSON(w, http.StatusPreconditionFailed, bodyNotConfigured)
		case services == 0:
			writeJSON(w, http.StatusOK, bodyNoServices)
		default:
			writeJSON(w, http.StatusOK, bodyReady)
		}
	})
	return mux
}

// readiness reports whether a configuration is in force and how many services it holds. In lazy
// mode with no configuration cache nothing is kept between requests, so the count is 0.
func (g *gateway) readiness() (configured bool, services int) {
	if g.cfg.ConfigurationLoader == LoaderLazy {
		return true, g.lazy.services()
	}
	st := g.boot.Load()
	if st == nil {
		return false, 0
	}
	return true, len(st.services)
}

// Management answers, with their fields in the order APIcast writes them.
const (
	bodyLive          = `{"status":"live","success":true}` + "\n"
	bodyReady         = `{"status":"ready","success":true}` + "\n"
	bodyNoServices    = `{"status":"warning","warning":"no services","success":true}` + "\n"
	bodyNotConfigured = `{"status":"error","error":"not configured","success":false}` + "\n"
)

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}
