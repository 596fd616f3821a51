package container

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// maxProbeOutput bounds what a probe keeps of a response body or command output, as
// the kubelet does (10 KiB).
const maxProbeOutput = 10 * 1024

// probeUserAgent is the User-Agent the kubelet of this Kubernetes minor version sends.
const probeUserAgent = "kube-probe/1.35"

// ProbeResult is the outcome of one probe attempt. Output is a short reason fit for
// an event, e.g. `HTTP probe failed with statuscode: 503`, or the exec command's output.
type ProbeResult struct {
	OK     bool
	Output string
}

// RunProbe runs one attempt of probe against the container, within the probe's
// timeoutSeconds (default 1s) and ctx.
//
//   - httpGet: GET scheme://host:port/path, host defaulting to podIP, port a number or a
//     named container port, TLS unverified; 200 <= status < 400 succeeds. Redirects to
//     the same host are followed; others are not followed and count as success, as
//     the kubelet does.
//   - tcpSocket: succeeds when a connection is established.
//   - exec: runs the command with execSpec (env, mounts, user) and succeeds on exit 0;
//     on timeout the command is killed and the probe fails.
//   - grpc: fails, as unsupported on this node.
func RunProbe(ctx context.Context, probe *corev1.Probe, c *corev1.Container, podIP string, execSpec ProcessSpec) ProbeResult {
	timeout := time.Duration(probe.TimeoutSeconds) * time.Second
	if timeout <= 0 {
		timeout = time.Second
	}
	switch h := probe.ProbeHandler; {
	case h.HTTPGet != nil:
		return httpProbe(ctx, h.HTTPGet, c, podIP, timeout)
	case h.TCPSocket != nil:
		return tcpProbe(ctx, h.TCPSocket, c, podIP, timeout)
	case h.Exec != nil:
		return execProbe(ctx, h.Exec, execSpec, timeout)
	case h.GRPC != nil:
		return ProbeResult{Output: "gRPC probes are not supported on this node"}
	}
	return ProbeResult{Output: "probe has no handler"}
}

func httpProbe(ctx context.Context, get *corev1.HTTPGetAction, c *corev1.Container, podIP string, timeout time.Duration) ProbeResult {
	req, err := httpProbeRequest(ctx, get, c, podIP)
	if err != nil {
		return ProbeResult{Output: err.Error()}
	}
	client := &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // the kubelet does not verify probe certificates either
			DisableKeepAlives: true,
			Proxy:             nil,
		},
		CheckRedirect: sameHostRedirects,
	}
	defer client.CloseIdleConnections()
	resp, err := client.Do(req)
	if err != nil {
		return ProbeResult{Output: err.Error()}
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxProbeOutput))
	switch {
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		return ProbeResult{OK: true, Output: fmt.Sprintf("Probe terminated redirects, Response body: %s", body)}
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return ProbeResult{OK: true}
	}
	// Like the kubelet, never put the body in a failure message: it may hold secrets.
	return ProbeResult{Output: fmt.Sprintf("HTTP probe failed with statuscode: %d", resp.StatusCode)}
}

// httpProbeRequest builds the request like the kubelet: a Host header sets the
// request's host, User-Agent and Accept get defaults unless given.
func httpProbeRequest(ctx context.Context, get *corev1.HTTPGetAction, c *corev1.Container, podIP string) (*http.Request, error) {
	port, err := resolvePort(get.Port, c)
	if err != nil {
		return nil, err
	}
	scheme := strings.ToLower(string(get.Scheme))
	if scheme == "" {
		scheme = "http"
	}
	u, err := url.Parse(get.Path)
	if err != nil {
		u = &url.URL{Path: get.Path}
	}
	u.Scheme = scheme
	u.Host = net.JoinHostPort(firstNonEmpty(get.Host, podIP), strconv.Itoa(port))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	for _, h := range get.HTTPHeaders {
		req.Header.Add(h.Name, h.Value)
	}
	if _, ok := req.Header["User-Agent"]; !ok {
		req.Header.Set("User-Agent", probeUserAgent)
	}
	if _, ok := req.Header["Accept"]; !ok {
		req.Header.Set("Accept", "*/*")
	} else if req.Header.Get("Accept") == "" {
		req.Header.Del("Accept")
	}
	req.Host = req.Header.Get("Host")
	return req, nil
}

// sameHostRedirects follows redirects to the same host (at most 10) and stops at
// others, leaving the 3xx response as the result.
func sameHostRedirects(req *http.Request, via []*http.Request) error {
	if req.URL.Hostname() != via[0].URL.Hostname() {
		return http.ErrUseLastResponse
	}
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	return nil
}

func tcpProbe(ctx context.Context, sock *corev1.TCPSocketAction, c *corev1.Container, podIP string, timeout time.Duration) ProbeResult {
	port, err := resolvePort(sock.Port, c)
	if err != nil {
		return ProbeResult{Output: err.Error()}
	}
	d := net.Dialer{Timeout: timeout}
	conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(firstNonEmpty(sock.Host, podIP), strconv.Itoa(port)))
	if err != nil {
		return ProbeResult{Output: err.Error()}
	}
	conn.Close()
	return ProbeResult{OK: true}
}

// resolvePort returns a probe's port: a number, or the named port of the container
// (or a number written as a string), as the kubelet resolves it.
func resolvePort(p intstr.IntOrString, c *corev1.Container) (int, error) {
	port := p.IntValue()
	if p.Type == intstr.String {
		port = -1
		for _, cp := range c.Ports {
			if cp.Name == p.StrVal {
				port = int(cp.ContainerPort)
			}
		}
		if port < 0 {
			n, err := strconv.Atoi(p.StrVal)
			if err != nil {
				return 0, fmt.Errorf("port %s not found", p.StrVal)
			}
			port = n
		}
	}
	if port <= 0 || port >= 65536 {
		return 0, fmt.Errorf("invalid port number: %v", port)
	}
	return port, nil
}

func execProbe(ctx context.Context, action *corev1.ExecAction, spec ProcessSpec, timeout time.Duration) ProbeResult {
	// The kubelet expands $(VAR) in exec probe commands against the container's env.
	argv, err := Argv(&corev1.Container{Command: action.Command}, spec.Env)
	if err != nil {
		return ProbeResult{Output: "exec probe has no command"}
	}
	out := &limitedBuffer{max: maxProbeOutput}
	spec.Argv, spec.Stdout, spec.LogPath = argv, out, ""
	p, err := Start(spec)
	if err != nil {
		return ProbeResult{Output: err.Error()}
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-p.Done():
		return ProbeResult{OK: p.ExitCode() == 0, Output: out.String()}
	case <-timer.C:
	case <-ctx.Done():
	}
	_ = p.Stop(context.Background(), 0)
	return ProbeResult{Output: fmt.Sprintf("command %q timed out", strings.Join(action.Command, " "))}
}

// limitedBuffer keeps the first max bytes written to it and discards the rest, so a
// chatty probe command can neither block nor grow memory.
type limitedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	max int
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if room := l.max - l.buf.Len(); room > 0 {
		l.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (l *limitedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}
