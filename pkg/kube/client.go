package kube

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/scale"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/util/flowcontrol"

	"github.com/threescale-chaos/harness/pkg/catalog"
)

// Resources the package reads or changes.
var (
	// DeploymentsGVR is apps/v1 deployments (3scale 2.15 and later).
	DeploymentsGVR = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
	// DeploymentConfigsGVR is apps.openshift.io/v1 deploymentconfigs (3scale 2.14 and earlier).
	DeploymentConfigsGVR = schema.GroupVersionResource{Group: "apps.openshift.io", Version: "v1", Resource: "deploymentconfigs"}
	// APIManagersGVR is the 3scale operator's custom resource.
	APIManagersGVR = schema.GroupVersionResource{Group: "apps.3scale.net", Version: "v1alpha1", Resource: "apimanagers"}
)

// Client bundles the clients the package needs. Build it with NewClient; it is safe for
// concurrent use.
type Client struct {
	// Kube is the typed client (namespaces, pods, ConfigMaps, HPAs).
	Kube kubernetes.Interface
	// Dynamic reads workloads of either kind and the APIManager.
	Dynamic dynamic.Interface
	// Scales is client-go's scale client. It finds the scale subresource of a resource
	// through discovery, so it serves Deployments and DeploymentConfigs alike.
	Scales scale.ScalesGetter
	// Host is the API server address, for error messages.
	Host string

	mu        sync.Mutex
	discovery discovery.CachedDiscoveryInterface
	mapper    *restmapper.DeferredDiscoveryRESTMapper
	// health asks the API server for /readyz (Readyz); nil for a Client not built by
	// NewClient.
	health rest.Interface
}

// NewClient builds a Client from a REST config. It does not contact the server.
func NewClient(cfg *rest.Config) (*Client, error) {
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kube client for %s: %w", cfg.Host, err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("dynamic client for %s: %w", cfg.Host, err)
	}
	disco, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("discovery client for %s: %w", cfg.Host, err)
	}
	cached := memory.NewMemCacheClient(disco)
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(cached)
	scales, err := scale.NewForConfig(cfg, mapper, dynamic.LegacyAPIPathResolverFunc, scale.NewDiscoveryScaleKindResolver(cached))
	if err != nil {
		return nil, fmt.Errorf("scale client for %s: %w", cfg.Host, err)
	}
	// Readyz's client has no client-side rate limit: a check queued behind the harness's
	// own requests would measure the harness, not the API server.
	hcfg := rest.CopyConfig(cfg)
	hcfg.RateLimiter = flowcontrol.NewFakeAlwaysRateLimiter()
	health, err := discovery.NewDiscoveryClientForConfig(hcfg)
	if err != nil {
		return nil, fmt.Errorf("health client for %s: %w", cfg.Host, err)
	}
	return &Client{Kube: kube, Dynamic: dyn, Scales: scales, Host: cfg.Host, discovery: cached, mapper: mapper, health: health.RESTClient()}, nil
}

// ErrNoHealthClient is Readyz's error for a Client not built by NewClient.
var ErrNoHealthClient = errors.New("no client for the API server's /readyz (the Client was not built by NewClient)")

// Readyz asks the API server whether it is ready (GET /readyz, which every authenticated
// user may read through the system:public-info-viewer ClusterRole). An answer other than
// 200 is returned as an API status error (apierrors.IsForbidden and so on); no answer as
// the transport's error.
func (c *Client) Readyz(ctx context.Context) error {
	if c.health == nil {
		return ErrNoHealthClient
	}
	return c.health.Get().AbsPath("/readyz").Do(ctx).Error()
}

// LoadRESTConfig reads a kubeconfig file (the default loading rules when path is empty:
// $KUBECONFIG, then ~/.kube/config) and returns the config of its current context.
func LoadRESTConfig(path string) (*rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if path != "" {
		rules.ExplicitPath = path
	}
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("load kubeconfig %q: %w", path, err)
	}
	return cfg, nil
}

// RESTMapping maps a kind to its resource and scope. A kind discovery does not know yet (a
// CRD registered since the client was built) is looked up again after the cache is dropped.
func (c *Client) RESTMapping(gvk schema.GroupVersionKind) (*meta.RESTMapping, error) {
	m, err := c.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if meta.IsNoMatchError(err) {
		c.resetDiscovery()
		m, err = c.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	}
	return m, err
}

// resetDiscovery forgets what discovery cached, so a resource registered after the
// client was built (a CRD) becomes visible to the scale client.
func (c *Client) resetDiscovery() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.discovery.Invalidate()
	c.mapper.Reset()
}

// gvrOf returns the resource of a catalog workload.
func gvrOf(w catalog.Workload) schema.GroupVersionResource {
	if w.Kind == catalog.KindDeploymentConfig {
		return DeploymentConfigsGVR
	}
	return DeploymentsGVR
}

// isNoMatch reports whether err says the server does not serve a resource (a CRD that is
// not installed, such as DeploymentConfigs on vanilla Kubernetes).
func isNoMatch(err error) bool {
	return meta.IsNoMatchError(err)
}
