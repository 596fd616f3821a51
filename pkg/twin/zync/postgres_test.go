package zync

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/threescale-chaos/harness/internal/testsupport"
)

// pgBinDir finds Debian's PostgreSQL server binaries (/usr/lib/postgresql/<major>/bin),
// newest major first.
func pgBinDir() (string, bool) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Sort(sort.Reverse(sort.StringSlice(dirs)))
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "postgres")); err == nil {
			if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
				return d, true
			}
		}
	}
	return "", false
}

// pgUser is the account PostgreSQL runs as: initdb and postgres refuse to run as root, so
// the tests, running as root, drop to Debian's postgres user.
type pgUser struct{ uid, gid uint32 }

func lookupPGUser() (pgUser, error) {
	u, err := user.Lookup("postgres")
	if err != nil {
		return pgUser{}, err
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return pgUser{uint32(uid), uint32(gid)}, nil
}

// requirePostgres skips the test (fails it in CI) unless it can run a real PostgreSQL.
func requirePostgres(t *testing.T) (string, pgUser) {
	t.Helper()
	testsupport.Require(t, os.Geteuid() == 0, "root, to run PostgreSQL as the postgres user (initdb and postgres refuse root)")
	bin, ok := pgBinDir()
	testsupport.Require(t, ok, "PostgreSQL (/usr/lib/postgresql/*/bin/postgres; apt-get install postgresql)")
	u, err := lookupPGUser()
	testsupport.Require(t, err == nil, fmt.Sprintf("a postgres user (%v)", err))
	return bin, u
}

// template is one initdb'd data directory that every test copies, so initdb runs once.
var template struct {
	once sync.Once
	dir  string
	err  error
}

func templateDataDir(bin string, u pgUser) (string, error) {
	template.once.Do(func() {
		root, err := os.MkdirTemp("", "zync-pg-template-")
		if err != nil {
			template.err = err
			return
		}
		_ = os.Chmod(root, 0o755)
		data := filepath.Join(root, "data")
		if err := mkdirOwned(data, u, 0o700); err != nil {
			template.err = err
			return
		}
		cmd := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres",
			"--auth=trust", "-N", "-E", "UTF8", "--locale=C")
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: u.uid, Gid: u.gid}}
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			template.err = fmt.Errorf("initdb: %v\n%s", err, out)
			return
		}
		template.dir = data
	})
	return template.dir, template.err
}

func mkdirOwned(dir string, u pgUser, mode os.FileMode) error {
	if err := os.MkdirAll(dir, mode); err != nil {
		return err
	}
	if err := os.Chmod(dir, mode); err != nil {
		return err
	}
	return os.Chown(dir, int(u.uid), int(u.gid))
}

// pgServer is one real PostgreSQL server on 127.0.0.1 with its data kept across stop/start,
// so a test can take zync-database away and bring it back.
type pgServer struct {
	t    *testing.T
	bin  string
	user pgUser
	root string
	port int
	cmd  *exec.Cmd
	done chan struct{}
}

// startPostgres copies the template cluster into a fresh directory and starts it.
func startPostgres(t *testing.T) *pgServer {
	t.Helper()
	bin, u := requirePostgres(t)
	tmpl, err := templateDataDir(bin, u)
	if err != nil {
		t.Fatalf("prepare PostgreSQL: %v", err)
	}
	root, err := os.MkdirTemp("", "zync-pg-")
	if err != nil {
		t.Fatal(err)
	}
	_ = os.Chmod(root, 0o755)
	s := &pgServer{t: t, bin: bin, user: u, root: root, port: testsupport.FreePort(t)}
	t.Cleanup(func() {
		s.stop()
		_ = os.RemoveAll(root)
	})
	if out, err := exec.Command("cp", "-a", tmpl, s.dataDir()).CombinedOutput(); err != nil {
		t.Fatalf("copy template: %v\n%s", err, out)
	}
	if err := mkdirOwned(s.sockDir(), u, 0o755); err != nil {
		t.Fatal(err)
	}
	s.start()
	return s
}

func (s *pgServer) dataDir() string { return filepath.Join(s.root, "data") }
func (s *pgServer) sockDir() string { return filepath.Join(s.root, "sock") }

// URL is the pgx connection string for the server's postgres database.
func (s *pgServer) URL() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", s.port)
}

// start runs postgres on the kept data directory and waits until it accepts queries.
func (s *pgServer) start() {
	s.t.Helper()
	cmd := exec.Command(filepath.Join(s.bin, "postgres"), "-D", s.dataDir(), "-k", s.sockDir(),
		"-p", strconv.Itoa(s.port), "-c", "listen_addresses=127.0.0.1", "-F",
		"-c", "full_page_writes=off", "-c", "synchronous_commit=off")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: s.user.uid, Gid: s.user.gid}}
	logf, err := os.OpenFile(filepath.Join(s.root, "postgres.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		s.t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("start postgres: %v", err)
	}
	s.cmd, s.done = cmd, make(chan struct{})
	go func() { _ = cmd.Wait(); _ = logf.Close(); close(s.done) }()
	testsupport.Eventually(s.t, 20*time.Second, "PostgreSQL accepting queries", func(ctx context.Context) (bool, string) {
		select {
		case <-s.done:
			log, _ := os.ReadFile(filepath.Join(s.root, "postgres.log"))
			s.t.Fatalf("postgres exited:\n%s", log)
		default:
		}
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		c, err := pgx.Connect(cctx, s.URL())
		if err != nil {
			return false, err.Error()
		}
		_ = c.Close(cctx)
		return true, ""
	})
}

// stop shuts the server down (fast mode: clients are disconnected) and waits for it to exit.
func (s *pgServer) stop() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-s.done:
	case <-time.After(15 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	s.cmd = nil
}
