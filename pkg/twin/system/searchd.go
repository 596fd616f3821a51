package system

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/threescale-chaos/harness/pkg/twin/system/sidekiq"
)

// searchd is system-searchd reached over SphinxQL on its mysql41 port, 9306, as porta's
// ThinkingSphinx real-time indices are (porta@3scale-2.16.4-GA:config/thinking_sphinx.yml).
// go-sql-driver/mysql needs interpolateParams=true: searchd has no server-side prepared
// statements (measured with Debian's Sphinx searchd 2.2.11).
type searchd struct {
	db *sql.DB
}

func openSearchd(addr string) (*searchd, error) {
	db, err := sql.Open("mysql", "root@tcp("+addr+")/?interpolateParams=true&timeout=2s&readTimeout=5s&writeTimeout=5s")
	if err != nil {
		return nil, fmt.Errorf("searchd: %w", err)
	}
	// Connections are kept, as ThinkingSphinx keeps them (thinking-sphinx 5.5.1, porta's at
	// 3scale-2.16.4-GA: an Innertube pool of persistent connections, one dropped only when a
	// query on it fails with a connection error, then up to three attempts). database/sql
	// likewise drops a connection the driver finds broken and tries another (twice on a pooled
	// one, then on a new one), so a searchd restart costs one failed attempt, not an error.
	// A searchd that is gone fails every attempt: 500 (§3.2).
	db.SetMaxOpenConns(8)
	db.SetMaxIdleConns(8)
	return &searchd{db: db}, nil
}

func (s *searchd) close() { _ = s.db.Close() }

// Real-time indexes, one per ThinkingSphinx index the twin feeds (porta app/indices/*.rb).
// Every document's id is the record's database id; tenant_id scopes a search to a provider.
var searchIndexes = []struct {
	name   string
	fields []string
	uints  []string
	strs   []string
}{
	{"account_core", []string{"org_name", "usernames", "emails", "user_keys"}, []string{"tenant_id"}, []string{"state"}},
	{"service_core", []string{"name", "system_name", "description"}, []string{"tenant_id"}, []string{"state"}},
	{"backend_api_core", []string{"name", "system_name", "description", "private_endpoint"}, []string{"tenant_id"}, nil},
	{"metric_core", []string{"friendly_name", "system_name", "description"}, []string{"tenant_id", "owner_id"}, []string{"owner_type"}},
	{"plan_core", []string{"name", "system_name"}, []string{"tenant_id", "issuer_id"}, nil},
	{"proxy_rule_core", []string{"pattern", "http_method"}, []string{"tenant_id", "owner_id"}, []string{"owner_type"}},
	{"cms_page_core", []string{"title", "published"}, []string{"tenant_id"}, nil},
}

// SearchdConfig renders a searchd.conf (Sphinx 2.2 syntax) with the real-time indexes the twin
// writes, data under dataDir and SphinxQL on listen (host:port), for the system-searchd
// Deployment and tests.
func SearchdConfig(listen, dataDir string) string {
	var b strings.Builder
	for _, ix := range searchIndexes {
		fmt.Fprintf(&b, "index %s\n{\n  type = rt\n  path = %s/%s\n", ix.name, dataDir, ix.name)
		for _, f := range ix.fields {
			fmt.Fprintf(&b, "  rt_field = %s\n", f)
		}
		for _, f := range ix.uints {
			fmt.Fprintf(&b, "  rt_attr_uint = %s\n", f)
		}
		for _, f := range ix.strs {
			fmt.Fprintf(&b, "  rt_attr_string = %s\n", f)
		}
		b.WriteString("  rt_mem_limit = 32M\n}\n\n")
	}
	fmt.Fprintf(&b, `searchd
{
  listen = %s:mysql41
  log = %s/searchd.log
  query_log = %s/query.log
  pid_file = %s/searchd.pid
  binlog_path = %s
  workers = threads
  read_timeout = 5
  max_children = 30
}
`, listen, dataDir, dataDir, dataDir, dataDir)
	return b.String()
}

// replace writes one document (REPLACE INTO is an upsert in an rt index).
func (s *searchd) replace(ctx context.Context, index string, docID int64, values map[string]any) error {
	cols := []string{"id"}
	args := []any{docID}
	marks := []string{"?"}
	for k, v := range values {
		cols = append(cols, k)
		args = append(args, v)
		marks = append(marks, "?")
	}
	q := fmt.Sprintf("REPLACE INTO %s (%s) VALUES (%s)", index, strings.Join(cols, ","), strings.Join(marks, ","))
	_, err := s.db.ExecContext(ctx, q, args...)
	if err != nil {
		return sidekiq.WithErrorClass("ThinkingSphinx::ConnectionError", fmt.Errorf("searchd %s: %w", index, err))
	}
	return nil
}

func (s *searchd) remove(ctx context.Context, index string, docID int64) error {
	_, err := s.db.ExecContext(ctx, "DELETE FROM "+index+" WHERE id = ?", docID)
	if err != nil {
		return sidekiq.WithErrorClass("ThinkingSphinx::ConnectionError", fmt.Errorf("searchd %s: %w", index, err))
	}
	return nil
}

// query returns the ids of index documents of tenant matching the full-text query.
func (s *searchd) query(ctx context.Context, index string, tenantID int64, text string) ([]int64, error) {
	if s == nil {
		return nil, fmt.Errorf("searchd: not configured")
	}
	// The connection and the query are timed apart, so that a slow search says which it
	// waited on: the pool (or a dial), or searchd.
	start := time.Now()
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return nil, sidekiq.WithErrorClass("ThinkingSphinx::ConnectionError", fmt.Errorf("searchd %s: connection after %s: %w", index, since(start), err))
	}
	defer conn.Close()
	got := time.Now()
	rows, err := conn.QueryContext(ctx, "SELECT id FROM "+index+" WHERE MATCH(?) AND tenant_id = ? LIMIT 1000 OPTION max_matches=1000",
		escapeMatch(text), tenantID)
	if err != nil {
		return nil, sidekiq.WithErrorClass("ThinkingSphinx::ConnectionError", fmt.Errorf("searchd %s: query after %s (connection in %s): %w", index, since(got), got.Sub(start).Round(time.Millisecond), err))
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

func since(t time.Time) time.Duration { return time.Since(t).Round(time.Millisecond) }

// snippet is searchd's excerpt of text for the query, with ThinkingSphinx's default markers
// (ThinkingSphinx::Excerpter::DefaultOptions: <span class="match">, </span>, " &#8230; "), as
// porta's search Highlighter asks for it through Riddle's BuildExcerpts.
func (s *searchd) snippet(ctx context.Context, index, text, query string) (string, error) {
	if s == nil {
		return "", fmt.Errorf("searchd: not configured")
	}
	var out string
	err := s.db.QueryRowContext(ctx, `CALL SNIPPETS(?, ?, ?, '<span class="match">' AS before_match, '</span>' AS after_match, ' &#8230; ' AS chunk_separator)`,
		text, index, escapeMatch(query)).Scan(&out)
	if err != nil {
		return "", sidekiq.WithErrorClass("ThinkingSphinx::ConnectionError", fmt.Errorf("searchd %s snippets: %w", index, err))
	}
	return out, nil
}

// escapeMatch escapes Sphinx extended-query operators so user text is matched literally, as
// ThinkingSphinx's Riddle.escape does.
func escapeMatch(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`\()|-!@~"&/^$=<'`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
