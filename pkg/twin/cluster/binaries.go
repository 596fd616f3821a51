package cluster

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// KubeVersion is the Kubernetes release whose control plane the cluster runs. It matches the
// k8s.io/client-go release in go.mod (v0.X.Y goes with v1.X.Y); a test keeps the two in step.
const KubeVersion = "v1.35.4"

// KubeBinDirEnv overrides where the kube binaries are looked for.
const KubeBinDirEnv = "THREESCALE_KUBE_BIN_DIR"

// DefaultEtcdPath is where Debian's etcd-server package installs etcd.
const DefaultEtcdPath = "/usr/bin/etcd"

// DefaultKubeBinDir is where `make deps` builds the kube binaries:
// $THREESCALE_KUBE_BIN_DIR, else ${XDG_CACHE_HOME:-~/.cache}/threescale-chaos/kube/<KubeVersion>.
func DefaultKubeBinDir() string {
	if d := os.Getenv(KubeBinDirEnv); d != "" {
		return d
	}
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			home = os.TempDir()
		}
		cache = filepath.Join(home, ".cache")
	}
	return filepath.Join(cache, "threescale-chaos", "kube", KubeVersion)
}

// Binaries are the executables the control plane is made of.
type Binaries struct {
	Etcd                  string
	KubeAPIServer         string
	KubeControllerManager string
	KubeScheduler         string
}

// FindBinaries locates etcd and the kube binaries and checks each is an executable file, so
// that a missing one is reported before anything starts, with how to get it.
func FindBinaries(kubeBinDir, etcdPath string) (Binaries, error) {
	if kubeBinDir == "" {
		kubeBinDir = DefaultKubeBinDir()
	}
	if etcdPath == "" {
		etcdPath = DefaultEtcdPath
		if p, err := exec.LookPath("etcd"); err == nil {
			etcdPath = p
		}
	}
	b := Binaries{
		Etcd:                  etcdPath,
		KubeAPIServer:         filepath.Join(kubeBinDir, "kube-apiserver"),
		KubeControllerManager: filepath.Join(kubeBinDir, "kube-controller-manager"),
		KubeScheduler:         filepath.Join(kubeBinDir, "kube-scheduler"),
	}
	var errs []error
	for _, p := range []string{b.Etcd, b.KubeAPIServer, b.KubeControllerManager, b.KubeScheduler} {
		if err := checkExecutable(p); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return b, fmt.Errorf("%w (run `make deps`: it installs etcd-server and builds the kube %s binaries into %s)", errors.Join(errs...), KubeVersion, kubeBinDir)
	}
	return b, nil
}

func checkExecutable(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("missing binary %s", path)
		}
		return fmt.Errorf("binary %s: %w", path, err)
	}
	if fi.IsDir() || fi.Mode()&0o111 == 0 {
		return fmt.Errorf("binary %s is not an executable file", path)
	}
	return nil
}
