package system

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// oidcFlows are OIDCConfiguration::Config::FLOWS, its only attributes, in the order porta
// renders them (porta@3scale-2.16.4-GA:app/models/oidc_configuration.rb).
var oidcFlows = []string{"standard_flow_enabled", "implicit_flow_enabled", "service_accounts_enabled", "direct_access_grants_enabled"}

// oidcConfig is a proxy's OIDC configuration. ID is 0 while it is the unsaved default.
type oidcConfig struct {
	ID    int64
	Flows map[string]bool
}

// MarshalJSON is OIDCConfigurationRepresenter: id then the four flows under
// "oidc_configuration"; representable leaves out the nil id of the unsaved default
// (porta@3scale-2.16.4-GA:app/representers/oidc_configuration_representer.rb).
func (c oidcConfig) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(`{"oidc_configuration":{`)
	if c.ID != 0 {
		fmt.Fprintf(&b, `"id":%d,`, c.ID)
	}
	for i, f := range oidcFlows {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `%q:%t`, f, c.Flows[f])
	}
	b.WriteString(`}}`)
	return b.Bytes(), nil
}

// renderXML is OIDCConfiguration#to_xml: <oidc_configuration> with <id> and the four flows.
func (c oidcConfig) renderXML(b *bytes.Buffer) {
	b.WriteString("<oidc_configuration>")
	if c.ID != 0 {
		fmt.Fprintf(b, "<id>%d</id>", c.ID)
	} else {
		b.WriteString("<id/>")
	}
	for _, f := range oidcFlows {
		fmt.Fprintf(b, "<%s>%t</%s>", f, c.Flows[f], f)
	}
	b.WriteString("</oidc_configuration>")
}

// proxyOIDC loads the service's proxy and its OIDC configuration: the saved row, else the
// default Proxy#oidc_configuration builds, standard_flow_enabled alone true
// (porta@3scale-2.16.4-GA:app/models/proxy.rb oidc_configuration; the Config coder casts a
// missing flow to false).
func (a *app) proxyOIDC(r *http.Request, rc *reqCtx) (proxyID int64, c oidcConfig, err error) {
	ctx := r.Context()
	o, err := a.serviceOwner(ctx, rc, r, "id")
	if err != nil {
		return 0, c, err
	}
	if err := a.db.QueryRowContext(ctx, `SELECT id FROM proxies WHERE service_id=?`, o.id).Scan(&proxyID); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return 0, c, errNotFound
		}
		return 0, c, err
	}
	c.Flows = map[string]bool{}
	var raw string
	err = a.db.QueryRowContext(ctx, `SELECT id, config FROM oidc_configurations WHERE oidc_configurable_type='Proxy' AND oidc_configurable_id=?`, proxyID).Scan(&c.ID, &raw)
	if errors.Is(err, sql.ErrNoRows) {
		c.Flows["standard_flow_enabled"] = true
		return proxyID, c, nil
	}
	if err != nil {
		return 0, c, err
	}
	if err := json.Unmarshal([]byte(raw), &c.Flows); err != nil {
		return 0, c, err
	}
	return proxyID, c, nil
}

// showOIDC is GET /admin/api/services/{id}/proxy/oidc_configuration
// (porta@3scale-2.16.4-GA:app/controllers/admin/api/services/proxy/oidc_configurations_controller.rb show).
func (a *app) showOIDC(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	_, c, err := a.proxyOIDC(r, rc)
	if err != nil {
		return err
	}
	return ok(w, rc, c)
}

// updateOIDC is PATCH (or PUT) /admin/api/services/{id}/proxy/oidc_configuration: the flows
// given under oidc_configuration[…] are cast as ActiveModel's Boolean does and saved, the
// others keep their value, and the configuration is answered with 200. A JSON body may give
// them unwrapped, as wrap_parameters wraps them; with none given the answer is
// ParameterMissing's plain-text 400 (porta@3scale-2.16.4-GA:
// app/controllers/admin/api/services/proxy/oidc_configurations_controller.rb update,
// oidc_configuration_params; app/models/oidc_configuration.rb the flows' setters;
// app/controllers/application_controller.rb rescue_from ActionController::ParameterMissing).
func (a *app) updateOIDC(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	isJSON := strings.HasPrefix(r.Header.Get("Content-Type"), "application/json")
	p := parseParams(r)
	proxyID, c, err := a.proxyOIDC(r, rc)
	if err != nil {
		return err
	}
	given := false
	for k := range p.v {
		given = given || strings.HasPrefix(k, "oidc_configuration[")
	}
	for _, f := range oidcFlows {
		vs, found := p.v["oidc_configuration["+f+"]"]
		if !found && isJSON {
			vs, found = p.v[f]
		}
		if !found {
			continue
		}
		given = true
		v := ""
		if len(vs) > 0 {
			v = vs[0]
		}
		c.Flows[f] = railsBoolean(v)
	}
	if !given {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte("Required parameter missing: oidc_configuration"))
		return nil
	}
	raw, err := json.Marshal(c.Flows)
	if err != nil {
		return err
	}
	t := now()
	if c.ID == 0 {
		c.ID, err = lastID(a.db.ExecContext(r.Context(), `INSERT INTO oidc_configurations (config, oidc_configurable_type, oidc_configurable_id, tenant_id, created_at, updated_at) VALUES (?,'Proxy',?,?,?,?)`,
			string(raw), proxyID, rc.tenant.ID, t, t))
	} else {
		_, err = a.db.ExecContext(r.Context(), `UPDATE oidc_configurations SET config=?, updated_at=? WHERE id=?`, string(raw), t, c.ID)
	}
	if err != nil {
		return err
	}
	return ok(w, rc, c)
}

// railsBoolean is ActiveModel::Type::Boolean's cast followed by the setter's !!: blank and
// the false words are false, anything else true.
func railsBoolean(v string) bool {
	switch v {
	case "", "0", "f", "F", "false", "FALSE", "off", "OFF":
		return false
	}
	return true
}
