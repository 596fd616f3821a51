package system

import (
	"context"
	"net/http"
)

// Methods of a product's or a backend API's metric, on the methods routes
// (porta@3scale-2.16.4-GA:app/controllers/admin/api/metric_methods_controller.rb,
// app/controllers/admin/api/backend_apis/metric_methods_controller.rb). Both look the parent up
// among the owner's metrics (404 when it is not one) and the method among its children
// (metric.children.find: a method of another parent is 404 too).

// methodJSON is MethodRepresenter: id, name (not for a backend API's method), system_name
// (a backend API's extended "<name>.<backend_api_id>"), friendly_name, description,
// parent_id, the timestamps, and links to the parent metric and to itself under the parent's
// methods; a method has no unit of its own (Metric#unit is the parent's)
// (porta@3scale-2.16.4-GA:app/representers/method_representer.rb, methods_representer.rb;
// app/models/metric.rb unit).
func (m *metricRow) methodJSON() map[string]any {
	base := fmtID("/admin/api/services/", m.OwnerID)
	if m.OwnerType == "BackendApi" {
		base = fmtID("/admin/api/backend_apis/", m.OwnerID)
	}
	parent := fmtID(base+"/metrics/", m.ParentID.Int64)
	body := map[string]any{"id": m.ID, "system_name": m.backendName(), "friendly_name": m.FriendlyName,
		"description": m.Description, "parent_id": m.ParentID.Int64,
		"created_at": ts(m.CreatedAt), "updated_at": ts(m.UpdatedAt),
		"links": []any{link("parent", parent), link("self", fmtID(parent+"/methods/", m.ID))}}
	if m.OwnerType != "BackendApi" {
		body["name"] = m.SystemName
	}
	return map[string]any{"method": xmlDoc{body, m.writeXML}}
}

// methodParent loads the metric a methods route names, 404 unless it is one of the owner's.
// Only hits may have methods: Metric#only_hits_has_children refuses a method under any other
// metric with 422 on parent_id (porta@3scale-2.16.4-GA:app/models/metric.rb; a backend API's
// hits is "hits.<id>", hits_extended_system_name_regex), so create checks forCreate.
func (a *app) methodParent(ctx context.Context, o *metricOwner, r *http.Request, forCreate bool) (*metricRow, error) {
	pid, err := pathID(r, "mid")
	if err != nil {
		return nil, err
	}
	parent, err := a.metric(ctx, o, pid)
	if err != nil {
		return nil, err
	}
	if forCreate && parent.SystemName != "hits" {
		return nil, invalid("parent_id", "You can only create methods under 'hits'")
	}
	return parent, nil
}

// metricJSONFor renders a metric row as the route's representer does: MethodRepresenter on a
// methods route (one with {parent}), MetricRepresenter otherwise.
func metricJSONFor(r *http.Request, m *metricRow) map[string]any {
	if r.PathValue("parent") != "" {
		return m.methodJSON()
	}
	return m.json()
}

// checkMethodParent is the children.find of a method route: the method must be a child of the
// metric the path names.
func checkMethodParent(r *http.Request, m *metricRow) error {
	if r.PathValue("parent") == "" {
		return nil
	}
	pid, err := pathID(r, "parent")
	if err != nil {
		return err
	}
	if !m.ParentID.Valid || m.ParentID.Int64 != pid {
		return errNotFound
	}
	return nil
}
