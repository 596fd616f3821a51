package threescale

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// DeletedServicesSet is backend Redis's set of services whose statistics backend-cron must
// purge. DELETE /internal/services/:id/stats adds to it (porta's BackendDeleteServiceWorker
// calls it when a product is deleted), and cron's stats:cleanup task deletes every stats key
// of each member, then removes the members (apisonator@3scale-2.16.4-GA:
// app/api/internal/stats.rb:16-17, lib/3scale/backend/stats/cleaner.rb:56-58,81-96,174-207;
// porta@3scale-2.16.4-GA:app/workers/backend_delete_service_worker.rb:10-15).
const DeletedServicesSet = "set_with_services_marked_for_deletion"

// PurgePlant is a deleted service's statistics as the harness plants them in backend Redis's
// storage database, for backend-cron's purge to remove: the service marked for deletion, as
// DELETE /internal/services/:id/stats leaves it, and two stats keys in apisonator's layout.
// Its service id is not a number, so it is never one of the tenant's products, and carries
// the run's token, so the run can find and remove what it planted. Left behind by a killed
// run, a plant is what any deleted product leaves: cron's next purge removes it.
type PurgePlant struct {
	ServiceID string
	// Keys are the plant's stats keys: the service's eternity and year counters of metric 0,
	// as Stats::Keys.service_usage_value_key writes them (apisonator@3scale-2.16.4-GA:
	// lib/3scale/backend/stats/keys.rb:11-13,25-27,33-38,63-71; a year period starts on
	// 1 January, whose compact form drops the zero time: 20260101). Both parse with
	// Stats::StatsParser, so the cleaner's delete_key? selects them (cleaner.rb:209-235,
	// stats/stats_parser.rb).
	Keys []string
}

// PurgePlantPrefix is the start of every service id a run with this token plants.
func PurgePlantPrefix(token string) string { return "chaos_" + token + "_purge" }

// NewPurgePlant names a plant of the run with this token, unique within the run.
func NewPurgePlant(token string, now time.Time) PurgePlant {
	id := PurgePlantPrefix(token) + strconv.FormatInt(now.UnixNano(), 36)
	prefix := "stats/{service:" + id + "}/metric:0/"
	return PurgePlant{ServiceID: id, Keys: []string{prefix + "eternity", prefix + "year:" + strconv.Itoa(now.UTC().Year()) + "0101"}}
}

// Plant writes the stats keys, then marks the service for deletion, in one transaction.
func (p PurgePlant) Plant(ctx context.Context, storage *redis.Client) error {
	_, err := storage.TxPipelined(ctx, func(pl redis.Pipeliner) error {
		for _, k := range p.Keys {
			pl.Set(ctx, k, 1, 0)
		}
		pl.SAdd(ctx, DeletedServicesSet, p.ServiceID)
		return nil
	})
	return err
}

// PurgeState is what backend Redis shows of a plant.
type PurgeState struct {
	Marked bool
	// Keys is how many of its stats keys remain.
	Keys int
}

// Pending: marked, its keys waiting for the purge. Purged: unmarked, no key left. A purge
// under way deletes the keys before it unmarks the services (cleaner.rb:84-96), so marked
// with no key is a purge in progress. Unmarked with keys left is the one state the purge
// never leaves: the mark was lost and the keys will never be purged.
func (s PurgeState) Pending() bool { return s.Marked && s.Keys > 0 }
func (s PurgeState) Purged() bool  { return !s.Marked && s.Keys == 0 }
func (s PurgeState) Orphaned() bool {
	return !s.Marked && s.Keys > 0
}

func (s PurgeState) String() string {
	m := "marked"
	if !s.Marked {
		m = "not marked"
	}
	return fmt.Sprintf("%s, %d stats keys", m, s.Keys)
}

// State reads the plant's mark and counts its keys.
func (p PurgePlant) State(ctx context.Context, storage *redis.Client) (PurgeState, error) {
	var marked *redis.BoolCmd
	var exists *redis.IntCmd
	_, err := storage.Pipelined(ctx, func(pl redis.Pipeliner) error {
		marked = pl.SIsMember(ctx, DeletedServicesSet, p.ServiceID)
		exists = pl.Exists(ctx, p.Keys...)
		return nil
	})
	if err != nil {
		return PurgeState{}, err
	}
	return PurgeState{Marked: marked.Val(), Keys: int(exists.Val())}, nil
}

// RemovePurgePlants deletes every plant of the run with this token that backend-cron has not
// purged: its marks and its stats keys. It reads the set and the keyspace with SSCAN and SCAN
// (the set holds every service deleted since cron's last run; the keyspace is large).
func RemovePurgePlants(ctx context.Context, storage *redis.Client, token string) (int, error) {
	if token == "" {
		return 0, errors.New("remove purge plants: no run token")
	}
	prefix := PurgePlantPrefix(token)
	var ids []string
	it := storage.SScan(ctx, DeletedServicesSet, 0, prefix+"*", 500).Iterator()
	for it.Next(ctx) {
		ids = append(ids, it.Val())
	}
	if err := it.Err(); err != nil {
		return 0, err
	}
	var keys []string
	kit := storage.Scan(ctx, 0, "stats/{service:"+prefix+"*", 1000).Iterator()
	for kit.Next(ctx) {
		keys = append(keys, kit.Val())
	}
	if err := kit.Err(); err != nil {
		return 0, err
	}
	if len(ids) > 0 {
		if err := storage.SRem(ctx, DeletedServicesSet, ids).Err(); err != nil { // go-redis expands a []string
			return 0, err
		}
	}
	for len(keys) > 0 {
		n := min(len(keys), 500)
		if err := storage.Del(ctx, keys[:n]...).Err(); err != nil {
			return len(ids), err
		}
		keys = keys[n:]
	}
	return len(ids), nil
}
