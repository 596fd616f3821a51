package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/threescale-chaos/harness/internal/testsupport"
	"github.com/threescale-chaos/harness/pkg/kube"
	"github.com/threescale-chaos/harness/pkg/threescale/target"
)

// End-to-end tests of the CLI against a live 3scale (the twin in `make e2e`): the harness must
// say FAIL or INVALID when it should, never PASS, and never leave a component at zero.
// They need THREESCALE_CHAOS_TARGET; without it they are skipped (make e2e sets it).

var bin string

func TestMain(m *testing.M) {
	tmp, err := os.MkdirTemp("", "threescale-chaos-")
	if err != nil {
		panic(err)
	}
	bin = filepath.Join(tmp, "threescale-chaos")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		panic(string(out))
	}
	code := m.Run()
	os.RemoveAll(tmp)
	os.Exit(code)
}

type live struct {
	target string
	ns     string
	cs     kubernetes.Interface
	tg     *target.Target
}

// tenant counts the tenant's products, backend APIs and buyer accounts with plain HTTP
// against the Account Management API (independently of the harness's own inventory code).
func (l *live) tenant(t *testing.T) string {
	t.Helper()
	ref := l.tg.Credentials.AdminAccessToken
	sec, err := l.cs.CoreV1().Secrets(l.ns).Get(context.Background(), ref.Secret, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	token := strings.TrimSpace(string(sec.Data[ref.Key]))
	var counts []string
	for _, c := range []struct{ path, list string }{
		{"/admin/api/services.json", "services"}, {"/admin/api/backend_apis.json", "backend_apis"}, {"/admin/api/accounts.json", "accounts"},
	} {
		req, _ := http.NewRequest(http.MethodGet, strings.TrimSuffix(l.tg.Admin.URL, "/")+c.path+"?per_page=500&access_token="+url.QueryEscape(token), nil)
		req.Host = l.tg.Admin.Host
		req.Header.Set("X-Forwarded-Proto", "https")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body map[string][]json.RawMessage
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: status %d: %v", c.path, resp.StatusCode, err)
		}
		counts = append(counts, fmt.Sprintf("%d %s", len(body[c.list]), c.list))
	}
	return strings.Join(counts, ", ")
}

func needTarget(t *testing.T) *live {
	t.Helper()
	path := os.Getenv("THREESCALE_CHAOS_TARGET")
	if path == "" {
		t.Skip("THREESCALE_CHAOS_TARGET not set: make e2e runs these against the twin")
	}
	tg, err := target.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	kc := tg.Kubeconfig
	if kc != "" && !filepath.IsAbs(kc) {
		kc = filepath.Join(filepath.Dir(path), kc)
	}
	rc, err := kube.LoadRESTConfig(kc)
	if err != nil {
		t.Fatal(err)
	}
	return &live{target: path, ns: tg.Namespace, cs: kubernetes.NewForConfigOrDie(rc), tg: tg}
}

// cli runs the binary to completion (bounded) and returns its output and exit code.
func cli(t *testing.T, timeout time.Duration, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = "../.."
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("threescale-chaos %v did not finish within %s:\n%s", args, timeout, out)
	}
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), code
}

func (l *live) replicas(t *testing.T, name string) int32 {
	t.Helper()
	s, err := l.cs.AppsV1().Deployments(l.ns).GetScale(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return s.Spec.Replicas
}

func (l *live) scale(t *testing.T, name string, n int32) {
	t.Helper()
	_, err := l.cs.AppsV1().Deployments(l.ns).UpdateScale(context.Background(), name, &autoscalingv1.Scale{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: l.ns}, Spec: autoscalingv1.ScaleSpec{Replicas: n}}, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
}

func (l *live) waitReady(t *testing.T, name string) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 250*time.Millisecond, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
		d, err := l.cs.AppsV1().Deployments(l.ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		done, _ := testsupport.DeploymentRolledOut(d, 1)
		return done, nil
	})
	if err != nil {
		t.Fatalf("%s not Ready: %v", name, err)
	}
}

// scenarioCopy copies the scenario files to a temporary directory, editing one.
func scenarioCopy(t *testing.T, component string, edit func(string) string) string {
	t.Helper()
	dir := t.TempDir()
	files, _ := filepath.Glob("../../scenarios/*.yaml")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		s := string(b)
		if filepath.Base(f) == component+".yaml" {
			s = edit(s)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	abs, _ := filepath.Abs(dir)
	return abs
}

func replaceLine(t *testing.T, s, prefix, line string) string {
	t.Helper()
	var out []string
	found := false
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			l, found = line, true
		}
		out = append(out, l)
	}
	if !found {
		t.Fatalf("no line %q to replace", prefix)
	}
	return strings.Join(out, "\n")
}

// A wrong expectation in both directions (kept where the capability is lost, lost where it
// is kept) fails the scenario, naming both cells. The run leaves the tenant with what it
// had. It waits for apicast-production's own configuration refresh (the period the twin was
// deployed with: 60 s in make e2e, the operator's 300 s otherwise) instead of restarting it,
// so that path runs in make test too.
func TestWrongExpectationFails(t *testing.T) {
	l := needTarget(t)
	dir := scenarioCopy(t, "apicast-production", func(s string) string {
		s = replaceLine(t, s, "  production-traffic:", "  production-traffic: {expect: kept}")
		s = replaceLine(t, s, "  staging-traffic:", "  staging-traffic: {expect: lost}")
		// The doc's claim goes wrong with its cell, or the file would not load at all.
		return replaceLine(t, s, "    cells: {production-traffic: lost}", "    cells: {production-traffic: kept}")
	})
	reports := t.TempDir()
	before := l.tenant(t)
	out, code := cli(t, 20*time.Minute, "run", "--target", l.target, "--scenarios", dir, "--component", "apicast-production", "--report-dir", reports)
	if code != 1 || !strings.Contains(out, "production-traffic") || !strings.Contains(out, "staging-traffic") {
		t.Fatalf("want exit 1 naming production-traffic and staging-traffic, got %d:\n%s", code, out)
	}
	if after := l.tenant(t); after != before {
		t.Errorf("the tenant held %s before the run and %s after it:\n%s", before, after, out)
	}
	if !strings.Contains(out, "the run's 3scale objects are removed") {
		t.Errorf("the run did not report its clean-up:\n%s", out)
	}
	if n := l.replicas(t, "apicast-production"); n != 1 {
		t.Fatalf("apicast-production left at %d replicas", n)
	}
	// The summary of that journal: the FAIL, and staging-traffic, the one cell expected
	// lost, with no onset because it never failed.
	out, code = cli(t, time.Minute, "summary", reports)
	if code != 0 || !strings.Contains(out, "apicast-production  FAIL") || !regexp.MustCompile(`staging-traffic\s+0\s+-.*\s1\n`).MatchString(out) {
		t.Errorf("summary of the run: exit %d:\n%s", code, out)
	}
}

// With the APIManager's replicas field set and the CR path refused, the operator puts the
// component back: the run is INVALID, not PASS or FAIL.
func TestOperatorRevertMakesTheRunInvalid(t *testing.T) {
	l := needTarget(t)
	patch := func(v string) {
		body := fmt.Sprintf(`{"spec":{"backend":{"cronSpec":{"replicas":%s}}}}`, v)
		err := l.cs.Discovery().RESTClient().Patch(types.MergePatchType).
			AbsPath("/apis/apps.3scale.net/v1alpha1/namespaces", l.ns, "apimanagers", "3scale").Body([]byte(body)).Do(context.Background()).Error()
		if err != nil {
			t.Fatalf("patch APIManager: %v", err)
		}
	}
	patch("1")
	t.Cleanup(func() { patch("null") })
	out, code := cli(t, 15*time.Minute, "run", "--target", l.target, "--component", "backend-cron", "--force-scale-subresource", "--reload-production-gateway", "--report-dir", t.TempDir())
	if code != 2 || !strings.Contains(out, "INVALID") {
		t.Fatalf("want exit 2 (INVALID: the operator reverted the fault), got %d:\n%s", code, out)
	}
	if n := l.replicas(t, "backend-cron"); n != 1 {
		t.Fatalf("backend-cron at %d replicas after the run", n)
	}
}

// Another component already at zero makes the steady state unhealthy: INVALID, and the
// scenario's own component is never touched. zync-que is the one taken down beforehand:
// provisioning does not need it, zync-sync does.
func TestUnhealthySteadyStateIsInvalidAndScalesNothing(t *testing.T) {
	l := needTarget(t)
	l.scale(t, "zync-que", 0)
	t.Cleanup(func() { l.scale(t, "zync-que", 1); l.waitReady(t, "zync-que") })
	out, code := cli(t, 15*time.Minute, "run", "--target", l.target, "--component", "backend-cron", "--steady-timeout", "30s", "--reload-production-gateway", "--report-dir", t.TempDir())
	if code != 2 || !strings.Contains(out, "steady state") {
		t.Fatalf("want exit 2 for an unhealthy steady state, got %d:\n%s", code, out)
	}
	if strings.Contains(out, "pods gone") {
		t.Fatalf("the run scaled backend-cron although the steady state was unhealthy:\n%s", out)
	}
	if n := l.replicas(t, "backend-cron"); n != 1 {
		t.Fatalf("backend-cron at %d replicas", n)
	}
}

// background starts a run and returns once its output says the fault holds.
func background(t *testing.T, l *live, component string) (*exec.Cmd, *syncBuffer) {
	t.Helper()
	cmd := exec.Command(bin, "run", "--target", l.target, "--component", component, "--reload-production-gateway", "--report-dir", t.TempDir())
	cmd.Dir = "../.."
	out := &syncBuffer{}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	held := make(chan struct{})
	go func() {
		s := bufio.NewScanner(pr)
		once := sync.Once{}
		for s.Scan() {
			out.add(s.Text())
			if strings.Contains(s.Text(), "pods gone") {
				once.Do(func() { close(held) })
			}
		}
	}()
	go func() { _ = cmd.Wait(); pw.Close() }()
	select {
	case <-held:
	case <-time.After(5 * time.Minute):
		_ = cmd.Process.Kill()
		t.Fatalf("the run never reached the observation window:\n%s", out)
	}
	return cmd, out
}

// SIGINT during the observation window: the run stops and every component is back.
func TestSIGINTRestores(t *testing.T) {
	l := needTarget(t)
	cmd, out := background(t, l, "backend-cron")
	if n := l.replicas(t, "backend-cron"); n != 0 {
		t.Fatalf("backend-cron at %d replicas while the fault should hold", n)
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, 3*time.Minute, true, func(context.Context) (bool, error) {
		return cmd.ProcessState != nil, nil
	}); err != nil {
		t.Fatalf("the run did not exit after SIGINT:\n%s", out)
	}
	if code := cmd.ProcessState.ExitCode(); code != 2 {
		t.Errorf("exit code after SIGINT %d, want 2 (INVALID)", code)
	}
	if n := l.replicas(t, "backend-cron"); n != 1 {
		t.Fatalf("backend-cron at %d replicas after SIGINT:\n%s", n, out)
	}
}

// After a SIGKILL nothing in the process can restore: the ledger in the cluster refuses the
// next run, and `restore` puts the component back.
func TestRestoreAfterSIGKILL(t *testing.T) {
	l := needTarget(t)
	// Whatever earlier killed runs left goes first, so that the count below is this run's.
	if out, code := cli(t, 2*time.Minute, "restore", "--target", l.target); code != 0 {
		t.Fatalf("restore before the test: exit %d:\n%s", code, out)
	}
	before := l.tenant(t)
	cmd, _ := background(t, l, "backend-cron")
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.scale(t, "backend-cron", 1) }) // in case restore is broken
	_ = wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
		return cmd.ProcessState != nil, nil
	})
	if n := l.replicas(t, "backend-cron"); n != 0 {
		t.Fatalf("backend-cron at %d replicas right after the SIGKILL: the fault was not in place", n)
	}
	out, code := cli(t, 2*time.Minute, "run", "--target", l.target, "--component", "zync", "--report-dir", t.TempDir())
	if code != 3 || !strings.Contains(out, "restore") {
		t.Fatalf("a run with an open ledger must be refused (exit 3) and say how to restore; got %d:\n%s", code, out)
	}
	out, code = cli(t, 5*time.Minute, "restore", "--target", l.target)
	if code != 0 || !strings.Contains(out, "backend-cron") {
		t.Fatalf("restore: exit %d:\n%s", code, out)
	}
	// The killed run could not remove its 3scale objects; restore does.
	if !strings.Contains(out, "removed the 3scale objects of run ") {
		t.Errorf("restore did not remove the killed run's 3scale objects:\n%s", out)
	}
	if after := l.tenant(t); after != before {
		t.Errorf("the tenant held %s before the killed run and %s after restore", before, after)
	}
	l.waitReady(t, "backend-cron")
	out, code = cli(t, time.Minute, "restore", "--target", l.target)
	if code != 0 || !strings.Contains(out, "nothing to restore") || !strings.Contains(out, "no 3scale objects left by a run") {
		t.Fatalf("a second restore must find nothing: exit %d:\n%s", code, out)
	}
}

type syncBuffer struct {
	mu    sync.Mutex
	lines []string
}

func (b *syncBuffer) add(s string) { b.mu.Lock(); b.lines = append(b.lines, s); b.mu.Unlock() }
func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Join(b.lines, "\n")
}
