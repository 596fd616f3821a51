package sidekiq

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultRetryIn is Sidekiq's default delay before retry count (0-based):
// count**4 + 15 + rand(10)*(count+1) seconds.
func DefaultRetryIn(count int) time.Duration {
	c := int64(count)
	secs := c*c*c*c + 15 + rand.Int64N(10)*(c+1)
	return time.Duration(secs) * time.Second
}

// ZyncWorkerRetryIn is porta's ZyncWorker delay (§5.1): (count**4 + 15 + rand(30)*(count+1)) / 3
// seconds (integer division, as in Ruby), plus Sidekiq's own jitter rand(10)*(count+1) seconds.
// 25 retries span about 6.8 days.
func ZyncWorkerRetryIn(count int) time.Duration {
	c := int64(count)
	secs := (c*c*c*c+15+rand.Int64N(30)*(c+1))/3 + rand.Int64N(10)*(c+1)
	return time.Duration(secs) * time.Second
}

func (s *server) retryIn(name string, count int) time.Duration {
	if f := s.cfg.RetryIn[name]; f != nil {
		return max(f(count), 0)
	}
	return DefaultRetryIn(count)
}

// fail records a failure on the payload the way Sidekiq's retry middleware does and files the
// job in `retry` (due after RetryIn) or, once its retries are exhausted, in `dead`.
func (s *server) fail(p *payload, job Job, herr error) {
	limit := p.maxRetries(s.maxRetries)
	if limit < 0 { // "retry": false: Sidekiq drops the job
		s.log.Warn("sidekiq: job failed, retry disabled, dropped", "class", job.Name(), "jid", job.JID, "err", herr)
		return
	}
	now := nowEpoch()
	msg := herr.Error()
	if len(msg) > maxErrorLen {
		msg = msg[:maxErrorLen]
	}
	p.set("error_message", msg)
	p.set("error_class", errorClass(herr))
	count := 0
	if _, ok := p.fields["retry_count"]; ok {
		count = job.RetryCount + 1
		p.set("retried_at", rawFloat(now))
	} else {
		p.set("failed_at", rawFloat(now))
	}
	p.set("retry_count", count)
	data := p.encode()

	if count < limit {
		delay := s.retryIn(job.Name(), count)
		at := now + delay.Seconds()
		s.log.Info("sidekiq: job failed, will retry", "class", job.Name(), "jid", job.JID, "retry_count", count, "in", delay, "err", herr)
		s.persist("retry", func(ctx context.Context) error {
			return s.rdb.ZAdd(ctx, KeyRetry, redis.Z{Score: at, Member: data}).Err()
		})
		return
	}
	s.log.Warn("sidekiq: job retries exhausted, moved to dead", "class", job.Name(), "jid", job.JID, "retry_count", count, "err", herr)
	s.persist("kill", func(ctx context.Context) error { return s.killRaw(ctx, data) })
}

// killRaw adds a payload to `dead` and trims the set to Sidekiq's limits (10,000 jobs, 6 months).
func (s *server) killRaw(ctx context.Context, data []byte) error {
	now := nowEpoch()
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.ZAdd(ctx, KeyDead, redis.Z{Score: now, Member: data})
		p.ZRemRangeByScore(ctx, KeyDead, "-inf", formatEpoch(now-deadTimeout.Seconds()))
		p.ZRemRangeByRank(ctx, KeyDead, 0, -deadMaxJobs-1)
		return nil
	})
	return err
}

// moveDue removes one member from a sorted set and pushes its new payload onto its queue in one
// step, so that two servers polling the same set never both enqueue it, and a crash between the
// two never loses it.
var moveDue = redis.NewScript(`
if redis.call('ZREM', KEYS[1], ARGV[1]) == 1 then
  redis.call('LPUSH', KEYS[2], ARGV[2])
  redis.call('SADD', KEYS[3], ARGV[3])
  return 1
end
return 0
`)

const pollBatch = 100

// pollLoop moves due jobs from `schedule` and `retry` back to their queues every
// ~PollInterval (randomised around it, as Sidekiq spreads its pollers) until ctx ends.
func (s *server) pollLoop(ctx context.Context) {
	var b backoff
	for {
		if err := s.enqueueDue(ctx); err != nil && ctx.Err() == nil {
			s.redisError("poll", err)
			b.wait(ctx)
			continue
		}
		b.reset()
		t := time.NewTimer(jittered(s.cfg.PollInterval))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

func (s *server) enqueueDue(ctx context.Context) error {
	for _, key := range []string{KeySchedule, KeyRetry} {
		for {
			now := formatEpoch(nowEpoch())
			members, err := s.rdb.ZRangeByScore(ctx, key, &redis.ZRangeBy{Min: "-inf", Max: now, Count: pollBatch}).Result()
			if err != nil {
				return err
			}
			moved := 0
			for _, m := range members {
				var p payload
				if err := p.decode([]byte(m)); err != nil {
					s.log.Error("sidekiq: unreadable member left in place", "set", key, "err", err)
					continue
				}
				q := p.str("queue")
				if q == "" {
					q = "default"
				}
				p.set("enqueued_at", rawFloat(nowEpoch()))
				n, err := moveDue.Run(ctx, s.rdb, []string{key, QueueKey(q), KeyQueues}, m, p.encode(), q).Int()
				if err != nil {
					return err
				}
				if n == 1 {
					moved++
					s.log.Debug("sidekiq: due job enqueued", "set", key, "queue", q, "jid", p.str("jid"))
				}
			}
			if len(members) < pollBatch || moved == 0 {
				break
			}
		}
	}
	s.redisOK()
	return nil
}
