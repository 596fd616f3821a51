package system

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Analytics: /stats/{services,applications,backend_apis}/{id}/usage. Porta reads the counters
// straight from backend-redis (research/porta-zync.md §2 "Where the data comes from"), so these
// endpoints need MySQL (for the metric) and backend-redis, not apisonator or system-redis. Key
// layout and timestamps: apicast-apisonator.md §7.

// compactTS is apisonator's Time#to_compact_s: %Y%m%d%H%M%S with up to six trailing zeros
// stripped (§7 "The <ts> format is not fixed-width").
func compactTS(t time.Time) string {
	s := t.UTC().Format("20060102150405")
	for i := 0; i < 6 && strings.HasSuffix(s, "0"); i++ {
		s = s[:len(s)-1]
	}
	return s
}

// statsStep is one granularity: the backend key granularity, how many of those one value sums
// (6h = six hour keys, §2 GRANULARITIES) and how to advance.
type statsStep struct {
	name    string
	keyGran string
	per     int
	next    func(time.Time) time.Time
}

var statsSteps = map[string]statsStep{
	"hour":  {"hour", "hour", 1, func(t time.Time) time.Time { return t.Add(time.Hour) }},
	"6h":    {"6h", "hour", 6, func(t time.Time) time.Time { return t.Add(6 * time.Hour) }},
	"day":   {"day", "day", 1, func(t time.Time) time.Time { return t.AddDate(0, 0, 1) }},
	"month": {"month", "month", 1, func(t time.Time) time.Time { return t.AddDate(0, 1, 0) }},
}

// periodGranularity is porta's Stats::Views::Usage GRANULARITIES.
var periodGranularity = map[string]string{"year": "month", "month": "day", "week": "6h", "day": "hour"}

type statsRange struct {
	period      string
	since, till time.Time
	step        statsStep
}

func dayStart(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

// parseStatsRange reads period, or granularity + since (+ until); bad input is 400 (§2).
func parseStatsRange(p params, at time.Time) (*statsRange, error) {
	at = at.UTC()
	if per := p.get("period"); per != "" {
		g, ok := periodGranularity[per]
		if !ok {
			return nil, badRequest("period is invalid")
		}
		r := &statsRange{period: per, step: statsSteps[g]}
		switch per {
		case "day":
			r.since = dayStart(at)
			r.till = r.since.AddDate(0, 0, 1)
		case "week":
			r.till = dayStart(at).AddDate(0, 0, 1)
			r.since = r.till.AddDate(0, 0, -7)
		case "month":
			r.till = dayStart(at).AddDate(0, 0, 1)
			r.since = r.till.AddDate(0, -1, 0)
		case "year":
			r.till = time.Date(at.Year(), at.Month(), 1, 0, 0, 0, 0, time.UTC).AddDate(0, 1, 0)
			r.since = r.till.AddDate(-1, 0, 0)
		}
		return r, nil
	}
	g := p.get("granularity")
	step, ok := statsSteps[g]
	if !ok || g == "6h" {
		return nil, badRequest("granularity is invalid")
	}
	since, err := parseStatsTime(p.get("since"))
	if err != nil {
		return nil, badRequest("since is invalid")
	}
	r := &statsRange{step: step}
	switch g {
	case "hour":
		r.since = since.Truncate(time.Hour)
	case "day":
		r.since = dayStart(since)
	case "month":
		r.since = time.Date(since.Year(), since.Month(), 1, 0, 0, 0, 0, time.UTC)
	}
	if u := p.get("until"); u != "" {
		till, err := parseStatsTime(u)
		if err != nil || !till.After(r.since) {
			return nil, badRequest("until is invalid")
		}
		r.till = till
	} else {
		r.till = map[string]time.Time{"hour": r.since.AddDate(0, 0, 1), "day": r.since.AddDate(0, 1, 0), "month": r.since.AddDate(1, 0, 0)}[g]
	}
	if n := r.count(); n > 5000 {
		return nil, badRequest("the range is too large")
	}
	return r, nil
}

func parseStatsTime(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("bad time %q", s)
}

func (r *statsRange) count() int {
	n := 0
	for t := r.since; t.Before(r.till) && n <= 5001; t = r.step.next(t) {
		n++
	}
	return n
}

// keys returns, per value slot, the backend keys that sum into it.
func (r *statsRange) keys(prefix string) [][]string {
	var out [][]string
	for t := r.since; t.Before(r.till); t = r.step.next(t) {
		var ks []string
		k := t
		for i := 0; i < r.step.per; i++ {
			ks = append(ks, prefix+r.step.keyGran+":"+compactTS(k))
			k = k.Add(time.Hour)
		}
		out = append(out, ks)
	}
	return out
}

// readSeries MGETs the keys of every prefix and sums them per slot.
func (a *app) readSeries(ctx context.Context, r *statsRange, prefixes []string) ([]int64, error) {
	if a.brdb == nil {
		return nil, errors.New("backend-redis: BackendRedisURL not configured")
	}
	var flat []string
	var slots [][]string
	for _, p := range prefixes {
		ks := r.keys(p)
		if slots == nil {
			slots = make([][]string, len(ks))
		}
		for i, k := range ks {
			slots[i] = append(slots[i], k...)
		}
	}
	idx := make([][]int, len(slots))
	for i, ks := range slots {
		for _, k := range ks {
			idx[i] = append(idx[i], len(flat))
			flat = append(flat, k)
		}
	}
	values := make([]int64, len(slots))
	if len(flat) == 0 {
		return values, nil
	}
	got, err := a.brdb.MGet(ctx, flat...).Result()
	if err != nil {
		return nil, fmt.Errorf("backend-redis: %w", err)
	}
	for i, ix := range idx {
		for _, j := range ix {
			if s, ok := got[j].(string); ok {
				n, _ := strconv.ParseInt(s, 10, 64)
				values[i] += n
			}
		}
	}
	return values, nil
}

// statsSubject is what a usage request is about: the metric and the key prefixes to sum.
type statsSubject struct {
	metric   *metricRow
	prefixes func(metricID int64) []string
	extra    map[string]any
}

func (a *app) usage(kind string) apiHandler {
	return func(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
		ctx := r.Context()
		p := parseParams(r)
		objID, err := pathID(r, "id")
		if err != nil {
			return err
		}
		metricName := p.get("metric_name")
		if metricName == "" {
			return badRequest("metric_name is missing")
		}
		rng, err := parseStatsRange(p, time.Now())
		if err != nil {
			return err
		}
		subj, err := a.statsSubject(ctx, rc, kind, objID, metricName)
		if err != nil {
			return err
		}
		values, err := a.readSeries(ctx, rng, subj.prefixes(subj.metric.ID))
		if err != nil {
			return err
		}
		var total int64
		for _, v := range values {
			total += v
		}
		m := subj.metric
		body := map[string]any{
			"metric": map[string]any{"id": m.ID, "name": m.FriendlyName, "system_name": m.SystemName, "unit": m.Unit},
			"period": map[string]any{"name": nilIfEmpty(rng.period), "since": rng.since.Format(time.RFC3339),
				"until": rng.till.Add(-time.Second).Format(time.RFC3339), "timezone": "Etc/UTC", "granularity": rng.step.name},
			"total": total, "values": values,
		}
		if !p.boolean("skip_change", false) {
			prev := *rng
			d := rng.till.Sub(rng.since)
			prev.since, prev.till = rng.since.Add(-d), rng.since
			pv, err := a.readSeries(ctx, &prev, subj.prefixes(m.ID))
			if err != nil {
				return err
			}
			var ptotal int64
			for _, v := range pv {
				ptotal += v
			}
			body["previous_total"] = ptotal
			if ptotal != 0 {
				body["change"] = float64(total-ptotal) * 100 / float64(ptotal)
			} else {
				body["change"] = 0.0
			}
		}
		for k, v := range subj.extra {
			body[k] = v
		}
		return ok(w, rc, body)
	}
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func (a *app) statsSubject(ctx context.Context, rc *reqCtx, kind string, objID int64, metricName string) (*statsSubject, error) {
	findMetric := func(ownerType string, ownerID int64) (*metricRow, error) {
		m, err := scanMetric(a.db.QueryRowContext(ctx, `SELECT `+metricCols+` FROM metrics WHERE owner_type=? AND owner_id=? AND system_name=?`, ownerType, ownerID, metricName))
		if errors.Is(err, sql.ErrNoRows) {
			return nil, errNotFound
		}
		return m, err
	}
	servicePrefix := func(sid int64) string { return "stats/{service:" + id(sid) + "}/" }
	switch kind {
	case "services":
		if _, err := a.service(ctx, a.db, rc, objID); err != nil {
			return nil, err
		}
		m, err := findMetric("Service", objID)
		if err != nil {
			return nil, err
		}
		return &statsSubject{metric: m, prefixes: func(mid int64) []string {
			return []string{servicePrefix(objID) + "metric:" + id(mid) + "/"}
		}}, nil
	case "applications":
		c, err := a.application(ctx, rc, "c.id=?", objID)
		if err != nil {
			return nil, err
		}
		m, err := findMetric("Service", c.ServiceID)
		if err != nil {
			return nil, err
		}
		return &statsSubject{metric: m, prefixes: func(mid int64) []string {
			return []string{servicePrefix(c.ServiceID) + "cinstance:" + c.AppID + "/metric:" + id(mid) + "/"}
		}, extra: map[string]any{"application": map[string]any{"id": c.ID, "name": c.Name, "state": c.State,
			"description": c.Description, "account": map[string]any{"id": c.AccountID},
			"plan": map[string]any{"id": c.PlanID, "name": c.planName}, "service": map[string]any{"id": c.ServiceID}}}}, nil
	default: // backend_apis: summed over every product using it
		if _, err := a.backendAPI(ctx, rc, objID); err != nil {
			return nil, err
		}
		m, err := findMetric("BackendApi", objID)
		if err != nil {
			return nil, err
		}
		rows, err := a.db.QueryContext(ctx, `SELECT service_id FROM backend_usages WHERE backend_api_id=?`, objID)
		if err != nil {
			return nil, err
		}
		var sids []int64
		for rows.Next() {
			var sid int64
			if err := rows.Scan(&sid); err != nil {
				rows.Close()
				return nil, err
			}
			sids = append(sids, sid)
		}
		rows.Close()
		return &statsSubject{metric: m, prefixes: func(mid int64) []string {
			var out []string
			for _, sid := range sids {
				out = append(out, servicePrefix(sid)+"metric:"+id(mid)+"/")
			}
			return out
		}}, nil
	}
}
