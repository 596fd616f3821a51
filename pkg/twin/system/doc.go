// Package system is the twin of 3scale's porta ("system"): system-app and system-sidekiq
// re-implemented in Go so that they fail the way porta fails when their real dependencies
// stop answering. Nothing here is told that a dependency is "down"; every failure comes from a
// refused or broken connection to one of the real servers:
//
//   - system-mysql (MariaDB, go-sql-driver/mysql): all state. The schema is created and seeded
//     at start (retried while MariaDB does not answer). With MariaDB gone, every request that
//     needs it answers 500 while /check.txt and master /status keep answering
//     (research/porta-zync.md §7).
//   - system-memcache (memcached, gomemcache): a read-through cache for the master-by-host and
//     provider-key lookups; failures are logged and fall through to MySQL, as Dalli's errors
//     are swallowed by Rails.cache (§7). ZyncWorker's tenant token is a lasting MySQL row,
//     not cached (worker.go oidcSyncToken).
//   - system-redis: Sidekiq's store (package sidekiq). porta at 3scale-2.16.4-GA runs Rails
//     7.0 (2.15.1-GA: 6.0), which pushes a job the moment it is enqueued, so a write does what
//     its enqueues' place decides (jobs.go): a job enqueued inside the transaction rolls the
//     write back with a 500 (signup with a password, backend API delete); one enqueued by an
//     after_commit callback answers 500 with the write committed, and the callbacks after it
//     in Rails' reverse order of declaration never run (afterCommit); an event published
//     outside any transaction loses its job with a log and the request goes on (publish).
//   - system-searchd (Sphinx searchd real-time indexes over SphinxQL): filled only by Sidekiq
//     jobs; read by account_query (500 when down), the admin search pages (503 "Search is
//     temporarily offline") and the mapping rules search (500, no SearchSupport) (§3).
//   - backend-listener's internal API: synchronous syncs of services, service tokens,
//     applications, keys and usage limits inside the request (§4.2 sync table); metric syncs,
//     deletions and event fetching from Sidekiq jobs (§4.2 async table).
//   - backend-redis: read directly by the analytics endpoints (§2 "where the data comes from";
//     key layout in research/apicast-apisonator.md §7).
//   - zync: PUT /tenant and PUT /notification from ZyncWorker with zync's retry schedule (§5.1).
//
// RunApp serves the three system-app containers (master, provider, developer; §1.1) from one
// process on three listeners: tenant resolution by Host or X-Forwarded-Host (§1.2), the https
// redirect (§1.3), access-token and provider-key authentication with porta's 403 bodies (§1.4),
// porta's formats and status codes (§1.5), the Account Management API rows the harness uses
// (§2), the proxy configs APIcast reads from system-master (§6), the admin and developer
// portal pages, /check.txt and master /status (§7).
//
// The surfaces the harness consumes follow porta 3scale-2.16.4-GA (3scale-2.15.1-GA where it
// differs), each citing the real source where it is implemented: the admin sign-in with its
// CSRF meta tag and forgery protection (login.go), application JSON and XML per
// backend_version (application_repr.go), notification settings, backend alert limits and the
// alert import and page (notification_settings.go, worker.go, portals.go), the application
// key limit (api_accounts.go), the service token from a Sidekiq job, product deletion
// (api_services.go), the seeded master service, provider, "API" product and sample data
// (seed.go, worker_seed.go) and the developer portal's access code (devportal.go).
//
// RunSidekiq runs system-sidekiq: sidekiq.Run with a handler per porta job class
// (SphinxIndexationWorker, SphinxAccountIndexationWorker, BackendMetricWorker,
// BackendUpdateApplicationPlanJob, ZyncWorker, BackendDeleteServiceWorker,
// BackendDeleteApplicationWorker, DeleteObjectHierarchyWorker, ActionMailer::MailDeliveryJob,
// EventsFetchWorker, PersistEventWorker, EventImportWorker, CreateServiceTokenWorker,
// SignupWorker and its SampleDataWorker and ImportSimpleLayoutWorker, AuditedWorker,
// PublishEnabledChangedEventForProviderApplicationsWorker), plus a periodic EventsFetchWorker
// enqueue.
//
// Configuration is AppConfig and SidekiqConfig (every address and credential a field), or
// AppConfigFromEnv / SidekiqConfigFromEnv for porta's environment names. SearchdConfig renders
// a searchd.conf with the indexes the twin writes.
package system
