package system

import (
	"encoding/json"
	"testing"
)

// routedChain as porta's BackendApiLogic::RoutingPolicy#policy_chain: unchanged without a
// sub-path; otherwise one routing policy before apicast, generated rules longest path first
// (blank endpoints left out) followed by the rules of a routing policy already in the chain.
func TestRoutedChain(t *testing.T) {
	chain := []any{
		map[string]any{"name": "routing", "version": "builtin", "configuration": json.RawMessage(`{"rules":[{"url":"http://own"}]}`)},
		map[string]any{"name": "headers", "version": "builtin", "configuration": json.RawMessage(`{}`)},
		map[string]any{"name": "apicast", "version": "builtin", "configuration": json.RawMessage(`{}`)},
	}
	root := []usageRoute{{1, "/", "http://a"}}
	if got := routedChain(chain, root); len(got) != 3 {
		t.Errorf("without sub-paths the chain changed: %v", got)
	}
	routes := []usageRoute{{1, "/", "http://a"}, {2, "/v1", "http://b/p"}, {3, "/v1/x", ""}, {4, "/w", "http://c"}}
	b, err := json.Marshal(routedChain(chain, routes))
	if err != nil {
		t.Fatal(err)
	}
	want := `[{"configuration":{},"name":"headers","version":"builtin"},` +
		`{"configuration":{"rules":[` +
		`{"condition":{"operations":[{"match":"path","op":"matches","value":"^(/w/.*|/w/?)"}]},"owner_id":4,"owner_type":"BackendApi","replace_path":"{{uri | remove_first: '/w'}}","url":"http://c"},` +
		`{"condition":{"operations":[{"match":"path","op":"matches","value":"^(/v1/.*|/v1/?)"}]},"owner_id":2,"owner_type":"BackendApi","replace_path":"{{uri | remove_first: '/v1'}}","url":"http://b/p"},` +
		`{"condition":{"operations":[{"match":"path","op":"matches","value":"^(/.*)"}]},"owner_id":1,"owner_type":"BackendApi","url":"http://a"},` +
		`{"url":"http://own"}]},"enabled":true,"name":"routing","version":"builtin"},` +
		`{"configuration":{},"name":"apicast","version":"builtin"}]`
	if string(b) != want {
		t.Errorf("routed chain:\n got %s\nwant %s", b, want)
	}
	if got := configPath("//v1//"); got != "/v1" {
		t.Errorf("configPath: %q", got)
	}
}
