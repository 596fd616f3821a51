package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// allCaps is a --privileged request in the order Docker writes it (shortened).
var allCaps = []string{"CAP_CHOWN", "CAP_NET_ADMIN", "CAP_SYS_ADMIN", "CAP_SYS_RESOURCE", "CAP_SYS_TIME"}

func process(caps map[string][]string) map[string]any {
	p := map[string]any{
		"terminal": false,
		"user":     map[string]any{"uid": 0, "gid": 0},
		"args":     []string{"/hello", "-p", "CAP_SYS_RESOURCE"},
		"env":      []string{"PATH=/usr/bin"},
		"cwd":      "/",
	}
	if caps != nil {
		p["capabilities"] = caps
	}
	return p
}

func everySet(list []string) map[string][]string {
	m := map[string][]string{}
	for _, s := range capSets {
		m[s] = list
	}
	return m
}

func config(proc map[string]any) map[string]any {
	return map[string]any{
		"ociVersion": "1.0.2-dev",
		"process":    proc,
		"root":       map[string]any{"path": "/var/lib/docker/overlay2/x/merged"},
		"hostname":   "kind-control-plane",
		"linux":      map[string]any{"maskedPaths": []string{}, "sysctl": map[string]string{"net.ipv4.ip_forward": "1"}},
	}
}

func TestRewrite(t *testing.T) {
	without := slices.DeleteFunc(slices.Clone(allCaps), func(c string) bool { return c == droppedCap })
	type file struct {
		rel  string         // path under the test's directory
		body map[string]any // written as indented JSON
		want map[string]any // nil: the file must stay byte for byte
	}
	tests := []struct {
		name string
		args []string // "{dir}" is the test's directory
		file file
	}{
		{
			name: "create with --bundle, after runc's global flags",
			args: []string{"--root", "/run/docker/runtime-runc/moby", "--log", "/x/log.json", "--log-format", "json", "--systemd-cgroup", "create", "--bundle", "{dir}/bundle", "--pid-file", "/x/init.pid", "abc123"},
			file: file{"bundle/config.json", config(process(everySet(allCaps))), config(process(everySet(without)))},
		},
		{
			name: "run with -b relative to the working directory",
			args: []string{"run", "--detach", "-b", "bundle", "abc123"},
			file: file{"bundle/config.json", config(process(everySet(allCaps))), config(process(everySet(without)))},
		},
		{
			name: "create with --bundle=",
			args: []string{"--root=/run/x", "create", "--bundle={dir}/b2", "abc123"},
			file: file{"b2/config.json", config(process(map[string][]string{"bounding": allCaps, "ambient": {}})), config(process(map[string][]string{"bounding": without, "ambient": {}}))},
		},
		{
			name: "create without a bundle flag uses the working directory",
			args: []string{"create", "--pid-file", "p", "abc123"},
			file: file{"config.json", config(process(everySet(allCaps))), config(process(everySet(without)))},
		},
		{
			name: "exec --process",
			args: []string{"--root", "/run/x", "exec", "--process", "{dir}/runc-process123", "--detach", "--pid-file", "/x/exec.pid", "abc123"},
			file: file{"runc-process123", process(everySet(allCaps)), process(everySet(without))},
		},
		{
			name: "exec -p=",
			args: []string{"exec", "-p={dir}/proc.json", "abc123"},
			file: file{"proc.json", process(everySet(allCaps)), process(everySet(without))},
		},
		{
			name: "a config without capabilities stays as it is",
			args: []string{"create", "--bundle", "{dir}", "abc123"},
			file: file{"config.json", config(process(nil)), nil},
		},
		{
			name: "a config that does not ask for CAP_SYS_RESOURCE stays as it is",
			args: []string{"create", "--bundle", "{dir}", "abc123"},
			file: file{"config.json", config(process(everySet(without))), nil},
		},
		{
			name: "a config without a process stays as it is",
			args: []string{"create", "--bundle", "{dir}", "abc123"},
			file: file{"config.json", map[string]any{"ociVersion": "1.0.2-dev"}, nil},
		},
		{
			name: "exec without --process: its flag-like command arguments are not runc's",
			args: []string{"exec", "--tty", "abc123", "sh", "-p", "{dir}/config.json"},
			file: file{"config.json", process(everySet(allCaps)), nil},
		},
		{
			name: "commands that start no process touch nothing",
			args: []string{"--root", "/run/x", "delete", "--force", "abc123"},
			file: file{"config.json", config(process(everySet(allCaps))), nil},
		},
		{
			name: "a global flag's value is not the command",
			args: []string{"--log", "create", "state", "abc123"},
			file: file{"config.json", config(process(everySet(allCaps))), nil},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, tt.file.rel)
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			before, err := json.MarshalIndent(tt.file.body, "", "\t")
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, before, 0o600); err != nil {
				t.Fatal(err)
			}
			args := slices.Clone(tt.args)
			for i, a := range args {
				args[i] = strings.ReplaceAll(a, "{dir}", dir)
			}
			passed := slices.Clone(args)

			if err := rewrite(args, dir); err != nil {
				t.Fatalf("rewrite(%q): %v", args, err)
			}

			if !slices.Equal(args, passed) {
				t.Errorf("arguments changed: %q, want %q", args, passed)
			}
			after, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if tt.file.want == nil {
				if string(after) != string(before) {
					t.Errorf("%s changed:\n%s\nwant it as it was:\n%s", tt.file.rel, after, before)
				}
				return
			}
			if got, want := decode(t, after), roundTrip(t, tt.file.want); !reflect.DeepEqual(got, want) {
				t.Errorf("%s after rewrite:\n%v\nwant:\n%v", tt.file.rel, got, want)
			}
			info, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if info.Mode().Perm() != 0o600 {
				t.Errorf("mode %v, want the original -rw-------", info.Mode().Perm())
			}
			left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".runc-wrapper-*"))
			if len(left) > 0 {
				t.Errorf("temporary files left: %v", left)
			}
		})
	}
}

// TestRewriteRefusesBrokenSpec: a spec that is not JSON fails the command instead of reaching
// runc half-understood.
func TestRewriteRefusesBrokenSpec(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"process": {"capabilities": {"bounding": "CAP_SYS_RESOURCE"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := rewrite([]string{"create", "x"}, dir); err == nil {
		t.Fatal("rewrite accepted a bounding set that is not a list")
	}
}

func decode(t *testing.T, data []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("%s: %v", data, err)
	}
	return v
}

func roundTrip(t *testing.T, v any) any {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return decode(t, data)
}
