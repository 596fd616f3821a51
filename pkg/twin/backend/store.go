package backend

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// This file reads and writes the authorization state system syncs into backend Redis through
// the internal API (research/apicast-apisonator.md §7 "Written by system through the internal
// API"). The listener reads it on every call; apisonator memoizes some of it for 60 s (§4.2),
// the twin does not, so a sync is visible at once and every call needs Redis.

// flexString accepts a JSON string or number: system sends ids either way.
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*f = ""
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*f = flexString(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("want a string or a number, got %s", b)
	}
	*f = flexString(n.String())
	return nil
}

// flexBool accepts true/false or their string and 0/1 forms.
type flexBool bool

func (f *flexBool) UnmarshalJSON(b []byte) error {
	switch strings.Trim(string(b), `"`) {
	case "true", "1":
		*f = true
	case "false", "0", "", "null":
		*f = false
	default:
		return fmt.Errorf("want a boolean, got %s", b)
	}
	return nil
}

type service struct {
	ID                      flexString `json:"id"`
	ProviderKey             flexString `json:"provider_key"`
	BackendVersion          flexString `json:"backend_version"`
	State                   flexString `json:"state,omitempty"`
	ReferrerFiltersRequired flexBool   `json:"referrer_filters_required"`
	DefaultService          flexBool   `json:"default_service"`
}

func (s *service) active() bool { return s.State == "" || s.State == "active" }

var errNotFound = errors.New("not found")

// errDefaultService refuses to delete a provider's default service while it has others, as
// apisonator's ServiceIsDefaultService does (answered 400).
var errDefaultService = errors.New("service is the default service of its provider and it has other services")

func getOpt(ctx context.Context, rdb *redis.Client, key string) (string, error) {
	v, err := rdb.Get(ctx, key).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	return v, err
}

func loadService(ctx context.Context, rdb *redis.Client, sid string) (*service, error) {
	vals, err := rdb.MGet(ctx,
		serviceAttrKey(sid, "provider_key"), serviceAttrKey(sid, "backend_version"),
		serviceAttrKey(sid, "state"), serviceAttrKey(sid, "referrer_filters_required"),
	).Result()
	if err != nil {
		return nil, err
	}
	pk := str(vals[0])
	if pk == "" {
		return nil, nil
	}
	s := &service{ID: flexString(sid), ProviderKey: flexString(pk), BackendVersion: flexString(str(vals[1])),
		State: flexString(str(vals[2])), ReferrerFiltersRequired: str(vals[3]) == "1"}
	if s.BackendVersion == "" {
		s.BackendVersion = "2"
	}
	def, err := getOpt(ctx, rdb, providerDefaultServiceKey(pk))
	if err != nil {
		return nil, err
	}
	s.DefaultService = flexBool(def == sid)
	return s, nil
}

func str(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	return ""
}

// saveService writes a service. The first service of a provider key becomes its default, as
// does one saved with default_service.
func saveService(ctx context.Context, rdb *redis.Client, s *service) error {
	sid, pk := string(s.ID), string(s.ProviderKey)
	if sid == "" || pk == "" {
		return invalidInput("service id and provider_key are required")
	}
	if s.BackendVersion == "" {
		s.BackendVersion = "2"
	}
	oldPK, err := getOpt(ctx, rdb, serviceAttrKey(sid, "provider_key"))
	if err != nil {
		return err
	}
	def, err := getOpt(ctx, rdb, providerDefaultServiceKey(pk))
	if err != nil {
		return err
	}
	_, err = rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, serviceAttrKey(sid, "provider_key"), pk, 0)
		p.Set(ctx, serviceAttrKey(sid, "backend_version"), string(s.BackendVersion), 0)
		if s.State != "" {
			p.Set(ctx, serviceAttrKey(sid, "state"), string(s.State), 0)
		} else {
			p.Del(ctx, serviceAttrKey(sid, "state"))
		}
		if s.ReferrerFiltersRequired {
			p.Set(ctx, serviceAttrKey(sid, "referrer_filters_required"), "1", 0)
		} else {
			p.Del(ctx, serviceAttrKey(sid, "referrer_filters_required"))
		}
		if oldPK != "" && oldPK != pk {
			p.SRem(ctx, providerServicesKey(oldPK), sid)
		}
		p.SAdd(ctx, providerServicesKey(pk), sid)
		p.SAdd(ctx, servicesSetKey, sid)
		p.SAdd(ctx, providerKeysSetKey, pk)
		if def == "" || bool(s.DefaultService) {
			p.Set(ctx, providerDefaultServiceKey(pk), sid, 0)
		}
		return nil
	})
	return err
}

func deleteService(ctx context.Context, rdb *redis.Client, sid string) error {
	s, err := loadService(ctx, rdb, sid)
	if err != nil {
		return err
	}
	if s == nil {
		return errNotFound
	}
	pk := string(s.ProviderKey)
	n, err := rdb.SCard(ctx, providerServicesKey(pk)).Result()
	if err != nil {
		return err
	}
	if s.DefaultService && n > 1 {
		return errDefaultService
	}
	_, err = rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		for _, a := range []string{"provider_key", "backend_version", "state", "referrer_filters_required"} {
			p.Del(ctx, serviceAttrKey(sid, a))
		}
		p.SRem(ctx, providerServicesKey(pk), sid)
		p.SRem(ctx, servicesSetKey, sid)
		if s.DefaultService {
			p.Del(ctx, providerDefaultServiceKey(pk))
		}
		if n <= 1 {
			p.SRem(ctx, providerKeysSetKey, pk)
		}
		return nil
	})
	return err
}

type application struct {
	ServiceID   flexString `json:"service_id"`
	ID          flexString `json:"id"`
	State       flexString `json:"state"`
	PlanID      flexString `json:"plan_id"`
	PlanName    flexString `json:"plan_name"`
	RedirectURL flexString `json:"redirect_url,omitempty"`
}

var appAttrs = []string{"state", "plan_id", "plan_name", "redirect_url"}

func loadApplication(ctx context.Context, rdb *redis.Client, sid, id string) (*application, error) {
	keys := make([]string, len(appAttrs))
	for i, a := range appAttrs {
		keys[i] = appAttrKey(sid, id, a)
	}
	vals, err := rdb.MGet(ctx, keys...).Result()
	if err != nil {
		return nil, err
	}
	if vals[0] == nil {
		return nil, nil
	}
	return &application{ServiceID: flexString(sid), ID: flexString(id), State: flexString(str(vals[0])),
		PlanID: flexString(str(vals[1])), PlanName: flexString(str(vals[2])), RedirectURL: flexString(str(vals[3]))}, nil
}

// saveApplication writes the attributes given; a missing state means active, since the state
// key is also what marks the application as existing.
func saveApplication(ctx context.Context, rdb *redis.Client, a *application) error {
	if a.State == "" {
		a.State = "active"
	}
	sid, id := string(a.ServiceID), string(a.ID)
	vals := []string{string(a.State), string(a.PlanID), string(a.PlanName), string(a.RedirectURL)}
	_, err := rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		for i, attr := range appAttrs {
			if vals[i] != "" {
				p.Set(ctx, appAttrKey(sid, id, attr), vals[i], 0)
			}
		}
		return nil
	})
	return err
}

func deleteApplication(ctx context.Context, rdb *redis.Client, sid, id string) error {
	n, err := rdb.Exists(ctx, appAttrKey(sid, id, "state")).Result()
	if err != nil {
		return err
	}
	if n == 0 {
		return errNotFound
	}
	keys := []string{appKeysKey(sid, id)}
	for _, a := range appAttrs {
		keys = append(keys, appAttrKey(sid, id, a))
	}
	return rdb.Del(ctx, keys...).Err()
}

func randomKey() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

type metric struct {
	ID       string
	Name     string
	ParentID string
}

type metricSet struct {
	byID   map[string]*metric
	byName map[string]*metric
}

// children is Metric.hierarchy as names: each parent metric's children, sorted
// (apisonator@3scale-2.16.4-GA:lib/3scale/backend/metric.rb hierarchy).
func (ms *metricSet) children() map[string][]string {
	out := map[string][]string{}
	for _, m := range ms.byID {
		if p := ms.byID[m.ParentID]; m.ParentID != "" && p != nil {
			out[p.Name] = append(out[p.Name], m.Name)
		}
	}
	for _, c := range out {
		sort.Strings(c)
	}
	return out
}

func loadMetrics(ctx context.Context, rdb *redis.Client, sid string) (*metricSet, error) {
	ids, err := rdb.SMembers(ctx, metricIDsKey(sid)).Result()
	if err != nil {
		return nil, err
	}
	ms := &metricSet{byID: map[string]*metric{}, byName: map[string]*metric{}}
	if len(ids) == 0 {
		return ms, nil
	}
	keys := make([]string, 0, 2*len(ids))
	for _, id := range ids {
		keys = append(keys, metricAttrKey(sid, id, "name"), metricAttrKey(sid, id, "parent_id"))
	}
	vals, err := rdb.MGet(ctx, keys...).Result()
	if err != nil {
		return nil, err
	}
	for i, id := range ids {
		name := str(vals[2*i])
		if name == "" {
			continue
		}
		m := &metric{ID: id, Name: name, ParentID: str(vals[2*i+1])}
		ms.byID[id] = m
		ms.byName[name] = m
	}
	return ms, nil
}

// ancestors of a metric, nearest first. Depth is bounded so a cycle written by mistake cannot
// hang a request.
func (ms *metricSet) ancestors(m *metric) []*metric {
	var out []*metric
	for i := 0; i < 8 && m.ParentID != ""; i++ {
		p := ms.byID[m.ParentID]
		if p == nil {
			break
		}
		out = append(out, p)
		m = p
	}
	return out
}

func saveMetric(ctx context.Context, rdb *redis.Client, sid, id, name, parent string) error {
	old, err := getOpt(ctx, rdb, metricAttrKey(sid, id, "name"))
	if err != nil {
		return err
	}
	if name == "" {
		name = old
	}
	if name == "" {
		return invalidInput("metric name is required")
	}
	_, err = rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		if old != "" && old != name {
			p.Del(ctx, metricIDByNameKey(sid, old))
		}
		p.Set(ctx, metricIDByNameKey(sid, name), id, 0)
		p.Set(ctx, metricAttrKey(sid, id, "name"), name, 0)
		if parent != "" {
			p.Set(ctx, metricAttrKey(sid, id, "parent_id"), parent, 0)
		} else {
			p.Del(ctx, metricAttrKey(sid, id, "parent_id"))
		}
		p.SAdd(ctx, metricIDsKey(sid), id)
		return nil
	})
	return err
}

func deleteMetric(ctx context.Context, rdb *redis.Client, sid, id string) error {
	name, err := getOpt(ctx, rdb, metricAttrKey(sid, id, "name"))
	if err != nil {
		return err
	}
	if name == "" {
		return errNotFound
	}
	_, err = rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, metricIDByNameKey(sid, name), metricAttrKey(sid, id, "name"), metricAttrKey(sid, id, "parent_id"))
		p.SRem(ctx, metricIDsKey(sid), id)
		return nil
	})
	return err
}

// limit is one usage limit of a plan.
type limit struct {
	metric *metric
	period period
	max    int64
}

// loadLimits reads every limit of a plan: apisonator has no per-plan index either, it probes
// each metric and period.
func loadLimits(ctx context.Context, rdb *redis.Client, sid, plan string, ms *metricSet) ([]limit, error) {
	if plan == "" || len(ms.byID) == 0 {
		return nil, nil
	}
	type probe struct {
		m *metric
		p period
	}
	var probes []probe
	var keys []string
	ids := make([]string, 0, len(ms.byID))
	for id := range ms.byID {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		for _, p := range limitPeriods {
			probes = append(probes, probe{ms.byID[id], p})
			keys = append(keys, usageLimitKey(sid, plan, id, string(p)))
		}
	}
	vals, err := rdb.MGet(ctx, keys...).Result()
	if err != nil {
		return nil, err
	}
	var out []limit
	for i, v := range vals {
		s := str(v)
		if s == "" {
			continue
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			continue
		}
		out = append(out, limit{metric: probes[i].m, period: probes[i].p, max: n})
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].metric.Name != out[j].metric.Name {
			return out[i].metric.Name < out[j].metric.Name
		}
		return periodIndex(out[i].period) < periodIndex(out[j].period)
	})
	return out, nil
}

func periodIndex(p period) int {
	for i, q := range limitPeriods {
		if q == p {
			return i
		}
	}
	return len(limitPeriods)
}
