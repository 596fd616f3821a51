// Command pause is the sandbox ("pause") container of the offline kind node image: the
// process that holds a pod's namespaces while its containers come and go. It does what
// Kubernetes' own pause does, in Go because the node image is built from the Go module proxy
// alone: as PID 1 of the sandbox it reaps the orphans re-parented to it and exits 0 on SIGINT
// or SIGTERM. The image is tagged with the name containerd's sandbox_image setting and
// kubeadm expect (registry.k8s.io/pause:<kubeadm's PauseVersion>); see hack/kind-node-image.sh.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if os.Getpid() != 1 {
		os.Stderr.WriteString("pause: warning: not PID 1\n")
	}
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for s := range sigs {
		if s != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			var ws syscall.WaitStatus
			pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
