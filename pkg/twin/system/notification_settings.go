package system

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// A product's alert notification settings and what porta 3scale-2.16.4-GA does with them.
//
//   - The API permits notification_settings with four array keys, web_provider,
//     email_provider, web_buyer and email_buyer (porta@3scale-2.16.4-GA:
//     app/controllers/admin/api/services_controller.rb service_params, :65), so a form sends
//     notification_settings[web_provider][]=50&… (wrap_parameters adds the service[…]
//     wrapper; both spellings arrive). Other keys and scalar values are not permitted.
//   - Service#notification_settings= keeps the given keys and turns every value into an
//     integer with to_i, so an empty value becomes 0; given but empty settings become {}
//     (app/models/service.rb :402-412). A new product has none: the column is NULL and the
//     JSON has no notification_settings (ServiceRepresenter renders it only when set).
//   - When the column changed, after commit Service#update_notification_settings loads the
//     product's alert limits from backend and deletes those no longer in the union of all four
//     lists, then creates the missing ones (ThreeScale::Core::AlertLimit.load_all / delete /
//     save → apisonator's internal API /services/:id/alert_limits). The callback has no
//     rescue, so with backend failing the update answers 500 with the settings saved; in Rails
//     7.0's reverse order of after_commit callbacks it runs before update_backend_service.
//   - Events::Importers::AlertImporter keeps an imported alert for the provider only if its
//     level is in web_provider, and for the buyer only if it is in web_buyer
//     (app/lib/events/importers/alert_importer.rb save!, check_levels?).
//
// 3scale-2.15.1-GA does the same.

// notificationKeys are the permitted keys, in the order the twin stores them.
var notificationKeys = []string{"web_provider", "email_provider", "web_buyer", "email_buyer"}

// notificationSettings is a product's normalised settings: key → levels.
type notificationSettings map[string][]int

// notificationSettingsParam reads notification_settings from the request as Rails'
// strong parameters permit it. given is false when the request does not mention it at all.
func notificationSettingsParam(p params) (ns notificationSettings, given bool) {
	ns = notificationSettings{}
	for name := range p.v {
		if strings.HasPrefix(name, "notification_settings") || strings.HasPrefix(name, "service[notification_settings]") {
			given = true
		}
	}
	if !given {
		return nil, false
	}
	for _, k := range notificationKeys {
		var vals []string
		found := false
		for _, prefix := range []string{"notification_settings", "service[notification_settings]"} {
			// A form array is key[]; a JSON array arrives flattened under key.
			for _, name := range []string{prefix + "[" + k + "][]", prefix + "[" + k + "]"} {
				if vs, ok := p.v[name]; ok {
					found = true
					vals = append(vals, vs...)
				}
			}
		}
		if !found {
			continue
		}
		levels := make([]int, 0, len(vals))
		for _, v := range vals {
			levels = append(levels, rubyToI(v))
		}
		ns[k] = levels
	}
	return ns, true
}

// rubyToI is String#to_i: the leading integer, 0 when there is none.
func rubyToI(s string) int {
	s = strings.TrimSpace(s)
	end := 0
	for end < len(s) && (s[end] >= '0' && s[end] <= '9' || end == 0 && (s[end] == '-' || s[end] == '+')) {
		end++
	}
	n, _ := strconv.Atoi(s[:end])
	return n
}

// encode is the column value.
func (ns notificationSettings) encode() string {
	b, _ := json.Marshal(ns)
	return string(b)
}

func decodeNotificationSettings(raw string) notificationSettings {
	ns := notificationSettings{}
	_ = json.Unmarshal([]byte(raw), &ns)
	return ns
}

// levels is Service#notification_settings_levels: the union of all lists.
func (ns notificationSettings) levels() []int {
	var out []int
	for _, k := range notificationKeys {
		for _, v := range ns[k] {
			if !slices.Contains(out, v) {
				out = append(out, v)
			}
		}
	}
	return out
}

// includes is AlertImporter#check_levels?.
func (ns notificationSettings) includes(key string, level int) bool {
	return slices.Contains(ns[key], level)
}

// fields is the service JSON object of porta@3scale-2.16.4-GA:app/representers/service_representer.rb:
// no account_id; the flags porta's schema defaults them to (the twin does not change them);
// notification_settings only when set; annotations (2.16; 2.15.1-GA has none).
func (s *serviceRow) fields() map[string]any {
	self := fmtID("/admin/api/services/", s.ID)
	m := map[string]any{
		"id": s.ID, "name": s.Name, "state": s.State, "system_name": s.SystemName, "backend_version": s.BVersion,
		"deployment_option": s.DeploymentOption, "support_email": nullable(s.supportEmail.String, s.supportEmail.Valid),
		"description": s.Description, "intentions_required": false, "buyers_manage_apps": true, "buyers_manage_keys": true,
		"referrer_filters_required": false, "custom_keys_enabled": true, "buyer_key_regenerate_enabled": true,
		"mandatory_app_key": true, "buyer_can_select_plan": false, "buyer_plan_change_permission": "request",
		"annotations": decodeAnnotations(s.annotations), "created_at": ts(s.CreatedAt), "updated_at": ts(s.UpdatedAt),
		"links": []any{link("metrics", self+"/metrics"), link("self", self), link("service_plans", self+"/service_plans"),
			link("application_plans", self+"/application_plans"), link("features", self+"/features")},
	}
	if s.NotificationSettings.Valid {
		m["notification_settings"] = decodeNotificationSettings(s.NotificationSettings.String)
	}
	return m
}

// writeXML is Service#to_xml (porta@3scale-2.16.4-GA:app/models/service.rb :360-396), ending
// with the product's metrics and methods. notification_settings are written as Builder writes an array,
// Array#to_s: <web_provider>[50, 80]</web_provider>.
func (s *serviceRow) writeXML(b *bytes.Buffer) {
	el := func(name, value string) { xmlEl(b, name, value) }
	b.WriteString("<service>")
	el("id", strconv.FormatInt(s.ID, 10))
	el("account_id", strconv.FormatInt(s.AccountID, 10))
	el("name", s.Name)
	el("state", s.State)
	el("system_name", s.SystemName)
	el("backend_version", s.BVersion)
	el("description", s.Description)
	for _, f := range []struct {
		name string
		v    bool
	}{{"intentions_required", false}, {"buyers_manage_apps", true}, {"buyers_manage_keys", true}, {"referrer_filters_required", false},
		{"custom_keys_enabled", true}, {"buyer_key_regenerate_enabled", true}, {"mandatory_app_key", true}, {"buyer_can_select_plan", false}} {
		el(f.name, strconv.FormatBool(f.v))
	}
	el("buyer_plan_change_permission", "request")
	writeAnnotationsXML(b, s.annotations.String)
	if s.NotificationSettings.Valid {
		ns := decodeNotificationSettings(s.NotificationSettings.String)
		b.WriteString("<notification_settings>")
		for _, k := range notificationKeys {
			if vals, ok := ns[k]; ok {
				strs := make([]string, len(vals))
				for i, v := range vals {
					strs[i] = strconv.Itoa(v)
				}
				el(k, "["+strings.Join(strs, ", ")+"]")
			}
		}
		b.WriteString("</notification_settings>")
	}
	el("deployment_option", s.DeploymentOption)
	xmlOpt(b, "support_email", s.supportEmail.String, s.supportEmail.Valid)
	writeServiceMetricsXML(b, s.ID, s.metricsXML.String)
	b.WriteString("</service>")
}

// serviceDoc is one product as a response body.
type serviceDoc struct{ s *serviceRow }

func (d serviceDoc) MarshalJSON() ([]byte, error) { return json.Marshal(d.s.json()) }
func (d serviceDoc) renderXML(b *bytes.Buffer)    { d.s.writeXML(b) }

// servicesDoc is the product list: {"services":[{"service":{…}},…]} or <services>.
type servicesDoc []*serviceRow

func (d servicesDoc) MarshalJSON() ([]byte, error) {
	out := make([]any, 0, len(d))
	for _, s := range d {
		out = append(out, s.json())
	}
	return json.Marshal(map[string]any{"services": out})
}

func (d servicesDoc) renderXML(b *bytes.Buffer) {
	b.WriteString("<services>")
	for _, s := range d {
		s.writeXML(b)
	}
	b.WriteString("</services>")
}

// syncAlertLimits is Service#update_notification_settings: backend's alert limits become the
// union of the settings' levels, deleting the extra ones first, then creating the missing
// ones; the first failure is returned (the request answers 500, the settings stay saved).
func (b *backendClient) syncAlertLimits(ctx context.Context, sid int64, ns notificationSettings) error {
	current, err := b.alertLimits(ctx, sid)
	if err != nil {
		return err
	}
	want := ns.levels()
	for _, v := range current {
		if !slices.Contains(want, v) {
			if err := b.deleteAlertLimit(ctx, sid, v); err != nil {
				return err
			}
		}
	}
	for _, v := range want {
		if !slices.Contains(current, v) {
			if err := b.saveAlertLimit(ctx, sid, v); err != nil {
				return err
			}
		}
	}
	return nil
}

// alertLimits is ThreeScale::Core::AlertLimit.load_all: GET …/alert_limits/.
func (b *backendClient) alertLimits(ctx context.Context, sid int64) ([]int, error) {
	var out struct {
		AlertLimits []struct {
			Value int `json:"value"`
		} `json:"alert_limits"`
	}
	if _, err := b.do(ctx, http.MethodGet, fmt.Sprintf("/internal/services/%d/alert_limits/", sid), nil, &out); err != nil {
		return nil, err
	}
	vals := make([]int, 0, len(out.AlertLimits))
	for _, l := range out.AlertLimits {
		vals = append(vals, l.Value)
	}
	return vals, nil
}

// saveAlertLimit is AlertLimit.save: POST {"alert_limit":{"value":v}}; a non-2xx answer raises.
func (b *backendClient) saveAlertLimit(ctx context.Context, sid int64, v int) error {
	_, err := b.do(ctx, http.MethodPost, fmt.Sprintf("/internal/services/%d/alert_limits/", sid),
		map[string]any{"alert_limit": map[string]any{"value": v}}, nil)
	return err
}

// deleteAlertLimit is AlertLimit.delete; pisoni does not raise on a 404 for a delete.
func (b *backendClient) deleteAlertLimit(ctx context.Context, sid int64, v int) error {
	_, err := b.do(ctx, http.MethodDelete, fmt.Sprintf("/internal/services/%d/alert_limits/%d", sid, v), nil, nil, http.StatusNotFound)
	return err
}
