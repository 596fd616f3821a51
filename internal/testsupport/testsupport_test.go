package testsupport

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// recorder is a testing.TB that records Skip and Fatal instead of ending the test.
type recorder struct {
	testing.TB
	skip, failure string
}

func (r *recorder) Helper()                  {}
func (r *recorder) Skipf(f string, a ...any) { r.skip = fmt.Sprintf(f, a...) }
func (r *recorder) Fatal(a ...any)           { r.failure = fmt.Sprint(a...) }
func (r *recorder) Fatalf(f string, a ...any) {
	r.failure = fmt.Sprintf(f, a...)
}

func TestRequireSkipsOutsideCI(t *testing.T) {
	t.Setenv(RequireAllEnv, "")
	r := &recorder{TB: t}
	Require(r, false, "redis-server")
	if r.failure != "" || !strings.Contains(r.skip, "redis-server") {
		t.Fatalf("skip %q, failure %q: want a skip naming redis-server", r.skip, r.failure)
	}
}

// With THREESCALE_CHAOS_REQUIRE_ALL=1 a missing requirement is a failure: a plain t.Skip here
// would let CI pass without the tests that need the store.
func TestRequireFailsInCI(t *testing.T) {
	t.Setenv(RequireAllEnv, "1")
	r := &recorder{TB: t}
	Require(r, false, "redis-server")
	if r.failure == "" || r.skip != "" {
		t.Fatalf("skip %q, failure %q: want a failure, not a skip", r.skip, r.failure)
	}
	r = &recorder{TB: t}
	Require(r, true, "redis-server")
	if r.failure != "" || r.skip != "" {
		t.Fatalf("a met requirement: skip %q, failure %q", r.skip, r.failure)
	}
}

func TestEventuallyFailsWithTheLastStateSeen(t *testing.T) {
	r := &recorder{TB: t}
	n := 0
	Eventually(r, 300*time.Millisecond, "n to reach 1000", func(context.Context) (bool, string) {
		n++
		return false, "n=" + strconv.Itoa(n)
	})
	if !strings.Contains(r.failure, "n to reach 1000") || !strings.Contains(r.failure, "last seen: n="+strconv.Itoa(n)) {
		t.Fatalf("failure %q: want what and the last state (n=%d)", r.failure, n)
	}
}

func TestEventuallyReturnsOnceTheConditionHolds(t *testing.T) {
	r := &recorder{TB: t}
	n := 0
	Eventually(r, 10*time.Second, "n to reach 3", func(context.Context) (bool, string) {
		n++
		return n == 3, ""
	})
	if r.failure != "" || n != 3 {
		t.Fatalf("failure %q after %d calls, want none after 3", r.failure, n)
	}
}

func TestFreePortCanBeListenedOn(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(FreePort(t)))
	if err != nil {
		t.Fatal(err)
	}
	_ = l.Close()
}

// StartRedis answers PING, keeps a SAVEd dataset across Kill and Restart on the same port.
func TestStartRedisRestartsOnItsPort(t *testing.T) {
	s := StartRedis(t)
	ctx := t.Context()
	c := redis.NewClient(&redis.Options{Addr: s.Addr(), MaxRetries: -1})
	defer c.Close()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.Save(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	port := s.Port()
	s.Kill()
	s.Restart()
	if s.Port() != port {
		t.Fatalf("port %d after restart, want %d", s.Port(), port)
	}
	if v, err := c.Get(ctx, "k").Result(); v != "v" {
		t.Fatalf("GET k after restart = %q, %v; want the saved v", v, err)
	}
}

func TestDeploymentConfigCRDIsTheKindFixture(t *testing.T) {
	if _, err := os.Stat(DeploymentConfigCRD); err != nil {
		t.Fatal(err)
	}
}

// A test's Cleanup functions wait too (a restore waits for its pods), after t.Context() ends.
func TestEventuallyWorksInCleanup(t *testing.T) {
	t.Cleanup(func() {
		n := 0
		Eventually(t, 10*time.Second, "n to reach 3 in a cleanup", func(context.Context) (bool, string) {
			n++
			return n == 3, strconv.Itoa(n)
		})
	})
}

// The status right after a scale from 0 to 1 still describes generation 2 (the scale to 0)
// or even generation 1 (one Ready replica, before the scale to 0 was written down): neither
// may count as rolled out.
func TestDeploymentRolledOutWaitsForTheNewGeneration(t *testing.T) {
	d := func(gen, observed int64, spec, updated, ready, replicas int32) *appsv1.Deployment {
		return &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Generation: gen},
			Spec:       appsv1.DeploymentSpec{Replicas: ptr.To(spec)},
			Status: appsv1.DeploymentStatus{ObservedGeneration: observed, UpdatedReplicas: updated,
				ReadyReplicas: ready, Replicas: replicas},
		}
	}
	for _, c := range []struct {
		name string
		d    *appsv1.Deployment
		want bool
	}{
		{"stale status from before the scale to 0", d(3, 1, 1, 1, 1, 1), false},
		{"scale to 1 not observed yet", d(3, 2, 1, 0, 0, 0), false},
		{"observed, pod not Ready", d(3, 3, 1, 1, 0, 1), false},
		{"observed, old pod still terminating", d(3, 3, 1, 1, 1, 2), false},
		{"rolled out", d(3, 3, 1, 1, 1, 1), true},
		{"wants another count", d(3, 3, 2, 1, 1, 1), false},
	} {
		if got, seen := DeploymentRolledOut(c.d, 1); got != c.want {
			t.Errorf("%s: got %v, want %v (%s)", c.name, got, c.want, seen)
		}
	}
}
