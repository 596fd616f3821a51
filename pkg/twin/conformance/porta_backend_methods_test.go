package conformance

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"
)

// A backend API's methods as porta 3scale-2.16.4-GA serves them under
// /admin/api/backend_apis/{id}/metrics/{metric_id}/methods
// (porta@3scale-2.16.4-GA:config/routes.rb; app/controllers/admin/api/backend_apis/metric_methods_controller.rb):
//   - create answers 201 {"method":…} rendered by MethodRepresenter: the extended system_name
//     "<name>.<backend_api_id>" as for metrics, no name, parent_id, no unit
//     (app/representers/method_representer.rb; app/lib/backend_api_logic/metric_extension.rb);
//   - list answers {"methods":[{"method":…}]}, show, update (friendly_name) and delete work on
//     one method, and a method looked up under another metric is 404 (metric.children.find);
//   - only hits may have methods: 422 {"errors":{"parent_id":["You can only create methods
//     under 'hits'"]}} (app/models/metric.rb only_hits_has_children);
//   - an unknown parent metric is 404.
func TestPortaBackendAPIMethods(t *testing.T) {
	n := fmt.Sprintf("bemethods%d%d", time.Now().Unix()%100000, productSeq.Add(1))
	bid := idOf(mustAdmin(t, "POST", "/admin/api/backend_apis.json", url.Values{"name": {n}, "private_endpoint": {"http://echo:8080"}}, 201), "backend_api")
	defer mustAdmin(t, "DELETE", "/admin/api/backend_apis/"+bid+".json", nil, 200)
	metrics := "/admin/api/backend_apis/" + bid + "/metrics"
	var hits string
	for _, m := range mustAdmin(t, "GET", metrics+".json", nil, 200)["metrics"].([]any) {
		if field(m.(map[string]any), "metric", "system_name") == "hits."+bid {
			hits = fmt.Sprint(int64(field(m.(map[string]any), "metric", "id").(float64)))
		}
	}
	if hits == "" {
		t.Fatalf("backend API %s has no hits.%s metric", bid, bid)
	}
	other := idOf(mustAdmin(t, "POST", metrics+".json", url.Values{"friendly_name": {"Other"}, "system_name": {"other"}, "unit": {"hit"}}, 201), "metric")

	methods := metrics + "/" + hits + "/methods"
	made := mustAdmin(t, "POST", methods+".json", url.Values{"friendly_name": {"Get thing"}, "system_name": {"get_thing"}}, 201)
	mid := idOf(made, "method")
	body := made["method"].(map[string]any)
	if body["system_name"] != "get_thing."+bid || fmt.Sprint(body["parent_id"]) != hits {
		t.Errorf("created method: %v, want system_name get_thing.%s and parent_id %s", body, bid, hits)
	}
	for _, k := range []string{"name", "unit"} {
		if _, ok := body[k]; ok {
			t.Errorf("a backend API method renders %s: %v", k, body)
		}
	}

	list := mustAdmin(t, "GET", methods+".json", nil, 200)["methods"].([]any)
	if len(list) != 1 || fmt.Sprint(int64(field(list[0].(map[string]any), "method", "id").(float64))) != mid {
		t.Errorf("methods of hits: %v, want only %s", list, mid)
	}
	mustAdmin(t, "PUT", methods+"/"+mid+".json", url.Values{"friendly_name": {"Get the thing"}}, 200)
	if got := field(mustAdmin(t, "GET", methods+"/"+mid+".json", nil, 200), "method", "friendly_name"); got != "Get the thing" {
		t.Errorf("friendly_name after the update: %v", got)
	}
	if r, err := admin(t, "GET", metrics+"/"+other+"/methods/"+mid+".json", nil); err != nil || r.status != 404 {
		t.Errorf("the method under another metric: %v %d %s, want 404", err, r.status, r.body)
	}

	r, err := admin(t, "POST", metrics+"/"+other+"/methods.json", url.Values{"friendly_name": {"Under other"}, "system_name": {"under_other"}})
	if err != nil || r.status != 422 || !strings.Contains(r.body, `"parent_id":["You can only create methods under 'hits'"]`) {
		t.Errorf("a method under a metric other than hits: %v %d %s, want 422 on parent_id", err, r.status, r.body)
	}
	if r, err := admin(t, "GET", metrics+"/999999999/methods.json", nil); err != nil || r.status != 404 {
		t.Errorf("methods of an unknown metric: %v %d %s, want 404", err, r.status, r.body)
	}

	mustAdmin(t, "DELETE", methods+"/"+mid+".json", nil, 200)
	if r, err := admin(t, "GET", methods+"/"+mid+".json", nil); err != nil || r.status != 404 {
		t.Errorf("the deleted method: %v %d %s, want 404", err, r.status, r.body)
	}
}
