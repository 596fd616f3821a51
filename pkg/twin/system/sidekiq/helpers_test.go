package sidekiq

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

type quietRedisLogger struct{}

func (quietRedisLogger) Printf(context.Context, string, ...any) {}

// TestMain silences go-redis's connection-failure logging unless -v: the outage test stops
// Redis on purpose.
func TestMain(m *testing.M) {
	flag.Parse()
	if !testing.Verbose() {
		redis.SetLogger(quietRedisLogger{})
	}
	os.Exit(m.Run())
}

const redisBinary = "/usr/bin/redis-server"

// testRedis is a redis-server child process on a loopback port that can be stopped and started
// again on the same port (with an empty dataset: --save "" --appendonly no).
type testRedis struct {
	t    *testing.T
	dir  string
	port int
	cmd  *exec.Cmd
	done chan struct{}
	out  bytes.Buffer
}

func newRedis(t *testing.T) *testRedis {
	t.Helper()
	if _, err := os.Stat(redisBinary); err != nil {
		t.Skipf("%s not available: %v", redisBinary, err)
	}
	r := &testRedis{t: t, dir: t.TempDir()}
	var err error
	for range 5 {
		r.port = freePort(t)
		if err = r.start(); err == nil {
			t.Cleanup(r.stop)
			return r
		}
	}
	t.Fatalf("start redis-server: %v", err)
	return nil
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

func (r *testRedis) addr() string { return "127.0.0.1:" + strconv.Itoa(r.port) }

// start runs redis-server and waits until it answers PING.
func (r *testRedis) start() error {
	r.out.Reset()
	cmd := exec.Command(redisBinary, "--port", strconv.Itoa(r.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", r.dir, "--daemonize", "no", "--logfile", "")
	cmd.Stdout, cmd.Stderr = &r.out, &r.out
	if err := cmd.Start(); err != nil {
		return err
	}
	r.cmd, r.done = cmd, make(chan struct{})
	go func() { _ = cmd.Wait(); close(r.done) }()
	c := redis.NewClient(&redis.Options{Addr: r.addr(), DialTimeout: 200 * time.Millisecond, MaxRetries: -1})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-r.done:
			return fmt.Errorf("redis-server exited: %s", r.out.String())
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	r.stop()
	return fmt.Errorf("redis-server did not answer PING: %s", r.out.String())
}

// restart starts the server again on the same port after stop.
func (r *testRedis) restart() {
	r.t.Helper()
	if err := r.start(); err != nil {
		r.t.Fatalf("restart redis-server: %v", err)
	}
}

// stop kills the server (SIGKILL), like a pod deleted from under its clients.
func (r *testRedis) stop() {
	if r.cmd == nil || r.cmd.Process == nil {
		return
	}
	_ = r.cmd.Process.Kill()
	<-r.done
	r.cmd = nil
}

// client is a client on DB 1 (system-redis's sidekiq DB) with short timeouts.
func (r *testRedis) client() *redis.Client {
	c := redis.NewClient(&redis.Options{
		Addr: r.addr(), DB: 1,
		DialTimeout: 200 * time.Millisecond, ReadTimeout: 500 * time.Millisecond, WriteTimeout: 500 * time.Millisecond,
		MaxRetries: 1,
	})
	r.t.Cleanup(func() { _ = c.Close() })
	return c
}

func testLogger() *slog.Logger {
	var w io.Writer = io.Discard
	if testing.Verbose() {
		w = os.Stderr
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// eventually polls cond until it holds or timeout passes; cond returns what it saw so that a
// failure says what was last observed.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s; last observed: %s", timeout, what, state)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// runningServer is a Run in a goroutine.
type runningServer struct {
	t      *testing.T
	cancel context.CancelFunc
	done   chan error
}

// startServer runs Run with test defaults (short heartbeat and poll interval) filled in for
// zero fields, and stops it at cleanup.
func startServer(t *testing.T, cfg ServerConfig) *runningServer {
	t.Helper()
	if cfg.Heartbeat == 0 {
		cfg.Heartbeat = 100 * time.Millisecond
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = 50 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = testLogger()
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &runningServer{t: t, cancel: cancel, done: make(chan error, 1)}
	go func() { s.done <- Run(ctx, cfg) }()
	t.Cleanup(func() { s.stop() })
	return s
}

// stop cancels Run and waits for it to return.
func (s *runningServer) stop() error {
	s.t.Helper()
	s.cancel()
	select {
	case err, ok := <-s.done:
		if ok {
			close(s.done)
		}
		return err
	case <-time.After(15 * time.Second):
		s.t.Fatalf("Run did not return within 15s of ctx end")
		return nil
	}
}

// running fails the test if Run has returned.
func (s *runningServer) running() {
	s.t.Helper()
	select {
	case err := <-s.done:
		s.t.Fatalf("Run returned early: %v", err)
	default:
	}
}

func bg() context.Context { return context.Background() }
