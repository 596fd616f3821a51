// Package zync is the twin of 3scale's zync: the API process the 3scale operator deploys as
// zync and the que worker it deploys as zync-que, written in Go against a real PostgreSQL
// (zync-database) with zync's tables and que's job table, so that they fail the way zync fails
// when that database stops answering.
//
// The flow is the one system drives (research/porta-zync.md §5.1, §5.2):
//
//   - System's ZyncWorker sends PUT /tenant (the tenant's admin endpoint and an access token)
//     and PUT /notification (a ZyncEvent: type Application, Proxy, Service or Provider, id,
//     tenant_id, service_id), with `Authorization: Token token="…"`. RunAPI records the model
//     and the notification and enqueues an UpdateJob into que_jobs in the same transaction,
//     deduplicated per model, so while zync-que is down que_jobs grows by distinct models.
//   - RunQue locks jobs from que_jobs, fetches each entity back from system's Account
//     Management API with the tenant's token (applications/find.json, services/{id}/proxy.json,
//     provider.json), records it in entries and, when given a Kubernetes REST config, makes the
//     route.openshift.io/v1 Routes of a hosted Proxy (zync-3scale-api-*, to apicast-production
//     and apicast-staging). A failed job keeps its row with error_count, last_error_message and
//     run_at pushed back by que's count⁴+3 s back-off (§5.2 "Retries").
//
// Failure behaviour comes from the database connection only (§5.3, §8): with PostgreSQL down,
// PUT /tenant and PUT /notification answer 500 within the connect timeout, /status/live
// answers 500 (it queries the database), /status/ready keeps answering 200, and zync-que's
// polls fail. Both processes use pools that redial, so they recover on their own when
// PostgreSQL returns; nothing is told that the database is "scaled down". The operator runs
// zync-database on an emptyDir (research/3scale-operator.md §2.6): after a scale to zero the
// schema is gone, /status/live fails until zync restarts, and RunAPI recreates the schema at
// start, as zync does (§4.2).
package zync
