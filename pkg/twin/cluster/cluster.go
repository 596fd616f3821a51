package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// Config says where and how to run the control plane.
type Config struct {
	// Dir holds all the cluster's state. Required. Each Start begins from an empty etcd.
	Dir string
	// KubeBinDir holds kube-apiserver, kube-controller-manager and kube-scheduler;
	// DefaultKubeBinDir() when empty.
	KubeBinDir string
	// EtcdPath is the etcd binary; etcd on PATH, else DefaultEtcdPath, when empty.
	EtcdPath string
	// APIServerPort is the API server's secure port on 127.0.0.1; a free port when 0.
	APIServerPort int
	// StartTimeout bounds each component's start; 60s when 0.
	StartTimeout time.Duration
}

// ErrAlreadyRunning is returned by Start when another cluster holds the state directory.
var ErrAlreadyRunning = errors.New("a cluster is already running in this directory")

// ControlPlane is a running etcd, kube-apiserver, kube-controller-manager and kube-scheduler.
type ControlPlane struct {
	dir        string
	lock       *os.File
	plane      *envtest.ControlPlane
	components []*component
	restConfig *rest.Config
}

// Paths inside the state directory.
const (
	kubeconfigFile = "kubeconfig"
	lockFile       = "cluster.lock"
	pidFile        = "cluster.pid"
	logsDir        = "logs"
)

// stopTimeout is how long kube-apiserver and etcd get to exit after SIGTERM before they are
// killed and the stop reported as failed. kube-apiserver drains its watches first; 20 s was
// too short on a 2-core machine building the kind images beside the unit tests (a clean-clone
// make test failed pkg/chaos's TestMain on "timeout waiting for process kube-apiserver to
// stop" after every test had passed).
const stopTimeout = time.Minute

// KubeconfigPath is where Start writes the admin kubeconfig for a state directory.
func KubeconfigPath(dir string) string { return filepath.Join(dir, kubeconfigFile) }

// LogsDir is where component and pod logs go for a state directory.
func LogsDir(dir string) string { return filepath.Join(dir, logsDir) }

// StartControlPlane starts etcd, the API server, the controller manager and the scheduler, and
// returns once each answers its health check. On any error everything started is stopped.
func StartControlPlane(ctx context.Context, cfg Config) (_ *ControlPlane, retErr error) {
	if cfg.Dir == "" {
		return nil, errors.New("cluster: Config.Dir is required")
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, err
	}
	if cfg.StartTimeout == 0 {
		cfg.StartTimeout = 60 * time.Second
	}
	bins, err := FindBinaries(cfg.KubeBinDir, cfg.EtcdPath)
	if err != nil {
		return nil, err
	}
	if cfg.APIServerPort != 0 {
		if err := CheckPortFree(cfg.APIServerPort); err != nil {
			return nil, fmt.Errorf("API server port: %w", err)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	cp := &ControlPlane{dir: dir, lock: lock}
	defer func() {
		if retErr != nil {
			_ = cp.Stop()
		}
	}()
	// A fresh cluster every time: old etcd data would bring back pods of a previous run.
	for _, sub := range []string{"etcd", "pki", logsDir} {
		if err := os.RemoveAll(filepath.Join(dir, sub)); err != nil {
			return nil, fmt.Errorf("clean %s: %w", sub, err)
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, logsDir), 0o755); err != nil {
		return nil, err
	}
	etcdLog, err := os.Create(filepath.Join(dir, logsDir, "etcd.log"))
	if err != nil {
		return nil, err
	}
	defer etcdLog.Close()
	apiLog, err := os.Create(filepath.Join(dir, logsDir, "kube-apiserver.log"))
	if err != nil {
		return nil, err
	}
	defer apiLog.Close()

	api := &envtest.APIServer{
		Path:         bins.KubeAPIServer,
		CertDir:      filepath.Join(dir, "pki"),
		Out:          apiLog,
		Err:          apiLog,
		StartTimeout: cfg.StartTimeout,
		StopTimeout:  stopTimeout,
	}
	if err := os.MkdirAll(api.CertDir, 0o700); err != nil {
		return nil, err
	}
	if cfg.APIServerPort != 0 {
		api.SecureServing.Port = strconv.Itoa(cfg.APIServerPort)
		api.SecureServing.Address = "127.0.0.1"
	}
	api.Configure().
		Set("service-cluster-ip-range", "10.96.0.0/16").
		Set("endpoint-reconciler-type", "none").
		Set("profiling", "false")
	etcdDir := filepath.Join(dir, "etcd")
	if err := os.MkdirAll(etcdDir, 0o700); err != nil {
		return nil, err
	}
	cp.plane = &envtest.ControlPlane{
		Etcd: &envtest.Etcd{
			Path:         bins.Etcd,
			DataDir:      etcdDir,
			Out:          etcdLog,
			Err:          etcdLog,
			StartTimeout: cfg.StartTimeout,
			StopTimeout:  stopTimeout,
		},
		APIServer: api,
	}
	if err := cp.plane.Start(); err != nil {
		return nil, fmt.Errorf("start etcd and kube-apiserver (logs in %s): %w", LogsDir(dir), err)
	}

	// The controller manager hands this CA to pods as kube-root-ca.crt.
	caPath := filepath.Join(api.CertDir, "ca.crt")
	if err := os.WriteFile(caPath, api.SecureServing.CA, 0o644); err != nil {
		return nil, fmt.Errorf("write CA: %w", err)
	}
	admin, err := cp.plane.AddUser(envtest.User{Name: "twin-admin", Groups: []string{"system:masters"}}, &rest.Config{QPS: 100, Burst: 200})
	if err != nil {
		return nil, fmt.Errorf("create admin credential: %w", err)
	}
	cp.restConfig = admin.Config()
	if err := writeKubeconfig(admin, KubeconfigPath(dir)); err != nil {
		return nil, err
	}

	startCtx, cancel := context.WithTimeout(ctx, cfg.StartTimeout)
	defer cancel()
	if err := waitReadyz(startCtx, cp.restConfig); err != nil {
		return nil, err
	}
	// The controller manager and the scheduler authenticate with client certificates of their
	// system identities. The controller manager runs every controller under its own identity
	// (no per-controller service accounts: there is no token signer for pods here), which the
	// default roles do not cover, so it is also in system:masters.
	for _, spec := range []struct {
		name, bin, user string
		groups          []string
		args            []string
	}{
		{"kube-controller-manager", bins.KubeControllerManager, "system:kube-controller-manager", []string{"system:masters"}, []string{
			"--leader-elect=false",
			// No cloud and no node IPAM here; the node lifecycle controller would taint the
			// node and evict pods whenever heartbeats lag on a loaded machine.
			"--controllers=*,-nodeipam,-nodelifecycle,-cloud-node-lifecycle,-service-lb-controller,-node-route-controller",
			"--use-service-account-credentials=false",
			"--service-account-private-key-file=" + filepath.Join(api.CertDir, "sa-signer.key"),
			"--root-ca-file=" + caPath,
			"--concurrent-deployment-syncs=5", "--concurrent-replicaset-syncs=5",
		}},
		{"kube-scheduler", bins.KubeScheduler, "system:kube-scheduler", nil, []string{"--leader-elect=false"}},
	} {
		user, err := cp.plane.AddUser(envtest.User{Name: spec.user, Groups: spec.groups}, &rest.Config{QPS: 100, Burst: 200})
		if err != nil {
			return nil, fmt.Errorf("credential for %s: %w", spec.name, err)
		}
		kc := filepath.Join(dir, "pki", spec.name+".kubeconfig")
		if err := writeKubeconfig(user, kc); err != nil {
			return nil, err
		}
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		args := append([]string{
			"--kubeconfig=" + kc,
			"--authentication-kubeconfig=" + kc,
			"--authorization-kubeconfig=" + kc,
			"--bind-address=127.0.0.1",
			"--secure-port=" + strconv.Itoa(port),
			"--cert-dir=" + filepath.Join(dir, "pki", spec.name),
		}, spec.args...)
		c, err := startComponent(spec.name, spec.bin, args, LogsDir(dir))
		if err != nil {
			return nil, err
		}
		cp.components = append(cp.components, c)
		if err := c.waitHealthy(startCtx, port); err != nil {
			return nil, err
		}
	}
	return cp, nil
}

// RESTConfig is the admin credential (system:masters).
func (cp *ControlPlane) RESTConfig() *rest.Config { return rest.CopyConfig(cp.restConfig) }

// Dir is the absolute state directory.
func (cp *ControlPlane) Dir() string { return cp.dir }

// Stop stops the scheduler, the controller manager, the API server and etcd, in that order,
// and releases the state directory. It is safe to call more than once.
func (cp *ControlPlane) Stop() error {
	var errs []error
	for i := len(cp.components) - 1; i >= 0; i-- {
		if err := cp.components[i].stop(10 * time.Second); err != nil {
			errs = append(errs, err)
		}
	}
	cp.components = nil
	if cp.plane != nil {
		if err := cp.plane.Stop(); err != nil {
			errs = append(errs, err)
		}
		cp.plane = nil
	}
	if cp.lock != nil {
		_ = os.Remove(filepath.Join(cp.dir, pidFile))
		cp.lock.Close()
		cp.lock = nil
	}
	return errors.Join(errs...)
}

// lockDir takes an exclusive lock on dir so that two clusters never share it, and records the
// holder's pid for the error a second one gets.
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, lockFile), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		holder, _ := os.ReadFile(filepath.Join(dir, pidFile))
		if len(holder) > 0 {
			return nil, fmt.Errorf("%w: %s (pid %s)", ErrAlreadyRunning, dir, string(holder))
		}
		return nil, fmt.Errorf("%w: %s", ErrAlreadyRunning, dir)
	}
	if err := os.WriteFile(filepath.Join(dir, pidFile), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// Running reports whether a cluster holds dir, and the pid that holds it.
func Running(dir string) (bool, int) {
	f, err := os.OpenFile(filepath.Join(dir, lockFile), os.O_RDWR, 0)
	if err != nil {
		return false, 0
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err == nil {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		return false, 0
	}
	b, _ := os.ReadFile(filepath.Join(dir, pidFile))
	pid, _ := strconv.Atoi(string(b))
	return true, pid
}
