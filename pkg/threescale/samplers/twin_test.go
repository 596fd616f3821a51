package samplers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/threescale-chaos/harness/internal/testsupport"
	"github.com/threescale-chaos/harness/pkg/probe"
	"github.com/threescale-chaos/harness/pkg/scenario"
	"github.com/threescale-chaos/harness/pkg/threescale"
	"github.com/threescale-chaos/harness/pkg/threescale/fixture"
	"github.com/threescale-chaos/harness/pkg/threescale/target"
)

// TestAgainstTwin drives the package the way the runner will, against the twin: target,
// connect, provision, every sampler healthy in steady state, three outages, delete.
func TestAgainstTwin(t *testing.T) {
	needTwin(t)
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	tg, err := target.Load(targetPath)
	if err != nil {
		t.Fatal(err)
	}
	env, err := threescale.Connect(ctx, tg, restConfig)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(env.Close)
	if err := env.Ping(ctx); err != nil {
		t.Fatalf("stores: %v", err)
	}
	if len(env.Secrets()) < 4 || env.Listener == nil {
		t.Fatalf("connect found %d secrets, listener %v", len(env.Secrets()), env.Listener)
	}
	runID := "T" + randomHex(3)
	before, err := fixture.TakeInventory(ctx, env)
	if err != nil {
		t.Fatal(err)
	}
	if len(before.Products) == 0 {
		t.Fatalf("a fresh tenant has its default product (porta's sample data): %s", before.Counts())
	}
	// apicast-production refreshes every 300 s as the operator runs it: restart it instead,
	// as the CLI's --reload-production-gateway does.
	f, err := fixture.ProvisionWith(ctx, env, runID, fixture.ProvisionOptions{AlertApps: 2, ReloadProduction: func(ctx context.Context) error {
		return threescale.RestartDeployment(ctx, env, threescale.ProductionGateway, 3*time.Minute)
	}})
	if f != nil {
		// The run leaves the tenant as it found it: what it made is gone from the lists.
		t.Cleanup(func() {
			dctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			if rec := f.Cleanup(dctx, env, before); !rec.Clean() || rec.After != rec.Before {
				t.Errorf("clean-up: the tenant held %s before and %s after; left behind: %s; errors: %s", rec.Before, rec.After, rec.LeftBehind, rec.Error)
			}
			marks, _ := env.BackendStorage.SMembers(dctx, threescale.DeletedServicesSet).Result()
			for _, m := range marks {
				if strings.HasPrefix(m, threescale.PurgePlantPrefix(f.Token)) {
					t.Errorf("clean-up left the planted deleted service %s marked", m)
				}
			}
			if n := env.BackendStorage.LLen(dctx, fixture.IntegrationErrorsKey(f.ServiceID)).Val(); n != 0 {
				t.Errorf("clean-up left %d integration errors of the run's product in backend Redis", n)
			}
		})
	}
	if err != nil {
		t.Fatal(redacted(env, err.Error()))
	}
	for _, a := range append([]fixture.Application{f.App, f.LimitedApp, f.WorkApp, f.WriteApp}, f.AlertApps...) {
		if a.BackendID == "" {
			t.Errorf("application %s: no backend id", a.Name)
		}
	}
	opts := Options{Timeout: 5 * time.Second, AsyncBound: 30 * time.Second, AlertBound: 90 * time.Second, FailedJobMaxAge: 2 * time.Minute}
	samplers := For(env, f, opts)

	t.Run("steady state", func(t *testing.T) {
		if len(samplers) != len(scenario.Capabilities()) {
			t.Fatalf("%d samplers for %d capabilities", len(samplers), len(scenario.Capabilities()))
		}
		var wg sync.WaitGroup
		for _, c := range scenario.Capabilities() {
			s := samplers[c]
			if s == nil || s.Capability() != c {
				t.Errorf("no sampler for %s", c)
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				n, bound := 2, opts.AsyncBound+10*time.Second
				for i := range n {
					got := sample(ctx, s, bound)
					checkRedacted(t, env, got)
					if !got.OK {
						t.Errorf("%s sample %d: %s", c, i, got)
					}
				}
			}()
		}
		wg.Wait()
	})

	// The alerts list is a portal page: signed in with the admin's password, not a token.
	t.Run("admin portal", func(t *testing.T) {
		if _, _, err := env.Portal.Page(ctx, "/apiconfig/alerts", nil, 200); err != nil {
			t.Fatalf("alerts page: %v", err)
		}
		if _, _, err := env.Admin.Do(ctx, "GET", "/apiconfig/alerts", nil, 200); err == nil {
			t.Errorf("alerts page with the access token: want a redirect to the sign-in, got 200")
		}
		wrong := threescale.NewPortal(tg.Admin, "admin", "not-the-password", env.HTTP)
		if _, _, err := wrong.Page(ctx, "/apiconfig/alerts", nil); !errors.Is(err, threescale.ErrLoginRefused) || strings.Contains(err.Error(), "not-the-password") {
			t.Errorf("wrong password: %v", err)
		}
	})

	// porta keeps at most 5 keys per application, and a key create that fails after its
	// commit leaves the key: a sample must clear the keys earlier samples leaked (B6).
	t.Run("admin-api-write after leaked keys", func(t *testing.T) {
		kp := fmt.Sprintf("/admin/api/accounts/%d/applications/%d/keys", f.AccountID, f.WriteApp.ID)
		for i := range 5 {
			if err := env.Admin.JSON(ctx, "POST", kp+".json", urlValues("key", fmt.Sprintf("chaosleak%d%s", i, randomHex(3))), nil); err != nil {
				t.Fatalf("key %d: %v", i, err)
			}
		}
		if err := env.Admin.JSON(ctx, "POST", kp+".json", urlValues("key", "chaosover"+randomHex(3)), nil); threescale.StatusOf(err) != 422 {
			t.Fatalf("a 6th key: want 422 (porta's KEYS_LIMIT), got %v", err)
		}
		if got := sample(ctx, samplers[scenario.AdminAPIWrite], 30*time.Second); !got.OK {
			t.Fatalf("admin-api-write with 5 leaked keys: %s", got)
		}
	})

	// One set of work probes for the run, as the runner has: the alert pool advances across
	// subtests, so no (application, level) is crossed twice.
	probes := WorkProbesWith(env, f, WorkOptions{Units: 10, Timeout: 5 * time.Second, Settle: 90 * time.Second})

	// An alert level crossed shows in system's alerts list for that application (B4).
	t.Run("alert delivered", func(t *testing.T) {
		wp := probes[scenario.Alerts]
		if err := wp.Baseline(ctx); err != nil {
			t.Fatal(err)
		}
		if err := wp.Submit(ctx); err != nil {
			t.Fatal(err)
		}
		wc, err := wp.Check(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		if wc.Submitted != 1 || wc.Applied != 1 {
			t.Fatalf("alert: submitted %d, shown %d (%s)", wc.Submitted, wc.Applied, wc.Detail)
		}
	})

	t.Run("apicast-production down", func(t *testing.T) {
		scaleDown(t, ctx, env, "apicast-production")
		if got := sample(ctx, samplers[scenario.ProductionTraffic], 10*time.Second); got.OK || got.ErrorClass != scenario.ErrRefused {
			t.Errorf("production-traffic: want refused, got %s", got)
		}
		if got := sample(ctx, samplers[scenario.UnauthorizedDenial], 10*time.Second); !got.OK {
			t.Errorf("unauthorized-denial: want healthy, got %s", got)
		}
		if got := sample(ctx, samplers[scenario.StagingTraffic], 10*time.Second); !got.OK {
			t.Errorf("staging-traffic: want healthy, got %s", got)
		}
	})

	t.Run("system-app down", func(t *testing.T) {
		scaleDown(t, ctx, env, "system-app")
		got := sample(ctx, samplers[scenario.AdminAPIRead], 10*time.Second)
		checkRedacted(t, env, got)
		if got.OK {
			t.Errorf("admin-api-read: want failed, got %s", got)
		}
		if got := sample(ctx, samplers[scenario.ProductionTraffic], 10*time.Second); !got.OK {
			t.Errorf("production-traffic: want kept, got %s", got)
		}
	})

	// With backend-listener down porta's writes answer 500 with the change saved: the backend
	// sync raises after commit, after the index jobs were queued and the zync event published.
	// Indexing and zync keep working on what was saved; the writes themselves, limits (every
	// call is denied with 403 before any 429) and alerts (no report is accepted) are lost.
	t.Run("backend-listener down", func(t *testing.T) {
		scaleDown(t, ctx, env, "backend-listener")
		for _, c := range []scenario.Capability{scenario.SearchIndexing, scenario.ZyncSync} {
			if got := sample(ctx, samplers[c], opts.AsyncBound+10*time.Second); !got.OK {
				t.Errorf("%s: want kept, got %s", c, got)
			}
		}
		for _, c := range []scenario.Capability{scenario.AdminAPIWrite, scenario.RateLimiting, scenario.Alerts} {
			if got := sample(ctx, samplers[c], opts.AsyncBound+10*time.Second); got.OK {
				t.Errorf("%s: want lost, got %s", c, got)
			}
		}
	})

	// A gateway rolled out while system-app is down waits in its init container for
	// system-master: gateway-rollout fails once the new pod is past its bound, the old pod
	// keeps serving, and after recovery the new pod replaces it.
	t.Run("gateway rollout while system-app is down", func(t *testing.T) {
		wp := probes[scenario.GatewayRollout]
		if err := wp.Baseline(ctx); err != nil {
			t.Fatal(err)
		}
		restore := scaleDown(t, ctx, env, "system-app")
		if err := wp.Submit(ctx); err != nil {
			t.Fatal(err)
		}
		stuck := probe.Check(scenario.GatewayRollout, samplersWith(env, f, Options{}).gatewayRollout(5*time.Second))
		testsupport.Eventually(t, 2*time.Minute, "gateway-rollout failing on the new pod", func(ctx context.Context) (bool, string) {
			got := sample(ctx, stuck, 10*time.Second)
			return !got.OK, got.String()
		})
		if got := sample(ctx, samplers[scenario.ProductionTraffic], 10*time.Second); !got.OK {
			t.Errorf("production-traffic during the rollout: want the old pod serving, got %s", got)
		}
		restore()
		wc, err := wp.Check(ctx, 3*time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if wc.Submitted != 1 || wc.Applied != 1 {
			t.Fatalf("rollout after recovery: submitted %d, applied %d (%s)", wc.Submitted, wc.Applied, wc.Detail)
		}
	})

	// With backend-worker down, hits and alert levels crossed wait in the report queue and
	// are applied after it is back: every hit counted, every level's alert shown.
	t.Run("backend-worker down", func(t *testing.T) {
		hits, alerts := probes[scenario.Analytics], probes[scenario.Alerts]
		for _, wp := range []probe.WorkProbe{hits, alerts} {
			if err := wp.Baseline(ctx); err != nil {
				t.Fatal(err)
			}
		}
		restore := scaleDown(t, ctx, env, "backend-worker")
		if err := hits.Submit(ctx); err != nil {
			t.Fatal(err)
		}
		if err := alerts.Submit(ctx); err != nil {
			t.Fatal(err)
		}
		restore()
		for _, x := range []struct {
			wp   probe.WorkProbe
			want int
		}{{hits, 10}, {alerts, 1}} {
			wc, err := x.wp.Check(ctx, 0)
			if err != nil {
				t.Fatal(err)
			}
			if wc.Submitted != x.want || wc.Applied != x.want {
				t.Errorf("%s: submitted %d, applied %d (%s)", x.wp.Capability(), wc.Submitted, wc.Applied, wc.Detail)
			}
		}
	})

	// Deleted services marked while backend-cron is down wait, stats and marks, and the purge
	// cron runs when it starts removes them; the sampler stays healthy throughout.
	t.Run("backend-cron down", func(t *testing.T) {
		// A short settle: the check made while cron is down must end without waiting for it.
		wp := WorkProbesWith(env, f, WorkOptions{Units: 3, Timeout: 5 * time.Second, Settle: 2 * time.Second})[scenario.StatsPurge]
		smp := samplers[scenario.StatsPurge]
		if err := wp.Baseline(ctx); err != nil {
			t.Fatal(err)
		}
		restore := scaleDown(t, ctx, env, "backend-cron")
		if err := wp.Submit(ctx); err != nil {
			t.Fatal(err)
		}
		if s := smp.Sample(ctx); !s.OK {
			t.Errorf("stats-purge sample with cron down: %s", s)
		}
		if wc, err := wp.Check(ctx, 0); err != nil || wc.Submitted != 3 || wc.Applied != 0 {
			t.Fatalf("with cron down: %+v, %v; want nothing purged", wc, err)
		}
		restore()
		wc, err := wp.Check(ctx, time.Minute)
		if err != nil || wc.Submitted != 3 || wc.Applied != 3 {
			t.Fatalf("after cron is back: %+v, %v", wc, err)
		}
		if s := smp.Sample(ctx); !s.OK {
			t.Errorf("stats-purge sample after the purge: %s", s)
		}
	})

	// A change made while zync is down reaches it only through Sidekiq's retry: the work
	// probe must see the ZyncWorker waiting in the retry set and wait for it.
	t.Run("zync down", func(t *testing.T) {
		wp := WorkProbesWith(env, f, WorkOptions{Timeout: 5 * time.Second, Settle: 20 * time.Second})[scenario.ZyncSync]
		if err := wp.Baseline(ctx); err != nil {
			t.Fatal(err)
		}
		restore := scaleDown(t, ctx, env, "zync")
		if err := wp.Submit(ctx); err != nil {
			t.Fatal(err)
		}
		var due time.Time
		testsupport.Eventually(t, 2*time.Minute, "a ZyncWorker in the retry set", func(ctx context.Context) (bool, string) {
			var ok bool
			due, _, ok = latestRetryDue(ctx, env.SystemRedis, zyncWorkerClass)
			return ok, "none yet"
		})
		restore()
		wc, err := wp.Check(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		if wc.Submitted != 1 || wc.Applied != 1 {
			t.Fatalf("work check: submitted %d, applied %d (%s); retry due %s", wc.Submitted, wc.Applied, wc.Detail, time.Until(due).Round(time.Second))
		}
	})

	// A variant's chain reaches both gateways, the twin's APIcast applies it, and the undo
	// puts the chain back: with the caching policy in allow mode and backend-listener down, a
	// cached key passes, the probe's unknown key (denied, so cached as 403, before the outage)
	// stays denied, and a key never seen passes (caching.lua allow_handler adds 200 when
	// backend is unavailable, proxy.lua handle_backend_response then reads the cache).
	t.Run("caching allow variant, backend-listener down", func(t *testing.T) {
		readChain := func() string {
			var pc struct {
				PoliciesConfig []struct {
					Name          string          `json:"name"`
					Configuration json.RawMessage `json:"configuration"`
				} `json:"policies_config"`
			}
			if err := env.Admin.JSON(ctx, "GET", fmt.Sprintf("/admin/api/services/%d/proxy/policies.json", f.ServiceID), nil, &pc); err != nil {
				t.Fatal(err)
			}
			var parts []string
			for _, p := range pc.PoliciesConfig {
				parts = append(parts, p.Name+string(p.Configuration))
			}
			return strings.Join(parts, ", ")
		}
		before := readChain()
		undo, err := f.SetPolicies(ctx, env, []scenario.Policy{{Name: "caching", Configuration: map[string]string{"caching_type": "allow"}}},
			fixture.PromoteOptions{ReadyTimeout: 2 * time.Minute, Logf: t.Logf, ReloadProduction: func(ctx context.Context) error {
				return threescale.RestartDeployment(ctx, env, threescale.ProductionGateway, 3*time.Minute)
			}})
		if err != nil {
			t.Fatal(redacted(env, err.Error()))
		}
		undone := false
		t.Cleanup(func() {
			if !undone {
				uctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
				defer cancel()
				_ = undo(uctx)
			}
		})
		if got := readChain(); got != `caching{"caching_type":"allow"}, `+before {
			t.Fatalf("chain %q, want the caching policy ahead of %q", got, before)
		}
		for _, c := range []scenario.Capability{scenario.ProductionTraffic, scenario.StagingTraffic, scenario.UnauthorizedDenial} {
			if got := sample(ctx, samplers[c], 10*time.Second); !got.OK {
				t.Fatalf("%s before the outage: %s", c, got)
			}
		}
		restore := scaleDown(t, ctx, env, "backend-listener")
		for _, c := range []scenario.Capability{scenario.ProductionTraffic, scenario.StagingTraffic, scenario.UnauthorizedDenial} {
			if got := sample(ctx, samplers[c], 10*time.Second); !got.OK {
				t.Errorf("%s with backend-listener down in allow mode: want kept, got %s", c, got)
			}
		}
		fresh := "chaos-never-seen-" + randomHex(8)
		if got := threescale.UpstreamCheck(env.Production, f.ProductionHost, "/chaos/"+f.Token+"/fresh", fresh, 10*time.Second, "").Sample(ctx); !got.OK {
			t.Errorf("a key never seen, backend-listener down, allow mode: want it let through, got %s", got)
		}
		restore()
		undone = true
		if err := undo(ctx); err != nil {
			t.Fatal(redacted(env, err.Error()))
		}
		if got := readChain(); got != before {
			t.Fatalf("chain after the undo %q, want %q", got, before)
		}
	})

	// With Sidekiq down a signup's mail job waits in queue:default, which mail-queue counts
	// as queued; the jobs queued while the work probe signs up all still wait at the end of
	// the outage and drain once Sidekiq is back.
	t.Run("system-sidekiq down", func(t *testing.T) {
		wp := WorkProbesWith(env, f, WorkOptions{Timeout: 5 * time.Second, Settle: 60 * time.Second})[scenario.BackgroundJobs]
		if err := wp.Baseline(ctx); err != nil {
			t.Fatal(err)
		}
		restore := scaleDown(t, ctx, env, "system-sidekiq")
		got := sample(ctx, samplers[scenario.MailQueue], opts.AsyncBound+20*time.Second)
		if !got.OK {
			t.Errorf("mail-queue with Sidekiq down: want the job found waiting, got %s", got)
		}
		if err := wp.Submit(ctx); err != nil {
			t.Fatal(err)
		}
		if err := wp.(probe.WindowEnder).WindowEnd(ctx); err != nil {
			t.Fatal(err)
		}
		restore()
		wc, err := wp.Check(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		if wc.Submitted == 0 || wc.Applied != wc.Submitted || !strings.Contains(wc.Detail, "queue:default") {
			t.Fatalf("background-jobs work: submitted %d, applied %d (%s)", wc.Submitted, wc.Applied, wc.Detail)
		}
		t.Logf("background-jobs work: %d of %d (%s)", wc.Applied, wc.Submitted, wc.Detail)
	})

	// With backend-worker down the listener still accepts a report of an unknown metric, but
	// its integration error is stored only when the worker applies the job: the sample finds
	// no error, and every report the work probe made during the outage is listed after it.
	t.Run("integration errors, backend-worker down", func(t *testing.T) {
		wp := WorkProbesWith(env, f, WorkOptions{Timeout: 5 * time.Second, Settle: 60 * time.Second})[scenario.IntegrationErrors]
		if err := wp.Baseline(ctx); err != nil {
			t.Fatal(err)
		}
		restore := scaleDown(t, ctx, env, "backend-worker")
		got := sample(ctx, samplers[scenario.IntegrationErrors], opts.AsyncBound+20*time.Second)
		if got.OK || got.ErrorClass != scenario.ErrNotApplied {
			t.Errorf("integration-errors with backend-worker down: want not applied, got %s", got)
		}
		if err := wp.Submit(ctx); err != nil {
			t.Fatal(err)
		}
		restore()
		wc, err := wp.Check(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		if wc.Submitted == 0 || wc.Applied != wc.Submitted {
			t.Fatalf("integration-errors work: submitted %d, applied %d (%s)", wc.Submitted, wc.Applied, wc.Detail)
		}
		if got := sample(ctx, samplers[scenario.IntegrationErrors], opts.AsyncBound+20*time.Second); !got.OK {
			t.Errorf("integration-errors after recovery: %s", got)
		}
	})
}

// sample takes one sample under a per-sample timeout, as the runner does.
func sample(ctx context.Context, s probe.Sampler, timeout time.Duration) scenario.Sample {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return s.Sample(ctx)
}

func redacted(env *threescale.Env, s string) string {
	for _, sec := range env.Secrets() {
		s = strings.ReplaceAll(s, sec, "[REDACTED]")
	}
	return s
}

func checkRedacted(t *testing.T, env *threescale.Env, s scenario.Sample) {
	t.Helper()
	if redacted(env, s.Detail) != s.Detail {
		t.Errorf("sample of %s leaks a secret in its detail", s.Capability)
	}
}

// scaleDown takes a Deployment to zero through the scale subresource and waits until its
// pods are gone; the restore (back to 1, Ready) is registered first, and also returned for
// tests that restore before their check. Restoring twice is harmless.
func scaleDown(t *testing.T, ctx context.Context, env *threescale.Env, name string) func() {
	t.Helper()
	var once sync.Once
	restore := func() {
		once.Do(func() {
			rctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			if err := setReplicas(rctx, env, name, 1); err != nil {
				t.Errorf("restore %s: %v", name, err)
				return
			}
			testsupport.Eventually(t, 2*time.Minute, name+" Ready", func(ctx context.Context) (bool, string) {
				d, err := env.Kube.AppsV1().Deployments(env.Target.Namespace).Get(ctx, name, metav1.GetOptions{})
				if err != nil {
					return false, err.Error()
				}
				return testsupport.DeploymentRolledOut(d, 1)
			})
		})
	}
	t.Cleanup(restore)
	if err := setReplicas(ctx, env, name, 0); err != nil {
		t.Fatalf("scale %s to 0: %v", name, err)
	}
	testsupport.Eventually(t, 2*time.Minute, name+" pods gone", func(ctx context.Context) (bool, string) {
		pods, err := env.Kube.CoreV1().Pods(env.Target.Namespace).List(ctx, metav1.ListOptions{LabelSelector: "deployment=" + name})
		if err != nil {
			return false, err.Error()
		}
		return len(pods.Items) == 0, fmt.Sprintf("%d pods", len(pods.Items))
	})
	return restore
}

func setReplicas(ctx context.Context, env *threescale.Env, name string, n int32) error {
	_, err := env.Kube.AppsV1().Deployments(env.Target.Namespace).UpdateScale(ctx, name, &autoscalingv1.Scale{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: env.Target.Namespace},
		Spec:       autoscalingv1.ScaleSpec{Replicas: n},
	}, metav1.UpdateOptions{})
	return err
}
