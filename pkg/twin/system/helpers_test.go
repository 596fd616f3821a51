package system

// Launchers for the real servers system depends on (MariaDB, redis-server, memcached, Sphinx
// searchd), each a child process on a free loopback port that a test can stop and start again
// on the same port. Backend and zync are httptest stand-ins here (see stand-ins below) until
// the conformance suite runs the real chain.

import (
	"bytes"
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
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// lockedBuffer collects a child's output for failure messages.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len() > 1<<20 {
		l.b.Reset()
	}
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// server is one datastore child process.
type server struct {
	t     *testing.T
	name  string
	port  int
	argv  func(port int) []string
	ready func(ctx context.Context, addr string) error
	cmd   *exec.Cmd
	done  chan struct{}
	out   lockedBuffer
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func (s *server) addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

// launch picks a port and starts the server, retrying on another port if it fails.
func launch(t *testing.T, s *server) *server {
	t.Helper()
	s.t = t
	var err error
	for range 3 {
		s.port = freePort(t)
		if err = s.start(); err == nil {
			t.Cleanup(s.stop)
			return s
		}
	}
	t.Fatalf("start %s: %v\n%s", s.name, err, s.out.String())
	return nil
}

// start runs the server and waits until it answers.
func (s *server) start() error {
	argv := s.argv(s.port)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = &s.out, &s.out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	s.cmd, s.done = cmd, make(chan struct{})
	go func() { _ = cmd.Wait(); close(s.done) }()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var last error
	for ctx.Err() == nil {
		select {
		case <-s.done:
			return fmt.Errorf("%s exited during start-up", s.name)
		default:
		}
		if last = s.ready(ctx, s.addr()); last == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.kill()
	return fmt.Errorf("%s not ready: %v", s.name, last)
}

func (s *server) kill() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.done
	}
}

// stop ends the server (SIGTERM to its process group, SIGKILL after 15 s).
func (s *server) stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	select {
	case <-s.done:
		s.cmd = nil
		return
	default:
	}
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(15 * time.Second):
		s.kill()
	}
	s.cmd = nil
}

// restart starts a stopped server again on the same port.
func (s *server) restart() {
	s.t.Helper()
	if err := s.start(); err != nil {
		s.t.Fatalf("restart %s: %v\n%s", s.name, err, s.out.String())
	}
}

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
			t.Skipf("user %s: %v", owner, err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func needBinary(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		t.Skipf("%s not available: %v", path, err)
	}
}

// startMariaDB initialises a data directory and runs mariadbd on a loopback port with
// --skip-grant-tables (root with any password), as the mysql user.
func startMariaDB(t *testing.T) *server {
	t.Helper()
	needBinary(t, "/usr/sbin/mariadbd")
	needBinary(t, "/usr/bin/mariadb-install-db")
	dir := sharedDir(t, "systwin-mariadb-", "mysql")
	data := filepath.Join(dir, "data")
	install := exec.Command("/usr/bin/mariadb-install-db", "--no-defaults", "--datadir="+data,
		"--auth-root-authentication-method=normal", "--user=mysql", "--skip-test-db")
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("mariadb-install-db: %v\n%s", err, out)
	}
	return launch(t, &server{name: "mariadbd",
		argv: func(port int) []string {
			return []string{"/usr/sbin/mariadbd", "--no-defaults", "--datadir=" + data, "--socket=" + filepath.Join(dir, "s"),
				"--port=" + strconv.Itoa(port), "--bind-address=127.0.0.1", "--user=mysql", "--skip-grant-tables",
				"--skip-log-bin", "--innodb-buffer-pool-size=32M", "--pid-file=" + filepath.Join(dir, "pid"),
				"--log-error=" + filepath.Join(dir, "err.log")}
		},
		ready: func(ctx context.Context, addr string) error {
			db, err := sql.Open("mysql", "root@tcp("+addr+")/?timeout=1s")
			if err != nil {
				return err
			}
			defer db.Close()
			return db.PingContext(ctx)
		}})
}

func startRedis(t *testing.T) *server {
	t.Helper()
	needBinary(t, "/usr/bin/redis-server")
	dir := t.TempDir()
	return launch(t, &server{name: "redis-server",
		argv: func(port int) []string {
			return []string{"/usr/bin/redis-server", "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
				"--save", "", "--appendonly", "no", "--dir", dir}
		},
		ready: func(ctx context.Context, addr string) error {
			c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
			defer c.Close()
			return c.Ping(ctx).Err()
		}})
}

func startMemcached(t *testing.T) *server {
	t.Helper()
	needBinary(t, "/usr/bin/memcached")
	return launch(t, &server{name: "memcached",
		argv: func(port int) []string {
			return []string{"/usr/bin/memcached", "-u", "memcache", "-p", strconv.Itoa(port), "-l", "127.0.0.1", "-m", "16", "-U", "0"}
		},
		ready: func(ctx context.Context, addr string) error {
			c, err := net.DialTimeout("tcp", addr, time.Second)
			if err != nil {
				return err
			}
			return c.Close()
		}})
}

func startSearchd(t *testing.T) *server {
	t.Helper()
	needBinary(t, "/usr/bin/searchd")
	dir := t.TempDir()
	return launch(t, &server{name: "searchd",
		argv: func(port int) []string {
			conf := filepath.Join(dir, "searchd.conf")
			if err := os.WriteFile(conf, []byte(SearchdConfig("127.0.0.1:"+strconv.Itoa(port), dir)), 0o644); err != nil {
				t.Fatal(err)
			}
			return []string{"/usr/bin/searchd", "--config", conf, "--nodetach"}
		},
		ready: func(ctx context.Context, addr string) error {
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

// eventually polls cond until it returns nil or the deadline passes, then fails with the last
// error (what was last observed).
func eventually(t *testing.T, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last error
	for {
		if last = cond(); last == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not true after %s; last: %v", what, timeout, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
