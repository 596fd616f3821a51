// Package target is the target file, how the harness reaches one 3scale install, and its
// discovery from a cluster.
//
//   - [Target] ([Load]) names the namespace, the gateway, admin, master and developer
//     portal endpoints with their Host headers, the Secrets holding the tokens, and how to
//     reach backend-redis, system-redis and zync-database (a direct address, or a
//     port-forward to the store's pod). It is the same schema the twin writes, defined here
//     again because the harness never imports the twin.
//   - [Discover] builds a Target from what a cluster shows (APIManager, Routes, Ingresses,
//     Services, the operator's Secrets); an [Override] file ([Merge]) fills in or replaces
//     what discovery could not know.
//
// Nothing here connects to 3scale: package threescale does, from a Target.
package target
