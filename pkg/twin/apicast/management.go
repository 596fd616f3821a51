package apicast

import (
	"io"
	"net/http"
)

// managementHandler serves APIcast's management API in the mode APICAST_MANAGEMENT_API picks
// (APIcast@3scale-2.16.3-GA gateway/src/apicast/management.lua _M.router). In "status" mode,
// the operator's (§2.4):
//
//	GET /status/live   200 {"status":"live","success":true}
//	GET /status/ready  200 {"status":"ready","success":true} with at least one service,
//	                   200 {"status":"warning","warning":"no services","success":true} with none,
//	                   412 {"status":"error","error":"not configured","success":false} before
//	                   a boot configuration is loaded.
//
// Neither probe looks at backend-listener or system. Lazy mode counts as configured from the
// start, so a staging gateway stays ready while system is down. In "disabled" mode GET /
// answers 403 (_M.disabled) and every other path 404, so the readiness probe fails; an unknown
// mode serves no route at all (management.lua logs "invalid management api setting"). An
// unmatched path is a 404 with no body in every mode (_M.call).
func (g *gateway) managementHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNotFound) })
	mode := g.cfg.ManagementAPI
	if mode == "" {
		mode = ManagementStatus
	}
	switch mode {
	case ManagementStatus:
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
	case ManagementDisabled:
		mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusForbidden) })
	default:
		g.log.Error("invalid management api setting", "mode", mode)
	}
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
