package system

import (
	"database/sql"
	"reflect"
	"testing"
)

// PricingRule's validations (porta@3scale-2.16.4-GA:app/models/pricing_rule.rb) on the values
// a form sends, and BigDecimal's rendering of the stored cost.
func TestPricingRuleErrors(t *testing.T) {
	some := func(n int64) sql.NullInt64 { return sql.NullInt64{Int64: n, Valid: true} }
	existing := [][2]sql.NullInt64{{some(1), some(10)}, {some(21), {}}}
	for _, c := range []struct {
		what, min, max, cost string
		want                 map[string][]string
	}{
		{"between the rules", "11", "20", "0.5", map[string][]string{}},
		{"overlapping the first", "5", "15", "1", map[string][]string{"min": {"The 'From' value must be greater than the 'To' values of other existing rules"}}},
		{"overlapping the open-ended one", "30", "", "1", map[string][]string{"min": {"The 'From' value must be greater than the 'To' values of other existing rules"}}},
		{"max below min", "15", "12", "1", map[string][]string{"max": {"'To' value cannot be less than your 'From' value"}}},
		{"min zero", "0", "0", "1", map[string][]string{"min": {"must be greater than or equal to 1"}}},
		{"min not an integer", "12.5", "13", "1", map[string][]string{"min": {"must be an integer"}}},
		{"min not a number", "x", "", "1", map[string][]string{"min": {"The 'From' value must be greater than the 'To' values of other existing rules", "is not a number"}}},
		{"five decimals", "11", "12", "1.23456", map[string][]string{"cost_per_unit": {"maximum decimals is 4."}}},
		{"negative cost", "11", "12", "-1", map[string][]string{"cost_per_unit": {"maximum decimals is 4."}}},
		{"cost not a number", "11", "12", "abc", map[string][]string{"cost_per_unit": {"is not a number"}}},
	} {
		min, set := castInteger(c.min)
		var max sql.NullInt64
		if v, ok := castInteger(c.max); ok {
			max = some(v)
		}
		if got := pricingRuleErrors(c.min, min, set, max, c.cost, existing); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: %v, want %v", c.what, got, c.want)
		}
	}
	for in, want := range map[string]string{"20.0553": "20.0553", "1.5000": "1.5", "2.0000": "2.0", "0.0000": "0.0", "7": "7.0"} {
		if got := decimalString(in); got != want {
			t.Errorf("decimalString(%q) = %q, want %q", in, got, want)
		}
	}
}
