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

	// GatewayRollout watches apicast-production's pods (through its Deployment's
	// selector). Healthy: no pod has been starting, not Ready, for longer than a bound
	// (60s by default: the readiness probe starts after 15s and runs every 30s). Where a
	// scenario expects it deferred, its work probe also deploys a new pod while the fault
	// holds (a rollout restart, as `kubectl rollout restart` does; the old pod keeps
	// serving until the new one is Ready) and checks after recovery that the new pod
	// became Ready and replaced the old one. It is GatewayConfigRetrieval's claim made
	// with a real pod: a gateway deployed during a system outage does not start.
	GatewayRollout Capability = "gateway-rollout"

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
	// system's alerts list. Between crossings (one a minute) each sample reports
	// zero hits, which changes no counter, to see that reports are accepted.
	// Healthy: reports are accepted and the alert appears in time. The chain is
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

	// AdminAccountSearch searches the admin portal's accounts list for the
	// harness's buyer organisation, signed in as the provider admin (its
	// session cookie, never a token): GET /buyers/accounts?search[query]=<org>.
	// Healthy: 200 with the account's row (found by its id, not by the
	// echoed query). Reads only.
	//
	// It and AdminRuleSearch are two capabilities, not one: the doc states
	// each search box's failure separately, and they fail differently (the
	// accounts list rescues a searchd error into a 503 page, the mapping
	// rules do not: 500), so one sample that stops at the first failing page
	// could not assert the second. The developer portal's search is
	// DeveloperPortalSearch; its forum search is gone at 2.16
	// (scenarios/system-searchd.yaml, claim system-sphinx/4).
	AdminAccountSearch Capability = "admin-account-search"

	// AdminRuleSearch searches the harness product's mapping rules in the
	// admin portal for the fixture's searchable rule, signed in as
	// AdminAccountSearch is: GET
	// /apiconfig/services/<id>/proxy_rules?search[query]=<token>. Healthy:
	// 200 with that rule's row (its edit link). Reads only.
	AdminRuleSearch Capability = "admin-rule-search"

	// DeveloperPortalSearch searches the developer portal for the run's
	// token, signed in as the fixture's buyer user (the portal's own
	// sign-in, GET /login and POST /session, with the provider's access
	// code): GET /search.json?q=<token>. A visitor would be sent to /login
	// unless the provider turned public_search on, which is off by default
	// and which the harness does not change. Healthy: 200 listing the
	// fixture's CMS page, published with Liquid off before the fault. Reads
	// only.
	DeveloperPortalSearch Capability = "developer-portal-search"

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

	// MailQueue signs up a buyer account through the Account Management API
	// (SearchIndexing's write; at most once per write interval) and looks,
	// within a bound, for the mail porta queues for it in Sidekiq's store in
	// system-redis: the account_created notification's
	// ProcessNotificationEventWorker on queue:default, which has every
	// provider user sent NotificationMailer's mail
	// (porta@3scale-2.16.4-GA:app/lib/signup/account_manager.rb:33,77-80,
	// app/events/notification_event.rb:20-22,
	// app/workers/process_notification_event_worker.rb:4-11,45-49). Healthy:
	// such a job created since the signup began waits in queue:default or the
	// retry set, or Sidekiq's execution metrics (j|<minute>) count one
	// processed. The account is deleted afterwards. No mail server is involved:
	// a job that waits because Sidekiq is down still counts as queued.
	MailQueue Capability = "mail-queue"

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

	// StatsPurge keeps a deleted service's statistics pending backend-cron's
	// purge in backend-redis: the harness plants a service marked for
	// deletion (set_with_services_marked_for_deletion, as DELETE
	// /internal/services/:id/stats leaves it when porta deletes a product)
	// with two stats keys, under an id that is not a number and carries the
	// run's token. Healthy: each plant is pending, being purged or purged;
	// one whose statistics remain while its mark is gone is purge work lost.
	// The purge runs when cron starts and then daily (DELETE_STATS_FREQ), so
	// only backend-cron's outage, whose restore starts cron, judges the purge
	// itself: plants made during it must be gone after recovery
	// (apisonator@3scale-2.16.4-GA:openshift/backend-cron,
	// lib/3scale/backend/stats/cleaner.rb). The run removes its plants at
	// the end; a killed run's are removed by cron's next purge.
	StatsPurge Capability = "stats-purge"

	// IntegrationErrors reports, through backend-listener, one hit of a
	// metric the product does not have (a name with the run's token) and
	// waits, within a bound, for backend's integration error for it
	// (`metric "<name>" is invalid`) on the admin portal's integration
	// errors page, /apiconfig/services/<id>/errors, signed in. Healthy: it
	// is listed in time. backend-worker stores the error when it drops the
	// report's job (apisonator@3scale-2.16.4-GA:
	// lib/3scale/backend/transactor/report_job.rb:10-27), and porta reads
	// the list from backend's internal API
	// (porta@3scale-2.16.4-GA:app/controllers/api/errors_controller.rb), so
	// the chain is backend-listener → backend-redis → backend-worker, then
	// system-app (with its database) → backend-listener. Nothing is
	// counted: the dropped job applies none of its usage. The run's errors
	// are deleted from backend-redis with its product.
	IntegrationErrors Capability = "integration-errors"
)

var allCapabilities = []Capability{
	ProductionTraffic,
	StagingTraffic,
	UnauthorizedDenial,
	GatewayConfigRetrieval,
	GatewayRollout,
	RateLimiting,
	Analytics,
	Alerts,
	AdminAPIRead,
	AdminAPIWrite,
	AdminPortal,
	DeveloperPortal,
	Search,
	AdminAccountSearch,
	AdminRuleSearch,
	DeveloperPortalSearch,
	SearchIndexing,
	BackgroundJobs,
	MailQueue,
	ZyncSync,
	BackendReportQueue,
	FailedJobRescheduling,
	StatsPurge,
	IntegrationErrors,
}

var capabilitySummaries = map[Capability]string{
	ProductionTraffic:      "authorized request through apicast-production reaches the upstream",
	StagingTraffic:         "authorized request through apicast-staging reaches the upstream",
	UnauthorizedDenial:     "request with an unknown key never reaches the upstream through either gateway",
	GatewayConfigRetrieval: "system-master serves the production proxy config a booting gateway needs",
	GatewayRollout:         "a new apicast-production pod becomes Ready; none is stuck starting",
	RateLimiting:           "apicast-production answers 429 once an application spent its per-minute limit",
	Analytics:              "Analytics API answers with the service's usage; hits are counted",
	Alerts:                 "usage crossing an alert level shows up as an alert in system",
	AdminAPIRead:           "Account Management API lists and finds the harness's objects",
	AdminAPIWrite:          "Account Management API writes succeed and read back",
	AdminPortal:            "admin portal login page renders",
	DeveloperPortal:        "developer portal home page renders",
	Search:                 "account_query search finds an account indexed before the fault",
	AdminAccountSearch:     "admin portal's accounts search finds the harness's buyer",
	AdminRuleSearch:        "admin portal's mapping-rules search finds the harness's rule",
	DeveloperPortalSearch:  "developer portal's search finds the harness's page for its signed-in buyer",
	SearchIndexing:         "a new account becomes searchable within the bound",
	BackgroundJobs:         "Sidekiq is alive and takes jobs from system-redis queues",
	MailQueue:              "a buyer signup queues its notification mail job in system-redis",
	ZyncSync:               "an application change reaches zync's database within the bound",
	BackendReportQueue:     "backend-worker keeps the Resque report queue from ageing",
	FailedJobRescheduling:  "backend-cron moves failed report jobs back to their queue",
	StatsPurge:             "deleted services' statistics wait in backend-redis for backend-cron's purge",
	IntegrationErrors:      "a report backend rejects shows as an integration error in the admin portal",
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
