package system

// Launchers for the real servers system depends on (MariaDB, redis-server, memcached, Sphinx
// searchd), each a child process on a free loopback port that a test can stop and start again
// on the same port. Backend and zync are httptest stand-ins here (see stand-ins below) until
// the conformance suite runs the real chain.

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/threescale-chaos/harness/internal/testsupport"
)

// sharedDir is a temp dir the service users (mysql, memcache) can reach: t.TempDir's parent
// is root-only.
func sharedDir(t *testing.T, prefix, owner string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if owner != "" && os.Geteuid() == 0 {
		u, err := user.Lookup(owner)
		if err != nil {
			testsupport.Require(t, false, "user "+owner+" ("+err.Error()+")")
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// startMariaDB initialises a data directory and runs mariadbd on a loopback port with
// --skip-grant-tables (root with any password), as the mysql user.
func startMariaDB(t *testing.T) *testsupport.Server {
	t.Helper()
	testsupport.RequireFile(t, "/usr/sbin/mariadbd")
	testsupport.RequireFile(t, "/usr/bin/mariadb-install-db")
	dir := sharedDir(t, "systwin-mariadb-", "mysql")
	data := filepath.Join(dir, "data")
	install := exec.Command("/usr/bin/mariadb-install-db", "--no-defaults", "--datadir="+data,
		"--auth-root-authentication-method=normal", "--user=mysql", "--skip-test-db")
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("mariadb-install-db: %v\n%s", err, out)
	}
	return testsupport.Launch(t, &testsupport.Server{Name: "mariadbd",
		Argv: func(port int) []string {
			return []string{"/usr/sbin/mariadbd", "--no-defaults", "--datadir=" + data, "--socket=" + filepath.Join(dir, "s"),
				"--port=" + strconv.Itoa(port), "--bind-address=127.0.0.1", "--user=mysql", "--skip-grant-tables",
				"--skip-log-bin", "--innodb-buffer-pool-size=32M", "--pid-file=" + filepath.Join(dir, "pid"),
				"--log-error=" + filepath.Join(dir, "err.log")}
		},
		Ready: func(ctx context.Context, addr string) error {
			db, err := sql.Open("mysql", "root@tcp("+addr+")/?timeout=1s")
			if err != nil {
				return err
			}
			defer db.Close()
			return db.PingContext(ctx)
		}})
}

func startMemcached(t *testing.T) *testsupport.Server {
	t.Helper()
	testsupport.RequireFile(t, "/usr/bin/memcached")
	return testsupport.Launch(t, &testsupport.Server{Name: "memcached",
		Argv: func(port int) []string {
			return []string{"/usr/bin/memcached", "-u", "memcache", "-p", strconv.Itoa(port), "-l", "127.0.0.1", "-m", "16", "-U", "0"}
		},
		Ready: func(ctx context.Context, addr string) error {
			c, err := net.DialTimeout("tcp", addr, time.Second)
			if err != nil {
				return err
			}
			return c.Close()
		}})
}

func startSearchd(t *testing.T) *testsupport.Server {
	t.Helper()
	testsupport.RequireFile(t, "/usr/bin/searchd")
	dir := t.TempDir()
	return testsupport.Launch(t, &testsupport.Server{Name: "searchd",
		Argv: func(port int) []string {
			conf := filepath.Join(dir, "searchd.conf")
			if err := os.WriteFile(conf, []byte(SearchdConfig("127.0.0.1:"+strconv.Itoa(port), dir)), 0o644); err != nil {
				t.Fatal(err)
			}
			return []string{"/usr/bin/searchd", "--config", conf, "--nodetach"}
		},
		Ready: func(ctx context.Context, addr string) error {
			db, err := sql.Open("mysql", "root@tcp("+addr+")/?interpolateParams=true&timeout=1s")
			if err != nil {
				return err
			}
			defer db.Close()
			rows, err := db.QueryContext(ctx, "SELECT id FROM account_core LIMIT 1")
			if err != nil {
				return err
			}
			return rows.Close()
		}})
}

// --- stand-ins ---

// recorded is one request a stand-in received.
type recorded struct {
	Method, Path, Query string
	Header              http.Header
	Body                string
}

// recorder is an httptest server that records requests and answers from a function.
type recorder struct {
	srv    *httptest.Server
	mu     sync.Mutex
	reqs   []recorded
	answer func(r *http.Request, body []byte) (int, any)
}

func newRecorder(t *testing.T, answer func(r *http.Request, body []byte) (int, any)) *recorder {
	rec := &recorder{answer: answer}
	rec.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rec.mu.Lock()
		rec.reqs = append(rec.reqs, recorded{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Clone(), string(body)})
		rec.mu.Unlock()
		status, out := rec.answer(r, body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		if out != nil {
			_ = json.NewEncoder(w).Encode(out)
		}
	}))
	t.Cleanup(rec.srv.Close)
	return rec
}

// find returns the recorded requests matching method and a path prefix.
func (rec *recorder) find(method, pathPrefix string) []recorded {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	var out []recorded
	for _, r := range rec.reqs {
		if r.Method == method && strings.HasPrefix(r.Path, pathPrefix) {
			out = append(out, r)
		}
	}
	return out
}

func (rec *recorder) all() []recorded {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]recorded(nil), rec.reqs...)
}

// waitingOn counts the requests a stopped server on 127.0.0.1:port holds, from the kernel's
// TCP table: its connections with unread bytes (a query sent on a connection it accepted) and
// its listening socket's accept queue (connections made, not accepted: a MySQL client waits
// for the server's greeting before it sends anything).
func waitingOn(t *testing.T, port int) int {
	t.Helper()
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		t.Fatal(err)
	}
	local := fmt.Sprintf("0100007F:%04X", port)
	n := 0
	for _, line := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 5 || f[1] != local {
			continue
		}
		_, rx, _ := strings.Cut(f[4], ":")
		queued, err := strconv.ParseInt(rx, 16, 64)
		if err != nil {
			t.Fatalf("/proc/net/tcp: %q: %v", line, err)
		}
		switch f[3] {
		case "0A": // listening: rx is the accept queue's length
			n += int(queued)
		case "01": // established
			if queued > 0 {
				n++
			}
		}
	}
	return n
}

// heldBurst runs n calls of do at once while srv is stopped, so that each holds one of the
// app's connections to it (or waits for one it dials), then continues srv and waits for them.
func heldBurst(t *testing.T, srv *testsupport.Server, n int, do func()) {
	t.Helper()
	srv.Pause()
	defer srv.Resume()
	var wg sync.WaitGroup
	for range n {
		wg.Go(do)
	}
	testsupport.Eventually(t, 10*time.Second, fmt.Sprintf("%d requests wait on %s", n, srv.Name), testsupport.NoError(func(context.Context) error {
		if got := waitingOn(t, srv.Port()); got < n {
			return fmt.Errorf("%d of %d wait", got, n)
		}
		return nil
	}))
	srv.Resume()
	wg.Wait()
}

// statusCounter reads a counter of SHOW STATUS from a MySQL-protocol server (MariaDB,
// searchd) over a connection of its own, which it counts too.
func statusCounter(t *testing.T, addr, name string) int {
	t.Helper()
	db, err := sql.Open("mysql", "root@tcp("+addr+")/?interpolateParams=true&timeout=1s")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var got, value string
	if err := db.QueryRow("SHOW STATUS LIKE '"+name+"'").Scan(&got, &value); err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(value)
	if err != nil {
		t.Fatalf("SHOW STATUS %s: %q", name, value)
	}
	return n
}
