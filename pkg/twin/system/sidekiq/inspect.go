package sidekiq

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// The helpers below read Sidekiq's keys the way the harness does (plain Redis commands); the
// twin's servers do not need them.

// QueueLengths is LLEN queue:<q> for every queue in Queues and in the `queues` set.
func QueueLengths(ctx context.Context, rdb redis.UniversalClient) (map[string]int64, error) {
	known, err := rdb.SMembers(ctx, KeyQueues).Result()
	if err != nil {
		return nil, fmt.Errorf("sidekiq: SMEMBERS queues: %w", err)
	}
	names := append(slices.Clone(Queues), known...)
	slices.Sort(names)
	names = slices.Compact(names)
	cmds := make([]*redis.IntCmd, len(names))
	if _, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, q := range names {
			cmds[i] = p.LLen(ctx, QueueKey(q))
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("sidekiq: LLEN queues: %w", err)
	}
	out := make(map[string]int64, len(names))
	for i, q := range names {
		out[q] = cmds[i].Val()
	}
	return out, nil
}

// QueuedJobs lists queue:<q> from the oldest job (the next one served) to the newest.
func QueuedJobs(ctx context.Context, rdb redis.UniversalClient, queue string) ([]Job, error) {
	members, err := rdb.LRange(ctx, QueueKey(queue), 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("sidekiq: LRANGE %s: %w", QueueKey(queue), err)
	}
	jobs := make([]Job, 0, len(members))
	for i := len(members) - 1; i >= 0; i-- {
		j, err := ParseJob([]byte(members[i]))
		if err != nil {
			return nil, err
		}
		jobs = append(jobs, j)
	}
	return jobs, nil
}

// Entry is one member of `retry`, `schedule` or `dead`: the job and its score (the time it is
// due, or for `dead` the time it died).
type Entry struct {
	At  time.Time
	Job Job
}

// RetrySet lists `retry`, soonest due first.
func RetrySet(ctx context.Context, rdb redis.UniversalClient) ([]Entry, error) {
	return SortedSet(ctx, rdb, KeyRetry)
}

// DeadSet lists `dead`, oldest first.
func DeadSet(ctx context.Context, rdb redis.UniversalClient) ([]Entry, error) {
	return SortedSet(ctx, rdb, KeyDead)
}

// ScheduledSet lists `schedule`, soonest due first.
func ScheduledSet(ctx context.Context, rdb redis.UniversalClient) ([]Entry, error) {
	return SortedSet(ctx, rdb, KeySchedule)
}

// SortedSet lists one of Sidekiq's job ZSETs in score order.
func SortedSet(ctx context.Context, rdb redis.UniversalClient, key string) ([]Entry, error) {
	zs, err := rdb.ZRangeWithScores(ctx, key, 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("sidekiq: ZRANGE %s: %w", key, err)
	}
	out := make([]Entry, 0, len(zs))
	for _, z := range zs {
		m, _ := z.Member.(string)
		j, err := ParseJob([]byte(m))
		if err != nil {
			return nil, fmt.Errorf("sidekiq: member of %s: %w", key, err)
		}
		out = append(out, Entry{At: time.UnixMicro(int64(z.Score * 1e6)), Job: j})
	}
	return out, nil
}

// Process is one live server as its heartbeat describes it.
type Process struct {
	Identity string
	Info     ProcessInfo
	Busy     int
	Beat     time.Time
	Quiet    bool
}

// Processes lists the members of `processes` whose identity hash still exists (a server that
// stopped beating disappears once its 60s TTL passes), sorted by identity.
func Processes(ctx context.Context, rdb redis.UniversalClient) ([]Process, error) {
	ids, err := rdb.SMembers(ctx, KeyProcesses).Result()
	if err != nil {
		return nil, fmt.Errorf("sidekiq: SMEMBERS processes: %w", err)
	}
	slices.Sort(ids)
	cmds := make([]*redis.MapStringStringCmd, len(ids))
	if _, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.HGetAll(ctx, id)
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("sidekiq: HGETALL processes: %w", err)
	}
	var out []Process
	for i, id := range ids {
		h := cmds[i].Val()
		if len(h) == 0 {
			continue
		}
		p := Process{Identity: id, Quiet: h["quiet"] == "true"}
		if err := json.Unmarshal([]byte(h["info"]), &p.Info); err != nil {
			return nil, fmt.Errorf("sidekiq: info of %s: %w", id, err)
		}
		p.Busy, _ = strconv.Atoi(h["busy"])
		if f, err := strconv.ParseFloat(h["beat"], 64); err == nil {
			p.Beat = time.UnixMicro(int64(f * 1e6))
		}
		out = append(out, p)
	}
	return out, nil
}

// Stats reads stat:processed and stat:failed (0 when absent).
func Stats(ctx context.Context, rdb redis.UniversalClient) (processed, failed int64, err error) {
	vals, err := rdb.MGet(ctx, KeyProcessed, KeyFailed).Result()
	if err != nil {
		return 0, 0, fmt.Errorf("sidekiq: MGET stats: %w", err)
	}
	n := func(v any) int64 {
		s, _ := v.(string)
		i, _ := strconv.ParseInt(s, 10, 64)
		return i
	}
	return n(vals[0]), n(vals[1]), nil
}
