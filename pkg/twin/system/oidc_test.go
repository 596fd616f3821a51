package system

import "testing"

// The flows are cast as ActiveModel::Type::Boolean then !!: blank and the false words are
// false, anything else true.
func TestRailsBoolean(t *testing.T) {
	for v, want := range map[string]bool{"": false, "0": false, "f": false, "false": false, "FALSE": false, "off": false,
		"1": true, "true": true, "t": true, "yes": true, "on": true} {
		if got := railsBoolean(v); got != want {
			t.Errorf("railsBoolean(%q) = %t, want %t", v, got, want)
		}
	}
}
