package system

import (
	"errors"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestCompactTS(t *testing.T) {
	for _, c := range []struct {
		in   time.Time
		want string
	}{
		{time.Date(2025, 4, 23, 0, 0, 0, 0, time.UTC), "20250423"},
		{time.Date(2025, 4, 1, 0, 0, 0, 0, time.UTC), "20250401"},
		{time.Date(2025, 4, 23, 17, 0, 0, 0, time.UTC), "2025042317"},
		{time.Date(2025, 4, 23, 10, 0, 0, 0, time.UTC), "202504231"},
		{time.Date(2025, 4, 23, 17, 42, 0, 0, time.UTC), "202504231742"},
		{time.Date(2025, 4, 23, 18, 10, 0, 0, time.UTC), "20250423181"},
	} {
		if got := compactTS(c.in); got != c.want {
			t.Errorf("compactTS(%s) = %s, want %s", c.in, got, c.want)
		}
	}
}

func TestMySQLDSN(t *testing.T) {
	dsn, name, err := mysqlDSN("mysql2://root:s3cret@system-mysql/system", time.Second)
	if err != nil || name != "system" || !strings.HasPrefix(dsn(name), "root:s3cret@tcp(system-mysql:3306)/system?") {
		t.Fatalf("mysql2 URL: %q %q %v", dsn(name), name, err)
	}
	if !strings.HasPrefix(dsn(""), "root:s3cret@tcp(system-mysql:3306)/?") {
		t.Errorf("no database: %q", dsn(""))
	}
	dsn, name, err = mysqlDSN("u:p@tcp(127.0.0.1:3307)/db1?charset=utf8", 0)
	if err != nil || name != "db1" || !strings.HasPrefix(dsn(name), "u:p@tcp(127.0.0.1:3307)/db1?charset=utf8&") {
		t.Fatalf("DSN: %q %q %v", dsn(name), name, err)
	}
}

func TestConfigFromEnv(t *testing.T) {
	vars := map[string]string{"TENANT_NAME": "t1", "THREESCALE_SUPERDOMAIN": "d.test", "ADMIN_ACCESS_TOKEN": "a",
		"MASTER_ACCESS_TOKEN": "m", "THINKING_SPHINX_ADDRESS": "searchd", "THINKING_SPHINX_PORT": "19306",
		"MEMCACHE_SERVERS": "m1:1, m2:2", "ZYNC_AUTHENTICATION_TOKEN": "z", "FORCE_SSL": "false"}
	lookup := func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
	c := appConfigFromEnv(lookup)
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Seed.AdminDomain() != "t1-admin.d.test" || c.Seed.DeveloperDomain() != "t1.d.test" || c.SearchdAddr != "searchd:19306" ||
		len(c.MemcacheServers) != 2 || c.ForceSSL || c.RedisURL != "redis://system-redis:6379/1" {
		t.Errorf("app config: %+v", c)
	}
	if s := sidekiqConfigFromEnv(lookup); s.ZyncToken != "z" || s.Validate() != nil {
		t.Errorf("sidekiq config: %+v", s)
	}
	if err := (AppConfig{}).Validate(); err == nil {
		t.Error("empty config validates")
	}
}

func TestEscapeMatchAndXML(t *testing.T) {
	if got := escapeMatch(`a-b@c "d"`); got != `a\-b\@c \"d\"` {
		t.Errorf("escapeMatch = %s", got)
	}
	x := string(toXML(map[string]any{"services": []any{map[string]any{"service": map[string]any{"id": 1, "name": "a&b"}}}}))
	if !strings.Contains(x, "<services><service><id>1</id><name>a&amp;b</name></service></services>") {
		t.Errorf("toXML = %s", x)
	}
}

func TestParamsJSONBody(t *testing.T) {
	v := url.Values{}
	flattenJSON(v, "", map[string]any{"service": map[string]any{"name": "x"}, "policies_config": []any{map[string]any{"name": "apicast"}}, "application_key": []any{"k1", "k2"}})
	p := params{v}
	if p.get("name") != "x" || p.get("policies_config") != `[{"name":"apicast"}]` || len(p.list("application_key")) != 2 {
		t.Errorf("params: %v", v)
	}
}

// TestParseBodyOfAnyMethod: a form body is read for DELETE too, as Rack reads form data by
// media type, so a DELETE carrying access_token in its body is authenticated as in porta.
func TestParseBodyOfAnyMethod(t *testing.T) {
	r := httptest.NewRequest("DELETE", "/admin/api/services/1.json?x=1", strings.NewReader("access_token=tok&a=b"))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	parseBodyOfAnyMethod(r)
	if r.FormValue("access_token") != "tok" || r.FormValue("x") != "1" || r.PostFormValue("a") != "b" {
		t.Fatalf("form %v", r.Form)
	}
	g := httptest.NewRequest("DELETE", "/x", strings.NewReader(`{"access_token":"tok"}`))
	g.Header.Set("Content-Type", "application/json")
	parseBodyOfAnyMethod(g)
	if g.FormValue("access_token") != "" {
		t.Fatal("a JSON body is not form data")
	}
}

// annotationsParam reads the hash as a form (annotations[managed_by]), wrapped
// (service[annotations][managed_by]) and from a JSON body, and refuses a name porta does not
// support.
func TestAnnotationsParam(t *testing.T) {
	for _, v := range []url.Values{
		{"annotations[managed_by]": {"operator"}},
		{"service[annotations][managed_by]": {"operator"}},
	} {
		got, err := annotationsParam(params{v})
		if err != nil || len(got) != 1 || got["managed_by"] != "operator" {
			t.Errorf("%v: %v %v", v, got, err)
		}
	}
	j := url.Values{}
	flattenJSON(j, "", map[string]any{"annotations": map[string]any{"managed_by": "operator"}})
	if got, err := annotationsParam(params{j}); err != nil || got["managed_by"] != "operator" {
		t.Errorf("JSON body %v: %v %v", j, got, err)
	}
	if got, _ := annotationsParam(params{url.Values{"name": {"x"}}}); len(got) != 0 {
		t.Error("no annotations: given")
	}
	if _, err := annotationsParam(params{url.Values{"annotations[colour]": {"blue"}}}); statusOfErr(err) != 422 {
		t.Errorf("unsupported annotation: %v, want 422", err)
	}
}

// statusOfErr is the HTTP status of a handler error (0 for nil).
func statusOfErr(err error) int {
	var he *httpError
	if errors.As(err, &he) {
		return he.status
	}
	return 0
}
