// Package apicast is the twin of APIcast, 3scale's API gateway, as it runs in the
// apicast-production and apicast-staging Deployments.
//
// It reproduces the behaviour the chaos harness observes from outside, taken from
// research/apicast-apisonator.md (cited as §N below and in the code):
//
//   - Configuration comes from system-master's proxy-configs endpoint
//     (GET <portal endpoint>/<env>.json[?host=]). Production loads it once at boot and
//     refreshes it periodically, keeping the last good copy when a refresh fails; a process
//     that cannot load it at boot exits. Staging loads it lazily on every request with no
//     cache, so every staging request fails (404, empty body) while system is down (§2.1–§2.3).
//   - The service is found by the request Host; credentials (user_key, or app_id/app_key)
//     are read from the query, headers or Basic authorization; mapping rules give the usage;
//     one authrep per request goes to backend-listener's Service Management API, synchronous on
//     an authorization-cache miss and after the response on a hit (§1.1, §3).
//   - The authorization cache is per process and its handler is the default strict one, or the
//     caching policy's strict, resilient, allow or none mode per service (§1.3). With strict,
//     a key cached as authorized passes exactly once more after backend-listener stops answering,
//     then every request is denied with 403 "Authentication failed". Unknown keys are never
//     let through, except under the allow mode, which is what that mode is for.
//   - The management listener answers /status/live and /status/ready (§2.4) in the operator's
//     APICAST_MANAGEMENT_API=status mode, and 403 on GET / only when it is "disabled"
//     (APIcast@3scale-2.16.3-GA:gateway/src/apicast/management.lua _M.router).
//
// Failures are never simulated: the twin fails because system or backend-listener refuse its
// connections or answer with errors, as APIcast does. Nothing here is 3scale's code; it is a
// Go re-implementation of the documented behaviour.
package apicast
