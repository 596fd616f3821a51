// Package threescale is the harness's 3scale-facing side: how it reaches an install, the
// objects it provisions for itself, and what each capability's sample and each
// deferred-work check does (issue 4 "Fixtures", "Capabilities and probes", "Runner").
//
//   - Target ([LoadTarget]) is the target file: namespace, gateway, admin, master and
//     developer portal endpoints with their Host headers, the Secrets holding the tokens,
//     and how to reach backend-redis, system-redis and zync-database (a direct address,
//     or a client-go port-forward to the store's pod). It is the same schema the twin
//     writes, defined here again because the harness never imports the twin.
//   - Env ([Connect]) holds the clients: the Account Management API on system-provider
//     (Host <tenant>-admin.<domain>, X-Forwarded-Proto: https, access_token as a
//     parameter; research/porta-zync.md §1), master, both gateways, backend-listener
//     (research/apicast-apisonator.md §4) and the stores. Nothing retries: a retried
//     write or INCR could count twice, and a sample is one attempt by definition.
//   - Fixture ([Provision]) is the run's product, backend API, plans, account and
//     applications, deployed and promoted, made through the API (porta-zync.md §2) and
//     removed by [Fixture.Delete].
//   - [Samplers] gives one probe.Sampler per scenario.Capability, doing exactly what the
//     capability's doc comment defines; [WorkProbes] gives the deferred/lost-work checks.
//
// Tokens never appear in errors or sample details: errors name a method and a path,
// never a URL with its query, and [Env.Secrets] lists every value for redaction.
package threescale
