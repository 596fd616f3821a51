package testsupport

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisServerPath is the redis-server binary StartRedis runs (the Debian package's).
const RedisServerPath = "/usr/bin/redis-server"

// StartRedis runs redis-server on a free loopback port with an empty dataset and no automatic
// persistence; an explicit SAVE writes dump.rdb to its own directory, which a Restart loads
// (the persistent volume a Redis has in a cluster). It skips (fails, in CI) without
// redis-server.
func StartRedis(t testing.TB) *Server {
	t.Helper()
	RequireFile(t, RedisServerPath)
	dir := t.TempDir()
	return Launch(t, &Server{Name: "redis-server",
		Argv: func(port int) []string {
			// --port 0 is refused by the environment, so the port is chosen here.
			return []string{RedisServerPath, "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
				"--save", "", "--appendonly", "no", "--dir", dir, "--dbfilename", "dump.rdb",
				"--daemonize", "no", "--logfile", ""}
		},
		Ready: func(ctx context.Context, addr string) error {
			c := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: 200 * time.Millisecond, MaxRetries: -1})
			defer c.Close()
			return c.Ping(ctx).Err()
		}})
}

// RedisClient starts a redis-server for the test (StartRedis) and returns a client to it,
// closed when the test ends.
func RedisClient(t testing.TB) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: StartRedis(t).Addr()})
	t.Cleanup(func() { c.Close() })
	return c
}

type quietRedisLogger struct{}

func (quietRedisLogger) Printf(context.Context, string, ...any) {}

// QuietRedisLogs silences go-redis's own logging (reconnect and connection-failure lines)
// unless the tests run with -v: tests that stop Redis on purpose would otherwise bury real
// failures under them. Call it from TestMain after flag.Parse, before any client exists.
func QuietRedisLogs() {
	if !testing.Verbose() {
		redis.SetLogger(quietRedisLogger{})
	}
}
