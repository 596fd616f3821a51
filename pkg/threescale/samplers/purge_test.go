package samplers

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/threescale-chaos/harness/internal/testsupport"
	"github.com/threescale-chaos/harness/pkg/threescale"
	"github.com/threescale-chaos/harness/pkg/threescale/fixture"
)

func purgeEnv(t *testing.T) (*samplers, *redis.Client) {
	t.Helper()
	testsupport.QuietRedisLogs()
	rdb := testsupport.RedisClient(t)
	return &samplers{env: &threescale.Env{BackendStorage: rdb}, f: &fixture.Fixture{Token: "20261205120000abcdef"}, o: Options{}.withDefaults()}, rdb
}

// cronPurge does what stats:cleanup does: every marked service's stats keys deleted, then the
// marks removed.
func cronPurge(t *testing.T, rdb *redis.Client) {
	t.Helper()
	ctx := context.Background()
	for _, sid := range rdb.SMembers(ctx, threescale.DeletedServicesSet).Val() {
		if keys := rdb.Keys(ctx, "stats/{service:"+sid+"}/*").Val(); len(keys) > 0 {
			rdb.Del(ctx, keys...)
		}
	}
	rdb.Del(ctx, threescale.DeletedServicesSet)
}

// The sampler keeps one plant pending: it plants when none is, accepts a purge, plants again,
// and fails when a plant's statistics outlive its mark.
func TestPurgeSampler(t *testing.T) {
	s, rdb := purgeEnv(t)
	ctx := context.Background()
	p := &purgeSampler{s: s}
	if err := p.sample(ctx); err != nil || len(p.plants) != 1 {
		t.Fatalf("first sample: %v, %d plants", err, len(p.plants))
	}
	if err := p.sample(ctx); err != nil || len(p.plants) != 1 {
		t.Fatalf("a pending plant: %v, %d plants; want no second plant", err, len(p.plants))
	}
	cronPurge(t, rdb)
	if err := p.sample(ctx); err != nil || len(p.plants) != 1 {
		t.Fatalf("after a purge: %v, %d plants; want the purged one dropped and a new one", err, len(p.plants))
	}
	rdb.SRem(ctx, threescale.DeletedServicesSet, p.plants[0].ServiceID)
	err := p.sample(ctx)
	if err == nil || !strings.Contains(err.Error(), "not marked, 2 stats keys; its statistics will never be purged") {
		t.Errorf("mark lost, keys left: %v", err)
	}
}

// The work probe's plants count as applied only once cron purged them.
func TestPurgeProbe(t *testing.T) {
	s, rdb := purgeEnv(t)
	ctx := context.Background()
	p := &purgeProbe{s: s, o: WorkOptions{Units: 3, Settle: time.Second}.withDefaults()}
	if err := p.Baseline(ctx); err != nil {
		t.Fatal(err)
	}
	if err := p.Submit(ctx); err != nil {
		t.Fatal(err)
	}
	wc, err := p.Check(ctx, time.Second)
	if err != nil || wc.Submitted != 3 || wc.Applied != 0 || !strings.Contains(wc.Detail, "last seen: chaos_20261205120000abcdef_purge") {
		t.Fatalf("before cron ran: %+v, %v", wc, err)
	}
	cronPurge(t, rdb)
	wc, err = p.Check(ctx, time.Second)
	if err != nil || wc.Applied != 3 || wc.Detail != "3 of 3 purged by backend-cron (stats keys deleted, mark removed)" {
		t.Fatalf("after cron ran: %+v, %v", wc, err)
	}
}
