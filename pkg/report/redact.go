package report

import (
	"encoding/json"
	"fmt"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strings"
)

// Redacted replaces a secret in anything the report writes.
const Redacted = "[REDACTED]"

// sensitiveParams are query parameters 3scale and the harness use for
// credentials; RedactURL blanks their values.
var sensitiveParams = []string{"access_token", "user_key", "app_key", "app_id", "provider_key", "service_token", "token", "password", "secret", "key", "jwt"}

// Redact returns s with every occurrence of each non-empty secret replaced by
// Redacted. Longer secrets are replaced first, so one that contains another is
// not half-redacted.
func Redact(s string, secrets ...string) string {
	ordered := make([]string, 0, len(secrets))
	for _, x := range secrets {
		if x != "" {
			ordered = append(ordered, x)
		}
	}
	slices.SortStableFunc(ordered, func(a, b string) int { return len(b) - len(a) })
	for _, x := range ordered {
		s = strings.ReplaceAll(s, x, Redacted)
	}
	return s
}

// RedactURL removes credentials from a URL: the user-info password and the
// values of query parameters that carry keys or tokens. A string that does not
// parse as a URL is returned with everything after the first '?' removed.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		if i := strings.IndexByte(raw, '?'); i >= 0 {
			return raw[:i] + "?" + Redacted
		}
		return raw
	}
	if u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "REDACTED")
		}
	}
	if u.RawQuery != "" {
		q := u.Query()
		for k := range q {
			for _, p := range sensitiveParams {
				if strings.EqualFold(k, p) {
					q[k] = []string{"REDACTED"}
				}
			}
		}
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// redacted returns a deep copy of the journal with every string passed through
// Redact with the journal's secrets. The copy is made by a JSON round trip, so
// whatever is encoded is exactly what was redacted.
func (j *Journal) redacted() (*Journal, error) {
	if j == nil {
		return nil, fmt.Errorf("nil journal")
	}
	if len(j.secrets) == 0 {
		return j, nil
	}
	b, err := json.Marshal(j)
	if err != nil {
		return nil, fmt.Errorf("encoding journal: %w", err)
	}
	var c Journal
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("copying journal: %w", err)
	}
	redactValue(reflect.ValueOf(&c).Elem(), j.secrets)
	return &c, nil
}

// redactValue rewrites every settable string reachable from v, map values and
// keys included.
func redactValue(v reflect.Value, secrets []string) {
	switch v.Kind() {
	case reflect.String:
		if v.CanSet() {
			v.SetString(Redact(v.String(), secrets...))
		}
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			redactValue(v.Elem(), secrets)
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				redactValue(v.Field(i), secrets)
			}
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			redactValue(v.Index(i), secrets)
		}
	case reflect.Map:
		if v.IsNil() {
			return
		}
		out := reflect.MakeMapWithSize(v.Type(), v.Len())
		iter := v.MapRange()
		for iter.Next() {
			k := reflect.New(v.Type().Key()).Elem()
			k.Set(iter.Key())
			val := reflect.New(v.Type().Elem()).Elem()
			val.Set(iter.Value())
			redactValue(k, secrets)
			redactValue(val, secrets)
			out.SetMapIndex(k, val)
		}
		v.Set(out)
	}
}

// Redact blanks the journal's secrets in s, and the values of credential query parameters
// (RedactParams): for what a caller writes beside the journal, such as a test failure
// message or a container's log.
func (j *Journal) Redact(s string) string { return RedactParams(Redact(s, j.secrets...)) }

// credentialParam matches a credential query parameter (sensitiveParams) and its value in
// free text: a URL in a log line, an error message.
var credentialParam = regexp.MustCompile(`(?i)([?&;\s"'](?:` + strings.Join(sensitiveParams, "|") + `)=)[^&\s"';]+`)

// RedactParams blanks the values of credential query parameters wherever they appear in s.
func RedactParams(s string) string { return credentialParam.ReplaceAllString(s, "${1}"+Redacted) }

// JUnitProperties is JUnitProperties with every value redacted as Redact does, so the JUnit
// report and a failure message blank the same things.
func (j *Journal) JUnitProperties(s ScenarioResult) []Property {
	props := JUnitProperties(s, j.secrets...)
	for i := range props {
		props[i].Value = j.Redact(props[i].Value)
	}
	return props
}
