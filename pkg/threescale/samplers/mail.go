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
	rctx, cancel := context.WithTimeout(ctx, s.o.Timeout)
	base, berr := mailBaselineOf(rctx, s.env.SystemRedis)
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
		return storeFailure("system-redis, before the signup", berr)
	}
	return s.waitFor(ctx, notificationMailJob+" for the signup of "+org, func(ctx context.Context) (bool, string) {
		rctx, cancel := context.WithTimeout(ctx, s.o.Timeout)
		defer cancel()
		where, err := findMailJob(rctx, s.env.SystemRedis, base)
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

// mailBaseline is Sidekiq's store as a sample finds it before its signup: the notification
// mail jobs waiting or retrying, by jid, and how many Sidekiq's execution metrics count as
// processed in the minutes up to system-redis's clock, by metrics key. The sample's job is one
// the baseline does not have, so no clock is compared with another: a job's created_at is
// stamped by system-app's clock, and the harness's may differ from it by any amount.
type mailBaseline struct {
	at        time.Time // system-redis's clock (TIME)
	jids      map[string]bool
	processed map[string]int64
}

func mailBaselineOf(ctx context.Context, rdb *redis.Client) (mailBaseline, error) {
	at, err := rdb.Time(ctx).Result()
	if err != nil {
		return mailBaseline{}, err
	}
	b := mailBaseline{at: at, jids: map[string]bool{}}
	queued, retrying, err := mailJobs(ctx, rdb)
	if err != nil {
		return mailBaseline{}, err
	}
	for _, jid := range append(queued, retrying...) {
		b.jids[jid] = true
	}
	// A job that ran just before the baseline may be flushed to the metrics only after it (at
	// the next heartbeat), and then counts for this sample: the metrics name the class, not
	// the job.
	if b.processed, err = mailProcessed(ctx, rdb, at.Add(-2*time.Minute), at); err != nil {
		return mailBaseline{}, err
	}
	return b, nil
}

// mailProcessed reads how many notification mail jobs Sidekiq's execution metrics count as
// processed in each minute from `from` to `to`, by metrics key.
func mailProcessed(ctx context.Context, rdb *redis.Client, from, to time.Time) (map[string]int64, error) {
	out := map[string]int64{}
	for m := from; !m.After(to); m = m.Add(time.Minute) {
		key := sidekiqMetricsKey(m)
		n, err := rdb.HGet(ctx, key, notificationMailJob+"|p").Int64()
		if err != nil && !errors.Is(err, redis.Nil) {
			return nil, err
		}
		out[key] = n
	}
	return out, nil
}

// mailJobs lists the jids of the notification mail jobs waiting in their queue and in the
// retry set.
func mailJobs(ctx context.Context, rdb *redis.Client) (queued, retrying []string, err error) {
	// Sidekiq LPUSHes (sidekiq@v7.3.2:lib/sidekiq/client.rb:263-267), so the newest jobs
	// are at the head; a job of this sample is among the first few hundred.
	raw, err := rdb.LRange(ctx, "queue:"+notificationMailQueue, 0, 499).Result()
	if err != nil {
		return nil, nil, err
	}
	retry, err := rdb.ZRange(ctx, "retry", 0, -1).Result()
	if err != nil {
		return nil, nil, err
	}
	return mailJIDs(raw), mailJIDs(retry), nil
}

// mailJIDs are the jids of the notification mail jobs among raw Sidekiq payloads.
func mailJIDs(raw []string) []string {
	var out []string
	for _, r := range raw {
		if j, ok := parseSidekiqJob(r); ok && j.name() == notificationMailJob {
			out = append(out, j.JID)
		}
	}
	return out
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

// findMailJob says where a notification mail job that base does not have is: waiting in its
// queue, in the retry set, or processed (the metrics count more than base); "" when nowhere.
func findMailJob(ctx context.Context, rdb *redis.Client, base mailBaseline) (string, error) {
	queued, retrying, err := mailJobs(ctx, rdb)
	if err != nil {
		return "", err
	}
	for _, jid := range queued {
		if !base.jids[jid] {
			return "queue:" + notificationMailQueue, nil
		}
	}
	for _, jid := range retrying {
		if !base.jids[jid] {
			return "retry", nil
		}
	}
	now, err := rdb.Time(ctx).Result()
	if err != nil {
		return "", err
	}
	// Sidekiq names the minute by its own clock: a minute either side of system-redis's.
	counts, err := mailProcessed(ctx, rdb, base.at.Add(-2*time.Minute), now.Add(time.Minute))
	if err != nil {
		return "", err
	}
	var processed, before int64
	for key, n := range counts {
		processed += n
		before += base.processed[key]
	}
	if processed > before {
		return "processed", nil
	}
	return "", nil
}

// sidekiqJob is the part of a Sidekiq job payload the samplers read.
type sidekiqJob struct {
	Class   string `json:"class"`
	Wrapped string `json:"wrapped"`
	JID     string `json:"jid"`
	Queue   string `json:"queue"`
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
