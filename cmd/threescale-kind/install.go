package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"github.com/threescale-chaos/harness/fixtures"
	"github.com/threescale-chaos/harness/pkg/kube"
)

// fieldManager owns the fields threescale-kind applies.
const fieldManager = "threescale-kind"

// Default timeouts. A first install pulls every image (porta alone is about 1 GB) and
// system-app needs a minute or more after its pre-deploy Job, so the overall default is
// generous; the CRD wait only covers the API server registering a kind.
const (
	defaultInstallTimeout = 30 * time.Minute
	defaultCRDTimeout     = time.Minute
	defaultPollInterval   = 5 * time.Second
	defaultProgressEvery  = 30 * time.Second
)

// installConfig is what `install` is told.
type installConfig struct {
	kubeconfig    string
	timeout       time.Duration
	crdTimeout    time.Duration
	interval      time.Duration
	noWait        bool
	operatorImage string
	relatedImages []string
}

// Validate checks the flags before anything touches the cluster.
func (c installConfig) Validate() error {
	var errs []error
	if c.timeout <= 0 {
		errs = append(errs, fmt.Errorf("--timeout %s: must be positive", c.timeout))
	}
	if c.crdTimeout <= 0 {
		errs = append(errs, fmt.Errorf("--crd-timeout %s: must be positive", c.crdTimeout))
	}
	if c.interval <= 0 {
		errs = append(errs, fmt.Errorf("--poll-interval %s: must be positive", c.interval))
	}
	if _, err := parseRelatedImages(c.relatedImages); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func installCmd() *cobra.Command {
	cfg := installConfig{}
	cmd := &cobra.Command{
		Use:   "install",
		Short: "Apply fixtures/kind to the cluster and wait until 3scale is up",
		Long: `Server-side applies the manifests of fixtures/kind (embedded in this binary) in file-name
order: the CRDs under crds/ first, waited on until the API server serves them, then the
namespace, datastores, S3 storage, operator, echo upstream, APIManager and NodePort
Services. Then it waits, printing progress, until the APIManager exists and every
Deployment of 3scale in namespace 3scale (the operator's, and the datastores') is
Available, and sets DISABLE_K8S_ROUTES_CREATION=1 on zync-que when the operator creates it.
Running it again re-applies the same objects.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := cfg.Validate(); err != nil {
				return bad(err)
			}
			return runInstall(cmd.Context(), cfg, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.kubeconfig, "kubeconfig", "", "kubeconfig of the kind cluster (default: KUBECONFIG, then ~/.kube/config)")
	f.DurationVar(&cfg.timeout, "timeout", defaultInstallTimeout, "how long to wait for 3scale to come up")
	f.DurationVar(&cfg.crdTimeout, "crd-timeout", defaultCRDTimeout, "how long to wait for each CRD to be established")
	f.DurationVar(&cfg.interval, "poll-interval", defaultPollInterval, "how often to look at the cluster while waiting")
	f.BoolVar(&cfg.noWait, "no-wait", false, "apply and return without waiting for 3scale")
	f.StringVar(&cfg.operatorImage, "operator-image", "", "image of the 3scale operator instead of 30-operator.yaml's (e.g. a digest)")
	f.StringArrayVar(&cfg.relatedImages, "related-image", nil, "NAME=IMAGE: set the operator's RELATED_IMAGE_NAME (BACKEND, APICAST, SYSTEM, ZYNC, SYSTEM_SEARCHD, ...); repeatable")
	return cmd
}

func runInstall(ctx context.Context, cfg installConfig, out io.Writer) error {
	ms, err := loadManifests(fixtures.Kind, manifestRoot)
	if err != nil {
		return fmt.Errorf("fixtures/kind (embedded): %w", err)
	}
	related, err := parseRelatedImages(cfg.relatedImages)
	if err != nil {
		return bad(err)
	}
	if err := (imageOverrides{operator: cfg.operatorImage, related: related}).apply(ms); err != nil {
		return bad(err)
	}
	rc, err := kube.LoadRESTConfig(cfg.kubeconfig)
	if err != nil {
		return bad(fmt.Errorf("kubeconfig: %w", err))
	}
	cl, err := newClients(rc)
	if err != nil {
		return err
	}
	if err := cl.reachable(ctx); err != nil {
		return bad(err)
	}

	start := time.Now()
	crds, rest := splitCRDs(ms)
	fmt.Fprintf(out, "install: applying %d CRDs to %s\n", len(crds), rc.Host)
	for _, m := range crds {
		if err := cl.apply(ctx, m); err != nil {
			return err
		}
	}
	for _, m := range crds {
		if err := cl.waitEstablished(ctx, m.obj.GetName(), cfg.crdTimeout, cfg.interval/5); err != nil {
			return err
		}
	}
	fmt.Fprintf(out, "install: applying %d objects\n", len(rest))
	for _, m := range rest {
		if err := cl.apply(ctx, m); err != nil {
			return err
		}
		fmt.Fprintf(out, "  %s/%s %s\n", m.obj.GetAPIVersion(), m.obj.GetKind(), objectName(m.obj))
	}
	if cfg.noWait {
		fmt.Fprintf(out, "install: applied in %s; not waiting (--no-wait)\n", time.Since(start).Round(time.Second))
		return nil
	}
	w := &waiter{
		kube:          cl.Kube,
		dyn:           cl.Dynamic,
		namespace:     namespace,
		apiManager:    apiManagerName,
		deployments:   expectedDeployments(rest),
		jobs:          jobNames(rest),
		interval:      cfg.interval,
		progressEvery: defaultProgressEvery,
		out:           out,
		start:         start,
	}
	if err := w.run(ctx, cfg.timeout); err != nil {
		return err
	}
	fmt.Fprintf(out, "install: 3scale is up in namespace %s after %s; the harness's target file is fixtures/kind/target.yaml\n", namespace, time.Since(start).Round(time.Second))
	return nil
}

func objectName(o *unstructured.Unstructured) string {
	if o.GetNamespace() == "" {
		return o.GetName()
	}
	return o.GetNamespace() + "/" + o.GetName()
}

// clients are what an install talks to the cluster with: the harness's own client bundle
// (typed, dynamic, and a discovery-backed RESTMapper that notices CRDs registered later).
type clients struct{ *kube.Client }

func newClients(rc *rest.Config) (*clients, error) {
	c, err := kube.NewClient(rc)
	if err != nil {
		return nil, err
	}
	return &clients{c}, nil
}

func (c *clients) reachable(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if _, err := c.Kube.Discovery().RESTClient().Get().AbsPath("/version").DoRaw(ctx); err != nil {
		return fmt.Errorf("the cluster at %s does not answer (is it up? `threescale-kind up`): %w", c.Host, err)
	}
	return nil
}

// apply server-side applies one object, forcing ownership of the fields it sets: they are
// the install's. A kind the mapper does not know yet is looked up again after the
// discovery cache is dropped.
func (c *clients) apply(ctx context.Context, m manifest) error {
	gvk := m.obj.GroupVersionKind()
	mapping, err := c.RESTMapping(gvk)
	if err != nil {
		return fmt.Errorf("%s: the cluster does not serve %s: %w", m, gvk, err)
	}
	var ri dynamic.ResourceInterface = c.Dynamic.Resource(mapping.Resource)
	if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		ri = c.Dynamic.Resource(mapping.Resource).Namespace(m.obj.GetNamespace())
	}
	body, err := m.obj.MarshalJSON()
	if err != nil {
		return fmt.Errorf("%s: %w", m, err)
	}
	if _, err := ri.Patch(ctx, m.obj.GetName(), types.ApplyPatchType, body, metav1.PatchOptions{FieldManager: fieldManager, Force: ptr.To(true)}); err != nil {
		return fmt.Errorf("apply %s: %w", m, err)
	}
	return nil
}

var crdGVR = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// waitEstablished waits until the API server serves the CRD's kind, and says what it last
// saw of the CRD's conditions when it does not.
func (c *clients) waitEstablished(ctx context.Context, name string, timeout, interval time.Duration) error {
	if interval <= 0 {
		interval = 200 * time.Millisecond
	}
	last := "not read yet"
	err := wait.PollUntilContextTimeout(ctx, interval, timeout, true, func(ctx context.Context) (bool, error) {
		got, err := c.Dynamic.Resource(crdGVR).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			last = err.Error()
			return false, nil
		}
		ok, seen := crdEstablished(got)
		last = seen
		return ok, nil
	})
	if err != nil {
		return fmt.Errorf("CustomResourceDefinition %s not Established after %s: last seen %s: %w", name, timeout, last, err)
	}
	return nil
}

// crdEstablished reports whether a CRD's Established condition is True, and its conditions.
func crdEstablished(crd *unstructured.Unstructured) (bool, string) {
	conds, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
	seen := "no conditions"
	for i, c := range conds {
		m, _ := c.(map[string]any)
		s := fmt.Sprintf("%v=%v", m["type"], m["status"])
		if r, _ := m["reason"].(string); r != "" {
			s += " (" + r + ")"
		}
		if i == 0 {
			seen = s
		} else {
			seen += ", " + s
		}
		if m["type"] == "Established" && m["status"] == "True" {
			return true, seen
		}
	}
	return false, seen
}
