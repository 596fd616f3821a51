package system

import (
	"bytes"
	"encoding/json"
	"strconv"
)

// How porta 3scale-2.16.4-GA renders an application (a cinstance) in the Account Management
// API. The credentials depend on the product's backend_version, in JSON and XML alike, so a
// client of a user_key product (backend_version 1) never sees the id backend stores the
// application under:
//
//   - JSON, porta@3scale-2.16.4-GA:app/representers/cinstance_representer.rb: id, state,
//     enabled, created_at, updated_at, service_id, service_name, plan_id, plan_name,
//     account_id, org_name, first_traffic_at and first_daily_traffic_at (null when unset), then
//     user_key and provider_verification_key only for backend_version 1, application_id only
//     for 2 or oauth, redirect_url, client_id, client_secret only for oauth; then the builtin
//     fields (name, description) and links. There is no "keys" in the JSON.
//   - XML, porta@3scale-2.16.4-GA:app/models/cinstance.rb to_xml (:319): id, created_at,
//     updated_at, state, user_account_id, first_traffic_at, first_daily_traffic_at,
//     service_id, then user_key and provider_verification_key for backend_version 1, else
//     application_id (redirect_url for oauth) and <keys><key>…</key></keys>; then the plan
//     (Plan#xml_builder with custom/default attributes and service_id), the non-blank builtin
//     fields and <extra_fields/>.
//
// 3scale-2.15.1-GA renders the same. An OIDC product stores backend_version "oauth" in porta
// (Service#backend_version=), so "oidc" renders as oauth here.

// appVersion classifies a product's backend_version the way BackendVersion's predicates do.
func appVersion(bv string) (v1, v2, oauth bool) {
	switch bv {
	case "1":
		return true, false, false
	case "2":
		return false, true, false
	case "oauth", "oidc":
		return false, false, true
	}
	return false, false, false
}

// fields is the JSON object of one application, without its wrapper.
func (c *appRow) fields() map[string]any {
	self := fmtID(fmtID("/admin/api/accounts/", c.AccountID)+"/applications/", c.ID)
	body := map[string]any{"id": c.ID, "state": c.State, "enabled": c.State == "live",
		"created_at": ts(c.CreatedAt), "updated_at": ts(c.UpdatedAt), "service_id": c.ServiceID, "service_name": c.serviceName,
		"plan_id": c.PlanID, "plan_name": c.planName, "account_id": c.AccountID, "org_name": c.orgName,
		"first_traffic_at": nil, "first_daily_traffic_at": nil,
		"name": c.Name, "description": c.Description,
		"links": []any{link("self", self), link("service", fmtID("/admin/api/services/", c.ServiceID)),
			link("account", fmtID("/admin/api/accounts/", c.AccountID)),
			link("plan", fmtID(fmtID("/admin/api/services/", c.ServiceID)+"/application_plans/", c.PlanID)),
			link("keys", self+"/keys"), link("referrer_filters", self+"/referrer_filters")}}
	v1, v2, oauth := appVersion(c.backendVersion)
	if v1 {
		body["user_key"] = nullable(c.UserKey.String, c.UserKey.Valid)
		body["provider_verification_key"] = nullable(c.providerKey.String, c.providerKey.Valid)
	}
	if v2 || oauth {
		body["application_id"] = c.AppID
	}
	if oauth {
		body["redirect_url"] = nil
		body["client_id"] = c.AppID
		var secret any
		if len(c.keys) > 0 {
			secret = c.keys[0]
		}
		body["client_secret"] = secret
	}
	return body
}

func nullable(s string, valid bool) any {
	if !valid {
		return nil
	}
	return s
}

// writeXML renders one <application> as Cinstance#to_xml does.
func (c *appRow) writeXML(b *bytes.Buffer) {
	el := func(name, value string) { xmlEl(b, name, value) }
	b.WriteString("<application>")
	el("id", strconv.FormatInt(c.ID, 10))
	el("created_at", ts(c.CreatedAt))
	el("updated_at", ts(c.UpdatedAt))
	el("state", c.State)
	el("user_account_id", strconv.FormatInt(c.AccountID, 10))
	b.WriteString("<first_traffic_at/><first_daily_traffic_at/>")
	el("service_id", strconv.FormatInt(c.ServiceID, 10))
	if v1, _, oauth := appVersion(c.backendVersion); v1 {
		el("user_key", c.UserKey.String)
		el("provider_verification_key", c.providerKey.String)
	} else {
		el("application_id", c.AppID)
		if oauth {
			b.WriteString("<redirect_url/>")
		}
		b.WriteString("<keys>")
		for _, k := range c.keys {
			el("key", k)
		}
		b.WriteString("</keys>")
	}
	pl := c.plan
	pl.ID, pl.ServiceID, pl.Name, pl.State, pl.Default, pl.ApprovalRequired = c.PlanID, c.ServiceID, c.planName, c.planState, c.planDefault, c.planApproval
	writePlanXML(b, &pl)
	if c.Name != "" {
		el("name", c.Name)
	}
	if c.Description != "" {
		el("description", c.Description)
	}
	b.WriteString("<extra_fields></extra_fields></application>")
}

// appDoc is one application as a response body: {"application":{…}} or <application>.
type appDoc struct{ c *appRow }

func (d appDoc) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]any{"application": d.c.fields()})
}

func (d appDoc) renderXML(b *bytes.Buffer) { d.c.writeXML(b) }

// appsDoc is a list of applications: {"applications":[{"application":{…}},…]} or
// <applications><application>…</application>…</applications>.
type appsDoc []*appRow

func (d appsDoc) MarshalJSON() ([]byte, error) {
	out := make([]any, 0, len(d))
	for _, c := range d {
		out = append(out, map[string]any{"application": c.fields()})
	}
	return json.Marshal(map[string]any{"applications": out})
}

func (d appsDoc) renderXML(b *bytes.Buffer) {
	b.WriteString("<applications>")
	for _, c := range d {
		c.writeXML(b)
	}
	b.WriteString("</applications>")
}

// xmlRenderer is a body with its own XML form, for resources whose porta XML is not their JSON
// turned into elements.
type xmlRenderer interface{ renderXML(b *bytes.Buffer) }
