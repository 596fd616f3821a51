package container

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/threescale-chaos/harness/internal/testsupport"
)

// alive reports whether pid is a live (non-zombie) process.
func alive(pid int) bool {
	state, _, ok := procStat(pid)
	return ok && state != "Z" && state != "X"
}

// logLine polls the log file until it has at least n lines and returns them.
func logLines(t *testing.T, path string, n int) []string {
	t.Helper()
	var lines []string
	testsupport.Eventually(t, 10*time.Second, fmt.Sprintf("%d lines in %s", n, path), func(context.Context) (bool, string) {
		b, _ := os.ReadFile(path)
		lines = strings.Split(strings.TrimRight(string(b), "\n"), "\n")
		return len(b) > 0 && len(lines) >= n, fmt.Sprintf("%q", b)
	})
	return lines
}

func TestStartEnvAndWorkingDir(t *testing.T) {
	dir := t.TempDir()
	wd := filepath.Join(dir, "work", "sub") // does not exist yet
	logPath := filepath.Join(dir, "logs", "app.log")
	spec := ProcessSpec{
		Argv:       []string{"sh", "-c", `echo "$FOO"; pwd; echo "$MARK"; echo err >&2`},
		Env:        []string{"FOO=bar baz"},
		ExtraEnv:   []string{"MARK=marker"},
		WorkingDir: wd,
		LogPath:    logPath,
	}
	p, err := Start(spec)
	if err != nil {
		t.Fatal(err)
	}
	waitDone(t, p, 10*time.Second)
	if p.ExitCode() != 0 {
		t.Fatalf("exit code %d", p.ExitCode())
	}
	if got, want := readFile(t, logPath), "bar baz\n"+wd+"\nmarker\nerr\n"; got != want {
		t.Fatalf("log = %q, want %q", got, want)
	}

	// A restarted container appends to the same log; the default cwd is "/".
	spec.WorkingDir = ""
	spec.Argv = []string{"/bin/sh", "-c", "pwd; exit 3"}
	p, err = Start(spec)
	if err != nil {
		t.Fatal(err)
	}
	waitDone(t, p, 10*time.Second)
	if p.ExitCode() != 3 {
		t.Fatalf("exit code %d, want 3", p.ExitCode())
	}
	if got := readFile(t, logPath); !strings.HasSuffix(got, "err\n/\n") {
		t.Fatalf("log not appended: %q", got)
	}
}

func TestStartDefaultsPathAndHome(t *testing.T) {
	var out strings.Builder
	p, err := Start(ProcessSpec{Argv: []string{"sh", "-c", `echo "$PATH"; echo "$HOME"`}, Stdout: &out})
	if err != nil {
		t.Fatal(err)
	}
	waitDone(t, p, 10*time.Second)
	if want := defaultPath + "\n" + homeDir(int64(os.Geteuid())) + "\n"; out.String() != want {
		t.Fatalf("output %q, want %q", out.String(), want)
	}
}

func TestStartErrors(t *testing.T) {
	dir := t.TempDir()
	plain := filepath.Join(dir, "plain.txt")
	if err := os.WriteFile(plain, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		argv0 string
		env   []string
		want  string
	}{
		{"nope", nil, `exec: "nope": executable file not found in $PATH`},
		{"sh", []string{"PATH=" + dir}, `exec: "sh": executable file not found in $PATH`},
		{"/no/such/bin", nil, `exec: "/no/such/bin": stat /no/such/bin: no such file or directory`},
		{plain, nil, fmt.Sprintf("exec: %q: permission denied", plain)},
		{dir, nil, fmt.Sprintf("exec: %q: permission denied", dir)},
	} {
		_, err := Start(ProcessSpec{Argv: []string{tc.argv0}, Env: tc.env})
		var se *StartError
		if !errors.As(err, &se) {
			t.Fatalf("%s: error %v (%T), want *StartError", tc.argv0, err, err)
		}
		if se.Reason != "StartError" || se.Message != tc.want {
			t.Errorf("%s: got %q/%q, want StartError/%q", tc.argv0, se.Reason, se.Message, tc.want)
		}
	}
}

func TestStartBindMounts(t *testing.T) {
	testsupport.RequireRoot(t)
	src := t.TempDir()
	conf := filepath.Join(t.TempDir(), "app.conf")
	mustWrite(t, filepath.Join(src, "hello"), "hello from the volume\n", 0o644)
	mustWrite(t, filepath.Join(src, "run.sh"), "#!/bin/sh\ncat \"$T/hello\" \"$T/conf/app.conf\"\ntouch \"$T/new\" 2>/dev/null && echo writable || echo read-only\npwd\n", 0o755)
	mustWrite(t, conf, "port=1\n", 0o644)
	target := filepath.Join(t.TempDir(), "mnt") // missing on the host: Start creates it
	logPath := filepath.Join(t.TempDir(), "log")

	p, err := Start(ProcessSpec{
		// The executable only exists inside the mount: resolution must look through it.
		Argv: []string{target + "/run.sh"},
		Env:  []string{"T=" + target},
		Mounts: []Mount{
			// Listed child first: Start must mount the parent first.
			{Source: conf, Target: target + "/conf/app.conf", ReadOnly: true},
			{Source: src, Target: target, ReadOnly: true},
		},
		WorkingDir: target + "/conf",
		LogPath:    logPath,
	})
	if err != nil {
		t.Fatal(err)
	}
	waitDone(t, p, 10*time.Second)
	want := "hello from the volume\nport=1\nread-only\n" + target + "/conf\n"
	if got := readFile(t, logPath); got != want || p.ExitCode() != 0 {
		t.Fatalf("exit %d, log %q, want %q", p.ExitCode(), got, want)
	}
	if _, err := os.Stat(filepath.Join(target, "hello")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("mount leaked to the host: %v", err)
	}
}

func TestStartRunAsUser(t *testing.T) {
	testsupport.RequireRoot(t)
	src := t.TempDir()
	mustWrite(t, filepath.Join(src, "f"), "visible\n", 0o644)
	target := filepath.Join(traversableTempDir(t), "m")
	for _, mounts := range [][]Mount{nil, {{Source: src, Target: target}}} {
		var out strings.Builder
		p, err := Start(ProcessSpec{
			Argv:      []string{"sh", "-c", `id -u; id -g; id -G; [ -d "$T" ] && cat "$T/f" || true`},
			Env:       []string{"T=" + target},
			Mounts:    mounts,
			RunAsUser: ptr(int64(65534)),
			Groups:    []int64{2000},
			Stdout:    &out,
		})
		if err != nil {
			t.Fatal(err)
		}
		waitDone(t, p, 10*time.Second)
		lines := strings.Split(out.String(), "\n")
		if len(lines) < 3 || lines[0] != "65534" || lines[1] != "65534" || !strings.Contains(lines[2], "2000") {
			t.Fatalf("mounts %v: output %q, want uid/gid 65534 with group 2000", mounts, out.String())
		}
		if mounts != nil && !strings.Contains(out.String(), "visible") {
			t.Fatalf("mounted file not readable as nobody: %q", out.String())
		}
	}
}

func TestStopSIGTERMHandled(t *testing.T) {
	logPath := filepath.Join(t.TempDir(), "log")
	p, err := Start(ProcessSpec{
		Argv:    []string{"sh", "-c", `trap 'echo bye; exit 7' TERM; echo ready; while :; do sleep 0.05; done`},
		LogPath: logPath,
	})
	if err != nil {
		t.Fatal(err)
	}
	logLines(t, logPath, 1) // trap installed
	if err := p.Stop(context.Background(), 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if p.ExitCode() != 7 {
		t.Fatalf("exit code %d, want 7", p.ExitCode())
	}
	// dash may also report its killed sleep ("Terminated") before the trap runs.
	if lines := logLines(t, logPath, 2); lines[len(lines)-1] != "bye" {
		t.Fatalf("log %q", lines)
	}
}

func TestStopDefaultSIGTERM(t *testing.T) {
	p, err := Start(ProcessSpec{Argv: []string{"sleep", "1000"}})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := p.Stop(context.Background(), 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if p.ExitCode() != 143 {
		t.Fatalf("exit code %d, want 143", p.ExitCode())
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("stop waited for the grace period (%v) although the process exited on SIGTERM", d)
	}
}

// TestStopThroughMountShell checks that the mounting shell does not stand between the
// command and its signals: the command is exec'd, so SIGTERM reaches it.
func TestStopThroughMountShell(t *testing.T) {
	testsupport.RequireRoot(t)
	logPath := filepath.Join(t.TempDir(), "log")
	p, err := Start(ProcessSpec{
		Argv:      []string{"sh", "-c", `trap 'exit 9' TERM; echo $$; while :; do sleep 0.05; done`},
		Mounts:    []Mount{{Source: t.TempDir(), Target: filepath.Join(t.TempDir(), "m")}},
		RunAsUser: ptr(int64(65534)),
		LogPath:   logPath,
	})
	if err != nil {
		t.Fatal(err)
	}
	lines := logLines(t, logPath, 1)
	if lines[0] != strconv.Itoa(p.Pid()) {
		t.Fatalf("command runs as pid %s, not the started pid %d: a wrapper did not exec", lines[0], p.Pid())
	}
	if err := p.Stop(context.Background(), 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if p.ExitCode() != 9 {
		t.Fatalf("exit code %d, want 9", p.ExitCode())
	}
}

func TestStopIgnoredSIGTERMKillsGroup(t *testing.T) {
	logPath := filepath.Join(t.TempDir(), "log")
	p, err := Start(ProcessSpec{
		// The child inherits the ignored SIGTERM, so only SIGKILL ends the group.
		Argv:    []string{"sh", "-c", `trap '' TERM; sleep 1000 & echo $!; while :; do sleep 0.05; done`},
		LogPath: logPath,
	})
	if err != nil {
		t.Fatal(err)
	}
	child, err := strconv.Atoi(logLines(t, logPath, 1)[0])
	if err != nil {
		t.Fatal(err)
	}
	grace := 300 * time.Millisecond
	start := time.Now()
	if err := p.Stop(context.Background(), grace); err != nil {
		t.Fatal(err)
	}
	if time.Since(start) < grace {
		t.Fatalf("killed before the grace period ended")
	}
	if p.ExitCode() != 137 {
		t.Fatalf("exit code %d, want 137", p.ExitCode())
	}
	if alive(child) {
		t.Fatalf("child %d survived Stop", child)
	}
	if m := groupMembers(p.Pid()); len(m) > 0 {
		t.Fatalf("group members left: %v", m)
	}
}

func TestStopHonoursContext(t *testing.T) {
	logPath := filepath.Join(t.TempDir(), "log")
	p, err := Start(ProcessSpec{Argv: []string{"sh", "-c", `trap '' TERM; echo ready; while :; do sleep 0.05; done`}, LogPath: logPath})
	if err != nil {
		t.Fatal(err)
	}
	logLines(t, logPath, 1) // SIGTERM is ignored from now on
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := p.Stop(ctx, time.Hour); err != nil {
		t.Fatal(err)
	}
	if p.ExitCode() != 137 {
		t.Fatalf("exit code %d, want 137", p.ExitCode())
	}
}

func TestExitKillsRestOfGroup(t *testing.T) {
	logPath := filepath.Join(t.TempDir(), "log")
	p, err := Start(ProcessSpec{Argv: []string{"sh", "-c", `sleep 1000 & echo $!; exit 4`}, LogPath: logPath})
	if err != nil {
		t.Fatal(err)
	}
	waitDone(t, p, 10*time.Second)
	child, err := strconv.Atoi(logLines(t, logPath, 1)[0])
	if err != nil {
		t.Fatal(err)
	}
	if p.ExitCode() != 4 {
		t.Fatalf("exit code %d, want 4", p.ExitCode())
	}
	if alive(child) {
		t.Fatalf("child %d outlived the container's main process", child)
	}
	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("signal after exit: %v", err)
	}
}

// TestHelperStartAndBlock is not a test: TestPdeathsig runs the test binary with it,
// to have a parent it can kill.
func TestHelperStartAndBlock(t *testing.T) {
	mode := os.Getenv("TWIN_CONTAINER_HELPER")
	if mode == "" {
		t.Skip("helper process for TestPdeathsig")
	}
	spec := ProcessSpec{Argv: []string{"sleep", "1000"}}
	if mode == "user" || mode == "mounts" {
		spec.RunAsUser = ptr(int64(65534))
	}
	if mode == "mounts" {
		spec.Mounts = []Mount{{Source: os.TempDir(), Target: filepath.Join(os.Getenv("TWIN_CONTAINER_DIR"), "m")}}
	}
	p, err := Start(spec)
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(1)
	}
	fmt.Println("PID", p.Pid())
	select {}
}

func TestPdeathsig(t *testing.T) {
	testsupport.RequireRoot(t)
	for _, mode := range []string{"plain", "user", "mounts"} {
		t.Run(mode, func(t *testing.T) {
			helper := exec.Command(os.Args[0], "-test.run=^TestHelperStartAndBlock$")
			helper.Env = append(os.Environ(), "TWIN_CONTAINER_HELPER="+mode, "TWIN_CONTAINER_DIR="+t.TempDir())
			stdout, err := helper.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := helper.Start(); err != nil {
				t.Fatal(err)
			}
			line, err := bufio.NewReader(stdout).ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			pid, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "PID ")))
			if err != nil {
				t.Fatalf("helper said %q", line)
			}
			if !alive(pid) {
				t.Fatalf("pod process %d not running", pid)
			}
			_ = helper.Process.Kill()
			_ = helper.Wait()
			testsupport.Eventually(t, 10*time.Second, "the pod process to die with its agent", func(context.Context) (bool, string) {
				return !alive(pid), fmt.Sprintf("process %d alive", pid)
			})
		})
	}
}

// traversableTempDir is a temporary directory that a non-root user can reach
// (t.TempDir makes 0700 directories).
func traversableTempDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for p := dir; p != os.TempDir() && p != "/"; p = filepath.Dir(p) {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func mustWrite(t *testing.T, p, content string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}
