package container

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// serverPort returns the port of an httptest server listening on 127.0.0.1.
func serverPort(t *testing.T, srv *httptest.Server) int {
	t.Helper()
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	port, err := strconv.Atoi(u.Port())
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// closedPort returns a 127.0.0.1 port nothing listens on.
func closedPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}

func httpGetProbe(path string, port intstr.IntOrString) *corev1.Probe {
	return &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: port}}}
}

func TestHTTPProbe(t *testing.T) {
	var gotUA, gotHeader string
	mux := http.NewServeMux()
	mux.HandleFunc("/ready", func(w http.ResponseWriter, r *http.Request) {
		gotUA, gotHeader = r.UserAgent(), r.Header.Get("X-Probe")
		fmt.Fprint(w, "ok")
	})
	mux.HandleFunc("/sick", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "secret details", http.StatusServiceUnavailable)
	})
	mux.HandleFunc("/moved", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/ready", http.StatusFound)
	})
	mux.HandleFunc("/away", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://elsewhere.invalid/", http.StatusFound)
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	port := serverPort(t, srv)
	c := &corev1.Container{Name: "web", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: int32(port)}}}
	run := func(p *corev1.Probe) ProbeResult {
		return RunProbe(context.Background(), p, c, "127.0.0.1", ProcessSpec{})
	}

	ok := httpGetProbe("/ready", intstr.FromInt32(int32(port)))
	ok.HTTPGet.HTTPHeaders = []corev1.HTTPHeader{{Name: "X-Probe", Value: "yes"}}
	if r := run(ok); !r.OK {
		t.Fatalf("200: %+v", r)
	}
	if gotUA != "kube-probe/1.35" || gotHeader != "yes" {
		t.Errorf("User-Agent %q, X-Probe %q", gotUA, gotHeader)
	}

	if r := run(httpGetProbe("/ready", intstr.FromString("http"))); !r.OK {
		t.Errorf("named port: %+v", r)
	}
	if r := run(httpGetProbe("/ready", intstr.FromString("metrics"))); r.OK || r.Output != "port metrics not found" {
		t.Errorf("unknown named port: %+v", r)
	}

	r := run(httpGetProbe("/sick", intstr.FromInt32(int32(port))))
	if r.OK || r.Output != "HTTP probe failed with statuscode: 503" {
		t.Errorf("503: %+v", r)
	}

	if r := run(httpGetProbe("/moved", intstr.FromInt32(int32(port)))); !r.OK || r.Output != "" {
		t.Errorf("same-host redirect should be followed to a 200: %+v", r)
	}
	if r := run(httpGetProbe("/away", intstr.FromInt32(int32(port)))); !r.OK || !strings.HasPrefix(r.Output, "Probe terminated redirects") {
		t.Errorf("other-host redirect should succeed without following: %+v", r)
	}

	start := time.Now()
	if r := run(httpGetProbe("/slow", intstr.FromInt32(int32(port)))); r.OK || !strings.Contains(r.Output, "Client.Timeout exceeded") {
		t.Errorf("slow: %+v", r)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("default 1s timeout not applied: took %v", d)
	}

	refused := closedPort(t)
	r = run(httpGetProbe("/ready", intstr.FromInt32(int32(refused))))
	wantPrefix := fmt.Sprintf(`Get "http://127.0.0.1:%d/ready": dial tcp 127.0.0.1:%d: connect: connection refused`, refused, refused)
	if r.OK || r.Output != wantPrefix {
		t.Errorf("refused: %+v, want %q", r, wantPrefix)
	}
}

func TestHTTPSProbeSkipsVerification(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	p := httpGetProbe("/", intstr.FromInt32(int32(serverPort(t, srv))))
	p.HTTPGet.Scheme = corev1.URISchemeHTTPS
	if r := RunProbe(context.Background(), p, &corev1.Container{}, "127.0.0.1", ProcessSpec{}); !r.OK {
		t.Fatalf("https: %+v", r)
	}
}

func TestTCPProbe(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			conn.Close()
		}
	}()
	port := l.Addr().(*net.TCPAddr).Port
	c := &corev1.Container{Ports: []corev1.ContainerPort{{Name: "redis", ContainerPort: int32(port)}}}
	tcp := func(p intstr.IntOrString) *corev1.Probe {
		return &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: p}}}
	}
	if r := RunProbe(context.Background(), tcp(intstr.FromString("redis")), c, "127.0.0.1", ProcessSpec{}); !r.OK {
		t.Fatalf("tcp open: %+v", r)
	}
	refused := closedPort(t)
	r := RunProbe(context.Background(), tcp(intstr.FromInt32(int32(refused))), c, "127.0.0.1", ProcessSpec{})
	if want := fmt.Sprintf("dial tcp 127.0.0.1:%d: connect: connection refused", refused); r.OK || r.Output != want {
		t.Fatalf("tcp closed: %+v, want %q", r, want)
	}
}

func TestExecProbe(t *testing.T) {
	execProbe := func(timeout int32, cmd ...string) *corev1.Probe {
		return &corev1.Probe{TimeoutSeconds: timeout, ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: cmd}}}
	}
	logPath := filepath.Join(t.TempDir(), "container.log")
	spec := ProcessSpec{Env: []string{"GREETING=hi"}, WorkingDir: t.TempDir(), LogPath: logPath}
	run := func(p *corev1.Probe) ProbeResult {
		return RunProbe(context.Background(), p, &corev1.Container{}, "127.0.0.1", spec)
	}

	if r := run(execProbe(0, "sh", "-c", `echo "$GREETING $(GREETING)"`)); !r.OK || r.Output != "hi hi\n" {
		t.Errorf("exec ok: %+v", r)
	}
	if r := run(execProbe(0, "sh", "-c", "echo not ready >&2; exit 1")); r.OK || r.Output != "not ready\n" {
		t.Errorf("exec fail: %+v", r)
	}
	if r := run(execProbe(0, "no-such-check")); r.OK || r.Output != `exec: "no-such-check": executable file not found in $PATH` {
		t.Errorf("exec missing: %+v", r)
	}

	pidFile := filepath.Join(t.TempDir(), "pid")
	start := time.Now()
	// "$$$$" because the command is $(VAR)-expanded first, where "$$" escapes "$".
	r := run(execProbe(1, "sh", "-c", `echo $$$$ > `+pidFile+`; exec sleep 30`))
	if r.OK || r.Output != `command "sh -c echo $$$$ > `+pidFile+`; exec sleep 30" timed out` {
		t.Errorf("exec timeout: %+v", r)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("timeout of 1s took %v", d)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(readFile(t, pidFile)))
	if err != nil {
		t.Fatal(err)
	}
	if alive(pid) {
		t.Errorf("timed-out probe command %d still running", pid)
	}
	if b, _ := os.ReadFile(logPath); len(b) != 0 {
		t.Errorf("probe output went to the container log: %q", b)
	}
}

func TestGRPCProbeUnsupported(t *testing.T) {
	p := &corev1.Probe{ProbeHandler: corev1.ProbeHandler{GRPC: &corev1.GRPCAction{Port: 9000}}}
	r := RunProbe(context.Background(), p, &corev1.Container{}, "127.0.0.1", ProcessSpec{})
	if r.OK || !strings.Contains(r.Output, "not supported on this node") {
		t.Fatalf("grpc: %+v", r)
	}
}
