package samplers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/threescale-chaos/harness/pkg/probe"
)

// notificationMailJob is the job a buyer signup queues for its mail: the account_created
// notification's ProcessNotificationEventWorker, a native Sidekiq job without sidekiq_options,
// so on queue default, args [event_id] (porta@3scale-2.16.4-GA:app/lib/signup/account_manager.rb:33,77-80
// publishes Accounts::AccountCreatedEvent in the signup transaction;
// app/lib/event_store/repository.rb:124,186-188 and
// app/subscribers/publish_notification_event_subscriber.rb:12-15 turn it into a
// NotificationEvent, queued at the commit by app/subscribers/after_commit_subscriber.rb:36-44 and
// app/events/notification_event.rb:20-22; app/workers/process_notification_event_worker.rb:4-11).
// It has UserNotificationWorker send NotificationMailer's mail to each provider user
// (:45-49; app/services/notification_delivery_service.rb:61-63). The API signup sends no
// deliver_later mail of its own (signup_type :minimal, app/controllers/admin/api/signups_controller.rb:18-20,
// app/observers/user_observer.rb:10-16; the approval mail needs a plan requiring approval,
// app/models/account/states.rb:177-186). The same at 3scale-2.15.1-GA.
const (
	notificationMailJob   = "ProcessNotificationEventWorker"
	notificationMailQueue = "default"
)

// clockSlack allows for the clocks of the harness and of system-app to differ: a job counts as
// the sample's when it was created at most this long before the sample began.
const clockSlack = 2 * time.Second

// mailSampler signs up one buyer account per sample and looks for its notification mail job.
type mailSampler struct {
	s   *samplers
	mu  sync.Mutex
	seq int
}

func (x *mailSampler) sample(ctx context.Context) error {
	s := x.s
	x.mu.Lock()
	x.seq++
	org := fmt.Sprintf("chaosmail%sn%d%s", s.f.Token, x.seq, randomHex(2))
	x.mu.Unlock()
	start := time.Now()
	rctx, cancel := context.WithTimeout(ctx, s.o.Timeout)
	base, berr := mailMetrics(rctx, s.env.SystemRedis, start)
	cancel()
	// The write is made even when system-redis did not answer, so that the sample says what
	// the write did (with system-redis down porta answers 500 and saves nothing).
	id, err := s.signup(ctx, org)
	if id != 0 {
		defer func() {
			_ = s.call(context.WithoutCancel(ctx), http.MethodDelete, fmt.Sprintf("/admin/api/accounts/%d.json", id), nil, nil)
		}()
	}
	if err != nil {
		return err
	}
	if berr != nil {
		return storeFailure("system-redis HGET j|<minute>", berr)
	}
	return s.waitFor(ctx, notificationMailJob+" for the signup of "+org, func(ctx context.Context) (bool, string) {
		rctx, cancel := context.WithTimeout(ctx, s.o.Timeout)
		defer cancel()
		where, err := findMailJob(rctx, s.env.SystemRedis, start.Add(-clockSlack), base)
		if err != nil {
			return false, "system-redis: " + probe.ErrorDetail(err)
		}
		return where != "", "not in queue:" + notificationMailQueue + ", the retry set or Sidekiq's metrics"
	})
}

// signup signs up org as a buyer account with an application on the plain plan and returns
// its id. A signup that answered an error may have saved the account (500 after the commit,
// when an after-commit callback failed: its notification is queued all the same), so it is
// looked up; the id is 0 when no account exists.
func (s *samplers) signup(ctx context.Context, org string) (int64, error) {
	var acc struct {
		Account struct {
			ID int64 `json:"id"`
		} `json:"account"`
	}
	err := s.call(ctx, http.MethodPost, "/admin/api/signup.json", url.Values{"org_name": {org}, "username": {org},
		"email": {org + "@chaos.example.com"}, "password": {randomHex(12)}, "application_plan_id": {strconv.FormatInt(s.f.PlanID, 10)}}, &acc)
	if err == nil {
		return acc.Account.ID, nil
	}
	if s.call(ctx, http.MethodGet, "/admin/api/accounts/find.json", url.Values{"username": {org}}, &acc) == nil && acc.Account.ID != 0 {
		return acc.Account.ID, nil
	}
	return 0, err
}

// mailMetrics reads how many notification mail jobs Sidekiq's execution metrics count as
// processed in the minutes up to t, by metrics key. A job that ran just before t may be
// flushed only after it (at the next heartbeat), and then counts for the sample that began
// at t: the metrics name the class, not the job.
func mailMetrics(ctx context.Context, rdb *redis.Client, t time.Time) (map[string]int64, error) {
	out := map[string]int64{}
	for m := t.Add(-2 * time.Minute); !m.After(t); m = m.Add(time.Minute) {
		key := sidekiqMetricsKey(m)
		n, err := rdb.HGet(ctx, key, notificationMailJob+"|p").Int64()
		if err != nil && !errors.Is(err, redis.Nil) {
			return nil, err
		}
		out[key] = n
	}
	return out, nil
}

// sidekiqMetricsKey is the hash of one UTC minute of Sidekiq 7's execution metrics,
// "j|YYYYMMDD|H:M": field "<class>|p" counts the jobs of the class processed in that minute
// (the wrapped class for ActiveJob), flushed by each heartbeat, about every 10s, and kept 8
// hours (sidekiq@v7.3.2:lib/sidekiq/metrics/tracking.rb:46-48,57-99,133-135,145-147;
// lib/sidekiq/launcher.rb:86). It is the only trace a job that ran leaves in Redis.
func sidekiqMetricsKey(t time.Time) string {
	t = t.UTC()
	return fmt.Sprintf("j|%s|%d:%d", t.Format("20060102"), t.Hour(), t.Minute())
}

// findMailJob says where a notification mail job created since `since` is: waiting in its
// queue, in the retry set, or processed (the metrics count more than base); "" when nowhere.
func findMailJob(ctx context.Context, rdb *redis.Client, since time.Time, base map[string]int64) (string, error) {
	// Sidekiq LPUSHes (sidekiq@v7.3.2:lib/sidekiq/client.rb:263-267), so the newest jobs
	// are at the head; a job of this sample is among the first few hundred.
	raw, err := rdb.LRange(ctx, "queue:"+notificationMailQueue, 0, 499).Result()
	if err != nil {
		return "", err
	}
	for _, r := range raw {
		if j, ok := parseSidekiqJob(r); ok && j.name() == notificationMailJob && j.created().After(since) {
			return "queue:" + notificationMailQueue, nil
		}
	}
	retry, err := rdb.ZRangeByScore(ctx, "retry", &redis.ZRangeBy{Min: epochString(since), Max: "+inf"}).Result()
	if err != nil {
		return "", err
	}
	for _, r := range retry {
		if j, ok := parseSidekiqJob(r); ok && j.name() == notificationMailJob && j.created().After(since) {
			return "retry", nil
		}
	}
	var processed, before int64
	for m := since.Add(-time.Minute); !m.After(time.Now().Add(time.Minute)); m = m.Add(time.Minute) {
		key := sidekiqMetricsKey(m)
		n, err := rdb.HGet(ctx, key, notificationMailJob+"|p").Int64()
		if err != nil && !errors.Is(err, redis.Nil) {
			return "", err
		}
		processed += n
		before += base[key]
	}
	if processed > before {
		return "processed", nil
	}
	return "", nil
}

// sidekiqJob is the part of a Sidekiq job payload the samplers read.
type sidekiqJob struct {
	Class     string      `json:"class"`
	Wrapped   string      `json:"wrapped"`
	JID       string      `json:"jid"`
	Queue     string      `json:"queue"`
	CreatedAt json.Number `json:"created_at"`
}

func parseSidekiqJob(raw string) (sidekiqJob, bool) {
	var j sidekiqJob
	return j, json.Unmarshal([]byte(raw), &j) == nil
}

// name is the job's class, the wrapped one for an ActiveJob job.
func (j sidekiqJob) name() string {
	if j.Wrapped != "" {
		return j.Wrapped
	}
	return j.Class
}

func (j sidekiqJob) created() time.Time { return epoch(j.CreatedAt.String()) }

func epochString(t time.Time) string {
	return strconv.FormatFloat(float64(t.UnixNano())/1e9, 'f', 6, 64)
}
