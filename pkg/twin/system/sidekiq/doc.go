// Package sidekiq is a Sidekiq 7 work-alike on system-redis DB 1, with Sidekiq's own Redis
// layout (research/porta-zync.md §4.1), so that the harness's queue checks read real keys.
// The twin's system-app enqueues with Enqueue / EnqueueActiveJob; its system-sidekiq runs Run
// with a Handler per job class.
//
// # Redis layout (DB 1, no namespace)
//
//   - queue:<name>: LIST of job JSON. Clients LPUSH; servers BRPOP over all of Queues in
//     order, so a queue is only served when every queue before it is empty (strict order, as
//     porta's unweighted --queue list) and jobs are FIFO within a queue. `queues` is a SET of
//     the queue names ever pushed to.
//   - retry: ZSET of failed jobs scored by the float epoch at which they are due again; the
//     member is the job JSON with retry_count, error_class, error_message and failed_at (first
//     failure) or retried_at (later ones). Failed jobs wait here, not in queue:*.
//   - schedule: ZSET of jobs due at their score, handled like retry.
//   - dead: ZSET of jobs whose retries are exhausted (retry_count reached MaxRetries, or the
//     job's own "retry": n), scored by the time they died; trimmed to 10,000 members and
//     6 months.
//   - stat:processed, stat:failed and stat:processed:YYYY-MM-DD, stat:failed:YYYY-MM-DD (UTC):
//     counters flushed by each heartbeat (every job counts as processed, failed ones also as
//     failed).
//   - j|YYYYMMDD|H:M (UTC minute): HASH of that minute's counts per job class, "<class>|p"
//     processed, "<class>|f" failed, "<class>|ms" time, flushed by each heartbeat with an 8h
//     TTL (Sidekiq 7's execution metrics; see MetricsKey).
//   - processes: SET of the live servers' identities (hostname:pid:<12 hex>). Each identity is
//     a HASH with info (JSON: hostname, started_at, pid, tag, concurrency, queues, labels,
//     identity, version), busy, beat (float epoch) and quiet ("true" once stopping), with a
//     60s TTL refreshed every Heartbeat; <identity>:work is a HASH of the running jobs
//     ({queue, payload, run_at}) with the same TTL. A clean shutdown removes the identity from
//     processes; a killed server's hash expires and its identity is pruned from processes
//     (at most once a minute, by any server) so SMEMBERS processes empties.
//
// # Job JSON
//
// Native jobs (ZyncWorker, ...) as Sidekiq 7.3 writes them:
//
//	{"retry":true,"queue":"zync","args":[...],"class":"ZyncWorker","jid":"<24 hex>",
//	 "created_at":1714557600.123456,"enqueued_at":1714557600.123456}
//
// ActiveJob jobs as Rails 7.0's adapter writes them (porta@3scale-2.16.4-GA bundles rails
// 7.0.8.7): class ActiveJobWrapper, wrapped the job class, and args a single envelope
// {job_class, job_id, provider_job_id, queue_name, priority, arguments, executions,
// exception_executions, locale, timezone, enqueued_at}; scheduled_at came with Rails 7.1.
// Job.Args is the envelope's arguments for those, and Job.Name() the wrapped class.
//
// # Failures and retries
//
// A handler error (or panic, or a job whose class has no handler: error_class "NameError")
// sends the job to retry with the delay RetryIn[class](retry_count), Sidekiq's
// count**4 + 15 + rand(10)*(count+1) seconds by default (DefaultRetryIn; porta's ZyncWorker
// schedule is ZyncWorkerRetryIn). Errors record error_class "RuntimeError" unless they carry a
// class (WithErrorClass). Every ~PollInterval each server moves due members of schedule and
// retry back onto queue:<queue> with a Lua script (ZREM, then LPUSH only if this server removed
// it), so a job is neither duplicated between servers nor lost.
//
// # Redis outages and shutdown
//
// Enqueue returns the Redis error at once when system-redis is down: porta does not buffer
// (§4.3). Run never exits on Redis errors: it logs once per outage, backs off (up to 1s) and
// resumes when Redis answers again; a failure that cannot be written to retry/dead is retried
// until it can. When ctx ends Run stops fetching (a job popped meanwhile goes back onto its
// queue), lets running jobs finish for up to ShutdownTimeout, then pushes the ones still
// running back onto their queues (RPUSH, so they are served next, in no particular order among
// themselves; Sidekiq OSS requeues the same way) and ignores whatever their handlers return.
// Last it flushes the counters and clears its heartbeat.
//
// Inspection helpers read the same keys the harness reads: QueueLengths, QueuedJobs, RetrySet,
// DeadSet, ScheduledSet, Processes, Stats.
package sidekiq
