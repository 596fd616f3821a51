package backend

import (
	"testing"
	"time"
)

// The examples of research/apicast-apisonator.md §7: timestamps lose up to six trailing zeros.
func TestCompactTime(t *testing.T) {
	at := func(s string) time.Time {
		v, err := time.Parse("2006-01-02 15:04", s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	cases := []struct {
		p    period
		t    string
		want string
	}{
		{periodDay, "2025-04-23 17:42", "20250423"},
		{periodMonth, "2025-04-23 17:42", "20250401"},
		{periodYear, "2025-04-23 17:42", "20250101"},
		{periodHour, "2025-04-23 17:42", "2025042317"},
		{periodHour, "2025-04-23 10:42", "202504231"},
		{periodHour, "2025-04-23 00:42", "20250423"},
		{periodMinute, "2025-04-23 17:42", "202504231742"},
		{periodMinute, "2025-04-23 18:10", "20250423181"},
		{periodWeek, "2025-04-23 17:42", "20250421"}, // Monday
		{periodDay, "2025-04-30 08:00", "20250430"},  // seven trailing zeros, six removed
		{periodMinute, "2025-04-23 10:00", "202504231"},
	}
	for _, c := range cases {
		if got := c.p.stamp(at(c.t)); got != c.want {
			t.Errorf("%s of %s: got %s, want %s", c.p, c.t, got, c.want)
		}
	}
	if got := periodWeek.end(at("2025-04-27 23:59")); !got.Equal(at("2025-04-28 00:00")) {
		t.Errorf("week end: %v", got)
	}
}

func TestDiscreteUtilization(t *testing.T) {
	for u, want := range map[float64]int{0: 0, 0.49: 0, 0.5: 50, 0.66: 50, 0.99: 90, 1: 100, 3.5: 300} {
		if got := discreteUtilization(u); got != want {
			t.Errorf("%v: got %d, want %d", u, got, want)
		}
	}
}
