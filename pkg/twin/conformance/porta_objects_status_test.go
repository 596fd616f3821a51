package conformance

import (
	"context"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/threescale-chaos/harness/internal/testsupport"
)

// Whether an object deleted in the background is still there, as porta 3scale-2.16.4-GA
// answers it: GET /admin/api/objects/status.json?object_type=&object_id= is 200 with no body
// while the row exists (a deleted backend API's row stays until Sidekiq removes it), then 404;
// an object type other than service, account, proxy or backend_api is 403
// {"status":"Forbidden"}; without object_type it is 400 "Required parameter missing:
// object_type" (porta@3scale-2.16.4-GA:app/controllers/admin/api/objects_controller.rb;
// config/routes.rb:509; app/controllers/application_controller.rb:51-53).
func TestPortaObjectStatus(t *testing.T) {
	n := fmt.Sprintf("objst%d%d", time.Now().Unix()%100000, productSeq.Add(1))
	bid := idOf(mustAdmin(t, "POST", "/admin/api/backend_apis.json", url.Values{"name": {n}, "system_name": {n}, "private_endpoint": {"http://backend.example.com:80"}}, 201), "backend_api")
	const path = "/admin/api/objects/status.json"
	status := func(form url.Values) response {
		t.Helper()
		r, err := admin(t, "GET", path, form)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if r := status(url.Values{"object_type": {"backend_api"}, "object_id": {bid}}); r.status != 200 || r.body != "" {
		t.Errorf("status of a backend API: %d %q, want 200 and no body", r.status, r.body)
	}
	if r := status(url.Values{"object_type": {"metric"}, "object_id": {bid}}); r.status != 403 || r.body != `{"status":"Forbidden"}` {
		t.Errorf("status of an unknown object type: %d %s, want 403 {\"status\":\"Forbidden\"}", r.status, r.body)
	}
	if r := status(url.Values{"object_id": {bid}}); r.status != 400 || r.body != "Required parameter missing: object_type" {
		t.Errorf("status without object_type: %d %q, want 400", r.status, r.body)
	}
	mustAdmin(t, "DELETE", "/admin/api/backend_apis/"+bid+".json", nil, 200)
	testsupport.Eventually(t, 60*time.Second, "objects/status of deleted backend API "+bid+" answering 404", func(context.Context) (bool, string) {
		r := status(url.Values{"object_type": {"backend_api"}, "object_id": {bid}})
		return r.status == 404 && r.body == `{"status":"Not found"}`, fmt.Sprintf("%d %s", r.status, r.body)
	})
}
