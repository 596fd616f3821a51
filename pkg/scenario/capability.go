package scenario

import (
	"fmt"
	"slices"
	"strings"
)

// Capability is a user journey that the harness samples continuously from
// outside 3scale, through 3scale's own interfaces: the two gateways, the Account
// Management and Analytics APIs, the master proxy-config API APIcast itself
// calls, the Service Management API, the portals, and the job stores
// (backend-redis, system-redis, zync-database) read the way their owners lay
// them out. Each constant's comment says what one sample does and what
// "healthy" (Sample.OK) means; the probe that implements it must do exactly
// that, because every scenario file's expectations are written against it.
type Capability string

// The capabilities, in report order.
const (
	// ProductionTraffic sends an authorized request (the harness
	// application's valid key, a path that a mapping rule matches) through
	// apicast-production. Healthy: a 2xx that the harness's upstream produced
	// (its marker is in the body), not a gateway answer.
	ProductionTraffic Capability = "production-traffic"

	// StagingTraffic is ProductionTraffic through apicast-staging, whose
	// configuration is the staging (sandbox) one. Healthy: a 2xx from the
	// upstream.
	StagingTraffic Capability = "staging-traffic"

	// UnauthorizedDenial sends a request with a key 3scale has never issued
	// through both gateways. Healthy: neither request reached the upstream;
	// a gateway denial (403, 401, or 404 when the gateway has no
	// configuration) or no answer at all both count. A 2xx from the upstream
	// means the gateway failed open, the one outcome no outage may cause.
	UnauthorizedDenial Capability = "unauthorized-denial"

	// GatewayConfigRetrieval fetches the production proxy configuration the
	// way a starting apicast-production does: GET
	// /master/api/proxy/configs/production.json on system-master with the
	// APIcast access token. Healthy: 200 with the harness product in
	// proxy_configs. When it fails, a new gateway pod cannot boot.
	GatewayConfigRetrieval Capability = "gateway-config-retrieval"

	// RateLimiting uses a second application whose plan limits hits per
	// minute. A sample sends requests through apicast-production until the
	// gateway answers 429, giving up after the limit plus a margin. Healthy:
	// a 429 within that bound (its body is the product's error_limits_exceeded,
	// "Usage limit exceeded" by porta's default, porta@3scale-2.16.4-GA:db/schema.rb;
	// not checked, since providers change it). Limits are enforced from
	// counters the backend worker applies, so an outage that freezes them only
	// shows once the current minute has ended.
	RateLimiting Capability = "rate-limiting"

	// Analytics reads the harness service's hits through the Analytics API
	// (GET /stats/services/{id}/usage.json, a token with the stats scope).
	// Healthy: 200 with a usage total. Whether the total counts every hit is
	// the deferred-work check, run after recovery (see WorkCheck).
	Analytics Capability = "analytics"

	// Alerts reports usage through the Service Management API (POST
	// /transactions.xml to backend-listener) for an application, from a pool
	// made before the fault, whose plan has alert levels, until it crosses a
	// level; then it waits, within a bound, for that alert to appear in
	// system's alerts list. Healthy: the alert appears in time. The chain is
	// backend-worker (computes the alert) → events hook → system-app →
	// system-sidekiq (imports it) → system database.
	Alerts Capability = "alerts"

	// AdminAPIRead lists the harness's products and finds its buyer account
	// through the Account Management API on system-provider. Healthy: 200
	// with the harness's objects in the body.
	AdminAPIRead Capability = "admin-api-read"

	// AdminAPIWrite changes harness-owned objects through the Account
	// Management API (updates the product, creates and deletes an application
	// key) and reads them back. Healthy: every call 2xx and the read-back
	// shows the change. These writes also sync to backend synchronously and
	// enqueue jobs in system-redis after commit, so those components can
	// break them.
	AdminAPIWrite Capability = "admin-api-write"

	// AdminPortal loads the admin portal's login page on the provider admin
	// host (X-Forwarded-Proto: https). Healthy: 200 with the login form.
	AdminPortal Capability = "admin-portal"

	// DeveloperPortal loads the developer portal's home page on the
	// developer host. Healthy: 200 with the portal's HTML.
	DeveloperPortal Capability = "developer-portal"

	// Search queries the search index through the Account Management API
	// (GET /admin/api/applications.json?account_query=<org>) for an account
	// indexed before the fault. Healthy: 200 listing the harness's
	// application.
	Search Capability = "search"

	// SearchIndexing creates a buyer account with a unique organisation
	// name and polls Search for it within a bound. Healthy: it becomes
	// findable in time. The index is written by a Sidekiq job, so this needs
	// system-app, system-redis, system-sidekiq and searchd together.
	SearchIndexing Capability = "search-indexing"

	// BackgroundJobs inspects system's Sidekiq store in system-redis (DB 1):
	// the processes set and every queue:<name> list. Healthy: at least one
	// Sidekiq process with a heartbeat under 60s old, and no queued job older
	// than the bound. It judges whether jobs are taken, not whether each job
	// succeeds: a job that fails goes to the retry set and is judged by the
	// capability it serves.
	BackgroundJobs Capability = "background-jobs"

	// ZyncSync updates a harness application through the Account Management
	// API and waits, within a bound, for zync's database to record an entry
	// for it newer than the update. Healthy: the entry appears in time. The
	// chain is system-app → system-redis → system-sidekiq (ZyncWorker) →
	// zync → zync-database → zync-que (which reads the object back from
	// system-app).
	ZyncSync Capability = "zync-sync"

	// BackendReportQueue inspects the report queue in backend-redis (Resque
	// list resque:queue:priority on the queues database). Healthy: no report
	// job older than the bound, that is, backend-worker keeps up with what
	// the listener enqueues.
	BackendReportQueue Capability = "backend-report-queue"

	// FailedJobRescheduling inspects resque:failed in backend-redis, where
	// the harness plants a canary failed report job for its own application.
	// Healthy: no failed job is older than the reschedule period
	// (RESCHEDULE_JOBS_FREQ, 300s by default) plus a margin, that is,
	// backend-cron keeps moving failed jobs back to their queue.
	FailedJobRescheduling Capability = "failed-job-rescheduling"
)

var allCapabilities = []Capability{
	ProductionTraffic,
	StagingTraffic,
	UnauthorizedDenial,
	GatewayConfigRetrieval,
	RateLimiting,
	Analytics,
	Alerts,
	AdminAPIRead,
	AdminAPIWrite,
	AdminPortal,
	DeveloperPortal,
	Search,
	SearchIndexing,
	BackgroundJobs,
	ZyncSync,
	BackendReportQueue,
	FailedJobRescheduling,
}

var capabilitySummaries = map[Capability]string{
	ProductionTraffic:      "authorized request through apicast-production reaches the upstream",
	StagingTraffic:         "authorized request through apicast-staging reaches the upstream",
	UnauthorizedDenial:     "request with an unknown key never reaches the upstream through either gateway",
	GatewayConfigRetrieval: "system-master serves the production proxy config a booting gateway needs",
	RateLimiting:           "apicast-production answers 429 once an application spent its per-minute limit",
	Analytics:              "Analytics API answers with the service's usage; hits are counted",
	Alerts:                 "usage crossing an alert level shows up as an alert in system",
	AdminAPIRead:           "Account Management API lists and finds the harness's objects",
	AdminAPIWrite:          "Account Management API writes succeed and read back",
	AdminPortal:            "admin portal login page renders",
	DeveloperPortal:        "developer portal home page renders",
	Search:                 "account_query search finds an account indexed before the fault",
	SearchIndexing:         "a new account becomes searchable within the bound",
	BackgroundJobs:         "Sidekiq is alive and takes jobs from system-redis queues",
	ZyncSync:               "an application change reaches zync's database within the bound",
	BackendReportQueue:     "backend-worker keeps the Resque report queue from ageing",
	FailedJobRescheduling:  "backend-cron moves failed report jobs back to their queue",
}

// Capabilities returns every capability in report order.
func Capabilities() []Capability {
	return slices.Clone(allCapabilities)
}

// ParseCapability returns the capability with the given name, or an error that
// lists the valid ones.
func ParseCapability(name string) (Capability, error) {
	c := Capability(name)
	if slices.Contains(allCapabilities, c) {
		return c, nil
	}
	return "", fmt.Errorf("%q is not a capability; valid ones are %s", name, capabilityList())
}

// Summary returns a one-line description of the capability, for plans and
// reports; the constant's doc comment has the full definition.
func (c Capability) Summary() string {
	return capabilitySummaries[c]
}

// String returns the capability's name.
func (c Capability) String() string {
	return string(c)
}

func capabilityList() string {
	names := make([]string, len(allCapabilities))
	for i, c := range allCapabilities {
		names[i] = string(c)
	}
	return strings.Join(names, ", ")
}
