package system

import (
	"net/http"
)

// hostProxyConfigs is GET /admin/api/services/proxy/configs/{env}.json?host=, porta's
// index_by_host (porta@3scale-2.16.4-GA:config/routes.rb, the collection route of
// services/proxy/configs; app/controllers/admin/api/services/proxy/configs_controller.rb
// index_by_host, host_proxy_configs): the current version of every config of the tenant's
// accessible products (current_account.accessible_proxy_configs, whatever the token's user)
// in that environment whose hosts include host. APIcast reaches it when
// THREESCALE_PORTAL_ENDPOINT carries this path (APIcast@3scale-2.16.3-GA:
// gateway/src/apicast/configuration_loader/remote_v2.lua index_custom_path, which GETs
// <endpoint>/<env>.json?host=<host> and reads proxy_configs). An unknown environment is 400
// {"error":"invalid environment"} (the controller's rescue_from); it is checked before host,
// whose absence is ApplicationController's ParameterMissing answer, a plain-text 400.
func (a *app) hostProxyConfigs(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	env, valid := envName(r.PathValue("env"))
	if !valid {
		return errInvalidEnv
	}
	host := parseParams(r).get("host")
	if host == "" {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte("Required parameter missing: host"))
		return nil
	}
	q := `FROM proxy_configs pc JOIN services s ON s.id=pc.service_id WHERE s.account_id=? AND s.state<>'deleted' AND pc.environment=?` +
		currentVersion + ` AND pc.hosts LIKE ?`
	out, err := a.queryConfigs(r.Context(), q+` ORDER BY pc.id`, rc.tenant.ID, env, "%|"+host+"|%")
	if err != nil {
		return err
	}
	return ok(w, rc, map[string]any{"proxy_configs": out})
}
