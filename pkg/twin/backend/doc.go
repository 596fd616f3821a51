// Package backend is the twin of apisonator, 3scale's backend: the three processes the 3scale
// operator deploys as backend-listener, backend-worker and backend-cron, written in Go against
// a real Redis with apisonator's key layout, so that they fail the way apisonator fails when
// that Redis stops answering.
//
// The split of work between the processes is the point of the twin
// (research/apicast-apisonator.md §5):
//
//   - RunListener serves the Service Management API (authrep, authorize, report) and the
//     internal API system uses to sync services, applications, keys, metrics and limits. It only
//     reads counters; a report (or an authorized authrep with usage) becomes a Resque job pushed
//     on resque:queue:priority. With Redis gone, data endpoints answer 500 while GET /status
//     stays 200, because /status never touches Redis (§4.1, §4.2).
//   - RunWorker pops those jobs and applies them to the stats counters, writes first-traffic
//     and alert events, and pushes jobs it cannot apply to resque:failed in Resque's failure
//     format (§5, §6). While it is down the queue grows and limits are checked against stale
//     counters, which is why rate limiting is lost in that outage.
//   - RunCron puts failed jobs back on their queue, at start and then periodically, and
//     deletes the stats of services marked for deletion (§5).
//
// Every process talks to Redis through go-redis with short timeouts and no command retries,
// so a dead Redis surfaces within a request, and reconnects on its own when Redis returns.
// Nothing here is told that Redis is down: every failure comes from the connection.
//
// Storage and queues may live in different Redis databases (apisonator's
// CONFIG_REDIS_PROXY and CONFIG_QUEUES_MASTER_NAME); the standard deployment uses one
// backend-redis for both (§7), which is the default when only RedisURL is set.
package backend
