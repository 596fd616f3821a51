package system

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/threescale-chaos/harness/internal/testsupport"
)

// testServiceTokenJob pins porta 3scale-2.16.4-GA's asynchronous service token: the product's
// token is created by CreateServiceTokenWorker on queue default after the product commits
// (porta@3scale-2.16.4-GA:app/events/services/service_created_event.rb,
// app/workers/create_service_token_worker.rb), so sandbox configs deployed before the job ran
// carry backend_authentication_value null, and a deploy after it carries the token, which
// backend has received (ServiceTokenService.update_backend). Called once sidekiq runs, for a
// product sid created while it did not.
func testServiceTokenJob(t *testing.T, e *testEnv, sid int64) {
	var token string
	testsupport.Eventually(t, 30*time.Second, "CreateServiceTokenWorker created the token", testsupport.NoError(func(context.Context) error {
		if err := e.sqlDB().QueryRow(`SELECT value FROM service_tokens WHERE service_id=?`, sid).Scan(&token); err != nil {
			return err
		}
		if len(e.backend.find("POST", "/internal/service_tokens")) == 0 {
			return fmt.Errorf("token %s not saved to backend yet", token)
		}
		return nil
	}))
	if len(token) != 64 {
		t.Errorf("token %q: porta generates SecureRandom.hex(32)", token)
	}
	latest := func() *string {
		code, body := e.admin("GET", fmt.Sprintf("/admin/api/services/%d/proxy/configs/sandbox/latest.json", sid), nil)
		var cfg struct {
			ProxyConfig struct {
				Content struct {
					Value *string `json:"backend_authentication_value"`
				} `json:"content"`
			} `json:"proxy_config"`
		}
		mustJSON(t, 200, code, body, &cfg)
		return cfg.ProxyConfig.Content.Value
	}
	if v := latest(); v != nil {
		t.Errorf("the config deployed before the job still says null in porta (no redeploy happened): %q", *v)
	}
	code, body := e.admin("POST", fmt.Sprintf("/admin/api/services/%d/proxy/deploy.json", sid), url.Values{})
	mustJSON(t, 201, code, body, nil)
	if v := latest(); v == nil || *v != token {
		t.Errorf("a deploy after the job carries the token: %v", v)
	}
	found := false
	for _, req := range e.backend.find("POST", "/internal/service_tokens") {
		var saved struct {
			ServiceTokens map[string]map[string]string `json:"service_tokens"`
		}
		if json.Unmarshal([]byte(req.Body), &saved) == nil && saved.ServiceTokens[token]["service_id"] == fmt.Sprint(sid) {
			found = true
		}
	}
	if !found {
		t.Errorf("backend never got token %s for service %d: %+v", token, sid, e.backend.find("POST", "/internal/service_tokens"))
	}
}
