package container

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// defaultPath is the PATH containerd gives a container whose image and spec set none.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// ProcessSpec describes one process to run for a container.
type ProcessSpec struct {
	Argv       []string
	Env        []string
	WorkingDir string // if "", the process's cwd is "/"
	Mounts     []Mount
	// RunAsUser and RunAsGroup are the ids to run as (see SecurityIDs); nil keeps root.
	// With only RunAsUser, the group is the user's primary group from /etc/passwd, or 0.
	RunAsUser  *int64
	RunAsGroup *int64
	// Groups are supplementary groups (see SupplementalGroups); they apply only when
	// RunAsUser or RunAsGroup is set, since root needs none.
	Groups  []int64
	LogPath string    // stdout and stderr appended to this file (created with parents); "" discards
	Stdout  io.Writer // if set, stdout and stderr go here instead of LogPath
	// ExtraEnv is appended after Env (the agent uses it for a marker variable).
	ExtraEnv []string
}

// StartError is returned by Start when the process could not be started (missing
// executable, bad mount, ...); Message reads like the container runtime's.
type StartError struct {
	Reason  string // always "StartError"
	Message string
}

// Error returns Message, so the agent can show it as the container's waiting message.
func (e *StartError) Error() string { return e.Message }

func startError(format string, args ...any) *StartError {
	return &StartError{Reason: "StartError", Message: fmt.Sprintf(format, args...)}
}

// Process is a started container process and its process group.
type Process struct {
	cmd      *exec.Cmd
	pid      int
	done     chan struct{}
	exitCode int
}

// Start starts the process in its own process group, with Pdeathsig SIGKILL so it dies
// with the agent.
//
// argv[0] is resolved through the PATH of the process's environment (defaulting to the
// standard PATH) and through Mounts, before anything runs, so a missing or
// non-executable file is a *StartError at once. A missing WorkingDir is created.
//
// With Mounts, the process runs in a private mount namespace where each Source is
// bind-mounted at its Target (created on the host when missing; mounts are applied
// parents first). The namespace is made by util-linux: unshare runs a /bin/sh that
// mounts, cd's and then execs the command (through setpriv when ids are set), so the
// final command keeps the pid we started and receives signals directly.
func Start(spec ProcessSpec) (*Process, error) {
	if len(spec.Argv) == 0 {
		return nil, startError("no command to run")
	}
	env := processEnv(spec)
	mounts := sortMounts(spec.Mounts)
	wd := spec.WorkingDir
	if wd == "" {
		wd = "/"
	}
	exe, err := resolveExecutable(spec.Argv[0], envMap(env)["PATH"], wd, mounts)
	if err != nil {
		return nil, startError("%v", err)
	}
	if err := prepareMountTargets(mounts); err != nil {
		return nil, startError("%v", err)
	}
	if err := os.MkdirAll(hostView(wd, mounts), 0o755); err != nil {
		return nil, startError("create working directory: %v", err)
	}
	out, closeOut, err := openOutput(spec)
	if err != nil {
		return nil, startError("open log: %v", err)
	}
	defer closeOut()

	cmd := buildCmd(spec, exe, wd, mounts, env)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	// A daemon that left the process group may hold an output pipe open forever;
	// do not let it block reaping.
	cmd.WaitDelay = time.Second
	if err := spawn(cmd); err != nil {
		return nil, startError("%v", err)
	}
	p := &Process{cmd: cmd, pid: cmd.Process.Pid, done: make(chan struct{}), exitCode: -1}
	go p.wait()
	return p, nil
}

// Pid returns the process id, which is also its process group id.
func (p *Process) Pid() int { return p.pid }

// Done is closed when the process has exited and been reaped, and the rest of its
// process group is gone.
func (p *Process) Done() <-chan struct{} { return p.done }

// ExitCode is the exit status once Done is closed (-1 before): the code the process
// exited with, or 128+signal when a signal killed it (137 for SIGKILL, 143 for SIGTERM).
func (p *Process) ExitCode() int {
	select {
	case <-p.done:
		return p.exitCode
	default:
		return -1
	}
}

// Signal sends sig to the whole process group; a group that is already gone is not
// an error.
func (p *Process) Signal(sig syscall.Signal) error {
	select {
	case <-p.done:
		return nil
	default:
	}
	if err := syscall.Kill(-p.pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("signal process group %d: %w", p.pid, err)
	}
	return nil
}

// Stop sends SIGTERM to the group, waits up to grace (or until ctx ends), then
// SIGKILLs the group, and returns once the process is reaped and no process of its
// group remains.
func (p *Process) Stop(ctx context.Context, grace time.Duration) error {
	if err := p.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case <-p.done:
		return nil
	case <-timer.C:
	case <-ctx.Done():
	}
	if err := p.Signal(syscall.SIGKILL); err != nil {
		return err
	}
	<-p.done
	return nil
}

// wait reaps the process. It first waits for the exit without reaping: while the
// leader is a zombie its pid (the group id) cannot be reused, so killing what is left
// of the group cannot hit an unrelated process. The rest of the group is killed
// because a container ends when its main process does.
func (p *Process) wait() {
	waitExitedNoReap(p.pid)
	_ = syscall.Kill(-p.pid, syscall.SIGKILL)
	err := p.cmd.Wait()
	p.exitCode = exitCode(p.cmd.ProcessState, err)
	awaitGroupGone(p.pid, 5*time.Second)
	close(p.done)
}

func waitExitedNoReap(pid int) {
	var info unix.Siginfo
	for {
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if err != unix.EINTR {
			return
		}
	}
}

func exitCode(st *os.ProcessState, err error) int {
	if st == nil {
		return -1
	}
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return st.ExitCode()
}

// awaitGroupGone kills and polls until no live process is left in group pgid, or limit
// passes. Zombies are ignored: reaping orphans is init's job, and they run nothing.
func awaitGroupGone(pgid int, limit time.Duration) {
	deadline := time.Now().Add(limit)
	for len(groupMembers(pgid)) > 0 && time.Now().Before(deadline) {
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		time.Sleep(5 * time.Millisecond)
	}
}

// groupMembers lists the live (non-zombie) processes of process group pgid from /proc.
func groupMembers(pgid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		state, pg, ok := procStat(pid)
		if ok && pg == pgid && state != "Z" && state != "X" {
			pids = append(pids, pid)
		}
	}
	return pids
}

// procStat returns the state and process group of pid from /proc/<pid>/stat.
func procStat(pid int) (state string, pgid int, ok bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", 0, false
	}
	// The command name may contain spaces and parentheses; fields resume after the last ')'.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return "", 0, false
	}
	f := strings.Fields(string(b[i+1:])) // state, ppid, pgrp, ...
	if len(f) < 3 {
		return "", 0, false
	}
	pg, err := strconv.Atoi(f[2])
	return f[0], pg, err == nil
}

// processEnv is the environment the process gets: Env, then ExtraEnv, on top of the
// defaults a container runtime provides (PATH, and HOME from /etc/passwd as runc does).
func processEnv(spec ProcessSpec) []string {
	env := slices.Concat(spec.Env, spec.ExtraEnv)
	vars := envMap(env)
	var defaults []string
	if _, ok := vars["PATH"]; !ok {
		defaults = append(defaults, "PATH="+defaultPath)
	}
	if _, ok := vars["HOME"]; !ok {
		uid := int64(os.Geteuid()) // without RunAsUser the process keeps the agent's uid
		if spec.RunAsUser != nil {
			uid = *spec.RunAsUser
		}
		defaults = append(defaults, "HOME="+homeDir(uid))
	}
	return append(defaults, env...)
}

// resolveExecutable finds name the way runc does (PATH lookup for bare names, relative
// to the working directory otherwise), looking at the files the process will see
// through its mounts. Errors read like runc's.
func resolveExecutable(name, pathEnv, wd string, mounts []Mount) (string, error) {
	abs := func(p string) string {
		if filepath.IsAbs(p) {
			return filepath.Clean(p)
		}
		return filepath.Join(wd, p)
	}
	if strings.Contains(name, "/") {
		p := abs(name)
		if err := checkExecutable(p, hostView(p, mounts)); err != nil {
			return "", fmt.Errorf("exec: %q: %w", name, err)
		}
		return p, nil
	}
	if pathEnv == "" {
		pathEnv = defaultPath
	}
	for _, dir := range filepath.SplitList(pathEnv) {
		if dir == "" {
			dir = "."
		}
		p := abs(filepath.Join(dir, name))
		if checkExecutable(p, hostView(p, mounts)) == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("exec: %q: executable file not found in $PATH", name)
}

// checkExecutable checks that hostPath (which the process sees as p) is an executable file.
func checkExecutable(p, hostPath string) error {
	fi, err := os.Stat(hostPath)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("stat %s: no such file or directory", p)
	}
	if err != nil {
		return err
	}
	if fi.IsDir() || fi.Mode()&0o111 == 0 {
		return syscall.EACCES
	}
	return nil
}

// sortMounts orders mounts parents first (by target depth, stably), as containerd
// does, so a mount inside another volume lands on top of it.
func sortMounts(mounts []Mount) []Mount {
	sorted := slices.Clone(mounts)
	for i := range sorted {
		sorted[i].Target = filepath.Clean(sorted[i].Target)
	}
	slices.SortStableFunc(sorted, func(a, b Mount) int {
		return strings.Count(a.Target, "/") - strings.Count(b.Target, "/")
	})
	return sorted
}

// hostView maps a path as the process sees it to the host path behind it: the source
// of the deepest mount whose target contains it, or the path itself.
func hostView(p string, mounts []Mount) string {
	p = filepath.Clean(p)
	best, view := -1, p
	for _, m := range mounts {
		rel, ok := strings.CutPrefix(p, m.Target)
		if !ok || (rel != "" && rel[0] != '/' && m.Target != "/") || len(m.Target) < best {
			continue
		}
		best, view = len(m.Target), filepath.Join(m.Source, rel)
	}
	return view
}

// prepareMountTargets checks each source and creates each target (a directory or an
// empty file, like its source) where it will be seen once the earlier mounts are in place.
func prepareMountTargets(mounts []Mount) error {
	for i, m := range mounts {
		if !filepath.IsAbs(m.Target) {
			return fmt.Errorf("mount target %q is not an absolute path", m.Target)
		}
		src, err := os.Stat(m.Source)
		if err != nil {
			return fmt.Errorf("mount source: %w", err)
		}
		target := hostView(m.Target, mounts[:i])
		if err := ensureTarget(target, src.IsDir()); err != nil {
			return fmt.Errorf("mount %s on %s: %w", m.Source, m.Target, err)
		}
	}
	return nil
}

func ensureTarget(p string, dir bool) error {
	fi, err := os.Stat(p)
	switch {
	case errors.Is(err, fs.ErrNotExist) && dir:
		return os.MkdirAll(p, 0o755)
	case errors.Is(err, fs.ErrNotExist):
		return createFile(p)
	case err != nil:
		return err
	case fi.IsDir() != dir:
		return fmt.Errorf("source and target are not both directories or both files")
	}
	return nil
}

func openOutput(spec ProcessSpec) (io.Writer, func(), error) {
	if spec.Stdout != nil {
		return spec.Stdout, func() {}, nil
	}
	if spec.LogPath == "" {
		return nil, func() {}, nil
	}
	if err := os.MkdirAll(filepath.Dir(spec.LogPath), 0o755); err != nil {
		return nil, nil, err
	}
	f, err := os.OpenFile(spec.LogPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return nil, nil, err
	}
	return f, func() { f.Close() }, nil
}

// buildCmd returns the command that runs exe: directly, through setpriv for ids, or
// through unshare and a mounting shell for mounts.
func buildCmd(spec ProcessSpec, exe, wd string, mounts []Mount, env []string) *exec.Cmd {
	ids := setprivArgs(spec)
	args := slices.Concat([]string{exe}, spec.Argv[1:])
	var cmd *exec.Cmd
	switch {
	case len(mounts) > 0:
		script := mountScript(mounts, wd, ids)
		cmd = exec.Command(toolPath("unshare"),
			slices.Concat([]string{"--mount", "--propagation", "private", "--", "/bin/sh", "-c", script, "sh"}, args)...)
		// The shell changes directory itself, after mounting, so that a working
		// directory inside a volume is the mounted one.
		cmd.Dir = "/"
	case ids != nil:
		cmd = exec.Command(toolPath("setpriv"), slices.Concat(ids, []string{"--"}, args)...)
		cmd.Dir = wd
	default:
		// Keep argv[0] as written, as a runtime does; only the path is resolved.
		cmd = &exec.Cmd{Path: exe, Args: slices.Clone(spec.Argv), Dir: wd}
	}
	cmd.Env = env
	return cmd
}

// mountScript is the /bin/sh program run inside the new mount namespace. The command
// arrives as "$@"; every path is single-quoted. Tools are called by absolute path since
// the container's PATH may not contain them.
func mountScript(mounts []Mount, wd string, ids []string) string {
	var b strings.Builder
	b.WriteString("set -e\n")
	mount := toolPath("mount")
	for _, m := range mounts {
		fmt.Fprintf(&b, "%s --bind %s %s\n", mount, shellQuote(m.Source), shellQuote(m.Target))
		if m.ReadOnly {
			fmt.Fprintf(&b, "%s -o remount,bind,ro %s\n", mount, shellQuote(m.Target))
		}
	}
	fmt.Fprintf(&b, "cd %s\n", shellQuote(wd))
	if ids == nil {
		b.WriteString(`exec "$@"` + "\n")
		return b.String()
	}
	quoted := make([]string, len(ids))
	for i, a := range ids {
		quoted[i] = shellQuote(a)
	}
	fmt.Fprintf(&b, "exec %s %s -- \"$@\"\n", toolPath("setpriv"), strings.Join(quoted, " "))
	return b.String()
}

// setprivArgs returns the setpriv options for the spec's ids, nil when it sets none.
// --pdeathsig keep matters: changing uid clears the parent-death signal otherwise.
func setprivArgs(spec ProcessSpec) []string {
	if spec.RunAsUser == nil && spec.RunAsGroup == nil {
		return nil
	}
	var args, groups []string
	gid := int64(0)
	if u := spec.RunAsUser; u != nil {
		args = append(args, "--reuid="+strconv.FormatInt(*u, 10))
		gid = primaryGID(*u)
		for _, g := range userGroups(*u) {
			groups = append(groups, strconv.FormatInt(g, 10))
		}
	}
	if spec.RunAsGroup != nil {
		gid = *spec.RunAsGroup
	}
	args = append(args, "--regid="+strconv.FormatInt(gid, 10))
	for _, g := range spec.Groups {
		groups = append(groups, strconv.FormatInt(g, 10))
	}
	slices.Sort(groups)
	groups = slices.Compact(groups)
	if len(groups) == 0 {
		args = append(args, "--clear-groups")
	} else {
		args = append(args, "--groups="+strings.Join(groups, ","))
	}
	return append(args, "--pdeathsig=keep")
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// toolPath finds a util-linux tool on the agent's PATH, falling back to Debian's location.
func toolPath(name string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	return "/usr/bin/" + name
}

// Pdeathsig is delivered when the thread that forked the child exits, not the process,
// and the Go runtime may retire threads. All processes are therefore forked from one
// goroutine locked to a thread that never exits.
var (
	spawnOnce sync.Once
	spawnReqs = make(chan spawnRequest)
)

type spawnRequest struct {
	cmd *exec.Cmd
	err chan error
}

func spawn(cmd *exec.Cmd) error {
	spawnOnce.Do(func() {
		go func() {
			runtime.LockOSThread()
			for req := range spawnReqs {
				req.err <- req.cmd.Start()
			}
		}()
	})
	req := spawnRequest{cmd: cmd, err: make(chan error, 1)}
	spawnReqs <- req
	return <-req.err
}
