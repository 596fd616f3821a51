package zync

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
)

// RouteGVR is the OpenShift Route resource zync-que writes (research/porta-zync.md §5.2
// "Routes come from Integration::KubernetesService").
var RouteGVR = schema.GroupVersionResource{Group: "route.openshift.io", Version: "v1", Resource: "routes"}

// Route labels and names zync uses (research/porta-zync.md §5.2; research/3scale-operator.md
// §3 routes table).
const (
	LabelCreatedBy = "3scale.net/created-by"
	LabelRecord    = "zync.3scale.net/record"
	LabelRouteTo   = "zync.3scale.net/route-to"
	LabelIngress   = "zync.3scale.net/ingress"
	// ProxyRoutePrefix is the generateName of a product's gateway Routes.
	ProxyRoutePrefix = "zync-3scale-api-"
)

// routeTarget is one Route zync wants for an entity.
type routeTarget struct {
	host    string
	tls     bool
	service string // Service the route sends to
	port    string // its named port
}

// proxyRouteTargets reads the production and staging endpoints of a proxy entity and returns
// the Routes it needs: apicast-production and apicast-staging on port "gateway", edge TLS for
// https endpoints. A deleted proxy (nil data) or a proxy whose deployment_option is not
// "hosted" needs none, so its Routes are removed (research/porta-zync.md §5.2).
func proxyRouteTargets(data json.RawMessage) ([]routeTarget, error) {
	if len(data) == 0 || string(data) == "null" {
		return nil, nil
	}
	var body map[string]json.RawMessage
	if err := json.Unmarshal(data, &body); err != nil {
		return nil, fmt.Errorf("proxy entity: %w", err)
	}
	raw := json.RawMessage(data)
	if inner, ok := body["proxy"]; ok {
		raw = inner
	}
	var p struct {
		Endpoint         string `json:"endpoint"`
		SandboxEndpoint  string `json:"sandbox_endpoint"`
		DeploymentOption string `json:"deployment_option"`
	}
	if err := json.Unmarshal(raw, &p); err != nil {
		return nil, fmt.Errorf("proxy entity: %w", err)
	}
	if p.DeploymentOption != "" && p.DeploymentOption != "hosted" {
		return nil, nil
	}
	var out []routeTarget
	for _, e := range []struct{ endpoint, service string }{
		{p.Endpoint, "apicast-production"},
		{p.SandboxEndpoint, "apicast-staging"},
	} {
		if e.endpoint == "" {
			continue
		}
		u, err := url.Parse(e.endpoint)
		if err != nil || u.Hostname() == "" {
			return nil, fmt.Errorf("proxy endpoint %q is not a URL", e.endpoint)
		}
		out = append(out, routeTarget{host: u.Hostname(), tls: u.Scheme == "https", service: e.service, port: "gateway"})
	}
	return out, nil
}

// recordLabel is the zync.3scale.net/record value for a record: its global id, URL-safe
// base64 without padding, trimmed so it is a valid label value.
func recordLabel(recordType string, id int64) string {
	s := base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf("gid://zync/%s/%d", recordType, id)))
	return strings.TrimRight(s, "-_")
}

// routeSyncer creates, updates and deletes Routes in one namespace.
type routeSyncer struct {
	client    dynamic.Interface
	namespace string
}

// sync makes the Routes labelled with record match targets: one Route per target, any other
// Route of that record deleted.
func (s *routeSyncer) sync(ctx context.Context, record string, targets []routeTarget) error {
	ri := s.client.Resource(RouteGVR).Namespace(s.namespace)
	list, err := ri.List(ctx, metav1.ListOptions{
		LabelSelector: fmt.Sprintf("%s=zync,%s=%s", LabelCreatedBy, LabelRecord, record),
	})
	if err != nil {
		return fmt.Errorf("list routes: %w", err)
	}
	existing := map[string]*unstructured.Unstructured{}
	for i := range list.Items {
		r := &list.Items[i]
		existing[r.GetLabels()[LabelRouteTo]] = r
	}
	for _, t := range targets {
		desired := buildRoute(record, t)
		if cur, ok := existing[t.service]; ok {
			delete(existing, t.service)
			cur.Object["spec"] = desired.Object["spec"]
			if _, err := ri.Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
				return fmt.Errorf("update route %s: %w", cur.GetName(), err)
			}
			continue
		}
		if _, err := ri.Create(ctx, desired, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("create route to %s: %w", t.service, err)
		}
	}
	for _, r := range existing {
		if err := ri.Delete(ctx, r.GetName(), metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete route %s: %w", r.GetName(), err)
		}
	}
	return nil
}

func buildRoute(record string, t routeTarget) *unstructured.Unstructured {
	spec := map[string]any{
		"host": t.host,
		"to":   map[string]any{"kind": "Service", "name": t.service},
		"port": map[string]any{"targetPort": t.port},
	}
	if t.tls {
		spec["tls"] = map[string]any{"termination": "edge", "insecureEdgeTerminationPolicy": "Redirect"}
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "route.openshift.io/v1",
		"kind":       "Route",
		"metadata": map[string]any{
			"generateName": ProxyRoutePrefix,
			"labels": map[string]any{
				LabelCreatedBy: "zync",
				LabelRecord:    record,
				LabelRouteTo:   t.service,
				LabelIngress:   "proxy",
			},
		},
		"spec": spec,
	}}
}
