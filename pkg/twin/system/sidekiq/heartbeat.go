package sidekiq

import (
	"context"
	"encoding/json"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// ProcessInfo is the JSON a server writes in the `info` field of its identity hash.
type ProcessInfo struct {
	Hostname    string   `json:"hostname"`
	StartedAt   float64  `json:"started_at"`
	PID         int      `json:"pid"`
	Tag         string   `json:"tag"`
	Concurrency int      `json:"concurrency"`
	Queues      []string `json:"queues"`
	Labels      []string `json:"labels"`
	Identity    string   `json:"identity"`
	Version     string   `json:"version"`
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// heartbeatLoop beats at once and then every Heartbeat until ctx ends, and prunes identities
// whose hash has expired (servers killed without a clean shutdown) about once a minute: the
// launcher's start_heartbeat and ❤ in Sidekiq 7.3.2, the version porta@3scale-2.16.4-GA bundles
// (Gemfile.lock:814; sidekiq@v7.3.2 lib/sidekiq/launcher.rb:86-99 BEAT_PAUSE 10 s, :140-177 one
// MULTI that writes the identity hash and its work hash, each expiring after 60 s).
//
// A beat that comes late (over twice the period after the last one that was written) or takes
// over a second is logged at warn level: the identity hash lives 60 s, so six missed beats make
// the process look dead to Sidekiq's web UI and to the harness.
func (s *server) heartbeatLoop(ctx context.Context) {
	var lastPrune, lastBeat time.Time
	for {
		start := time.Now()
		if err := s.beat(ctx); err != nil {
			if ctx.Err() == nil {
				s.redisError("heartbeat", err)
			}
		} else {
			took := time.Since(start)
			if gap := start.Sub(lastBeat); !lastBeat.IsZero() && gap > 2*s.cfg.Heartbeat || took > time.Second {
				s.log.Warn("sidekiq: heartbeat late", "sinceLastBeat", gap.Round(time.Millisecond).String(), "took", took.Round(time.Millisecond).String())
			}
			lastBeat = time.Now()
			s.redisOK()
			if time.Since(lastPrune) >= time.Minute {
				lastPrune = time.Now()
				if err := pruneProcesses(ctx, s.rdb); err != nil && ctx.Err() == nil {
					s.log.Debug("sidekiq: prune processes", "err", err)
				}
			}
		}
		t := time.NewTimer(s.cfg.Heartbeat)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// beat flushes the counters and refreshes the identity hash, `processes` and <identity>:work in
// one MULTI. Counters that could not be written are kept for the next beat.
func (s *server) beat(ctx context.Context) error {
	procd, fails := s.processed.Swap(0), s.failed.Swap(0)
	metrics := s.metrics.take()
	s.mu.Lock()
	work := make(map[string]any, len(s.work))
	for tid, w := range s.work {
		work[strconv.FormatInt(int64(tid)+1000, 36)] = mustJSON(map[string]any{
			"queue": w.queue, "payload": w.payload, "run_at": int64(w.runAt),
		})
	}
	s.mu.Unlock()
	workKey := s.identity + ":work"
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		writeStats(ctx, p, procd, fails)
		writeMetrics(ctx, p, metrics, time.Now())
		p.Unlink(ctx, workKey)
		if len(work) > 0 {
			p.HSet(ctx, workKey, work)
			p.Expire(ctx, workKey, processTTL)
		}
		p.SAdd(ctx, KeyProcesses, s.identity)
		p.HSet(ctx, s.identity,
			"info", s.info,
			"busy", len(work),
			"beat", formatEpoch(nowEpoch()),
			"quiet", strconv.FormatBool(s.stopping.Load()),
		)
		p.Expire(ctx, s.identity, processTTL)
		return nil
	})
	if err != nil {
		s.processed.Add(procd)
		s.failed.Add(fails)
		s.metrics.putBack(metrics)
	}
	return err
}

func writeStats(ctx context.Context, p redis.Pipeliner, procd, fails int64) {
	date := time.Now().UTC().Format("2006-01-02")
	for _, c := range []struct {
		key string
		n   int64
	}{{KeyProcessed, procd}, {KeyFailed, fails}} {
		if c.n == 0 {
			continue
		}
		p.IncrBy(ctx, c.key, c.n)
		p.IncrBy(ctx, c.key+":"+date, c.n)
		p.Expire(ctx, c.key+":"+date, statsTTL)
	}
}

// clearHeartbeat flushes the last counters and removes the server from `processes`, with its
// identity hash and work hash, after a clean shutdown.
func (s *server) clearHeartbeat() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	procd, fails := s.processed.Swap(0), s.failed.Swap(0)
	metrics := s.metrics.take()
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		writeStats(ctx, p, procd, fails)
		writeMetrics(ctx, p, metrics, time.Now())
		p.SRem(ctx, KeyProcesses, s.identity)
		p.Unlink(ctx, s.identity, s.identity+":work")
		return nil
	})
	if err != nil {
		s.log.Warn("sidekiq: could not clear heartbeat; the identity expires in 60s", "err", err,
			"processed", procd, "failed", fails)
	}
}

// pruneProcesses removes from `processes` identities whose hash has expired. Like Sidekiq, at
// most one process does it per minute (a 60s lock key).
func pruneProcesses(ctx context.Context, rdb redis.UniversalClient) error {
	ok, err := rdb.SetNX(ctx, "process_cleanup", "1", time.Minute).Result()
	if err != nil || !ok {
		return err
	}
	ids, err := rdb.SMembers(ctx, KeyProcesses).Result()
	if err != nil || len(ids) == 0 {
		return err
	}
	cmds, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, id := range ids {
			p.Exists(ctx, id)
		}
		return nil
	})
	if err != nil {
		return err
	}
	var gone []any
	for i, c := range cmds {
		if c.(*redis.IntCmd).Val() == 0 {
			gone = append(gone, ids[i])
		}
	}
	if len(gone) == 0 {
		return nil
	}
	return rdb.SRem(ctx, KeyProcesses, gone...).Err()
}
