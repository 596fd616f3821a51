// Package threescale is how the harness reaches a 3scale install: the clients it connects
// from a target file (issue 4 "Fixtures", "Capabilities and probes", "Runner").
//
//   - Env ([Connect]) holds the clients: the Account Management API on system-provider
//     (Host <tenant>-admin.<domain>, X-Forwarded-Proto: https, access_token as a
//     parameter; research/porta-zync.md §1), master, the admin portal ([Portal]), both
//     gateways, backend-listener (research/apicast-apisonator.md §4) and the stores,
//     reached directly or through a client-go port-forward to the store's pod. Nothing
//     retries: a retried write or INCR could count twice, and a sample is one attempt by
//     definition.
//   - [RestartDeployment] reloads a gateway; [UpstreamCheck] and [SearchCheck] are the
//     checks the fixture waits on and the samplers sample.
//
// The target file itself is package target; the objects the run provisions are package
// fixture; what each capability's sample and deferred-work check does is package
// samplers.
//
// Tokens never appear in errors or sample details: errors name a method and a path,
// never a URL with its query, and [Env.Secrets] lists every value for redaction.
package threescale
