package operator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/util/workqueue"
)

// DefaultResyncPeriod is used when Config.ResyncPeriod is 0: controller-runtime's
// default SyncPeriod (10 hours), which the real operator does not override
// (3scale-2.16.3-GA main.go ctrl.Options sets no SyncPeriod). Reaction to a
// scale comes from the Deployment watch, not from the resync (research 2.1).
const DefaultResyncPeriod = 10 * time.Hour

// Config says which cluster and namespace the twin operator watches.
type Config struct {
	// RESTConfig is the credential; when nil, Kubeconfig is loaded, and when
	// that is empty too, the in-cluster config is used.
	RESTConfig *rest.Config
	// Kubeconfig is a kubeconfig path, used only when RESTConfig is nil.
	Kubeconfig string
	// Namespace is the one namespace watched (the real operator's
	// WATCH_NAMESPACE, research 2.8). Required.
	Namespace string
	// ResyncPeriod re-runs every APIManager this often; DefaultResyncPeriod when 0.
	ResyncPeriod time.Duration
	// Logger receives one line per write and per error; slog.Default() when nil.
	Logger *slog.Logger
}

// Run watches APIManager objects and the 3scale Deployments in cfg.Namespace
// and, for each component whose replicas field is set, puts the Deployment
// back to that count whenever it differs (see Components and DesiredReplicas).
// It returns nil when ctx is cancelled, or an error if it cannot start. It
// waits for the APIManager CRD to be served: the informer keeps retrying its
// list until the CRD exists.
//
// Plain client-go informers and a workqueue, not controller-runtime: the
// controller-runtime manager pulls in github.com/google/btree (its priority
// queue), which this module's go.sum does not have, and this package may not
// change go.mod. What the real operator gets from its manager is reproduced
// here: one worker (MaxConcurrentReconciles 1), a rate-limited queue keyed by
// APIManager, a watch on the APIManager and one on Deployments that enqueues
// the APIManager at once (research 2.1: Owns(&Deployment{}), "a kubectl scale
// immediately enqueues a reconcile").
func Run(ctx context.Context, cfg Config) error {
	if cfg.Namespace == "" {
		return errors.New("twin operator: Namespace is required")
	}
	restCfg, err := restConfig(cfg)
	if err != nil {
		return fmt.Errorf("twin operator: %w", err)
	}
	kube, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		return fmt.Errorf("twin operator: kube client: %w", err)
	}
	dyn, err := dynamic.NewForConfig(restCfg)
	if err != nil {
		return fmt.Errorf("twin operator: dynamic client: %w", err)
	}
	resync := cfg.ResyncPeriod
	if resync <= 0 {
		resync = DefaultResyncPeriod
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("namespace", cfg.Namespace)

	depFactory := informers.NewSharedInformerFactoryWithOptions(kube, resync, informers.WithNamespace(cfg.Namespace))
	depInformer := depFactory.Apps().V1().Deployments()
	amFactory := dynamicinformer.NewFilteredDynamicSharedInformerFactory(dyn, resync, cfg.Namespace, nil)
	amInformer := amFactory.ForResource(APIManagerGVR)

	queue := workqueue.NewTypedRateLimitingQueueWithConfig(
		workqueue.DefaultTypedControllerRateLimiter[string](),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: "twin-apimanager"})
	defer queue.ShutDown()

	c := &controller{
		ns:        cfg.Namespace,
		kube:      kube,
		dyn:       dyn,
		deps:      depInformer.Lister(),
		apims:     amInformer.Informer().GetIndexer(),
		queue:     queue,
		log:       log,
		watchedBy: watchedDeployments(),
	}

	if _, err := amInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueueAPIManager,
		UpdateFunc: func(_, obj any) { c.enqueueAPIManager(obj) },
		DeleteFunc: c.enqueueAPIManager,
	}); err != nil {
		return fmt.Errorf("twin operator: APIManager handler: %w", err)
	}
	if _, err := depInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.deploymentChanged,
		UpdateFunc: func(_, obj any) { c.deploymentChanged(obj) },
		DeleteFunc: c.deploymentChanged,
	}); err != nil {
		return fmt.Errorf("twin operator: Deployment handler: %w", err)
	}

	depFactory.Start(ctx.Done())
	amFactory.Start(ctx.Done())
	defer depFactory.Shutdown()
	defer amFactory.Shutdown()
	log.Info("twin operator waiting for caches")
	if !cache.WaitForCacheSync(ctx.Done(), depInformer.Informer().HasSynced, amInformer.Informer().HasSynced) {
		if ctx.Err() != nil {
			return nil
		}
		return errors.New("twin operator: caches did not sync")
	}
	log.Info("twin operator running", "components", len(Components))

	go func() {
		<-ctx.Done()
		queue.ShutDown()
	}()
	for c.processNext(ctx) {
	}
	return nil
}

func restConfig(cfg Config) (*rest.Config, error) {
	if cfg.RESTConfig != nil {
		return rest.CopyConfig(cfg.RESTConfig), nil
	}
	if cfg.Kubeconfig != "" {
		rc, err := clientcmd.BuildConfigFromFlags("", cfg.Kubeconfig)
		if err != nil {
			return nil, fmt.Errorf("load kubeconfig %s: %w", cfg.Kubeconfig, err)
		}
		return rc, nil
	}
	rc, err := rest.InClusterConfig()
	if err != nil {
		return nil, fmt.Errorf("no RESTConfig, no Kubeconfig, and not in a cluster: %w", err)
	}
	return rc, nil
}

// watchedDeployments are the Deployment names whose events re-run the
// APIManagers: the nine of Components, plus the searchd gate.
func watchedDeployments() map[string]bool {
	m := map[string]bool{SearchdDeployment: true}
	for _, c := range Components {
		m[c.Deployment] = true
	}
	return m
}

type controller struct {
	ns        string
	kube      kubernetes.Interface
	dyn       dynamic.Interface
	deps      appslisters.DeploymentLister
	apims     cache.Indexer
	queue     workqueue.TypedRateLimitingInterface[string]
	log       *slog.Logger
	watchedBy map[string]bool
}

func (c *controller) enqueueAPIManager(obj any) {
	key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
	if err != nil {
		c.log.Error("APIManager key", "err", err)
		return
	}
	c.queue.Add(key)
}

// deploymentChanged maps a Deployment event to every APIManager in the
// namespace. The real operator maps through the owner reference
// (Owns(&Deployment{})); the twin's manifests are applied before any
// APIManager exists and carry no owner reference, so the twin matches on the
// operator's Deployment names instead.
func (c *controller) deploymentChanged(obj any) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	d, ok := obj.(metav1.Object)
	if !ok || !c.watchedBy[d.GetName()] {
		return
	}
	for _, key := range c.apims.ListKeys() {
		c.queue.Add(key)
	}
}

func (c *controller) processNext(ctx context.Context) bool {
	key, shutdown := c.queue.Get()
	if shutdown {
		return false
	}
	defer c.queue.Done(key)
	requeue, err := c.reconcile(ctx, key)
	switch {
	case err != nil:
		switch {
		case ctx.Err() != nil:
		case apierrors.IsConflict(err):
			// The cache was older than a concurrent write (the harness, or the
			// deployment controller's status update): read again.
			c.log.Debug("conflict; requeued", "apimanager", key, "err", err)
		default:
			c.log.Error("reconcile failed; requeued", "apimanager", key, "err", err)
		}
		c.queue.AddRateLimited(key)
	case requeue:
		c.queue.AddRateLimited(key)
	default:
		c.queue.Forget(key)
	}
	return true
}

// reconcile runs one pass over one APIManager, stage by stage in the real
// operator's order. It returns requeue=true when the searchd gate stopped it
// (research 2.5: the real operator returns Requeue before reaching system,
// zync and apicast while system-searchd is not Available or still rolling out).
func (c *controller) reconcile(ctx context.Context, key string) (requeue bool, err error) {
	obj, exists, err := c.apims.GetByKey(key)
	if err != nil {
		return false, fmt.Errorf("cache get %s: %w", key, err)
	}
	if !exists {
		return false, nil
	}
	am, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return false, fmt.Errorf("cache object %s is %T", key, obj)
	}
	if am.GetDeletionTimestamp() != nil {
		return false, nil
	}

	entries := map[string]any{}
	waitingFor := ""
	for _, comp := range Components {
		if comp.Stage != StageBackend && waitingFor == "" && !c.searchdReady() {
			waitingFor = SearchdDeployment
		}
		if waitingFor != "" {
			break
		}
		want, err := DesiredReplicas(am, comp)
		if err != nil {
			return false, err
		}
		entry, err := c.reconcileDeployment(ctx, want)
		if err != nil {
			return false, err
		}
		entries[comp.Deployment] = entry
	}
	if err := c.writeStatus(ctx, am, entries, waitingFor); err != nil {
		return false, err
	}
	return waitingFor != "", nil
}

// searchdReady is the gate of research 2.5: Available=True, no unavailable
// replicas, and Progressing not "ReplicaSetUpdated". An absent system-searchd
// passes: the real operator would create it, the twin has nothing to wait for.
func (c *controller) searchdReady() bool {
	d, err := c.deps.Deployments(c.ns).Get(SearchdDeployment)
	if err != nil {
		return true
	}
	available := false
	for _, cond := range d.Status.Conditions {
		switch {
		case cond.Type == appsv1.DeploymentAvailable && cond.Status == "True":
			available = true
		case cond.Type == appsv1.DeploymentProgressing && cond.Reason == "ReplicaSetUpdated":
			return false
		}
	}
	return available && d.Status.UnavailableReplicas == 0
}

func (c *controller) reconcileDeployment(ctx context.Context, want Desired) (map[string]any, error) {
	name := want.Component.Deployment
	entry := map[string]any{"mode": string(want.Mode)}
	if want.Manages() {
		entry["desiredReplicas"] = int64(want.Replicas)
	}
	d, err := c.deps.Deployments(c.ns).Get(name)
	if apierrors.IsNotFound(err) {
		entry["missing"] = true
		return entry, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get Deployment %s: %w", name, err)
	}
	if want.Manages() && (d.Spec.Replicas == nil || *d.Spec.Replicas != want.Replicas) {
		from := "unset"
		if d.Spec.Replicas != nil {
			from = fmt.Sprint(*d.Spec.Replicas)
		}
		upd := d.DeepCopy()
		upd.Spec.Replicas = &want.Replicas
		// An Update of the cached object, as the real operator's
		// Get → mutate → Update (research 2.1, base_reconciler.go); a conflict
		// with a concurrent writer requeues and the next pass reads again.
		d, err = c.kube.AppsV1().Deployments(c.ns).Update(ctx, upd, metav1.UpdateOptions{FieldManager: "threescale-twin-operator"})
		if err != nil {
			return nil, fmt.Errorf("set Deployment %s replicas %s → %d: %w", name, from, want.Replicas, err)
		}
		c.log.Info("replicas reconciled", "deployment", name, "from", from, "to", want.Replicas, "mode", want.Mode, "field", dotted(want.Component.Replicas))
	}
	entry["observedGeneration"] = d.Generation
	if d.Spec.Replicas != nil {
		entry["replicas"] = int64(*d.Spec.Replicas)
	}
	return entry, nil
}

// writeStatus records the pass in the APIManager status, only when it
// changed: status.observedGeneration (the APIManager generation the pass read)
// and, under status.twin (twin-only, see the CRD fixture), per Deployment the
// generation it last reconciled. Tests use that generation to know the
// operator has seen a scale, and so prove that it chose not to revert it.
func (c *controller) writeStatus(ctx context.Context, am *unstructured.Unstructured, entries map[string]any, waitingFor string) error {
	old, _, _ := unstructured.NestedMap(am.Object, "status", "twin", "deployments")
	oldGen, _, _ := unstructured.NestedInt64(am.Object, "status", "observedGeneration")
	oldWait, _, _ := unstructured.NestedString(am.Object, "status", "twin", "waitingFor")
	changed := oldGen != am.GetGeneration() || oldWait != waitingFor
	for name, e := range entries {
		if !reflect.DeepEqual(old[name], e) {
			changed = true
		}
	}
	if !changed {
		return nil
	}
	deps := map[string]any{}
	for name, e := range entries {
		deps[name] = e
	}
	// Merge patch: entries replace whole per-Deployment objects (nulling the
	// keys an older entry had and this one lacks), and Deployments this pass
	// did not reach keep their last entry.
	for name, e := range entries {
		if prev, ok := old[name].(map[string]any); ok {
			next := e.(map[string]any)
			for k := range prev {
				if _, ok := next[k]; !ok {
					next[k] = nil
				}
			}
		}
	}
	var wait any = waitingFor
	if waitingFor == "" {
		wait = nil
	}
	patch := map[string]any{"status": map[string]any{
		"observedGeneration": am.GetGeneration(),
		"twin":               map[string]any{"deployments": deps, "waitingFor": wait},
	}}
	body, err := json.Marshal(patch)
	if err != nil {
		return fmt.Errorf("status patch: %w", err)
	}
	_, err = c.dyn.Resource(APIManagerGVR).Namespace(am.GetNamespace()).Patch(ctx, am.GetName(), types.MergePatchType, body, metav1.PatchOptions{}, "status")
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("patch APIManager %s/%s status: %w", am.GetNamespace(), am.GetName(), err)
	}
	return nil
}
