//go:build ignore

// CoreDNS for the offline kind node image, with the plugins kubeadm's Corefile names and no
// others. hack/kind-node-image.sh builds it in a throwaway module that requires
// github.com/coredns/coredns at kubeadm's CoreDNSVersion, so every package it compiles is at
// the version CoreDNS's own build uses.
//
// Why not CoreDNS's own main: it links all of its plugins (core/plugin), among them the AWS,
// Azure and Google Cloud DNS clients, which take most of a cold build and which no kind
// cluster uses. CoreDNS documents this as the way to choose plugins: a main that imports
// coremain and the plugin packages wanted.
//
// The plugins: kubeadm v1.35's Corefile (cmd/kubeadm/app/phases/addons/dns/manifests.go
// CoreDNSConfigMap) uses errors, health, ready, kubernetes, prometheus (the metrics
// package), forward, cache, loop, reload and loadbalance; log, hosts and rewrite are the
// ones a user most often adds to kind's ConfigMap. A Corefile that names any other plugin
// fails at start with "Unknown directive".
package main

import (
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/forward"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/hosts"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/loop"
	_ "github.com/coredns/coredns/plugin/metrics"
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/reload"
	_ "github.com/coredns/coredns/plugin/rewrite"

	"github.com/coredns/coredns/coremain"
)

func main() {
	coremain.Run()
}
