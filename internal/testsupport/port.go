package testsupport

import (
	"net"
	"testing"
)

// FreePort returns a loopback TCP port that was free a moment ago, for a child process that
// cannot be given port 0. Another process may take it before the child binds, so launchers
// retry on a fresh port when a start fails.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
