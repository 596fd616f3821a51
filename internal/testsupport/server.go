package testsupport

import (
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
)

// Server is a store's child process on a free loopback port (redis-server, mariadbd, postgres,
// memcached, searchd...) that a test can stop, kill and start again on the same port. Describe
// it with Name, Argv and Ready and start it with Launch.
type Server struct {
	Name string
	// Argv is the command line for a port; it is asked again on every start.
	Argv func(port int) []string
	// Ready returns nil once the server answers at addr; it is asked until it does, for up to
	// 30 s, and should bound each attempt (a dial timeout).
	Ready func(ctx context.Context, addr string) error

	t    testing.TB
	port int
	cmd  *exec.Cmd
	done chan struct{}
	out  SyncBuffer // the child's output for failure messages, about the last MiB
}

// Launch picks a free port and starts s, on another port if the start fails (another process
// may take a free port first), and stops it at the test's end.
func Launch(t testing.TB, s *Server) *Server {
	t.Helper()
	s.t = t
	var err error
	for range 5 {
		s.port = FreePort(t)
		if err = s.Start(); err == nil {
			t.Cleanup(s.Stop)
			return s
		}
	}
	t.Fatalf("start %s: %v\n%s", s.Name, err, s.out.String())
	return nil
}

// Port is the loopback port s listens on, the same across restarts.
func (s *Server) Port() int { return s.port }

// Addr is s's host:port.
func (s *Server) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

// Output is what the process wrote to stdout and stderr (the last MiB).
func (s *Server) Output() string { return s.out.String() }

// Start runs the process (again, after Stop or Kill) on its port and waits until Ready.
func (s *Server) Start() error {
	argv := s.Argv(s.port)
	cmd := exec.Command(argv[0], argv[1:]...)
	s.out.Limit = 1 << 20
	cmd.Stdout, cmd.Stderr = &s.out, &s.out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	s.cmd, s.done = cmd, done
	go func() { _ = cmd.Wait(); close(done) }()
	var last error
	err := wait.PollUntilContextTimeout(context.Background(), 20*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		select {
		case <-done:
			return false, fmt.Errorf("%s exited during start-up", s.Name)
		default:
		}
		last = s.Ready(ctx, s.Addr())
		return last == nil, nil
	})
	if err != nil {
		s.Kill()
		return fmt.Errorf("%s not ready: %v; last: %v", s.Name, err, last)
	}
	return nil
}

// Restart starts a stopped or killed server again on the same port, failing the test if it
// does not come up.
func (s *Server) Restart() {
	s.t.Helper()
	if err := s.Start(); err != nil {
		s.t.Fatalf("restart %s: %v\n%s", s.Name, err, s.out.String())
	}
}

// Kill ends the process group with SIGKILL, like a pod deleted from under its clients.
func (s *Server) Kill() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	<-s.done
	s.cmd = nil
}

// Pause stops the process group with SIGSTOP, like a frozen container: the kernel still
// accepts connections, nothing answers them. Resume (or Stop) ends it.
func (s *Server) Pause() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGSTOP)
	}
}

// Resume continues a paused process group.
func (s *Server) Resume() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGCONT)
	}
}

// Stop ends the process group with SIGTERM (continuing it, should it be paused), and
// SIGKILL if it is still running 15 s later.
func (s *Server) Stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGTERM)
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGCONT)
	select {
	case <-s.done:
		s.cmd = nil
	case <-time.After(15 * time.Second):
		s.Kill()
	}
}
