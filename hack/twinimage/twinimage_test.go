package twinimage

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/threescale-chaos/harness/internal/testsupport"
)

// imageEnv names the image TestTwinImage runs. `make kind-test` builds it
// (hack/twin-image.sh) and sets it.
const imageEnv = "THREESCALE_CHAOS_TWIN_IMAGE"

// Timeouts: one docker command (a run of an init step included), and a server's readiness
// (mariadbd's first start on a noisy 2-core machine takes the longest).
const (
	commandTimeout = 2 * time.Minute
	readyTimeout   = 90 * time.Second
)

// pgbinLabel is the label hack/twin-image.sh records PostgreSQL's bin directory in, beside
// the file /etc/threescale-twin/pgbin.
const pgbinLabel = "io.threescale-chaos.twin.pgbin"

// twinBin is where the image has the threescale-twin binary (the manifests' {{ .Bin }}).
const twinBin = "/usr/local/bin/threescale-twin"

// TestMain silences the clients' connection-failure logging unless -v: until a server
// listens, the engine's port proxy accepts and closes connections.
func TestMain(m *testing.M) {
	flag.Parse()
	testsupport.QuietRedisLogs()
	testsupport.QuietMySQLLogs()
	os.Exit(m.Run())
}

// TestTwinImage runs, from the image in THREESCALE_CHAOS_TWIN_IMAGE, what fixtures/twin runs
// as host processes today, with the fixtures' command lines and init steps, each listening
// on 0.0.0.0 in its container and published on a free loopback port, and asks each with a
// real client: Redis PING, MariaDB and PostgreSQL SELECT 1, memcached version, the echo
// upstream over HTTP, and system-searchd (the twin binary execing Debian's searchd) over
// SphinxQL. The probes the fixtures run in the containers (redis-cli, mariadb-admin,
// pg_isready) run there too. Every container and volume it makes is removed, also on failure.
func TestTwinImage(t *testing.T) {
	image := os.Getenv(imageEnv)
	if image == "" {
		t.Skip(imageEnv + " is unset: `make kind-test` builds the twin image (hack/twin-image.sh) and runs this test with it")
	}
	pgbin := strings.TrimSpace(dockerOK(t, "run", "--rm", image, "cat", "/etc/threescale-twin/pgbin"))
	if label := dockerOK(t, "image", "inspect", "-f", `{{ index .Config.Labels "`+pgbinLabel+`" }}`, image); strings.TrimSpace(label) != pgbin || pgbin == "" {
		t.Fatalf("PostgreSQL's bin directory: /etc/threescale-twin/pgbin says %q, label %s says %q", pgbin, pgbinLabel, label)
	}
	// The service users' ids the manifests use on a kubelet, as the image's own id reports them.
	ids := strings.TrimSpace(dockerOK(t, "run", "--rm", "--entrypoint", "/bin/sh", image, "-c",
		`for u in mysql redis memcache postgres; do printf '%s%s=%s:%s' "$sep" $u $(id -u $u) $(id -g $u); sep=,; done`))
	if label := strings.TrimSpace(dockerOK(t, "image", "inspect", "-f", `{{ index .Config.Labels "io.threescale-chaos.twin.ids" }}`, image)); !sameIDs(label, ids) {
		t.Errorf("label io.threescale-chaos.twin.ids %q, the image's users %q", label, ids)
	}

	t.Run("tools", func(t *testing.T) {
		t.Parallel()
		// The binaries the fixtures' commands, init containers and probes name.
		paths := []string{"/bin/sh", "/bin/chown", "/usr/bin/curl", "/usr/bin/redis-server", "/usr/bin/redis-cli",
			"/usr/sbin/mariadbd", "/usr/bin/mariadb-install-db", "/usr/bin/mariadb-admin", "/usr/bin/memcached",
			"/usr/bin/searchd", twinBin, pgbin + "/initdb", pgbin + "/postgres", pgbin + "/pg_isready"}
		out := dockerOK(t, append([]string{"run", "--rm", image, "/bin/sh", "-c", `for f in "$@"; do test -x "$f" || echo "$f"; done`, "sh"}, paths...)...)
		if missing := strings.Fields(out); len(missing) > 0 {
			t.Errorf("not executable in %s: %v", image, missing)
		}
	})

	t.Run("redis", func(t *testing.T) {
		t.Parallel()
		c := start(t, image, 6379, []string{"-v", "/var/lib/redis/data"},
			"/usr/bin/redis-server", "--bind", "0.0.0.0", "--port", "6379", "--dir", "/var/lib/redis/data",
			"--appendonly", "yes", "--save", "", "--protected-mode", "no")
		client := redis.NewClient(&redis.Options{Addr: c.addr, MaxRetries: -1, DialTimeout: 2 * time.Second})
		defer client.Close()
		c.eventually(t, "redis PING", func(ctx context.Context) error {
			if pong, err := client.Ping(ctx).Result(); err != nil || pong != "PONG" {
				return fmt.Errorf("PING: %q %v", pong, err)
			}
			return nil
		})
		c.probe(t, "PONG", "/usr/bin/redis-cli", "-h", "127.0.0.1", "-p", "6379", "ping")
	})

	t.Run("mariadb", func(t *testing.T) {
		t.Parallel()
		vol := volume(t)
		uid := strings.TrimSpace(dockerOK(t, "run", "--rm", image, "id", "-u", "mysql"))
		gid := strings.TrimSpace(dockerOK(t, "run", "--rm", image, "id", "-g", "mysql"))
		mount := []string{"-v", vol + ":/var/lib/mysql"}
		// The init containers set-permissions (as root) and install-db (as mysql).
		runOnce(t, "set-permissions", image, append([]string{"--user", "0"}, mount...),
			"/bin/sh", "-c", "mkdir -p /var/lib/mysql/data /var/lib/mysql/run && chown -R "+uid+":"+gid+" /var/lib/mysql")
		runOnce(t, "install-db", image, append([]string{"--user", uid + ":" + gid}, mount...),
			"/bin/sh", "-c", "test -d /var/lib/mysql/data/mysql || /usr/bin/mariadb-install-db --no-defaults --datadir=/var/lib/mysql/data --auth-root-authentication-method=normal --user=mysql --skip-test-db >/dev/null")
		c := start(t, image, 3306, append([]string{"--user", uid + ":" + gid}, mount...),
			"/usr/sbin/mariadbd", "--no-defaults", "--datadir=/var/lib/mysql/data", "--socket=/var/lib/mysql/run/mysqld.sock",
			"--pid-file=/var/lib/mysql/run/mysqld.pid", "--port=3306", "--bind-address=0.0.0.0", "--user=mysql",
			"--skip-grant-tables", "--skip-log-bin", "--innodb-buffer-pool-size=32M", "--skip-name-resolve")
		db, err := sql.Open("mysql", "root@tcp("+c.addr+")/?timeout=2s")
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		c.eventually(t, "MariaDB SELECT 1", func(ctx context.Context) error { return selectOne(ctx, db) })
		c.probe(t, "mysqld is alive", "/usr/bin/mariadb-admin", "--protocol=tcp", "-h", "127.0.0.1", "-P3306", "-uroot", "ping")
	})

	t.Run("postgresql", func(t *testing.T) {
		t.Parallel()
		const password = "zync-password"
		vol := volume(t)
		uid := strings.TrimSpace(dockerOK(t, "run", "--rm", image, "id", "-u", "postgres"))
		gid := strings.TrimSpace(dockerOK(t, "run", "--rm", image, "id", "-g", "postgres"))
		mount := []string{"-v", vol + ":/var/lib/pgsql"}
		user := []string{"--user", uid + ":" + gid}
		// The fixture's volume is an emptyDir, which the kubelet makes world-writable.
		runOnce(t, "emptydir", image, append([]string{"--user", "0"}, mount...), "chmod", "0777", "/var/lib/pgsql")
		// The fixture's initdb init container. initdb --auth=trust trusts loopback only, and
		// a published port's connections come from the engine's bridge: the last line lets
		// them in with the password, as the pod network will need.
		runOnce(t, "initdb", image, append(append(user, mount...), "-e", "PGDATA=/var/lib/pgsql/data", "-e", "ZYNC_DATABASE_PASSWORD="+password),
			"/bin/sh", "-c", `set -e
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  `+pgbin+`/initdb -D "$PGDATA" -U postgres --auth=trust --no-sync >/dev/null
  echo "CREATE USER zync PASSWORD '$ZYNC_DATABASE_PASSWORD';" | `+pgbin+`/postgres --single -D "$PGDATA" postgres >/dev/null
  echo "CREATE DATABASE zync_production OWNER zync;" | `+pgbin+`/postgres --single -D "$PGDATA" postgres >/dev/null
fi
echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"`)
		c := start(t, image, 5432, append(user, mount...),
			pgbin+"/postgres", "-D", "/var/lib/pgsql/data", "-p", "5432", "-k", "/var/lib/pgsql",
			"-c", "listen_addresses=0.0.0.0", "-c", "fsync=off")
		c.eventually(t, "PostgreSQL SELECT 1", func(ctx context.Context) error {
			conn, err := pgx.Connect(ctx, "postgres://zync:"+password+"@"+c.addr+"/zync_production?sslmode=disable&connect_timeout=2")
			if err != nil {
				return err
			}
			defer conn.Close(context.Background())
			var n int
			if err := conn.QueryRow(ctx, "SELECT 1").Scan(&n); err != nil || n != 1 {
				return fmt.Errorf("SELECT 1: %d %v", n, err)
			}
			return nil
		})
		c.probe(t, "accepting connections", pgbin+"/pg_isready", "-h", "127.0.0.1", "-p", "5432", "-U", "zync", "-d", "zync_production")
	})

	t.Run("memcached", func(t *testing.T) {
		t.Parallel()
		c := start(t, image, 11211, nil, "/usr/bin/memcached", "-u", "memcache", "-l", "0.0.0.0", "-p", "11211", "-U", "0", "-m", "64")
		c.eventually(t, "memcached version", func(ctx context.Context) error {
			var d net.Dialer
			conn, err := d.DialContext(ctx, "tcp", c.addr)
			if err != nil {
				return err
			}
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
			if _, err := conn.Write([]byte("version\r\n")); err != nil {
				return err
			}
			line, err := bufio.NewReader(conn).ReadString('\n')
			if !strings.HasPrefix(line, "VERSION ") {
				return fmt.Errorf("version: %q %v", line, err)
			}
			return nil
		})
	})

	t.Run("echo", func(t *testing.T) {
		t.Parallel()
		c := start(t, image, 8080, nil, twinBin, "echo", "--listen", "0.0.0.0:8080", "--name", "twinimage")
		c.eventually(t, "echo over HTTP", func(ctx context.Context) error {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+c.addr+"/twin-image?x=1", nil)
			if err != nil {
				return err
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			var got struct{ Path, Query, Server string }
			if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || resp.StatusCode != http.StatusOK {
				return fmt.Errorf("GET /twin-image: %s %v", resp.Status, err)
			}
			if got.Path != "/twin-image" || got.Query != "x=1" || got.Server != "twinimage" {
				return fmt.Errorf("GET /twin-image?x=1 echoed %+v", got)
			}
			return nil
		})
	})

	t.Run("searchd", func(t *testing.T) {
		t.Parallel()
		// system-searchd writes the real-time indexes' configuration and execs Debian's searchd.
		c := start(t, image, 9306, []string{"-v", "/var/lib/searchd"},
			twinBin, "system-searchd", "--listen", "0.0.0.0:9306", "--data-dir", "/var/lib/searchd")
		// searchd has no server-side prepared statements: interpolateParams (pkg/twin/system).
		db, err := sql.Open("mysql", "root@tcp("+c.addr+")/?interpolateParams=true&timeout=2s")
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		c.eventually(t, "searchd SphinxQL", func(ctx context.Context) error {
			rows, err := db.QueryContext(ctx, "SELECT id FROM account_core LIMIT 1")
			if err != nil {
				return err
			}
			return rows.Close()
		})
	})
}

// container is one server started from the image.
type container struct {
	name string
	addr string // its port, published on loopback
}

// start runs argv in a detached container from image with runArgs, publishing its port on a
// free loopback port (another one when something took that port before the engine bound
// it). The container is removed (with its anonymous volumes) when the test ends, and its
// log is written to the test's output first if the test failed.
func start(t *testing.T, image string, port int, runArgs []string, argv ...string) *container {
	t.Helper()
	c := &container{name: containerName(t, "server")}
	t.Cleanup(func() {
		if t.Failed() {
			logs, _ := docker("logs", "--tail", "50", c.name)
			t.Logf("%s (%s) log:\n%s", c.name, strings.Join(argv, " "), logs)
		}
		removeContainer(t, c.name)
	})
	for attempt := 1; ; attempt++ {
		c.addr = "127.0.0.1:" + strconv.Itoa(testsupport.FreePort(t))
		args := append([]string{"run", "-d", "--name", c.name, "-p", c.addr + ":" + strconv.Itoa(port)}, runArgs...)
		out, err := docker(append(append(args, image), argv...)...)
		if err == nil {
			return c
		}
		if attempt == 3 || !strings.Contains(out, "already in use") && !strings.Contains(out, "already allocated") {
			t.Fatalf("%v\n%s", err, out)
		}
		removeContainer(t, c.name)
	}
}

// eventually waits for cond, failing at once with the container's state when the container
// is no longer running (a wrong binary, a server that refuses its flags).
func (c *container) eventually(t *testing.T, what string, cond func(ctx context.Context) error) {
	t.Helper()
	testsupport.Eventually(t, readyTimeout, what+" at "+c.addr+" ("+c.name+")", func(ctx context.Context) (bool, string) {
		if state, err := docker("inspect", "-f", "{{.State.Status}} exit code {{.State.ExitCode}}", c.name); err != nil || !strings.HasPrefix(state, "running") {
			t.Fatalf("%s: container %s is not running: %s %v", what, c.name, strings.TrimSpace(state), err)
		}
		if err := cond(ctx); err != nil {
			return false, err.Error()
		}
		return true, ""
	})
}

// probe runs a fixture's readiness probe command in the container and wants want in its output.
func (c *container) probe(t *testing.T, want string, argv ...string) {
	t.Helper()
	out := dockerOK(t, append([]string{"exec", c.name}, argv...)...)
	if !strings.Contains(out, want) {
		t.Errorf("probe %v in %s: %q, want %q", argv, c.name, out, want)
	}
}

// runOnce runs an init step to completion in a container of its own, as an init container.
func runOnce(t *testing.T, step, image string, runArgs []string, argv ...string) {
	t.Helper()
	name := containerName(t, step)
	t.Cleanup(func() { removeContainer(t, name) })
	dockerOK(t, append(append(append([]string{"run", "--name", name}, runArgs...), image), argv...)...)
	removeContainer(t, name)
}

// volume creates a named volume, shared by a store's init steps and server as a pod's volume
// is, and removes it when the test ends (after the containers: cleanups run in reverse).
func volume(t *testing.T) string {
	t.Helper()
	name := containerName(t, "data")
	t.Cleanup(func() {
		if out, err := docker("volume", "rm", "-f", name); err != nil {
			t.Errorf("docker volume rm %s: %v\n%s", name, err, out)
		}
	})
	dockerOK(t, "volume", "create", name)
	return name
}

func removeContainer(t *testing.T, name string) {
	if out, err := docker("rm", "-f", "-v", name); err != nil && !strings.Contains(out, "No such container") {
		t.Errorf("docker rm %s: %v\n%s", name, err, out)
	}
}

// containerName names a container or volume after the test that makes it, its role in the
// test and this process, so that tests running at once on one engine do not collide.
func containerName(t *testing.T, role string) string {
	return fmt.Sprintf("twinimage-%s-%s-%d", strings.ReplaceAll(strings.ToLower(t.Name()), "/", "-"), role, os.Getpid())
}

func selectOne(ctx context.Context, db *sql.DB) error {
	var n int
	if err := db.QueryRowContext(ctx, "SELECT 1").Scan(&n); err != nil || n != 1 {
		return fmt.Errorf("SELECT 1: %d %v", n, err)
	}
	return nil
}

// docker runs the docker client against DOCKER_HOST and returns its combined output.
func docker(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, "docker", args...).CombinedOutput()
	if err != nil {
		err = fmt.Errorf("docker %s: %w", strings.Join(args, " "), errors.Join(err, ctx.Err()))
	}
	return string(out), err
}

// dockerOK is docker that fails the test on an error.
func dockerOK(t *testing.T, args ...string) string {
	t.Helper()
	out, err := docker(args...)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	return out
}

// sameIDs compares two "user=uid:gid,..." lists whatever their order.
func sameIDs(a, b string) bool {
	as, bs := strings.Split(a, ","), strings.Split(b, ",")
	slices.Sort(as)
	slices.Sort(bs)
	return slices.Equal(as, bs)
}
