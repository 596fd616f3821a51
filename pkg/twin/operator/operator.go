package operator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"sort"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	autoscalinglisters "k8s.io/client-go/listers/autoscaling/v2"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/util/workqueue"
)

// fieldManager names the twin operator's writes.
const fieldManager = "threescale-twin-operator"

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
	hpaInformer := depFactory.Autoscaling().V2().HorizontalPodAutoscalers()
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
		hpas:      hpaInformer.Lister(),
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
	// HPAs are read from a cache but not watched for changes: the real controller watches
	// APIManagers, Secrets, Routes, ConfigMaps and the Deployments it owns, not HPAs
	// (apimanager_controller.go SetupWithManager), so a deleted HPA comes back at the next
	// pass, not at once.
	if !cache.WaitForCacheSync(ctx.Done(), depInformer.Informer().HasSynced, hpaInformer.Informer().HasSynced, amInformer.Informer().HasSynced) {
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
	hpas      autoscalinglisters.HorizontalPodAutoscalerLister
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

// reconcile runs one pass over one APIManager, as the real operator's Reconcile does
// (operator@3scale-2.16.3-GA controllers/apps/apimanager_controller.go): first the defaults
// (the two version annotations; a pass that sets them ends there and is requeued, "Defaults
// set for APIManager resource"), then stage by stage in the real order, replicas and HPAs,
// then the status. The status is written even when the searchd gate stopped the stages
// (reconcileAPIManagerLogic returns Requeue without an error, and Reconcile goes on to
// reconcileAPIManagerStatus). It returns requeue=true while the gate holds or the APIManager
// is not Available: the real status reconciler requeues until Available is True.
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
	if changed, err := c.setDefaults(ctx, am); err != nil || changed {
		return changed, err
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
		if err := c.reconcileHPA(ctx, am, comp); err != nil {
			return false, err
		}
	}
	available, err := c.writeStatus(ctx, am)
	if err != nil {
		return false, err
	}
	if err := c.writeRecord(ctx, am, entries, waitingFor); err != nil {
		return false, err
	}
	return waitingFor != "" || !available, nil
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
		d, err = c.kube.AppsV1().Deployments(c.ns).Update(ctx, upd, metav1.UpdateOptions{FieldManager: fieldManager})
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

// RecordAnnotation is where the twin operator records each pass on the APIManager: a JSON
// object with apiManagerGeneration (the generation the pass read), deployments (per
// Deployment the mode, the desired count, and the Deployment generation it last reconciled)
// and waitingFor (the gate that stopped a pass). The real operator has no such record; it is
// an annotation, not status, so that the status is the real one. Tests use it to know the
// operator has seen a scale, and so prove that it chose not to revert it; the harness must
// never read it.
const RecordAnnotation = "twin.threescale.net/operator-record"

// Record is the value of RecordAnnotation.
type Record struct {
	APIManagerGeneration int64                     `json:"apiManagerGeneration"`
	Deployments          map[string]map[string]any `json:"deployments,omitempty"`
	WaitingFor           string                    `json:"waitingFor,omitempty"`
}

// ReadRecord decodes RecordAnnotation of an APIManager; a zero Record when it has none.
func ReadRecord(am *unstructured.Unstructured) (Record, error) {
	var r Record
	raw := am.GetAnnotations()[RecordAnnotation]
	if raw == "" {
		return r, nil
	}
	if err := json.Unmarshal([]byte(raw), &r); err != nil {
		return r, fmt.Errorf("APIManager %s/%s annotation %s: %w", am.GetNamespace(), am.GetName(), RecordAnnotation, err)
	}
	return r, nil
}

// writeRecord merges this pass into RecordAnnotation, only when it changed. Deployments this
// pass did not reach keep their last entry.
func (c *controller) writeRecord(ctx context.Context, am *unstructured.Unstructured, entries map[string]any, waitingFor string) error {
	old, err := ReadRecord(am)
	if err != nil {
		c.log.Error("unreadable record; rewriting it", "err", err)
	}
	next := Record{APIManagerGeneration: am.GetGeneration(), Deployments: map[string]map[string]any{}, WaitingFor: waitingFor}
	for name, e := range old.Deployments {
		next.Deployments[name] = e
	}
	for name, e := range entries {
		next.Deployments[name] = e.(map[string]any)
	}
	nb, err := json.Marshal(next)
	if err != nil {
		return fmt.Errorf("record: %w", err)
	}
	if ob, _ := json.Marshal(old); string(ob) == string(nb) {
		return nil
	}
	return c.patchAnnotations(ctx, am, map[string]any{RecordAnnotation: string(nb)})
}

func (c *controller) patchAnnotations(ctx context.Context, am *unstructured.Unstructured, annotations map[string]any) error {
	body, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": annotations}})
	if err != nil {
		return fmt.Errorf("annotations patch: %w", err)
	}
	_, err = c.dyn.Resource(APIManagerGVR).Namespace(am.GetNamespace()).Patch(ctx, am.GetName(), types.MergePatchType, body, metav1.PatchOptions{FieldManager: fieldManager})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("patch APIManager %s/%s annotations: %w", am.GetNamespace(), am.GetName(), err)
	}
	return nil
}

// writeStatus computes the status as the real status reconciler does and replaces it when it
// differs, with an Update of the status subresource at the cached resourceVersion (a conflict
// requeues, as the real one's "resource might just be outdated"). It reports whether the
// APIManager is Available.
func (c *controller) writeStatus(ctx context.Context, am *unstructured.Unstructured) (bool, error) {
	in, err := c.statusInputs(ctx, am)
	if err != nil {
		return false, err
	}
	var old Status
	if raw, found, _ := unstructured.NestedMap(am.Object, "status"); found {
		b, err := json.Marshal(raw)
		if err == nil {
			err = json.Unmarshal(b, &old)
		}
		if err != nil {
			c.log.Error("unreadable APIManager status; replacing it", "err", err)
		}
	}
	next := ComputeStatus(am, old, in)
	available := false
	for _, cond := range next.Conditions {
		if cond.Type == ConditionAvailable && cond.Status == "True" {
			available = true
		}
	}
	var current any
	if raw, found, _ := unstructured.NestedMap(am.Object, "status"); found {
		current = raw
	}
	want, err := toMap(next)
	if err != nil {
		return false, err
	}
	if reflect.DeepEqual(current, want) {
		return available, nil
	}
	upd := am.DeepCopy()
	upd.Object["status"] = want
	_, err = c.dyn.Resource(APIManagerGVR).Namespace(am.GetNamespace()).UpdateStatus(ctx, upd, metav1.UpdateOptions{FieldManager: fieldManager})
	if apierrors.IsNotFound(err) {
		return available, nil
	}
	if err != nil {
		return false, fmt.Errorf("update APIManager %s/%s status: %w", am.GetNamespace(), am.GetName(), err)
	}
	return available, nil
}

// statusInputs reads what the status depends on: the expected Deployments the APIManager
// owns, the default Routes, the watched Secrets. A cluster without the Route API has no
// admitted Route, so the APIManager is not Available there (the real operator fails the pass
// instead: DefaultRoutesReady returns the list error).
func (c *controller) statusInputs(ctx context.Context, am *unstructured.Unstructured) (StatusInputs, error) {
	in := StatusInputs{Now: time.Now()}
	for _, name := range ExpectedDeployments(am) {
		d, err := c.deps.Deployments(c.ns).Get(name)
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return in, fmt.Errorf("get Deployment %s: %w", name, err)
		}
		for _, ref := range d.OwnerReferences {
			if ref.UID == am.GetUID() {
				in.Owned = append(in.Owned, *d)
				break
			}
		}
	}
	sort.Slice(in.Owned, func(i, j int) bool { return in.Owned[i].Name < in.Owned[j].Name })
	routes, err := c.dyn.Resource(routeGVR).Namespace(c.ns).List(ctx, metav1.ListOptions{})
	switch {
	case apierrors.IsNotFound(err) || meta.IsNoMatchError(err):
	case err != nil:
		return in, fmt.Errorf("failed to list routes: %w", err)
	default:
		in.RoutesReady = RoutesReady(am, routes.Items)
	}
	for _, name := range WatchedSecrets {
		if _, err := c.kube.CoreV1().Secrets(c.ns).Get(ctx, name, metav1.GetOptions{}); err != nil {
			if !apierrors.IsNotFound(err) {
				c.log.Debug("watched secret unreadable", "secret", name, "err", err)
			}
			in.MissingSecrets = append(in.MissingSecrets, name)
		}
	}
	return in, nil
}

var routeGVR = schema.GroupVersionResource{Group: "route.openshift.io", Version: "v1", Resource: "routes"}

func toMap(v any) (map[string]any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("status: %w", err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("status: %w", err)
	}
	return m, nil
}

// Versions the operator stamps on the APIManager (operator@3scale-2.16.3-GA
// version/version.go Version and threescaleRelease).
const (
	OperatorVersion   = "0.13.3"
	ThreescaleRelease = "2.16.3"
)

// The annotations that carry them (apimanager_types.go OperatorVersionAnnotation,
// ThreescaleVersionAnnotation).
const (
	OperatorVersionAnnotation   = "apps.3scale.net/threescale-operator-version"
	ThreescaleVersionAnnotation = "apps.3scale.net/apimanager-threescale-version"
)

// setDefaults is the annotations part of SetDefaults (apimanager_types.go
// setAPIManagerAnnotationsDefaults): each version annotation is set when missing or
// different. It reports whether it wrote. The spec defaults are not modelled (no replicas
// field is ever defaulted, research/real-operator-check.md §2.1; the rest is read by nothing
// the twin models).
func (c *controller) setDefaults(ctx context.Context, am *unstructured.Unstructured) (bool, error) {
	want := map[string]any{}
	have := am.GetAnnotations()
	if have[OperatorVersionAnnotation] != OperatorVersion {
		want[OperatorVersionAnnotation] = OperatorVersion
	}
	if have[ThreescaleVersionAnnotation] != ThreescaleRelease {
		want[ThreescaleVersionAnnotation] = ThreescaleRelease
	}
	if len(want) == 0 {
		return false, nil
	}
	if err := c.patchAnnotations(ctx, am, want); err != nil {
		return false, err
	}
	c.log.Info("Defaults set for APIManager resource", "apimanager", am.GetName(), "annotations", want)
	return true, nil
}
