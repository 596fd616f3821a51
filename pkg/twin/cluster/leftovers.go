package cluster

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// MarkerEnv is set in the environment of every pod process the node agent starts, to the
// cluster's state directory, so that Leftovers can find pod processes after a crash.
const MarkerEnv = "THREESCALE_TWIN_DIR"

// Leftovers lists the processes (other than the caller) that belong to the cluster in dir:
// etcd and the control plane, found by the exact state-directory flags this package gives
// them, and pod processes and the supervisor, found by MarkerEnv=dir in their environment.
// Nothing else is matched, so a shell or an editor that merely names the directory is safe.
func Leftovers(dir string) ([]int, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	self := os.Getpid()
	argPrefixes := [][]byte{
		[]byte("--data-dir=" + filepath.Join(abs, "etcd")),
		[]byte("--cert-dir=" + filepath.Join(abs, "pki")),
	}
	marker := []byte(MarkerEnv + "=" + abs)
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self || isZombie(pid) {
			continue
		}
		cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		environ, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if hasField(cmdline, argPrefixes, true) || hasField(environ, [][]byte{marker}, false) {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// hasField reports whether a NUL-separated list holds one of the wanted fields, exactly or,
// with prefix, as a prefix (an etcd --data-dir=DIR/etcd, a --cert-dir=DIR/pki/x).
func hasField(list []byte, wanted [][]byte, prefix bool) bool {
	for _, f := range bytes.Split(list, []byte{0}) {
		for _, w := range wanted {
			if bytes.Equal(f, w) || (prefix && bytes.HasPrefix(f, w) && (len(f) == len(w) || f[len(w)] == '/')) {
				return true
			}
		}
	}
	return false
}

func isZombie(pid int) bool {
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return true // gone
	}
	// The state follows the command name, which is in parentheses and may contain spaces.
	i := bytes.LastIndexByte(stat, ')')
	return i < 0 || i+2 >= len(stat) || stat[i+2] == 'Z'
}

// KillLeftovers SIGKILLs every process Leftovers finds and waits (up to timeout) until they
// are gone. It returns the pids it killed.
func KillLeftovers(dir string, timeout time.Duration) ([]int, error) {
	pids, err := Leftovers(dir)
	if err != nil || len(pids) == 0 {
		return nil, err
	}
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	deadline := time.Now().Add(timeout)
	for {
		left, err := Leftovers(dir)
		if err != nil {
			return pids, err
		}
		if len(left) == 0 {
			return pids, nil
		}
		if time.Now().After(deadline) {
			return pids, fmt.Errorf("processes still running after SIGKILL: %v", left)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
