// Package deploy renders the 3scale twin's manifests (fixtures/twin) for this machine and
// applies them to a cluster: server-side apply of every object, then a wait until every
// Deployment is Ready. Rendering fills in what differs per machine and per run: the twin
// binary's path, the persistent data directory, the uids of Debian's service users, the
// PostgreSQL binaries' directory, ports, and the credentials, generated on the first deploy
// on a data directory and kept in it for every later one, as the operator never replaces a
// Secret value it once wrote (operator@3scale-2.16.3-GA:pkg/reconcilers/secret.go
// DefaultsOnlySecretMutator).
package deploy
