package system

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"net/http"
	"sort"
	"strconv"
	"strings"
)

// XML in the Account Management API, as porta 3scale-2.16.4-GA renders it.
//
// Porta's representers are JSON only (ThreeScale::JSONRepresenter); for an .xml request its
// responder renders the model's own to_xml, written by hand with a Builder, so element names,
// attributes and order are the model's, not the JSON's
// (porta@3scale-2.16.4-GA:app/lib/three_scale/api/responder.rb, app/lib/three_scale/json_representer.rb).
// A collection is ThreeScale::Api::Collection: the representer's wrapper as root and each
// item's to_xml inside (app/lib/three_scale/api/collection.rb), so the application plans are
// <plans><plan …>…</plan></plans>. A nil value is an empty element <x/>; there are no links.
//
// Resources whose XML the twin writes by hand carry it with their JSON fields (xmlDoc,
// xmlRenderer); anything else is still turned into elements mechanically from its JSON.

// xmlDoc is one resource's JSON fields together with its porta XML. It marshals to the fields,
// so a JSON body {"metric": xmlDoc} is unchanged, and toXML writes the XML instead.
type xmlDoc struct {
	fields map[string]any
	xml    func(b *bytes.Buffer)
}

func (d xmlDoc) MarshalJSON() ([]byte, error) { return json.Marshal(d.fields) }

// builderEscape escapes text as Builder::XmlMarkup does (Builder::XChar): &, < and > only;
// quotes and line breaks stay as they are.
var builderEscape = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// xmlEl writes <name>value</name>.
func xmlEl(b *bytes.Buffer, name, value string) {
	b.WriteString("<" + name + ">")
	_, _ = builderEscape.WriteString(b, value)
	b.WriteString("</" + name + ">")
}

// xmlOpt writes <name>value</name>, or <name/> for a nil (Builder's rendering of nil).
func xmlOpt(b *bytes.Buffer, name, value string, valid bool) {
	if !valid {
		b.WriteString("<" + name + "/>")
		return
	}
	xmlEl(b, name, value)
}

// rubyDecimal is BigDecimal#to_s as ActiveSupport formats it: at least one decimal ("0.0",
// "10.0", "1.5").
func rubyDecimal(f float64) string {
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.ContainsAny(s, ".eE") {
		s += ".0"
	}
	return s
}

// writePlanXML is ApplicationPlan#to_xml: Plan#xml_builder's <plan> with the custom and default
// attributes, id, name, type, state, approval_required, the prices (nil trial days empty),
// cancellation_period and the extra service_id node
// (porta@3scale-2.16.4-GA:app/models/application_plan.rb:42-51, app/models/plan.rb:427-447).
// The API makes no customised plans, so custom is false.
func writePlanXML(b *bytes.Buffer, p *planRow) {
	b.WriteString(`<plan custom="false" default="` + strconv.FormatBool(p.Default) + `">`)
	xmlEl(b, "id", strconv.FormatInt(p.ID, 10))
	xmlEl(b, "name", p.Name)
	xmlEl(b, "type", "application_plan")
	xmlEl(b, "state", p.State)
	xmlEl(b, "approval_required", strconv.FormatBool(p.ApprovalRequired))
	xmlEl(b, "setup_fee", rubyDecimal(p.SetupFee))
	xmlEl(b, "cost_per_month", rubyDecimal(p.CostPerMonth))
	xmlOpt(b, "trial_period_days", strconv.FormatInt(p.TrialPeriodDays.Int64, 10), p.TrialPeriodDays.Valid)
	xmlEl(b, "cancellation_period", strconv.FormatInt(p.CancellationPeriod, 10))
	xmlEl(b, "service_id", strconv.FormatInt(p.ServiceID, 10))
	b.WriteString("</plan>")
}

// xmlMetric is what Metric#to_xml reads of a metric or method.
type xmlMetric struct {
	ID          int64  `json:"id"`
	ParentID    *int64 `json:"parent_id"`
	SystemName  string `json:"system_name"`
	Friendly    string `json:"friendly_name"`
	Unit        string `json:"unit"`
	Description string `json:"description"`
	// serviceID is service_owner&.id: the owning product, none for a backend API's metric.
	serviceID *int64
}

// write is Metric#to_xml: <metric>, or <method> for a method, with id, name and system_name
// (both the system name; name is deprecated), friendly_name, service_id, description, then
// metric_id (the parent) for a method or unit for a metric
// (porta@3scale-2.16.4-GA:app/models/metric.rb:136-160).
func (m xmlMetric) write(b *bytes.Buffer) {
	tag := "metric"
	if m.ParentID != nil {
		tag = "method"
	}
	b.WriteString("<" + tag + ">")
	xmlEl(b, "id", strconv.FormatInt(m.ID, 10))
	xmlEl(b, "name", m.SystemName)
	xmlEl(b, "system_name", m.SystemName)
	xmlEl(b, "friendly_name", m.Friendly)
	if m.serviceID != nil {
		xmlEl(b, "service_id", strconv.FormatInt(*m.serviceID, 10))
	} else {
		b.WriteString("<service_id/>")
	}
	xmlOpt(b, "description", m.Description, m.Description != "")
	if m.ParentID != nil {
		xmlEl(b, "metric_id", strconv.FormatInt(*m.ParentID, 10))
	} else {
		xmlEl(b, "unit", m.Unit)
	}
	b.WriteString("</" + tag + ">")
}

// writeXML is Metric#to_xml for a metric row.
func (m *metricRow) writeXML(b *bytes.Buffer) {
	x := xmlMetric{ID: m.ID, SystemName: m.backendName(), Friendly: m.FriendlyName, Unit: m.Unit, Description: m.Description}
	if m.ParentID.Valid {
		x.ParentID = &m.ParentID.Int64
	}
	if m.OwnerType == "Service" {
		x.serviceID = &m.OwnerID
	}
	x.write(b)
}

// serviceMetricsCol is a column expression with a product's metrics and methods as a JSON array
// in id order (Metric's default scope), for Service#to_xml's nested <metrics>.
const serviceMetricsCol = `(SELECT JSON_ARRAYAGG(JSON_OBJECT('id', m.id, 'parent_id', m.parent_id, 'system_name', m.system_name,
	'friendly_name', m.friendly_name, 'unit', m.unit, 'description', m.description) ORDER BY m.id)
	FROM metrics m WHERE m.owner_type='Service' AND m.owner_id=services.id)`

// writeServiceMetricsXML is the end of Service#to_xml, metrics.to_xml(root: 'metrics'): the
// product's metrics and methods, each as Metric#to_xml, in id order
// (porta@3scale-2.16.4-GA:app/models/service.rb:392, config/initializers/array_hacks.rb).
func writeServiceMetricsXML(b *bytes.Buffer, sid int64, raw string) {
	var ms []xmlMetric
	_ = json.Unmarshal([]byte(raw), &ms)
	if len(ms) == 0 {
		b.WriteString("<metrics/>")
		return
	}
	b.WriteString("<metrics>")
	for _, m := range ms {
		m.serviceID = &sid
		m.write(b)
	}
	b.WriteString("</metrics>")
}

// writeAnnotationsXML is Annotating::Model#annotations_xml: <annotations> with one element per
// annotation (porta@3scale-2.16.4-GA:app/models/concerns/annotating/model.rb:21-31).
func writeAnnotationsXML(b *bytes.Buffer, raw string) {
	var m map[string]string
	_ = json.Unmarshal([]byte(raw), &m)
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	b.WriteString("<annotations>")
	for _, k := range names {
		xmlEl(b, k, m[k])
	}
	b.WriteString("</annotations>")
}

// writeXML is UsageLimit#to_xml: <limit> with id, metric_id, plan_id, period and value
// (porta@3scale-2.16.4-GA:app/models/usage_limit.rb:61-72).
func (l *limitRow) writeXML(b *bytes.Buffer) {
	b.WriteString("<limit>")
	xmlEl(b, "id", strconv.FormatInt(l.ID, 10))
	xmlEl(b, "metric_id", strconv.FormatInt(l.MetricID, 10))
	xmlEl(b, "plan_id", strconv.FormatInt(l.PlanID, 10))
	xmlEl(b, "period", l.Period)
	xmlEl(b, "value", strconv.FormatInt(l.Value, 10))
	b.WriteString("</limit>")
}

// writeErrorsXML is ActiveModel::Errors#to_xml as porta keeps it: the full messages as
// <errors><error>…</error></errors> (porta@3scale-2.16.4-GA:app/lib/three_scale/errors_to_xml.rb).
// It reports whether body was a validation-errors body {"errors":{attribute:[message…]}}.
func writeErrorsXML(b *bytes.Buffer, body any) bool {
	m, ok := body.(map[string]any)
	if !ok || len(m) != 1 {
		return false
	}
	byAttr := map[string][]string{}
	switch errs := m["errors"].(type) {
	case map[string][]string:
		byAttr = errs
	case map[string]any:
		for k, v := range errs {
			switch vs := v.(type) {
			case []string:
				byAttr[k] = vs
			case []any:
				for _, x := range vs {
					s, ok := x.(string)
					if !ok {
						return false
					}
					byAttr[k] = append(byAttr[k], s)
				}
			default:
				return false
			}
		}
	default:
		return false
	}
	attrs := make([]string, 0, len(byAttr))
	for k := range byAttr {
		attrs = append(attrs, k)
	}
	sort.Strings(attrs)
	b.WriteString("<errors>")
	for _, k := range attrs {
		for _, msg := range byAttr[k] {
			xmlEl(b, "error", fullMessage(k, msg))
		}
	}
	b.WriteString("</errors>")
	return true
}

// humanAttributes are porta's locale names for attributes the twin validates, where they
// differ from String#humanize (porta@3scale-2.16.4-GA:config/locales/en.yml
// activerecord.attributes).
var humanAttributes = map[string]string{"org_name": "Organization/Group Name"}

// fullMessage is ActiveModel::Errors#full_message: the message alone for base, else the
// attribute's human name and the message. The human name is String#humanize of the
// attribute ("system_name" → "System name", "plan_id" → "Plan", "annotations.name" →
// "Annotations name").
func fullMessage(attr, msg string) string {
	if attr == "base" {
		return msg
	}
	name, ok := humanAttributes[attr]
	if !ok {
		name = strings.TrimSuffix(strings.ReplaceAll(attr, ".", "_"), "_id")
		name = strings.ReplaceAll(name, "_", " ")
		if name != "" {
			name = strings.ToUpper(name[:1]) + name[1:]
		}
	}
	return name + " " + msg
}

// jsonOnly is a controller with clear_respond_to; respond_to :json. Its action runs as for
// JSON; respond_with then raises ActionController::UnknownFormat for any other format, which
// ApplicationController answers 406 with render_error's <error> (porta@3scale-2.16.4-GA:
// app/controllers/application_controller.rb:55-58, config/locales/en.yml unknown_format). What
// fails before respond_with keeps its own answer: a missing record (404), a refused permission
// (403), a missing parameter (400). So a create through .xml creates and answers 406.
func jsonOnly(h apiHandler) apiHandler {
	return func(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
		if rc.format == "json" {
			return h(w, r, rc)
		}
		err := h(discardWriter{http.Header{}}, r, rc)
		var he *httpError
		if errors.As(err, &he) {
			switch he.status {
			case http.StatusNotFound, http.StatusForbidden, http.StatusBadRequest:
				return err
			}
		} else if err != nil {
			return err
		}
		return &httpError{http.StatusNotAcceptable, map[string]string{"error": `The server does not understand "` + rc.format + `" request.`}}
	}
}

// discardWriter takes an action's answer that respond_with never sends.
type discardWriter struct{ h http.Header }

func (d discardWriter) Header() http.Header         { return d.h }
func (d discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (d discardWriter) WriteHeader(int)             {}

// toXML renders an API body as XML, porta's default format under /admin/api (research/porta-zync.md
// §1.5): a body with its own XML (xmlRenderer), a resource {"metric": xmlDoc} or a collection
// {"metrics":[{"metric": xmlDoc},…]} as porta writes them, validation errors as full messages.
// Anything else goes through JSON and becomes nested elements mechanically, in alphabetical
// order.
func toXML(body any) []byte {
	var b bytes.Buffer
	b.WriteString(xml.Header)
	if x, ok := body.(xmlRenderer); ok {
		x.renderXML(&b)
		return b.Bytes()
	}
	if writeDocXML(&b, body) || writeErrorsXML(&b, body) {
		return b.Bytes()
	}
	raw, err := json.Marshal(body)
	if err != nil {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil
	}
	m, ok := v.(map[string]any)
	if !ok || len(m) != 1 {
		writeXMLElem(&b, "response", v)
		return b.Bytes()
	}
	for k, val := range m {
		writeXMLElem(&b, k, val)
	}
	return b.Bytes()
}

// roarXML are the resources porta renders through a Roar::XML representer: their properties in
// declaration order, a nil property left out unless rendered nil, and no links
// (porta@3scale-2.16.4-GA:app/representers/proxy_representer.rb ProxyRepresenter::XML,
// app/representers/proxy_rule_representer.rb ProxyRuleRepresenter::XML, wrapped in
// <mapping_rules> by proxy_rules_representer.rb). A JSON field the representer does not
// declare is not written.
var roarXML = map[string]struct {
	order     []string
	renderNil map[string]bool
}{
	"proxy": {order: []string{"service_id", "endpoint", "deployed_at", "api_backend", "credentials_location", "auth_app_key",
		"auth_app_id", "auth_user_key", "error_auth_failed", "error_auth_missing", "error_status_auth_failed",
		"error_headers_auth_failed", "error_status_auth_missing", "error_headers_auth_missing", "error_no_match",
		"error_status_no_match", "error_headers_no_match", "error_limits_exceeded", "error_status_limits_exceeded",
		"error_headers_limits_exceeded", "secret_token", "hostname_rewrite", "oauth_login_url", "sandbox_endpoint",
		"api_test_path", "api_test_success", "policies_config", "created_at", "updated_at", "deployment_option",
		"lock_version", "oidc_issuer_endpoint", "oidc_issuer_type", "jwt_claim_with_client_id", "jwt_claim_with_client_id_type"},
		renderNil: map[string]bool{"api_backend": true}},
	"mapping_rule": {order: []string{"id", "metric_id", "pattern", "http_method", "delta", "position", "last",
		"redirect_url", "created_at", "updated_at"}},
}

// writeDocXML writes a body made of xmlDocs: {"x": xmlDoc}, or {"xs": [{"x": xmlDoc},…]} as
// ThreeScale::Api::Collection does, the wrapper as root and each item's own XML inside. It
// reports whether body had that shape.
func writeDocXML(b *bytes.Buffer, body any) bool {
	m, ok := body.(map[string]any)
	if !ok || len(m) != 1 {
		return false
	}
	for root, v := range m {
		switch t := v.(type) {
		case xmlDoc:
			t.xml(b)
			return true
		case []any:
			docs := make([]xmlDoc, 0, len(t))
			for _, item := range t {
				d, ok := itemDoc(item)
				if !ok {
					return false
				}
				docs = append(docs, d)
			}
			if len(docs) == 0 {
				// An empty list has nothing to tell a doc collection apart; Builder writes the
				// root with an empty block.
				b.WriteString("<" + root + "></" + root + ">")
				return true
			}
			b.WriteString("<" + root + ">")
			for _, d := range docs {
				d.xml(b)
			}
			b.WriteString("</" + root + ">")
			return true
		}
	}
	return false
}

func itemDoc(item any) (xmlDoc, bool) {
	if d, ok := item.(xmlDoc); ok {
		return d, true
	}
	if m, ok := item.(map[string]any); ok && len(m) == 1 {
		for _, v := range m {
			d, ok := v.(xmlDoc)
			return d, ok
		}
	}
	return xmlDoc{}, false
}

// writeXMLElem writes a JSON value as elements: an object's fields in alphabetical order (a
// roarXML resource's in its representer's), a list's single-key items by their key. The JSON
// links are left out: no porta XML has them.
func writeXMLElem(b *bytes.Buffer, name string, v any) {
	switch t := v.(type) {
	case nil:
		b.WriteString("<" + name + "/>")
	case map[string]any:
		b.WriteString("<" + name + ">")
		if shape, ok := roarXML[name]; ok {
			for _, k := range shape.order {
				if val, ok := t[k]; ok && (val != nil || shape.renderNil[k]) {
					writeXMLElem(b, k, val)
				}
			}
			b.WriteString("</" + name + ">")
			return
		}
		keys := make([]string, 0, len(t))
		for k := range t {
			if k != "links" {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			writeXMLElem(b, k, t[k])
		}
		b.WriteString("</" + name + ">")
	case []any:
		b.WriteString("<" + name + ">")
		for _, item := range t {
			// Collection items are single-key wrappers; write the wrapper's key as the element.
			if m, ok := item.(map[string]any); ok && len(m) == 1 {
				for k, val := range m {
					writeXMLElem(b, k, val)
				}
				continue
			}
			writeXMLElem(b, "item", item)
		}
		b.WriteString("</" + name + ">")
	case json.Number:
		b.WriteString("<" + name + ">" + t.String() + "</" + name + ">")
	case bool:
		s := "false"
		if t {
			s = "true"
		}
		b.WriteString("<" + name + ">" + s + "</" + name + ">")
	case string:
		xmlEl(b, name, t)
	}
}
