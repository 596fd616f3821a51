package backend

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// CronConfig configures backend-cron.
type CronConfig struct {
	// RedisURL is the storage DB (stats and the deleted-services set).
	RedisURL string
	// QueuesRedisURL is the Resque DB (resque:failed and the queues); empty means RedisURL.
	QueuesRedisURL string
	// RedisTimeout bounds each Redis dial, read and write; zero means DefaultRedisTimeout.
	RedisTimeout time.Duration
	// RescheduleEvery is the period of failed-job rescheduling; zero means 300 s, apisonator's
	// RESCHEDULE_JOBS_FREQ default (research/apicast-apisonator.md §5).
	RescheduleEvery time.Duration
	// DeleteStatsEvery is the period of the stats purge; zero means 24 h (DELETE_STATS_FREQ).
	DeleteStatsEvery time.Duration
	// Logger receives the task summaries; nil means slog.Default().
	Logger *slog.Logger
}

// Rescheduling limits of FailedJobsScheduler (§5): a 30 s lock, at most 20 000 jobs per run,
// and stop when less than 7.5 s of the lock is left.
const (
	rescheduleLockTTL   = 30 * time.Second
	rescheduleMaxJobs   = 20000
	rescheduleLockSlack = 7500 * time.Millisecond
)

// RunCron runs backend-cron's two tasks until ctx ends: failed-job rescheduling and the stats
// purge of deleted services. Each runs immediately at start and then every period, so a cron
// pod that comes back catches up at once (§5). A task that fails (Redis down) is logged and
// tried again at its next tick.
func RunCron(ctx context.Context, cfg CronConfig) error {
	st, err := openStores(cfg.RedisURL, cfg.QueuesRedisURL, cfg.RedisTimeout)
	if err != nil {
		return fmt.Errorf("backend-cron: %w", err)
	}
	defer st.close()
	if cfg.RescheduleEvery <= 0 {
		cfg.RescheduleEvery = 300 * time.Second
	}
	if cfg.DeleteStatsEvery <= 0 {
		cfg.DeleteStatsEvery = 24 * time.Hour
	}
	log := loggerOr(cfg.Logger).With("component", "backend-cron")
	var wg sync.WaitGroup
	every := func(d time.Duration, task func(context.Context)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				task(ctx)
				if !sleepCtx(ctx, d) {
					return
				}
			}
		}()
	}
	every(cfg.RescheduleEvery, func(ctx context.Context) {
		res, err := rescheduleFailedJobs(ctx, st.queues)
		if err != nil {
			log.Error("reschedule_failed_jobs", "err", err)
			return
		}
		if !res.locked {
			log.Info("reschedule_failed_jobs: another process holds the lock")
			return
		}
		log.Info(fmt.Sprintf("Rescheduled: %d. Failed and discarded: %d. Pending failed jobs: %d.",
			res.rescheduled, res.discarded, res.pending))
	})
	every(cfg.DeleteStatsEvery, func(ctx context.Context) {
		n, err := purgeDeletedServicesStats(ctx, st.storage)
		if err != nil {
			log.Error("stats:cleanup", "err", err)
			return
		}
		log.Info("stats:cleanup", "keys_deleted", n)
	})
	wg.Wait()
	return nil
}

type rescheduleResult struct {
	locked                          bool
	rescheduled, discarded, pending int64
}

// requeueScript moves the head of resque:failed back onto its queue atomically, and only if
// the head is still the entry the caller decided about; so two crons, or a crash between the
// steps, can neither lose nor duplicate a job. An empty ARGV[2] discards the entry.
var requeueScript = redis.NewScript(`
if redis.call('LINDEX', KEYS[1], 0) ~= ARGV[1] then return 0 end
redis.call('LPOP', KEYS[1])
if ARGV[2] ~= '' then
  redis.call('RPUSH', KEYS[2], ARGV[2])
  redis.call('SADD', KEYS[3], ARGV[3])
end
return 1`)

var unlockScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`)

// rescheduleFailedJobs is FailedJobsScheduler.reschedule_failed_jobs: under a distributed lock,
// put each failed job's payload back on the queue it failed on. Entries whose payload is not a
// job are discarded, as apisonator drops jobs it cannot decode.
func rescheduleFailedJobs(ctx context.Context, q *redis.Client) (rescheduleResult, error) {
	var res rescheduleResult
	token := randomKey()
	ok, err := q.SetNX(ctx, rescheduleLockKey, token, rescheduleLockTTL).Result()
	if err != nil || !ok {
		return res, err
	}
	res.locked = true
	deadline := time.Now().Add(rescheduleLockTTL - rescheduleLockSlack)
	defer func() {
		c, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		_ = unlockScript.Run(c, q, []string{rescheduleLockKey}, token).Err()
	}()
	for i := 0; i < rescheduleMaxJobs && time.Now().Before(deadline); i++ {
		head, err := q.LIndex(ctx, FailedList, 0).Result()
		if errors.Is(err, redis.Nil) {
			break
		}
		if err != nil {
			return res, err
		}
		queueKey, payload := requeueTarget(head)
		n, err := requeueScript.Run(ctx, q, []string{FailedList, queueKey, queuesSetKey},
			head, payload, strings.TrimPrefix(queueKey, queueKeyBase)).Int()
		if err != nil {
			return res, err
		}
		switch {
		case n == 0: // the head changed under us; look again
		case payload == "":
			res.discarded++
		default:
			res.rescheduled++
		}
	}
	res.pending, err = q.LLen(ctx, FailedList).Result()
	return res, err
}

// requeueTarget reads a resque:failed entry: the queue key to push to and the job payload, or
// an empty payload when the entry is not a job.
func requeueTarget(entry string) (queueKey, payload string) {
	var f struct {
		Payload json.RawMessage `json:"payload"`
		Queue   string          `json:"queue"`
	}
	queueKey = QueuePriority
	if json.Unmarshal([]byte(entry), &f) != nil {
		return queueKey, ""
	}
	if f.Queue != "" {
		queueKey = queueKeyBase + f.Queue
	}
	var job struct {
		Class string `json:"class"`
	}
	if json.Unmarshal(f.Payload, &job) != nil || job.Class == "" {
		return queueKey, ""
	}
	return queueKey, string(f.Payload)
}

// globEscaper quotes the characters SCAN MATCH treats specially.
var globEscaper = strings.NewReplacer(`\`, `\\`, "*", `\*`, "?", `\?`, "[", `\[`, "]", `\]`)

// purgeDeletedServicesStats is stats:cleanup (Stats::Cleaner.delete!): for every service in
// set_with_services_marked_for_deletion, delete its stats/{service:ID}/ keys except
// .../cinstances, then drop it from the set (§5; apisonator@3scale-2.16.4-GA:
// lib/3scale/backend/stats/cleaner.rb:81-96,174-235). The real cleaner scans the keyspace once
// for all the marked services and removes the marks together at the end, only when no Redis
// failed; this one scans per service and unmarks each as it finishes. Both delete a service's
// keys before its mark and leave the mark when a Redis call fails, which is what the
// harness's stats-purge reads.
func purgeDeletedServicesStats(ctx context.Context, rdb *redis.Client) (int64, error) {
	sids, err := rdb.SMembers(ctx, DeletedServicesSet).Result()
	if err != nil {
		return 0, err
	}
	var deleted int64
	for _, sid := range sids {
		pattern := globEscaper.Replace(statsPrefix(sid)) + "*"
		var cursor uint64
		for {
			keys, next, err := rdb.Scan(ctx, cursor, pattern, 1000).Result()
			if err != nil {
				return deleted, err
			}
			var del []string
			for _, k := range keys {
				if !strings.HasSuffix(k, "/cinstances") {
					del = append(del, k)
				}
			}
			if len(del) > 0 {
				n, err := rdb.Del(ctx, del...).Result()
				if err != nil {
					return deleted, err
				}
				deleted += n
			}
			cursor = next
			if cursor == 0 {
				break
			}
		}
		if err := rdb.SRem(ctx, DeletedServicesSet, sid).Err(); err != nil {
			return deleted, err
		}
	}
	return deleted, nil
}
