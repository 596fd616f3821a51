package backend

// Redis keys, as apisonator lays them out (research/apicast-apisonator.md §7, which follows
// apisonator's docs/redis_keys.md). System and the harness read some of them directly
// (stats for analytics, the queues for backlog checks), so the names are part of the twin's
// contract, not an implementation detail.

// Queue and failure keys in the queues DB. Resque namespaces every key with "resque:"
// (research/apicast-apisonator.md §5).
const (
	// QueuePriority is the Redis list report jobs are pushed to (ReportJob's queue).
	QueuePriority = "resque:queue:priority"
	// QueueMain is the list NotifyJob uses; the worker polls it after priority.
	QueueMain = "resque:queue:main"
	// QueueStats is polled last; no current apisonator job uses it.
	QueueStats = "resque:queue:stats"
	// FailedList is Resque's failed-jobs list; backend-cron requeues from it.
	FailedList = "resque:failed"

	queuesSetKey  = "resque:queues"
	workersSetKey = "resque:workers"
	statProcessed = "resque:stat:processed"
	statFailed    = "resque:stat:failed"
	queueKeyBase  = "resque:queue:"

	// rescheduleLockKey is the twin's name for FailedJobsScheduler's distributed lock; the
	// research notes the lock but not its key name.
	rescheduleLockKey = "resque:failed_jobs_scheduler:lock"
)

// workerQueues are polled in this order (research/apicast-apisonator.md §5, JobFetcher::QUEUES).
var workerQueues = []string{QueuePriority, QueueMain, QueueStats}

// Storage-DB keys not tied to one service.
const (
	servicesSetKey     = "services_set"
	providerKeysSetKey = "provider_keys_set"
	eventsIDKey        = "events/id"
	eventsQueueKey     = "events/queue"
	eventsPingKey      = "events/ping"
	alertsCurrentIDKey = "alerts/current_id"
	// DeletedServicesSet holds service ids whose stats backend-cron must purge; it is filled by
	// DELETE /internal/services/:id/stats (research/apicast-apisonator.md §5).
	DeletedServicesSet = "set_with_services_marked_for_deletion"
)

func serviceAttrKey(sid, attr string) string { return "service/id:" + sid + "/" + attr }
func providerServicesKey(pk string) string   { return "service/provider_key:" + pk + "/ids" }

// providerDefaultServiceKey holds the service used when a request names a provider key and no
// service_id.
func providerDefaultServiceKey(pk string) string { return "service/provider_key:" + pk + "/id" }
func serviceTokenKey(token, sid string) string {
	return "service_token/token:" + token + "/service_id:" + sid
}

func appAttrKey(sid, app, attr string) string {
	return "application/service_id:" + sid + "/id:" + app + "/" + attr
}
func appKeysKey(sid, app string) string { return appAttrKey(sid, app, "keys") }
func userKeyKey(sid, userKey string) string {
	return "application/service_id:" + sid + "/key:" + userKey + "/id"
}

func metricIDByNameKey(sid, name string) string {
	return "metric/service_id:" + sid + "/name:" + name + "/id"
}
func metricAttrKey(sid, mid, attr string) string {
	return "metric/service_id:" + sid + "/id:" + mid + "/" + attr
}

// metricIDsKey lists the metric ids of a service so limits can be enumerated without SCAN.
func metricIDsKey(sid string) string { return "metric/service_id:" + sid + "/ids" }

func usageLimitKey(sid, plan, mid, period string) string {
	return "usage_limit/service_id:" + sid + "/plan_id:" + plan + "/metric_id:" + mid + "/" + period
}

// statsPrefix is the prefix of every stats key of a service; the braces are literal (a Redis
// Cluster hash tag in apisonator) and are not special in SCAN patterns.
func statsPrefix(sid string) string { return "stats/{service:" + sid + "}/" }

// appCounterKey is the application-level counter of one metric (or "response_code:2XX") in
// one period; eternity has no timestamp suffix (research/apicast-apisonator.md §7).
func appCounterKey(sid, app, subject string, p period, ts string) string {
	return statsPrefix(sid) + "cinstance:" + app + "/" + subject + "/" + p.keyPart(ts)
}

func serviceCounterKey(sid, subject string, p period, ts string) string {
	return statsPrefix(sid) + subject + "/" + p.keyPart(ts)
}

func cinstancesKey(sid string) string { return statsPrefix(sid) + "cinstances" }
func dailyTrafficKey(sid, app, day string) string {
	return "daily_traffic/service:" + sid + "/cinstance:" + app + "/" + day
}

func alertsAllowedKey(sid string) string { return "alerts/service_id:" + sid + "/allowed_set" }
func alertNotifiedKey(sid, app string, level int) string {
	return "alerts/service_id:" + sid + "/app_id:" + app + "/" + itoa(int64(level)) + "/already_notified"
}

// errorsKey is apisonator's ErrorStorage list of integration errors per service.
func errorsKey(sid string) string { return "errors/service_id:" + sid }
