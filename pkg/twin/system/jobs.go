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
	ClassMailDelivery            = "ActionMailer::MailDeliveryJob" // default (§4.2 note)
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
)

// job is one enqueue porta makes after a commit.
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

// enqueue pushes jobs on system-redis in order. The first failure is returned: this is path A
// of §4.3, where the Redis error escapes the after_commit callbacks and the request answers
// 500 although the transaction committed.
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

// publish is path B of §4.3: an event published outside a transaction whose enqueue error the
// event store swallows. The request succeeds and the job is lost, with an error log.
func (a *app) publish(ctx context.Context, jobs ...job) {
	if err := a.enqueue(ctx, jobs...); err != nil {
		a.log.Error("EventStore: publishing event failed, job dropped", "err", err)
	}
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
