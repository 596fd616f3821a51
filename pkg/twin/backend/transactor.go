package backend

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// apiError is a request apisonator refuses with an exception rather than a denial: it becomes
// <error code="...">message</error> with its own HTTP status and no 3scale-rejection-reason
// header (research/apicast-apisonator.md §4.2 "Raised errors"). Default status is 403.
type apiError struct {
	status int
	code   string
	msg    string
}

func (e *apiError) Error() string { return e.code + ": " + e.msg }

func errUserKeyInvalid(k string) *apiError {
	return &apiError{http.StatusForbidden, "user_key_invalid", fmt.Sprintf("user key %q is invalid", k)}
}

// errBothCredentials is apisonator's AuthenticationError (errors.rb).
var errBothCredentials = &apiError{http.StatusForbidden, "authentication_error", "either app_id or user_key is allowed, not both"}

func errApplicationNotFound(id string) *apiError {
	return &apiError{http.StatusNotFound, "application_not_found", fmt.Sprintf("application with id=%q was not found", id)}
}
func errProviderKeyInvalid(k string) *apiError {
	return &apiError{http.StatusForbidden, "provider_key_invalid", fmt.Sprintf("provider key %q is invalid", k)}
}

// errServiceTokenInvalid names the service id too: the pair is what is unknown
// (apisonator@3scale-2.16.4-GA:lib/3scale/backend/errors.rb ServiceTokenInvalid).
func errServiceTokenInvalid(t, sid string) *apiError {
	return &apiError{http.StatusForbidden, "service_token_invalid", fmt.Sprintf("service token %q or service id %q is invalid", t, sid)}
}
func errServiceIDInvalid(id string) *apiError {
	return &apiError{http.StatusForbidden, "service_id_invalid", fmt.Sprintf("service id %q is invalid", id)}
}
func errProviderKeyInvalidOrServiceMissing(k string) *apiError {
	return &apiError{http.StatusForbidden, "provider_key_invalid_or_service_missing",
		fmt.Sprintf("provider key %q invalid and/or service missing", k)}
}

var (
	errCredentialsRequired = &apiError{http.StatusForbidden, "provider_key_or_service_token_required",
		"Provider key or service token are required"}
	errServiceIDMissing = &apiError{http.StatusUnprocessableEntity, "service_id_missing", "Service ID is missing"}
	errEndUsers         = &apiError{http.StatusBadRequest, "end_users_no_longer_supported",
		"End-users are no longer supported, do not specify the user_id parameter"}
	// errTransactionsBlank is apisonator's TransactionsIsBlank
	// (apisonator@3scale-2.16.4-GA:lib/3scale/backend/errors.rb).
	errTransactionsBlank = &apiError{http.StatusBadRequest, "transactions_is_blank", "transactions parameter is blank"}
)

func errMetricInvalid(name string) *apiError {
	return &apiError{http.StatusNotFound, "metric_invalid", fmt.Sprintf("metric %q is invalid", name)}
}

// errUsageValueInvalid has apisonator's two wordings: one for a blank value, one for any other
// (apisonator@3scale-2.16.4-GA:lib/3scale/backend/errors.rb UsageValueInvalid).
func errUsageValueInvalid(metric, v string) *apiError {
	if strings.TrimSpace(v) == "" {
		return &apiError{http.StatusForbidden, "usage_value_invalid", fmt.Sprintf("usage value for metric %q can not be empty", metric)}
	}
	return &apiError{http.StatusForbidden, "usage_value_invalid", fmt.Sprintf("usage value %q for metric %q is invalid", v, metric)}
}

// rejection is a denial (409) with apisonator's reason code and message (§4.2 Validators).
type rejection struct {
	code string
	msg  string
}

var rejLimitsExceeded = &rejection{"limits_exceeded", "usage limits are exceeded"}

// resolveService applies apisonator's provider authentication: provider_key (optionally with
// service_id, else the provider's default service) or service_token + service_id
// (research/apicast-apisonator.md §4.2 "Auth parameters").
func resolveService(ctx context.Context, rdb *redis.Client, providerKey, token, sid string) (*service, error) {
	switch {
	case providerKey != "":
		if sid == "" {
			def, err := getOpt(ctx, rdb, providerDefaultServiceKey(providerKey))
			if err != nil {
				return nil, err
			}
			if def == "" {
				return nil, errProviderKeyInvalidOrServiceMissing(providerKey)
			}
			sid = def
		}
		s, err := loadService(ctx, rdb, sid)
		if err != nil {
			return nil, err
		}
		if s == nil || string(s.ProviderKey) != providerKey {
			known, err := rdb.SIsMember(ctx, providerKeysSetKey, providerKey).Result()
			if err != nil {
				return nil, err
			}
			if !known {
				return nil, errProviderKeyInvalid(providerKey)
			}
			return nil, errServiceIDInvalid(sid)
		}
		return s, nil
	case token != "":
		if sid == "" {
			return nil, errServiceIDMissing
		}
		n, err := rdb.Exists(ctx, serviceTokenKey(token, sid)).Result()
		if err != nil {
			return nil, err
		}
		if n == 0 {
			return nil, errServiceTokenInvalid(token, sid)
		}
		s, err := loadService(ctx, rdb, sid)
		if err != nil {
			return nil, err
		}
		if s == nil {
			return nil, errServiceIDInvalid(sid)
		}
		return s, nil
	}
	return nil, errCredentialsRequired
}

// resolveApplication finds the application from user_key or app_id: both given is an
// authentication_error (403), neither an application_not_found (404), whatever the
// service's backend version (apisonator@3scale-2.16.4-GA:lib/3scale/backend/application.rb
// with_app_id_from_params; empty parameters count as absent, listener.rb
// normalize_non_empty_keys!).
func resolveApplication(ctx context.Context, rdb *redis.Client, svc *service, userKey, appID string) (*application, error) {
	sid := string(svc.ID)
	if userKey != "" && appID != "" {
		return nil, errBothCredentials
	}
	if userKey != "" {
		id, err := getOpt(ctx, rdb, userKeyKey(sid, userKey))
		if err != nil {
			return nil, err
		}
		if id == "" {
			return nil, errUserKeyInvalid(userKey)
		}
		app, err := loadApplication(ctx, rdb, sid, id)
		if err != nil {
			return nil, err
		}
		if app == nil {
			return nil, errUserKeyInvalid(userKey)
		}
		return app, nil
	}
	if appID == "" {
		return nil, errApplicationNotFound("")
	}
	app, err := loadApplication(ctx, rdb, sid, appID)
	if err != nil {
		return nil, err
	}
	if app == nil {
		return nil, errApplicationNotFound(appID)
	}
	return app, nil
}

// usageValue is one usage[metric] entry as Usage.get_from reads it: with a leading '#' an
// absolute value, otherwise a delta
// (apisonator@3scale-2.16.4-GA:lib/3scale/backend/usage.rb is_set?, get_from).
type usageValue struct {
	set bool
	n   int64
}

// usageParam is one usage[name]=value parameter, kept in request order: apisonator checks the
// entries one by one and stops at the first bad one.
type usageParam struct{ name, value string }

// saneUsage is what apisonator accepts as a usage value: digits, optionally after a '#', with
// blanks around (apisonator@3scale-2.16.4-GA:lib/3scale/backend/metric/collection.rb sane_value?).
var saneUsage = regexp.MustCompile(`\A[ \t\r\n\f\v]*#?[0-9]+[ \t\r\n\f\v]*\z`)

// rubyUsage reads a value as Usage.get_from does: '#' only counts as the first character,
// and the number is Ruby's String#to_i (leading blanks, digits, anything after ignored).
func rubyUsage(raw string) usageValue {
	set := strings.HasPrefix(raw, "#")
	if set {
		raw = raw[1:]
	}
	return usageValue{set: set, n: rubyToI(raw)}
}

func rubyToI(s string) int64 {
	s = strings.TrimLeft(s, " \t\r\n\f\v")
	neg := false
	if s != "" && (s[0] == '+' || s[0] == '-') {
		neg, s = s[0] == '-', s[1:]
	}
	var n int64
	for i := 0; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		if n > (math.MaxInt64-9)/10 {
			break // apisonator would carry on in a Bignum; the twin stops short of overflow
		}
		n = n*10 + int64(s[i]-'0')
	}
	if neg {
		n = -n
	}
	return n
}

// checkUsageMetrics is the no_body shortcut: only the limits of the request's metrics are
// loaded, and each name, as sent, must be a metric (404 metric_invalid) before any validator
// runs (apisonator@3scale-2.16.4-GA:lib/3scale/backend/transactor.rb preload_usage_limits,
// application.rb load_usage_limits_affected_by).
func checkUsageMetrics(ms *metricSet, raw []usageParam) error {
	for _, p := range raw {
		if ms.byName[p.name] == nil {
			return errMetricInvalid(p.name)
		}
	}
	return nil
}

// parseUsage validates usage and expands it to the metric ids it touches, as
// Metric::Collection#process_usage does (apisonator@3scale-2.16.4-GA:
// lib/3scale/backend/metric/collection.rb). Entry by entry, in request order, the value must
// be sane (403 usage_value_invalid) and then the name, stripped, a metric (404 metric_invalid).
// Then each entry reaches its ancestors: an absolute value replaces theirs, a delta is added
// to theirs (an ancestor's own absolute value counting as 0, as "#n".to_i is 0).
func parseUsage(ms *metricSet, raw []usageParam) (map[string]usageValue, error) {
	type entry struct {
		m *metric
		v usageValue
	}
	var entries []entry
	out := map[string]usageValue{}
	for _, p := range raw {
		name := strings.Trim(p.name, " \t\r\n\f\v\x00")
		if !saneUsage.MatchString(p.value) {
			return nil, errUsageValueInvalid(name, p.value)
		}
		m := ms.byName[name]
		if m == nil {
			return nil, errMetricInvalid(name)
		}
		uv := rubyUsage(p.value)
		entries = append(entries, entry{m, uv})
		out[m.ID] = uv
	}
	for _, e := range entries {
		for _, a := range ms.ancestors(e.m) {
			if e.v.set {
				out[a.ID] = e.v
				continue
			}
			cur := out[a.ID]
			if cur.set {
				cur = usageValue{}
			}
			out[a.ID] = usageValue{n: cur.n + e.v.n}
		}
	}
	return out, nil
}

// usageReport is one limit with its current value, as shown in <usage_reports>.
type usageReport struct {
	limit
	current  int64 // stored counter value
	affected bool  // the request's usage touches this metric
	after    int64 // value once the request's usage is applied
}

func (r usageReport) exceededAfter() bool { return r.after > r.max }

// authStatus is the outcome of authorize/authrep.
type authStatus struct {
	authorized bool
	reason     *rejection
	plan       string
	reports    []usageReport
	now        time.Time
	// hierarchy, when the extension asks for it, is each metric's children by name.
	hierarchy map[string][]string
	// appKeys, when the extension asks for it, is the application's keys.
	appKeys *appKeys
}

// appKeys is the <app_keys> section: an application's keys, at most 256
// (apisonator@3scale-2.16.4-GA:lib/3scale/backend/transactor/status.rb LIST_APP_KEYS_MAX).
type appKeys struct {
	app, svc string
	keys     []string
}

// loadUsageReports reads the app's counters for every limit of its plan (Usage.application_usage
// MGETs exactly these keys) and predicts them with the request's usage.
func loadUsageReports(ctx context.Context, rdb *redis.Client, sid string, app *application, ms *metricSet,
	usage map[string]usageValue, now time.Time) ([]usageReport, error) {
	limits, err := loadLimits(ctx, rdb, sid, string(app.PlanID), ms)
	if err != nil || len(limits) == 0 {
		return nil, err
	}
	keys := make([]string, len(limits))
	for i, l := range limits {
		keys[i] = appCounterKey(sid, string(app.ID), "metric:"+l.metric.ID, l.period, l.period.stamp(now))
	}
	vals, err := rdb.MGet(ctx, keys...).Result()
	if err != nil {
		return nil, err
	}
	out := make([]usageReport, len(limits))
	for i, l := range limits {
		cur, _ := strconv.ParseInt(str(vals[i]), 10, 64)
		r := usageReport{limit: l, current: cur, after: cur}
		if uv, ok := usage[l.metric.ID]; ok {
			r.affected = true
			if uv.set {
				r.after = uv.n
			} else {
				r.after = cur + uv.n
			}
		}
		out[i] = r
	}
	return out, nil
}

// validate runs apisonator's validators before Limits, in their order: Key, Referrer (not
// modelled), State, ServiceState (§4.2). The first failure is the reason.
func validate(ctx context.Context, rdb *redis.Client, svc *service, app *application, appKey string,
	byUserKey bool) (*rejection, error) {
	if !byUserKey {
		keys, err := rdb.SMembers(ctx, appKeysKey(string(svc.ID), string(app.ID))).Result()
		if err != nil {
			return nil, err
		}
		if len(keys) > 0 {
			if appKey == "" {
				return &rejection{"application_key_invalid", "application key is missing"}, nil
			}
			found := false
			for _, k := range keys {
				found = found || k == appKey
			}
			if !found {
				return &rejection{"application_key_invalid", fmt.Sprintf("application key %q is invalid", appKey)}, nil
			}
		}
	}
	if app.State != "active" {
		return &rejection{"application_not_active", "application is not active"}, nil
	}
	if !svc.active() {
		return &rejection{"service_not_active", "service is not active"}, nil
	}
	return nil, nil
}

// checkLimits is the Limits validator: with usage, only the metrics it touches are checked;
// without, any limit already passed denies.
func checkLimits(reports []usageReport, usage map[string]usageValue) *rejection {
	for _, r := range reports {
		if (len(usage) > 0 && r.affected && r.exceededAfter()) || (len(usage) == 0 && r.current > r.max) {
			return rejLimitsExceeded
		}
	}
	return nil
}

// limitHeaders picks the most constraining limit for the 3scale-limit-* headers: the least
// remaining, then the longest reset. Without limits apisonator answers -1/-1 (§4.2).
func limitHeaders(st *authStatus, authrep bool) (remaining, reset, maxValue int64, ok bool) {
	best := -1
	var bestRem, bestReset int64
	for i, r := range st.reports {
		if anyAffected(st.reports) && !r.affected {
			continue
		}
		v := r.current
		if authrep && st.authorized {
			v = r.after
		}
		rem := r.max - v
		if rem < 0 {
			rem = 0
		}
		rs := int64(-1)
		if r.period != periodEternity {
			rs = int64(r.period.end(st.now).Sub(st.now).Round(time.Second) / time.Second)
		}
		if best < 0 || rem < bestRem || (rem == bestRem && rs > bestReset) {
			best, bestRem, bestReset = i, rem, rs
		}
	}
	if best < 0 {
		return -1, -1, 0, false
	}
	return bestRem, bestReset, st.reports[best].max, true
}

func anyAffected(rs []usageReport) bool {
	for _, r := range rs {
		if r.affected {
			return true
		}
	}
	return false
}
