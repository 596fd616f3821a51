package sidekiq

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// MetricsKey is the HASH of one UTC minute's execution counts, "j|YYYYMMDD|H:M" (hour and
// minute without leading zeros): field "<class>|p" counts the jobs of the class processed in
// that minute, "<class>|f" those that failed, "<class>|ms" the milliseconds the successful ones
// took. The class is the wrapped one for ActiveJob jobs. In Sidekiq 7.3.2 (the version
// porta@3scale-2.16.4-GA:Gemfile.lock:814 bundles) the server middleware counts every job it
// runs, and each heartbeat flushes the counts with HINCRBY and an 8-hour EXPIRE
// (sidekiq@v7.3.2:lib/sidekiq/metrics/tracking.rb:21-50 track, :57-99 flush, :133-135
// hash["wrapped"] || hash["class"], :145-147 flush on :beat; loaded by lib/sidekiq/cli.rb:425).
// It is the only trace a job that ran leaves in Redis.
func MetricsKey(t time.Time) string {
	t = t.UTC()
	return fmt.Sprintf("j|%s|%d:%d", t.Format("20060102"), t.Hour(), t.Minute())
}

// classMetrics are the counts not flushed yet, by "<class>|p", "<class>|f" and "<class>|ms".
type classMetrics struct {
	mu     sync.Mutex
	counts map[string]int64
}

// add counts one job of class run for ms milliseconds; a failed one counts as processed and
// failed and adds no time (tracking.rb:31-34: time is tracked only for successful jobs).
func (m *classMetrics) add(class string, failed bool, ms int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.counts == nil {
		m.counts = map[string]int64{}
	}
	m.counts[class+"|p"]++
	if failed {
		m.counts[class+"|f"]++
	} else {
		m.counts[class+"|ms"] += ms
	}
}

// take returns the counts and starts new ones.
func (m *classMetrics) take() map[string]int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.counts
	m.counts = nil
	return c
}

// putBack returns counts that could not be written, for the next flush.
func (m *classMetrics) putBack(c map[string]int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.counts == nil {
		m.counts = map[string]int64{}
	}
	for k, v := range c {
		m.counts[k] += v
	}
}

// writeMetrics queues the HINCRBYs of one flush on the minute's hash and its expiry.
func writeMetrics(ctx context.Context, p redis.Pipeliner, counts map[string]int64, now time.Time) {
	if len(counts) == 0 {
		return
	}
	key := MetricsKey(now)
	for field, n := range counts {
		p.HIncrBy(ctx, key, field, n)
	}
	p.Expire(ctx, key, metricsTTL)
}
