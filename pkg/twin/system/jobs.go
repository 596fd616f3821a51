package system

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/threescale-chaos/harness/pkg/twin/system/sidekiq"
)

// Job classes and their queues, as porta names them (research/porta-zync.md §4.2, §3.1, §5.1).
const (
	// ActiveJob classes (wrapped on the wire, matched on "wrapped").
	ClassSphinxIndexation        = "SphinxIndexationWorker"        // default
	ClassSphinxAccountIndexation = "SphinxAccountIndexationWorker" // default
	ClassBackendMetric           = "BackendMetricWorker"           // backend_sync
	ClassDeleteObjectHierarchy   = "DeleteObjectHierarchyWorker"   // deletion
	// ClassMailDelivery is deliver_later's job, on queue default at 2.16 (load_defaults 7.0
	// includes 6.1's deliver_later_queue_name = nil: porta@3scale-2.16.4-GA:config/application.rb:61,
	// rails@v7.0.8.7:railties/lib/rails/application/configuration.rb:201) but mailers at 2.15
	// (load_defaults 6.0, rails@v6.0.6.1:actionmailer/lib/action_mailer/delivery_methods.rb:15).
	ClassMailDelivery = "ActionMailer::MailDeliveryJob"
	// Native Sidekiq classes.
	ClassZync                     = "ZyncWorker"                     // zync
	ClassBackendDeleteService     = "BackendDeleteServiceWorker"     // default
	ClassBackendDeleteApplication = "BackendDeleteApplicationWorker" // low
	ClassEventsFetch              = "EventsFetchWorker"              // events
	ClassCreateServiceToken       = "CreateServiceTokenWorker"       // default
	ClassPersistEvent             = "PersistEventWorker"             // default
	ClassEventImport              = "EventImportWorker"              // default
	ClassSignup                   = "SignupWorker"                   // critical
	ClassSampleData               = "SignupWorker::SampleDataWorker" // critical
	ClassImportSimpleLayout       = "SignupWorker::ImportSimpleLayoutWorker"
	// ClassAudited writes an audit row in the background: porta's audited hack queues it in
	// the audited record's after_commit (porta@3scale-2.16.4-GA:config/initializers/audited_hacks.rb
	// write_audit → run_after_commit { audit.enqueue_job }, AuditHacks#enqueue_job:
	// AuditedWorker.perform_async(attributes.as_json); app/workers/audited_worker.rb, queue default).
	ClassAudited = "AuditedWorker"
	// ClassPublishEnabledChanged is the ActiveJob every account state change enqueues at once,
	// inside the transaction of the change (porta@3scale-2.16.4-GA:app/models/account/states.rb
	// publish_state_changed_event; app/workers/publish_enabled_changed_event_for_provider_applications_worker.rb,
	// an ApplicationJob on queue default).
	ClassPublishEnabledChanged = "PublishEnabledChangedEventForProviderApplicationsWorker"
	// ClassProcessNotificationEvent starts the e-mail of a provider notification: it queues a
	// ClassUserNotification per active user of the provider, which sends NotificationMailer's
	// mail there and then (porta@3scale-2.16.4-GA:app/workers/process_notification_event_worker.rb:4-11,
	// 19-33, 45-49; app/services/notification_delivery_service.rb:61-63 .deliver, not
	// deliver_later). Both are native jobs with no sidekiq_options: queue default.
	ClassProcessNotificationEvent = "ProcessNotificationEventWorker"
	ClassUserNotification         = "ProcessNotificationEventWorker::UserNotificationWorker"
)

// job is one enqueue porta makes (inside a transaction, after a commit or outside any).
type job struct {
	activeJob bool
	queue     string
	class     string
	args      []any
}

// modelArg is how ActiveJob serialises a Ruby class argument (SphinxIndexationWorker's first
// argument is the model class).
func modelArg(model string) map[string]any {
	return map[string]any{"_aj_serialized": "ActiveJob::Serializers::ModuleSerializer", "value": model}
}

// globalID is how ActiveJob serialises a record argument (GlobalID, app name "system").
func globalID(model string, id int64) map[string]any {
	return map[string]any{"_aj_globalid": fmt.Sprintf("gid://system/%s/%d", model, id)}
}

// deleteHierarchyJob is DeleteObjectHierarchyWorker.perform_later(record), queue deletion
// (porta@3scale-2.16.4-GA:app/workers/delete_object_hierarchy_worker.rb).
func deleteHierarchyJob(model string, id int64) job {
	return job{true, "deletion", ClassDeleteObjectHierarchy, []any{globalID(model, id)}}
}

func indexJob(model string, recordID int64) job {
	return job{true, "default", ClassSphinxIndexation, []any{modelArg(model), recordID}}
}

func accountIndexJob(accountID int64) job {
	return job{true, "default", ClassSphinxAccountIndexation, []any{accountID}}
}

func metricSyncJob(serviceID, metricID int64) job {
	return job{true, "backend_sync", ClassBackendMetric, []any{serviceID, metricID}}
}

func mailJob(mailer, method string, args ...any) job {
	if args == nil {
		args = []any{}
	}
	return job{true, "default", ClassMailDelivery, []any{mailer, method, "deliver_now", map[string]any{"args": args}}}
}

// auditJob is AuditedWorker.perform_async(audit.attributes.as_json) for one audited change: the
// audit porta builds in write_audit (kind and provider_id set by the hack, the request's user),
// never saved in the request, so id, version and created_at are nil
// (porta@3scale-2.16.4-GA:config/initializers/audited_hacks.rb AuditedHacks#write_audit,
// AuditHacks#before_background_callbacks; audited 5.0.2 lib/audited/auditor.rb audit_create,
// audit_update, audit_destroy).
func auditJob(model string, recordID, providerID int64, action string, changes map[string]any, userID int64) job {
	if changes == nil {
		changes = map[string]any{}
	}
	var user, userType any
	if userID != 0 {
		user, userType = userID, "User"
	}
	return job{false, "default", ClassAudited, []any{map[string]any{
		"id": nil, "auditable_id": recordID, "auditable_type": model, "associated_id": nil, "associated_type": nil,
		"user_id": user, "user_type": userType, "username": nil, "action": action, "audited_changes": changes,
		"version": nil, "comment": nil, "remote_address": nil, "request_uuid": uuid.NewString(), "created_at": nil,
		"kind": model, "provider_id": providerID}}}
}

// publishEnabledChangedJob is PublishEnabledChangedEventForProviderApplicationsWorker.perform_later(account,
// previous_state), which Account#publish_state_changed_event runs inside the state change's
// transaction (porta@3scale-2.16.4-GA:app/models/account/states.rb).
func publishEnabledChangedJob(accountID int64, previousState string) job {
	return job{true, "default", ClassPublishEnabledChanged, []any{globalID("Account", accountID), previousState}}
}

// notificationEvent records the NotificationEvent a provider notification publishes (inside
// tx) and returns its ProcessNotificationEventWorker job, args [event_id]. A published event
// with a notification subscription (app/lib/event_store/repository.rb:118-150,186-188) makes
// PublishNotificationEventSubscriber create and publish a NotificationEvent
// (app/subscribers/publish_notification_event_subscriber.rb:12-15; NotificationCenter leaves it
// enabled unless silenced, lib/notification_center.rb); published inside a transaction, the
// AfterCommitSubscriber defers it to the commit (app/subscribers/after_commit_subscriber.rb:36-44),
// where NotificationEvent#after_commit queues the worker (app/events/notification_event.rb:20-22).
// The job is pushed inside a Sidekiq::Batch, whose client middleware adds a "bid" to the
// payload; the twin leaves the batch out (nothing reads it). The same at 3scale-2.15.1-GA.
func notificationEvent(ctx context.Context, tx *sql.Tx, systemName string, providerID int64) (job, error) {
	eventID := uuid.NewString()
	b, _ := json.Marshal(map[string]any{"system_name": systemName, "parent_event_id": uuid.NewString(), "provider_id": providerID})
	if _, err := tx.ExecContext(ctx, `INSERT INTO event_store_events (event_id, event_type, provider_id, data, created_at) VALUES (?,?,?,?,?)`,
		eventID, "NotificationEvent", providerID, string(b), time.Now().UTC()); err != nil {
		return job{}, err
	}
	return job{false, "default", ClassProcessNotificationEvent, []any{eventID}}, nil
}

// enqueue pushes jobs on system-redis in order and returns the first failure. Neither Rails 7.0
// (3scale 2.16) nor 6.0 (2.15) defers perform_later or perform_async to the commit, and OSS
// Sidekiq has no client-side buffer (reliable_push! is Sidekiq Pro's;
// porta@3scale-2.16.4-GA:config/initializers/sidekiq.rb), so where a caller enqueues decides what
// a Redis failure does: inside a transaction it rolls the write back; in an after_commit
// callback (see afterCommit) the request answers 500 with the write committed.
func (a *app) enqueue(ctx context.Context, jobs ...job) error {
	for _, j := range jobs {
		var err error
		if j.activeJob {
			_, err = sidekiq.EnqueueActiveJob(ctx, a.rdb, j.queue, j.class, j.args...)
		} else {
			_, err = sidekiq.Enqueue(ctx, a.rdb, j.queue, j.class, j.args...)
		}
		if err != nil {
			return fmt.Errorf("enqueue %s on %s: %w", j.class, j.queue, err)
		}
	}
	return nil
}

// publish is an event published outside any transaction, whose subscribers enqueue at once: the
// event store's facade rescues every error of publish_event outside development, logs it and
// returns false, so the job is lost and the caller goes on
// (porta@3scale-2.16.4-GA:app/lib/event_store/repository.rb Facade#publish_event;
// app/subscribers/after_commit_subscriber.rb #call runs the callback at once when no
// transaction is open). It never fails the request.
func (a *app) publish(ctx context.Context, jobs ...job) {
	if err := a.enqueue(ctx, jobs...); err != nil {
		a.log.Error("EventStore: publishing event failed, job dropped", "err", err)
	}
}

// step is one after_commit callback: a backend sync or an enqueue.
type step func(ctx context.Context) error

// enqueueing is the step that enqueues jobs.
func (a *app) enqueueing(jobs ...job) step {
	return func(ctx context.Context) error { return a.enqueue(ctx, jobs...) }
}

// publishing is the step that publishes an event outside a transaction (publish): it never fails.
func (a *app) publishing(jobs ...job) step {
	return func(ctx context.Context) error { a.publish(ctx, jobs...); return nil }
}

// commitRecord is one entry of the records a Rails transaction commits: a model saved in it,
// whose after_commit callbacks run in reverse order of declaration (Rails before 7.1), or an
// event published in it, whose after-commit subscriber enqueues the event's job
// (porta@3scale-2.16.4-GA:app/subscribers/after_commit_subscriber.rb, added to the transaction
// with add_transaction_record).
type commitRecord struct {
	subscriber bool
	steps      []step
}

// model is a model's after_commit callbacks, in the order Rails 7.0 and 6.0 run them.
func model(steps ...step) commitRecord { return commitRecord{steps: steps} }

// subscriber is an event's after-commit subscriber callback.
func subscriber(steps ...step) commitRecord { return commitRecord{subscriber: true, steps: steps} }

// afterCommit runs a committed transaction's records as ActiveRecord 7.0.8.7 (and 6.0.6.1)
// commit_records does (activerecord lib/active_record/connection_adapters/abstract/transaction.rb):
// each record in the order it joined the transaction; a callback that raises stops its model's
// chain (ActiveSupport callbacks), and since Rails 5 the error is re-raised, so the request
// answers 500 with the transaction committed. The ensure clause then calls committed! on the
// remaining records with should_run_callbacks: false: models skip their callbacks, but
// porta's AfterCommitCallback ignores the flag, so event subscribers still run until one of
// them raises in turn. The first error is returned (the one Rails answers with is the last;
// both are 500).
func (a *app) afterCommit(ctx context.Context, records ...commitRecord) error {
	var failed error
	for _, r := range records {
		if failed != nil && !r.subscriber {
			continue
		}
		for _, s := range r.steps {
			if err := s(ctx); err != nil {
				if failed == nil {
					failed = err
					break
				}
				a.log.Error("after commit: a subscriber failed after an earlier callback", "err", err)
				return failed
			}
		}
	}
	return failed
}

// zyncEvent records a ZyncEvent in the event store (inside tx) and returns its ZyncWorker job:
// args [event_id, data], data = {type, id, parent_event_id, parent_event_type, tenant_id} plus
// the model's metadata such as service_id (§5.1).
func zyncEvent(ctx context.Context, tx *sql.Tx, typ string, modelID, tenantID int64, parentType string, extra map[string]any) (job, error) {
	eventID := uuid.NewString()
	data := map[string]any{"type": typ, "id": modelID, "parent_event_id": uuid.NewString(),
		"parent_event_type": parentType, "tenant_id": tenantID}
	for k, v := range extra {
		data[k] = v
	}
	b, _ := json.Marshal(data)
	if _, err := tx.ExecContext(ctx, `INSERT INTO event_store_events (event_id, event_type, provider_id, data, created_at) VALUES (?,?,?,?,?)`,
		eventID, "ZyncEvent", tenantID, string(b), time.Now().UTC()); err != nil {
		return job{}, err
	}
	return job{false, "zync", ClassZync, []any{eventID, data}}, nil
}

// userID is the id of the user the request acts as (User.current: an access token's owner), 0
// for a provider_key, which acts as no user.
func (rc *reqCtx) userID() int64 {
	if rc == nil || rc.cred == nil {
		return 0
	}
	return rc.cred.UserID
}
