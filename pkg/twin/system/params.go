package system

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// params are a request's parameters the way Rails merges them: query string, form body and a
// JSON body. Nested wrappers like service[name] are accepted next to the flat name.
type params struct{ v url.Values }

func parseParams(r *http.Request) params {
	_ = r.ParseForm()
	v := url.Values{}
	for k, vs := range r.Form {
		v[k] = append(v[k], vs...)
	}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") && r.Body != nil {
		raw, _ := io.ReadAll(io.LimitReader(r.Body, 4<<20))
		var m map[string]any
		if json.Unmarshal(raw, &m) == nil {
			flattenJSON(v, "", m)
		}
	}
	return params{v}
}

func flattenJSON(v url.Values, prefix string, m map[string]any) {
	for k, val := range m {
		name := k
		if prefix != "" {
			name = prefix + "[" + k + "]"
		}
		switch t := val.(type) {
		case map[string]any:
			flattenJSON(v, name, t)
			if prefix == "" { // a wrapper object {"service":{...}}: also expose its keys flat
				for k2, v2 := range t {
					if _, nested := v2.(map[string]any); !nested {
						addJSONValue(v, k2, v2)
					}
				}
			}
		default:
			addJSONValue(v, name, t)
		}
	}
}

func addJSONValue(v url.Values, name string, val any) {
	switch t := val.(type) {
	case []any:
		for _, x := range t {
			if _, isObj := x.(map[string]any); isObj { // e.g. policies_config: keep it as JSON
				b, _ := json.Marshal(t)
				v.Add(name, string(b))
				return
			}
		}
		for _, x := range t {
			addJSONValue(v, name, x)
		}
	case string:
		v.Add(name, t)
	case nil:
	case float64:
		v.Add(name, strconv.FormatFloat(t, 'f', -1, 64))
	case bool:
		v.Add(name, strconv.FormatBool(t))
	default:
		b, _ := json.Marshal(t)
		v.Add(name, string(b))
	}
}

// get returns the first value of name, trying name, any wrapper[name], and name[].
func (p params) get(name string) string {
	if s := p.v.Get(name); s != "" {
		return s
	}
	for k, vs := range p.v {
		if strings.HasSuffix(k, "["+name+"]") && len(vs) > 0 && vs[0] != "" {
			return vs[0]
		}
	}
	return ""
}

func (p params) has(name string) bool {
	if _, ok := p.v[name]; ok {
		return true
	}
	for k := range p.v {
		if strings.HasSuffix(k, "["+name+"]") {
			return true
		}
	}
	return false
}

// list returns every value of an array parameter (name, name[]).
func (p params) list(name string) []string {
	var out []string
	out = append(out, p.v[name]...)
	out = append(out, p.v[name+"[]"]...)
	return out
}

func (p params) int64(name string) int64 {
	n, _ := strconv.ParseInt(p.get(name), 10, 64)
	return n
}

func (p params) boolean(name string, def bool) bool {
	s := p.get(name)
	if s == "" {
		return def
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		return s == "1" || s == "yes"
	}
	return b
}

// pathID reads a numeric path segment; a non-number is a 404 like an unknown id.
func pathID(r *http.Request, name string) (int64, error) {
	n, err := strconv.ParseInt(r.PathValue(name), 10, 64)
	if err != nil {
		return 0, errNotFound
	}
	return n, nil
}

// page reads page/per_page (porta paginates API lists, max 500 per page).
func page(p params) (limit, offset int) {
	per := int(p.int64("per_page"))
	if per <= 0 || per > 500 {
		per = 500
	}
	pg := int(p.int64("page"))
	if pg <= 0 {
		pg = 1
	}
	return per, (pg - 1) * per
}

var nonAlnum = regexp.MustCompile(`[^a-z0-9]+`)

// systemName derives a system_name from a human name (porta parameterizes with underscores).
func systemName(name string) string {
	return strings.Trim(nonAlnum.ReplaceAllString(strings.ToLower(name), "_"), "_")
}

var (
	nonParam = regexp.MustCompile(`[^a-z0-9_-]+`)
	dashRuns = regexp.MustCompile(`-{2,}`)
)

// parameterize is ActiveSupport's String#parameterize with its "-" separator, for ASCII text:
// lower case, every run of characters other than letters, digits, "-" and "_" one "-",
// repeated dashes one, and none at either end: a CMS page's system_name is its title
// parameterized (porta@3scale-2.16.4-GA:app/models/cms/page.rb:98-100 set_system_name).
func parameterize(s string) string {
	return strings.Trim(dashRuns.ReplaceAllString(nonParam.ReplaceAllString(strings.ToLower(s), "-"), "-"), "-")
}

// ts formats a timestamp as porta's JSON does (ISO 8601, UTC).
func ts(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func link(rel, href string) map[string]string { return map[string]string{"rel": rel, "href": href} }

// querier is *sql.DB or *sql.Tx.
type querier interface {
	ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
}

// inTx runs f in a transaction and commits it.
func (a *app) inTx(ctx context.Context, f func(tx *sql.Tx) error) error {
	if err := a.needDB(); err != nil {
		return err
	}
	tx, err := a.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := f(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// created answers 201 with a Location header (porta's responder, §1.5).
func created(w http.ResponseWriter, rc *reqCtx, location string, body any) error {
	if location != "" {
		w.Header().Set("Location", location)
	}
	writeBody(w, rc.format, http.StatusCreated, body)
	return nil
}

func ok(w http.ResponseWriter, rc *reqCtx, body any) error {
	writeBody(w, rc.format, http.StatusOK, body)
	return nil
}

// deleted answers a successful DELETE: 200 with an empty body (§1.5).
func deleted(w http.ResponseWriter) error {
	w.WriteHeader(http.StatusOK)
	return nil
}

func sqlIn(n int) string {
	if n == 0 {
		return "(NULL)"
	}
	return "(" + strings.TrimSuffix(strings.Repeat("?,", n), ",") + ")"
}

func nullStr(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func lastID(res sql.Result, err error) (int64, error) {
	if err != nil {
		return 0, err
	}
	return res.LastInsertId()
}

func now() time.Time { return time.Now().UTC() }

func fmtID(prefix string, n int64) string { return fmt.Sprintf("%s%d", prefix, n) }

// collectJSON reads every row with scan and returns each row's JSON form, in order, for a
// list endpoint's collection; it closes rows.
func collectJSON[T interface{ json() map[string]any }](rows *sql.Rows, scan func(interface{ Scan(...any) error }) (T, error)) ([]any, error) {
	defer rows.Close()
	out := []any{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v.json())
	}
	return out, rows.Err()
}
