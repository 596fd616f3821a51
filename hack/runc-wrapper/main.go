// Command runc-wrapper is the OCI runtime hack/docker-engine.sh registers as dockerd's default:
// it removes CAP_SYS_RESOURCE from the capabilities a container asks for, then execs the real
// runc with the same arguments.
//
// Why: on the project's machines root lacks CAP_SYS_RESOURCE (it is missing from the bounding
// set), and `docker run --privileged`, which is how kind starts its nodes, asks for every
// capability, so runc fails with "unable to apply caps: operation not permitted" (Docker
// ignores --cap-drop with --privileged). A process cannot hold a capability its bounding set
// lacks, so dropping it from the request changes nothing the container could have had.
//
// What it rewrites (every capability set: bounding, effective, permitted, inheritable,
// ambient), and nothing else:
//   - on `create` and `run`: process.capabilities in the bundle's config.json (the bundle is
//     --bundle/-b, by default the working directory, as for runc);
//   - on `exec --process FILE`: capabilities in FILE, the process spec containerd writes.
//
// A file that does not ask for CAP_SYS_RESOURCE is left as it is, byte for byte; one that does
// is re-encoded with encoding/json, every field but the capability lists copied as raw JSON.
// Every other command (state, start, kill, delete, ...) goes to runc untouched. The real
// runc is $THREESCALE_RUNC, by default /usr/sbin/runc (Debian's runc package, which docker.io
// depends on).
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
)

// droppedCap is the capability the machine's bounding set lacks.
const droppedCap = "CAP_SYS_RESOURCE"

// defaultRunc is where Debian's runc package installs runc.
const defaultRunc = "/usr/sbin/runc"

// capSets are the fields of an OCI process's capabilities object.
var capSets = []string{"bounding", "effective", "permitted", "inheritable", "ambient"}

// runcValueFlags are runc's global flags that take a value as the next argument; the command
// is the first argument that is neither a flag nor such a value.
var runcValueFlags = []string{"root", "log", "log-format", "criu", "rootless"}

func main() {
	args := os.Args[1:]
	wd, err := os.Getwd()
	if err == nil {
		err = rewrite(args, wd)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "runc-wrapper: %v\n", err)
		os.Exit(1)
	}
	runc := os.Getenv("THREESCALE_RUNC")
	if runc == "" {
		runc = defaultRunc
	}
	err = syscall.Exec(runc, append([]string{runc}, args...), os.Environ())
	fmt.Fprintf(os.Stderr, "runc-wrapper: exec %s: %v\n", runc, err)
	os.Exit(1)
}

// rewrite strips droppedCap from the file the runc command line args names (see target),
// resolving a relative bundle against wd. It does nothing for commands that start no process.
func rewrite(args []string, wd string) error {
	path, isProcess := target(args, wd)
	if path == "" {
		return nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	out, changed, err := stripSpec(data, isProcess)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if !changed {
		return nil
	}
	return replaceFile(path, out)
}

// target returns the file to rewrite for the runc command line args: the bundle's config.json
// for create and run, the --process file for exec (isProcess true), "" for anything else.
func target(args []string, wd string) (path string, isProcess bool) {
	cmd, rest := command(args)
	switch cmd {
	case "create", "run":
		bundle, _ := flagValue(rest, "bundle", "b")
		if bundle == "" {
			bundle = wd
		} else if !filepath.IsAbs(bundle) {
			bundle = filepath.Join(wd, bundle)
		}
		return filepath.Join(bundle, "config.json"), false
	case "exec":
		// Without --process, runc exec builds the process from the container's config,
		// already stripped at create.
		p, ok := flagValue(rest, "process", "p")
		if !ok || p == "" {
			return "", false
		}
		if !filepath.IsAbs(p) {
			p = filepath.Join(wd, p)
		}
		return p, true
	}
	return "", false
}

// command splits runc's arguments into the command and the arguments after it, skipping the
// global flags before it.
func command(args []string) (string, []string) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") {
			return a, args[i+1:]
		}
		name := strings.TrimLeft(a, "-")
		if !strings.Contains(name, "=") && slices.Contains(runcValueFlags, name) {
			i++
		}
	}
	return "", nil
}

// runcBoolFlags are the flags of create, run and exec that take no value; flagValue takes
// every other flag's next argument as its value.
var runcBoolFlags = []string{"tty", "t", "detach", "d", "keep", "no-new-privs", "ignore-paused", "no-subreaper", "no-pivot", "no-new-keyring"}

// flagValue finds the flag long (or short) among a command's flags, in any of the forms runc's
// flag parser accepts (-x v, --x v, -x=v, --x=v). It stops at the first positional argument
// (the container id), so a flag of the process's own command line is never read as runc's.
func flagValue(args []string, long, short string) (string, bool) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" || !strings.HasPrefix(a, "-") {
			break
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if name == long || name == short {
			if hasValue {
				return value, true
			}
			if i+1 < len(args) {
				return args[i+1], true
			}
			return "", true
		}
		if !hasValue && !slices.Contains(runcBoolFlags, name) {
			i++
		}
	}
	return "", false
}

// stripSpec removes droppedCap from every capability set of an OCI runtime spec (a bundle's
// config.json: the process is its "process" field) or, with isProcess, of a process spec. It
// reports whether anything changed; when nothing did, out is data itself.
func stripSpec(data []byte, isProcess bool) (out []byte, changed bool, err error) {
	if isProcess {
		return stripProcess(data)
	}
	var spec map[string]json.RawMessage
	if err := json.Unmarshal(data, &spec); err != nil {
		return nil, false, err
	}
	proc, ok := spec["process"]
	if !ok {
		return data, false, nil
	}
	newProc, changed, err := stripProcess(proc)
	if err != nil || !changed {
		return data, false, err
	}
	spec["process"] = newProc
	out, err = json.Marshal(spec)
	return out, true, err
}

// stripProcess is stripSpec for a process object.
func stripProcess(data []byte) ([]byte, bool, error) {
	if bytes.Equal(bytes.TrimSpace(data), []byte("null")) {
		return data, false, nil
	}
	var proc map[string]json.RawMessage
	if err := json.Unmarshal(data, &proc); err != nil {
		return nil, false, fmt.Errorf("process: %w", err)
	}
	rawCaps, ok := proc["capabilities"]
	if !ok || bytes.Equal(bytes.TrimSpace(rawCaps), []byte("null")) {
		return data, false, nil
	}
	var caps map[string]json.RawMessage
	if err := json.Unmarshal(rawCaps, &caps); err != nil {
		return nil, false, fmt.Errorf("process.capabilities: %w", err)
	}
	changed := false
	for _, set := range capSets {
		raw, ok := caps[set]
		if !ok {
			continue
		}
		var list []string
		if err := json.Unmarshal(raw, &list); err != nil {
			return nil, false, fmt.Errorf("process.capabilities.%s: %w", set, err)
		}
		if !slices.Contains(list, droppedCap) {
			continue
		}
		list = slices.DeleteFunc(list, func(c string) bool { return c == droppedCap })
		raw, err := json.Marshal(list)
		if err != nil {
			return nil, false, err
		}
		caps[set] = raw
		changed = true
	}
	if !changed {
		return data, false, nil
	}
	newCaps, err := json.Marshal(caps)
	if err != nil {
		return nil, false, err
	}
	proc["capabilities"] = newCaps
	out, err := json.Marshal(proc)
	return out, true, err
}

// replaceFile writes data to path through a temporary file in the same directory and a
// rename, keeping path's mode, so runc never reads a half-written spec.
func replaceFile(path string, data []byte) error {
	info, err := os.Stat(path)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".runc-wrapper-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // fails harmlessly once renamed
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(info.Mode().Perm()); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
