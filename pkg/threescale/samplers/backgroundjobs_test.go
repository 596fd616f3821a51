package samplers

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/threescale-chaos/harness/internal/testsupport"
	"github.com/threescale-chaos/harness/pkg/threescale"
)

// background-jobs judges Sidekiq alive by the freshest beat among the registered processes, and
// says, when none is fresh, how many hashes had expired and how old the freshest beat was, so a
// failed sample tells a dead process from a late heartbeat.
func TestBackgroundJobsHeartbeat(t *testing.T) {
	testsupport.QuietRedisLogs()
	rdb := testsupport.RedisClient(t)
	s := &samplers{env: &threescale.Env{SystemRedis: rdb}, o: Options{}.withDefaults()}
	ctx := context.Background()
	beat := func(id string, age time.Duration) {
		t.Helper()
		at := float64(time.Now().Add(-age).UnixMicro()) / 1e6
		if err := rdb.SAdd(ctx, "processes", id).Err(); err != nil {
			t.Fatal(err)
		}
		if err := rdb.HSet(ctx, id, "beat", strconv.FormatFloat(at, 'f', 6, 64)).Err(); err != nil {
			t.Fatal(err)
		}
	}

	if err := s.backgroundJobs(ctx); err == nil || !strings.Contains(err.Error(), "(0 registered, 0 without a hash, none with a beat)") {
		t.Errorf("no process: %v", err)
	}
	rdb.SAdd(ctx, "processes", "gone:1:a") // registered, hash expired
	beat("old:1:b", 75*time.Second)
	err := s.backgroundJobs(ctx)
	if err == nil || !strings.Contains(err.Error(), "(2 registered, 1 without a hash, freshest beat 1m15s old)") {
		t.Errorf("stale beat: %v", err)
	}
	beat("new:1:c", 3*time.Second)
	if err := s.backgroundJobs(ctx); err != nil {
		t.Errorf("one fresh process among stale ones: %v", err)
	}
	// The beat the process writes between the sampler's clock reading and its HGET (or one
	// from a node whose clock is ahead) is newer than the sampler's now: fresh, not missing.
	rdb.Del(ctx, "processes", "old:1:b", "new:1:c")
	beat("ahead:1:d", -2*time.Second)
	if err := s.backgroundJobs(ctx); err != nil {
		t.Errorf("a beat newer than the sampler's clock: %v", err)
	}
}
