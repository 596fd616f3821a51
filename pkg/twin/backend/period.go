package backend

import (
	"strconv"
	"strings"
	"time"
)

// period is a usage-limit period and a stats granularity.
type period string

const (
	periodMinute   period = "minute"
	periodHour     period = "hour"
	periodDay      period = "day"
	periodWeek     period = "week"
	periodMonth    period = "month"
	periodYear     period = "year"
	periodEternity period = "eternity"
)

// limitPeriods are the periods a usage limit may have, shortest first (the order of
// usage_reports in the twin's XML).
var limitPeriods = []period{periodMinute, periodHour, periodDay, periodWeek, periodMonth, periodYear, periodEternity}

// appGranularities and serviceGranularities are the counters the worker writes: apps get all
// of them, services no minute or year (research/apicast-apisonator.md §7).
var (
	appGranularities     = []period{periodEternity, periodMonth, periodWeek, periodDay, periodHour, periodYear, periodMinute}
	serviceGranularities = []period{periodEternity, periodMonth, periodWeek, periodDay, periodHour}
)

// minuteKeyTTL is the expiry of minute counters, in seconds (§7).
const minuteKeyTTL = 180 * time.Second

func parsePeriod(s string) (period, bool) {
	for _, p := range limitPeriods {
		if string(p) == s {
			return p, true
		}
	}
	return "", false
}

// start is the beginning of the period containing t (UTC). Weeks start on Monday.
func (p period) start(t time.Time) time.Time {
	t = t.UTC()
	switch p {
	case periodMinute:
		return t.Truncate(time.Minute)
	case periodHour:
		return t.Truncate(time.Hour)
	case periodDay:
		return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	case periodWeek:
		d := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
		back := (int(d.Weekday()) + 6) % 7 // days since Monday
		return d.AddDate(0, 0, -back)
	case periodMonth:
		return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
	case periodYear:
		return time.Date(t.Year(), 1, 1, 0, 0, 0, 0, time.UTC)
	}
	return time.Time{}
}

// end is the beginning of the next period.
func (p period) end(t time.Time) time.Time {
	s := p.start(t)
	switch p {
	case periodMinute:
		return s.Add(time.Minute)
	case periodHour:
		return s.Add(time.Hour)
	case periodDay:
		return s.AddDate(0, 0, 1)
	case periodWeek:
		return s.AddDate(0, 0, 7)
	case periodMonth:
		return s.AddDate(0, 1, 0)
	case periodYear:
		return s.AddDate(1, 0, 0)
	}
	return time.Time{}
}

// stamp is the key suffix of the period containing t ("" for eternity).
func (p period) stamp(t time.Time) string {
	if p == periodEternity {
		return ""
	}
	return compactTime(p.start(t))
}

func (p period) keyPart(ts string) string {
	if p == periodEternity {
		return string(p)
	}
	return string(p) + ":" + ts
}

// compactTime renders t as YYYYMMDDHHMMSS with at most six trailing zeros removed. It is not
// fixed width (hour 10 of 2025-04-23 is "202504231"), and keys must match apisonator's byte
// for byte because system reads them (research/apicast-apisonator.md §7, to_compact_s).
func compactTime(t time.Time) string {
	s := t.UTC().Format("20060102150405")
	for i := 0; i < 6 && strings.HasSuffix(s, "0"); i++ {
		s = s[:len(s)-1]
	}
	return s
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
