package node

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"

	"github.com/threescale-chaos/harness/pkg/twin/node/container"
)

// LogDirAnnotation is set on every pod the agent runs: the directory holding one
// <container>.log file per container (stdout and stderr, appended across restarts).
const LogDirAnnotation = "twin.threescale.net/log-dir"

// Config describes the node.
type Config struct {
	// NodeName is the Node object's name; "twin-node" when empty.
	NodeName string
	// Dir holds pod directories (Dir/pods/<uid>) and logs (Dir/logs/pods/...). Required.
	Dir string
	// HostIP is the node's address and the IP of every (hostNetwork) pod; 127.0.0.1 when empty.
	HostIP string
	// KubeletVersion is reported in the Node's nodeInfo.
	KubeletVersion string
	// CPU and Memory are the capacity advertised to the scheduler; the machine's when zero.
	CPUMillis   int64
	MemoryBytes int64
	// MaxPods is the pod capacity; 110 when zero, as the kubelet.
	MaxPods int64
	// HeartbeatInterval is how often the Lease is renewed; 10s when zero, as the kubelet.
	HeartbeatInterval time.Duration
	// BackoffInitial and BackoffMax bound the crash-loop back-off; 10s and 300s when zero,
	// as the kubelet.
	BackoffInitial time.Duration
	BackoffMax     time.Duration
	// ExtraEnv is added to every container process (the cluster uses it for a marker that
	// finds leftover processes).
	ExtraEnv []string
}

func (c *Config) defaults() error {
	if c.Dir == "" {
		return errors.New("node: Config.Dir is required")
	}
	if c.NodeName == "" {
		c.NodeName = "twin-node"
	}
	if c.HostIP == "" {
		c.HostIP = "127.0.0.1"
	}
	if c.KubeletVersion == "" {
		c.KubeletVersion = "v0.0.0-twin"
	}
	if c.CPUMillis == 0 {
		c.CPUMillis = int64(runtime.NumCPU()) * 1000
	}
	if c.MemoryBytes == 0 {
		c.MemoryBytes = memTotal()
	}
	if c.MaxPods == 0 {
		c.MaxPods = 110
	}
	if c.HeartbeatInterval == 0 {
		c.HeartbeatInterval = 10 * time.Second
	}
	if c.BackoffInitial == 0 {
		c.BackoffInitial = 10 * time.Second
	}
	if c.BackoffMax == 0 {
		c.BackoffMax = 300 * time.Second
	}
	return nil
}

// Agent is a running node agent.
type Agent struct {
	cfg      Config
	cs       kubernetes.Interface
	recorder record.EventRecorder
	lookup   container.Lookup

	mu      sync.Mutex
	workers map[types.UID]*podWorker
	wg      sync.WaitGroup
}

// New returns an agent for the node described by cfg.
func New(cs kubernetes.Interface, cfg Config) (*Agent, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	return &Agent{cfg: cfg, cs: cs, lookup: apiLookup{cs}, workers: map[types.UID]*podWorker{}}, nil
}

// NodeName is the name of the Node this agent registers.
func (a *Agent) NodeName() string { return a.cfg.NodeName }

// Run registers the Node and runs its pods until ctx ends; then it stops every pod process
// (SIGTERM, each pod's grace period, SIGKILL) before returning. The Node object stays.
// ready is closed once the Node is registered and the pod informer has synced.
func (a *Agent) Run(ctx context.Context, ready chan<- struct{}) error {
	broadcaster := record.NewBroadcaster(record.WithContext(ctx))
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: a.cs.CoreV1().Events("")})
	defer broadcaster.Shutdown()
	a.recorder = broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "kubelet", Host: a.cfg.NodeName})

	if err := a.register(ctx); err != nil {
		return err
	}
	go a.heartbeat(ctx)

	factory := informers.NewSharedInformerFactoryWithOptions(a.cs, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("spec.nodeName", a.cfg.NodeName).String()
		}))
	podInformer := factory.Core().V1().Pods().Informer()
	if _, err := podInformer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { a.podChanged(ctx, obj) },
		UpdateFunc: func(_, obj any) { a.podChanged(ctx, obj) },
		DeleteFunc: func(obj any) { a.podDeleted(obj) },
	}); err != nil {
		return err
	}
	factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), podInformer.HasSynced) {
		return fmt.Errorf("node %s: pod informer did not sync: %w", a.cfg.NodeName, ctx.Err())
	}
	if ready != nil {
		close(ready)
	}
	<-ctx.Done()
	factory.Shutdown()
	a.shutdownPods()
	return nil
}

func (a *Agent) podChanged(ctx context.Context, obj any) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if ctx.Err() != nil {
		return
	}
	w, ok := a.workers[pod.UID]
	if !ok {
		w = newPodWorker(a, pod)
		a.workers[pod.UID] = w
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			w.run(ctx)
			a.mu.Lock()
			delete(a.workers, pod.UID)
			a.mu.Unlock()
		}()
		return
	}
	w.update(pod)
}

func (a *Agent) podDeleted(obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	a.mu.Lock()
	w := a.workers[pod.UID]
	a.mu.Unlock()
	if w != nil {
		w.removed()
	}
}

// shutdownPods stops every pod's processes as a node shutdown does, and waits for them.
func (a *Agent) shutdownPods() {
	a.mu.Lock()
	for _, w := range a.workers {
		w.nodeShutdown()
	}
	a.mu.Unlock()
	a.wg.Wait()
}

// register creates or refreshes the Node with its capacity and a Ready condition.
func (a *Agent) register(ctx context.Context) error {
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:              *resource.NewMilliQuantity(a.cfg.CPUMillis, resource.DecimalSI),
		corev1.ResourceMemory:           *resource.NewQuantity(a.cfg.MemoryBytes, resource.BinarySI),
		corev1.ResourcePods:             *resource.NewQuantity(a.cfg.MaxPods, resource.DecimalSI),
		corev1.ResourceEphemeralStorage: resource.MustParse("100Gi"),
	}
	hostname, _ := os.Hostname()
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name: a.cfg.NodeName,
			Labels: map[string]string{
				"kubernetes.io/hostname":   a.cfg.NodeName,
				"kubernetes.io/os":         runtime.GOOS,
				"kubernetes.io/arch":       runtime.GOARCH,
				"twin.threescale.net/node": "true",
			},
		},
	}
	if _, err := a.cs.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("register node %s: %w", node.Name, err)
	}
	// Controllers touch a new Node too (taints, annotations): retry on conflict.
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		existing, err := a.cs.CoreV1().Nodes().Get(ctx, node.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		now := metav1.Now()
		existing.Status = corev1.NodeStatus{
			Capacity:    capacity,
			Allocatable: capacity,
			Phase:       corev1.NodeRunning,
			Addresses: []corev1.NodeAddress{
				{Type: corev1.NodeInternalIP, Address: a.cfg.HostIP},
				{Type: corev1.NodeHostName, Address: hostname},
			},
			Conditions: a.conditions(now, now),
			NodeInfo: corev1.NodeSystemInfo{
				KubeletVersion:          a.cfg.KubeletVersion,
				OperatingSystem:         runtime.GOOS,
				Architecture:            runtime.GOARCH,
				ContainerRuntimeVersion: "twin-process://1",
				KernelVersion:           kernelVersion(),
				OSImage:                 "threescale twin node",
			},
		}
		_, err = a.cs.CoreV1().Nodes().UpdateStatus(ctx, existing, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		return fmt.Errorf("set node %s status: %w", node.Name, err)
	}
	return a.untaint(ctx, node.Name)
}

// untaint lifts the not-ready and unreachable taints that admission puts on a new Node. The
// node lifecycle controller would do it once the node is Ready, but it does not run here: it
// would evict pods whenever heartbeats lag on a loaded machine.
func (a *Agent) untaint(ctx context.Context, name string) error {
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		n, err := a.cs.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		var keep []corev1.Taint
		for _, t := range n.Spec.Taints {
			if t.Key != corev1.TaintNodeNotReady && t.Key != corev1.TaintNodeUnreachable {
				keep = append(keep, t)
			}
		}
		if len(keep) == len(n.Spec.Taints) {
			return nil
		}
		n.Spec.Taints = keep
		_, err = a.cs.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		return fmt.Errorf("remove not-ready taint from node %s: %w", name, err)
	}
	return nil
}

func (a *Agent) conditions(heartbeat, transition metav1.Time) []corev1.NodeCondition {
	c := func(t corev1.NodeConditionType, s corev1.ConditionStatus, reason, msg string) corev1.NodeCondition {
		return corev1.NodeCondition{Type: t, Status: s, Reason: reason, Message: msg, LastHeartbeatTime: heartbeat, LastTransitionTime: transition}
	}
	return []corev1.NodeCondition{
		c(corev1.NodeMemoryPressure, corev1.ConditionFalse, "KubeletHasSufficientMemory", "twin node has sufficient memory available"),
		c(corev1.NodeDiskPressure, corev1.ConditionFalse, "KubeletHasNoDiskPressure", "twin node has no disk pressure"),
		c(corev1.NodePIDPressure, corev1.ConditionFalse, "KubeletHasSufficientPID", "twin node has sufficient PID available"),
		c(corev1.NodeReady, corev1.ConditionTrue, "KubeletReady", "twin node agent is posting ready status"),
	}
}

// heartbeat renews the node's Lease, as the kubelet does, and refreshes the Ready condition's
// heartbeat time less often.
func (a *Agent) heartbeat(ctx context.Context) {
	leases := a.cs.CoordinationV1().Leases(corev1.NamespaceNodeLease)
	tick := time.NewTicker(a.cfg.HeartbeatInterval)
	defer tick.Stop()
	beats := 0
	for {
		now := metav1.NewMicroTime(time.Now())
		lease, err := leases.Get(ctx, a.cfg.NodeName, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			_, _ = leases.Create(ctx, &coordinationv1.Lease{
				ObjectMeta: metav1.ObjectMeta{Name: a.cfg.NodeName, Namespace: corev1.NamespaceNodeLease},
				Spec: coordinationv1.LeaseSpec{
					HolderIdentity:       ptr.To(a.cfg.NodeName),
					LeaseDurationSeconds: ptr.To(int32(40)),
					RenewTime:            &now,
				},
			}, metav1.CreateOptions{})
		case err == nil:
			lease.Spec.RenewTime = &now
			_, _ = leases.Update(ctx, lease, metav1.UpdateOptions{})
		}
		if beats%6 == 5 {
			a.refreshReady(ctx)
		}
		beats++
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (a *Agent) refreshReady(ctx context.Context) {
	node, err := a.cs.CoreV1().Nodes().Get(ctx, a.cfg.NodeName, metav1.GetOptions{})
	if err != nil {
		return
	}
	now := metav1.Now()
	for i := range node.Status.Conditions {
		node.Status.Conditions[i].LastHeartbeatTime = now
	}
	_, _ = a.cs.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{})
}

func (a *Agent) podDir(uid types.UID) string { return filepath.Join(a.cfg.Dir, "pods", string(uid)) }

func (a *Agent) logDir(pod *corev1.Pod) string {
	return filepath.Join(a.cfg.Dir, "logs", "pods", pod.Namespace+"_"+pod.Name+"_"+string(pod.UID))
}

func (a *Agent) nodeInfo() container.NodeInfo {
	return container.NodeInfo{NodeName: a.cfg.NodeName, HostIP: a.cfg.HostIP, CPUMillis: a.cfg.CPUMillis, MemoryBytes: a.cfg.MemoryBytes}
}

// apiLookup reads Secrets and ConfigMaps straight from the API server, so a changed Secret
// is seen by the next container start, as with the kubelet.
type apiLookup struct{ cs kubernetes.Interface }

func (l apiLookup) Secret(ctx context.Context, ns, name string) (*corev1.Secret, error) {
	return l.cs.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
}

func (l apiLookup) ConfigMap(ctx context.Context, ns, name string) (*corev1.ConfigMap, error) {
	return l.cs.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
}
