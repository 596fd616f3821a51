package threescale

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/threescale-chaos/harness/internal/testsupport"
)

func TestPurgePlant(t *testing.T) {
	testsupport.QuietRedisLogs()
	rdb := testsupport.RedisClient(t)
	ctx := context.Background()
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	pl := NewPurgePlant("20261205120000abcdef", now)
	if !strings.HasPrefix(pl.ServiceID, "chaos_20261205120000abcdef_purge") {
		t.Fatalf("service id %q", pl.ServiceID)
	}
	want := []string{"stats/{service:" + pl.ServiceID + "}/metric:0/eternity", "stats/{service:" + pl.ServiceID + "}/metric:0/year:20260101"}
	if strings.Join(pl.Keys, " ") != strings.Join(want, " ") {
		t.Fatalf("keys %q, want %q", pl.Keys, want)
	}
	if err := pl.Plant(ctx, rdb); err != nil {
		t.Fatal(err)
	}
	st, err := pl.State(ctx, rdb)
	if err != nil || !st.Pending() || st.Keys != 2 {
		t.Fatalf("after planting: %v %v", st, err)
	}
	// A purge under way deletes the keys first; then the mark goes.
	rdb.Del(ctx, pl.Keys...)
	if st, _ := pl.State(ctx, rdb); st.Pending() || st.Purged() || st.Orphaned() {
		t.Errorf("keys gone, still marked: %v", st)
	}
	rdb.SRem(ctx, DeletedServicesSet, pl.ServiceID)
	if st, _ := pl.State(ctx, rdb); !st.Purged() {
		t.Errorf("purged: %v", st)
	}
	// A mark lost with the keys left is the state no purge leaves.
	rdb.Set(ctx, pl.Keys[0], 1, 0)
	if st, _ := pl.State(ctx, rdb); !st.Orphaned() {
		t.Errorf("keys without a mark: %v", st)
	}
}

// RemovePurgePlants removes this run's plants, marks and keys, and nothing else: another run's
// plant, a real service's mark and its statistics stay.
func TestRemovePurgePlants(t *testing.T) {
	testsupport.QuietRedisLogs()
	rdb := testsupport.RedisClient(t)
	ctx := context.Background()
	now := time.Now()
	ours := []PurgePlant{NewPurgePlant("run1", now), NewPurgePlant("run1", now.Add(time.Nanosecond))}
	other := NewPurgePlant("run2", now)
	for _, p := range append(ours, other) {
		if err := p.Plant(ctx, rdb); err != nil {
			t.Fatal(err)
		}
	}
	rdb.SAdd(ctx, DeletedServicesSet, "42")
	rdb.Set(ctx, "stats/{service:42}/metric:7/eternity", 5, 0)

	n, err := RemovePurgePlants(ctx, rdb, "run1")
	if err != nil || n != 2 {
		t.Fatalf("removed %d, err %v; want 2", n, err)
	}
	members, _ := rdb.SMembers(ctx, DeletedServicesSet).Result()
	keys, _ := rdb.Keys(ctx, "stats/*").Result()
	if len(members) != 2 || len(keys) != 3 {
		t.Errorf("left: marks %v, keys %v; want 42's and run2's", members, keys)
	}
	for _, k := range append(members, keys...) {
		if strings.Contains(k, "run1") {
			t.Errorf("run1's %q is still there", k)
		}
	}
	if _, err := RemovePurgePlants(ctx, rdb, ""); err == nil {
		t.Error("no token: want an error, not a removal of every run's plants")
	}
}
