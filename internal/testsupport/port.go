package testsupport

import (
	"net"
	"testing"
)

// FreePort returns a loopback TCP port that was free a moment ago, for a child process that
// cannot be given port 0. Another process may take it before the child binds, so launchers
// retry on a fresh port when a start fails. It is never in 20000-30000, the range of the fixed
// ports a twin running beside the tests (make twin-up, the conformance suite) listens on.
func FreePort(t testing.TB) int {
	t.Helper()
	for range 20 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		_ = l.Close()
		if port < 20000 || port > 30000 {
			return port
		}
	}
	t.Fatal("no free loopback port outside 20000-30000")
	return 0
}
