package conformance

import (
	"fmt"
	"net/url"
	"slices"
	"sort"
	"testing"
	"time"
)

// A backend API's metrics as porta 3scale-2.16.4-GA stores and lists them: under the extended
// system_name "<name>.<backend_api_id>", the name backend knows them by, and without "name";
// a system_name given with its suffix is not suffixed twice
// (porta@3scale-2.16.4-GA:app/lib/backend_api_logic/metric_extension.rb extend_system_name,
// system_name_without_suffix; app/representers/metric_representer.rb). The operator strips the
// suffix to compare (3scale-operator@3scale-2.16.3-GA:pkg/controller/helper/backendapi_entity.go).
func TestPortaBackendAPIMetricNames(t *testing.T) {
	n := fmt.Sprintf("bemetrics%d%d", time.Now().Unix()%100000, productSeq.Add(1))
	bid := idOf(mustAdmin(t, "POST", "/admin/api/backend_apis.json", url.Values{"name": {n}, "private_endpoint": {"http://echo:8080"}}, 201), "backend_api")
	defer mustAdmin(t, "DELETE", "/admin/api/backend_apis/"+bid+".json", nil, 200)
	metrics := "/admin/api/backend_apis/" + bid + "/metrics.json"
	made := mustAdmin(t, "POST", metrics, url.Values{"friendly_name": {"Bem"}, "system_name": {"bem"}, "unit": {"hit"}}, 201)
	if got := field(made, "metric", "system_name"); got != "bem."+bid {
		t.Errorf("created metric system_name %v, want bem.%s", got, bid)
	}
	if _, ok := made["metric"].(map[string]any)["name"]; ok {
		t.Errorf("a backend API metric renders name: %v", made)
	}
	mustAdmin(t, "POST", metrics, url.Values{"friendly_name": {"Bem2"}, "system_name": {"bem2." + bid}, "unit": {"hit"}}, 201)
	var names []string
	for _, m := range mustAdmin(t, "GET", metrics, nil, 200)["metrics"].([]any) {
		names = append(names, fmt.Sprint(field(m.(map[string]any), "metric", "system_name")))
	}
	sort.Strings(names)
	if want := []string{"bem." + bid, "bem2." + bid, "hits." + bid}; !slices.Equal(names, want) {
		t.Errorf("backend API metrics: %v, want %v", names, want)
	}
}
