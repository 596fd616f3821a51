package samplers

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/threescale-chaos/harness/internal/testsupport"
	"github.com/threescale-chaos/harness/pkg/probe"
	"github.com/threescale-chaos/harness/pkg/threescale"
	"github.com/threescale-chaos/harness/pkg/threescale/fixture"
	"github.com/threescale-chaos/harness/pkg/threescale/target"
)

// alertBed stands in for the three things the alerts sampler talks to: backend-listener's
// report endpoint (it counts reports), the admin portal (sign-in and the alerts list, whose
// rows the test decides) and backend-redis (a real redis-server; events/queue stays empty).
type alertBed struct {
	mu      sync.Mutex
	reports []string // user keys reported, in order
	shown   map[string][]int
	fail    bool // the listener answers 500
	zeros   int  // reports of zero hits accepted
}

func (b *alertBed) show(app string, level int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.shown[app] = append(b.shown[app], level)
}

func newAlertSampler(t *testing.T, bound time.Duration) (*alertSampler, *alertBed) {
	x, b, _ := newAlertSamplerRedis(t, bound)
	return x, b
}

func newAlertSamplerRedis(t *testing.T, bound time.Duration) (*alertSampler, *alertBed, *redis.Client) {
	t.Helper()
	b := &alertBed{shown: map[string][]int{}}
	listener := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		b.mu.Lock()
		defer b.mu.Unlock()
		if b.fail {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		if r.Form.Get("transactions[0][usage][hits]") == "0" {
			b.zeros++ // the check that reports are accepted: no crossing
		} else {
			b.reports = append(b.reports, r.Form.Get("transactions[0][user_key]"))
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(listener.Close)
	apps := []fixture.Application{{ID: 1, Name: "alert0", UserKey: "k0"}, {ID: 2, Name: "alert1", UserKey: "k1"}}
	portal := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/p/login":
			http.SetCookie(w, &http.Cookie{Name: "_system_session", Value: "s"})
			fmt.Fprint(w, loginPage2164)
		case "/p/sessions":
			http.SetCookie(w, &http.Cookie{Name: "user_session", Value: "u"})
			w.Header().Set("Location", "/p/admin")
			w.WriteHeader(http.StatusFound)
		case "/apiconfig/alerts":
			b.mu.Lock()
			defer b.mu.Unlock()
			var rows strings.Builder
			for _, a := range apps {
				if fmt.Sprint(a.ID) != r.URL.Query().Get("cinstance_id") {
					continue
				}
				for i, l := range b.shown[a.Name] {
					fmt.Fprintf(&rows, `<tr id="alert_%d" role="row"><td data-label="Level"><span>&ge;&nbsp;%d&nbsp;%%</span></td></tr>`, i+1, l)
				}
			}
			fmt.Fprintf(w, "<table>%s</table>", rows.String())
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(portal.Close)
	rdb := testsupport.RedisClient(t)
	hc := probe.NewHTTPClient(probe.HTTPClientOptions{})
	env := &threescale.Env{HTTP: hc, BackendStorage: rdb, SystemRedis: rdb, Listener: &threescale.Listener{URL: listener.URL, Client: hc},
		Portal: threescale.NewPortal(target.Endpoint{URL: portal.URL}, "admin", "pw", hc)}
	f := &fixture.Fixture{ServiceID: 7, ServiceToken: "st", AlertLimit: 100, AlertApps: apps}
	s := &samplers{env: env, f: f, o: Options{AlertBound: bound}.withDefaults()}
	return &alertSampler{s: s, end: alertPoolSplit(f) + len(fixture.AlertLevels)}, b, rdb
}

// The sampler crosses one level and makes no other crossing until system shows its alert;
// then the next level of the same application follows.
func TestAlertSamplerCrossesOneLevelAtATime(t *testing.T) {
	x, b := newAlertSampler(t, time.Minute)
	ctx := context.Background()
	if err := x.sample(ctx); err != nil {
		t.Fatalf("first sample: %v", err)
	}
	x.lastNudge = time.Time{} // a minute has passed
	if err := x.sample(ctx); err != nil {
		t.Fatalf("second sample: %v", err)
	}
	if len(b.reports) != 1 {
		t.Fatalf("reports %v: want one crossing while its alert is not shown", b.reports)
	}
	b.show("alert0", 50)
	if err := x.sample(ctx); err != nil || x.pending != nil {
		t.Fatalf("after the alert showed: err %v, pending %v", err, x.pending)
	}
	x.lastNudge = time.Time{}
	if err := x.sample(ctx); err != nil || x.pending == nil || x.pending.level != 80 || x.pending.app.Name != "alert0" {
		t.Fatalf("the next crossing: err %v, pending %v; want alert0 at 80%%", err, x.pending)
	}
}

// A crossing whose alert does not show within the bound fails the samples; after twice the
// bound it is given up and the next crossing starts on the next application, whose usage is
// known.
func TestAlertSamplerGivesUpAMissingAlert(t *testing.T) {
	x, b := newAlertSampler(t, 300*time.Millisecond)
	ctx := context.Background()
	if err := x.sample(ctx); err != nil {
		t.Fatal(err)
	}
	// Sample until the sampler says what the test waits for (it reads the real clock against
	// its 300 ms bound), for at most 5 s.
	var err error
	sampleUntil := func(want string) {
		_ = wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 5*time.Second, false, func(ctx context.Context) (bool, error) {
			err = x.sample(ctx)
			return strings.Contains(fmt.Sprint(err), want), nil
		})
	}
	sampleUntil("no alert for application alert0 at 50%")
	if err == nil || !strings.Contains(err.Error(), "no alert for application alert0 at 50%") {
		t.Fatalf("want the missing alert reported, got %v", err)
	}
	sampleUntil("given up")
	if !strings.Contains(fmt.Sprint(err), "given up") || x.pending != nil {
		t.Fatalf("want the crossing given up after twice the bound, got %v (pending %v)", err, x.pending)
	}
	x.lastNudge = time.Time{}
	_ = x.sample(ctx)
	if x.pending == nil || x.pending.app.Name != "alert1" || x.pending.level != 50 || len(b.reports) != 2 || b.reports[1] != "k1" {
		t.Fatalf("after giving up: pending %v, reports %v; want alert1 at 50%%", x.pending, b.reports)
	}
}

// A report the listener refused does not advance the pool: the same crossing is tried again.
func TestAlertSamplerRetriesARefusedReport(t *testing.T) {
	x, b := newAlertSampler(t, time.Minute)
	ctx := context.Background()
	b.fail = true
	if err := x.sample(ctx); err == nil {
		t.Fatal("a refused report must fail the sample")
	}
	b.fail = false
	x.lastNudge = time.Time{}
	if err := x.sample(ctx); err != nil {
		t.Fatal(err)
	}
	if x.pending == nil || x.pending.app.Name != "alert0" || x.pending.level != 50 {
		t.Fatalf("pending %v, want alert0 at 50%% again", x.pending)
	}
}

// Between crossings each sample checks, with a report of zero hits, that the listener accepts
// reports: one that refuses them fails the sample at once, not at the next crossing a minute
// later, and makes no crossing.
func TestAlertSamplerFailsWhileReportsAreRefused(t *testing.T) {
	x, b := newAlertSampler(t, time.Minute)
	ctx := context.Background()
	if err := x.sample(ctx); err != nil {
		t.Fatal(err)
	}
	b.show("alert0", 50)
	if err := x.sample(ctx); err != nil || x.pending != nil || b.zeros != 1 {
		t.Fatalf("between crossings: err %v, pending %v, zero-hit reports %d; want healthy after one", err, x.pending, b.zeros)
	}
	b.mu.Lock()
	b.fail = true
	b.mu.Unlock()
	if err := x.sample(ctx); err == nil || len(b.reports) != 1 {
		t.Fatalf("with reports refused between crossings: err %v, crossings %v; want a failure and no new crossing", err, b.reports)
	}
}

// A crossing whose event import waits in Sidekiq's retry set (a PersistEventWorker that
// failed while system-mysql was down) is not given up: the alert is on its way.
func TestAlertSamplerWaitsForAnImportRetry(t *testing.T) {
	x, _, rdb := newAlertSamplerRedis(t, 200*time.Millisecond)
	ctx := context.Background()
	if err := x.sample(ctx); err != nil {
		t.Fatal(err)
	}
	job := `{"class":"PersistEventWorker","args":[{"id":1}],"retry_count":2,"queue":"default"}`
	if err := rdb.ZAdd(ctx, "retry", redis.Z{Score: float64(time.Now().Add(time.Minute).Unix()), Member: job}).Err(); err != nil {
		t.Fatal(err)
	}
	var err error
	_ = wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 2*time.Second, false, func(ctx context.Context) (bool, error) {
		err = x.sample(ctx)
		return err != nil && x.pending != nil && time.Since(x.pending.at) > 600*time.Millisecond, nil
	})
	if err == nil || !strings.Contains(err.Error(), "PersistEventWorker waits in Sidekiq's retry set") || x.pending == nil {
		t.Fatalf("past twice the bound with an import retry pending: %v (pending %v); want it kept and said", err, x.pending)
	}
}
