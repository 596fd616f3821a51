// Package cluster runs a local Kubernetes control plane for the 3scale twin: Debian's etcd,
// and kube-apiserver, kube-controller-manager and kube-scheduler built from the
// k8s.io/kubernetes module (see hack/build-kube.sh), on free loopback ports, with TLS and an
// admin credential written to a kubeconfig. A node agent (package node) registers the only
// Node and runs the pods bound to it as local processes.
//
// Everything the cluster writes lives under one state directory: etcd data, certificates,
// kubeconfigs, component logs and pod directories. Every process started for the cluster
// carries that directory in its command line or in its environment (MarkerEnv), which is how
// Leftovers finds anything that outlived a stop.
package cluster
