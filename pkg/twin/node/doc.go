// Package node is the twin's node agent: a small kubelet that registers one Node, keeps its
// Lease and Ready condition fresh, and runs every pod bound to it as local processes
// (package container does the per-process work).
//
// It keeps the kubelet's contract where the harness can see it: init containers in order,
// restartPolicy with crash back-off, startup, liveness and readiness probes with their timing
// fields, container states and restart counts, the pod phase and its Initialized,
// ContainersReady and Ready conditions, and deletion with SIGTERM, the grace period, SIGKILL,
// and then removal of the pod object. Only hostNetwork pods run: the node has no pod network.
package node
