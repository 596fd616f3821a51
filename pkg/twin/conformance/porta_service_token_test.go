package conformance

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"
)

// sandboxAuthValue is the latest sandbox config's backend_authentication_value (nil for null).
func sandboxAuthValue(t *testing.T, sid string) *string {
	t.Helper()
	r := mustAdmin(t, "GET", "/admin/api/services/"+sid+"/proxy/configs/sandbox/latest.json", nil, 200)
	b, _ := json.Marshal(r)
	var cfg struct {
		ProxyConfig struct {
			Content struct {
				Value *string `json:"backend_authentication_value"`
			} `json:"content"`
		} `json:"proxy_config"`
	}
	if err := json.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	return cfg.ProxyConfig.Content.Value
}

// A product's service token is created by a Sidekiq job, as in porta 3scale-2.16.4-GA:
// Services::ServiceCreatedEvent is published after the product commits and its after_commit
// enqueues CreateServiceTokenWorker on queue default
// (porta@3scale-2.16.4-GA:app/events/services/service_created_event.rb,
// app/workers/create_service_token_worker.rb, app/models/service.rb
// create_and_publish_service_created_event). With system-sidekiq at zero the job waits in
// system-redis and every sandbox config deployed meanwhile has backend_authentication_value
// null (Service#service_token = service_tokens.first.try(:value),
// app/lib/apicast/provider_source.rb); once system-sidekiq is back the token exists, backend
// knows it, and the next deploy carries it.
func TestPortaServiceTokenFromSidekiq(t *testing.T) {
	ctx := context.Background()
	scaleDown(t, "system-sidekiq")
	n := fmt.Sprintf("token%d%d", time.Now().Unix()%100000, productSeq.Add(1))
	sid := idOf(mustAdmin(t, "POST", "/admin/api/services.json", url.Values{"name": {n}, "system_name": {n}}, 201), "service")
	jobs := sidekiqJobs(t, ctx, "default")
	if !jobs["CreateServiceTokenWorker"] {
		t.Fatalf("queue:default has no CreateServiceTokenWorker after a product create: %v", jobs)
	}
	useEchoBackend(t, sid)
	mustAdmin(t, "POST", "/admin/api/services/"+sid+"/proxy/deploy.json", nil, 201)
	if v := sandboxAuthValue(t, sid); v != nil {
		t.Fatalf("sandbox config with system-sidekiq down has backend_authentication_value %q, want null", *v)
	}

	scaleUp(t, "system-sidekiq")
	token := sandboxServiceToken(t, sid)
	if len(token) != 64 {
		t.Errorf("service token %q: porta generates SecureRandom.hex(32)", token)
	}
	// Backend knows the token for the product (apisonator's service token check).
	req, err := http.NewRequest("HEAD", listenerURL()+"/internal/service_tokens/"+token+"/"+sid+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(secret(t, "backend-internal-api", "username"), secret(t, "backend-internal-api", "password"))
	resp, err := httpc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("backend HEAD service token: %d, want 200", resp.StatusCode)
	}
}

// sidekiqJobs is the set of job classes queued on one of Sidekiq's queues in system-redis.
func sidekiqJobs(t *testing.T, ctx context.Context, q string) map[string]bool {
	t.Helper()
	raw, err := redisClient(t, secret(t, "system-redis", "URL")).LRange(ctx, "queue:"+q, 0, -1).Result()
	if err != nil {
		t.Fatalf("LRANGE queue:%s: %v", q, err)
	}
	out := map[string]bool{}
	for _, r := range raw {
		var j struct {
			Class   string `json:"class"`
			Wrapped string `json:"wrapped"`
		}
		if json.Unmarshal([]byte(r), &j) == nil {
			if j.Wrapped != "" {
				out[j.Wrapped] = true
			} else {
				out[j.Class] = true
			}
		}
	}
	return out
}
