package zync

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Que and ActiveJob names as they appear in que_jobs (research/porta-zync.md §5.2 "Que jobs":
// zync's jobs are ActiveJob jobs on the que adapter, queue "default").
const (
	// activeJobWrapper is que_jobs.job_class for every ActiveJob-enqueued job; the ActiveJob
	// class itself is args[0].job_class.
	activeJobWrapper = "ActiveJob::QueueAdapters::QueAdapter::JobWrapper"
	// defaultQueue is zync's que queue.
	defaultQueue = "default"
	// queJobSchemaVersion is que 2's job_schema_version.
	queJobSchemaVersion = 2
	// defaultPriority is que's default priority.
	defaultPriority = 100

	// updateJob fetches a model's entity from system and records an entry.
	updateJob = "UpdateJob"
	// processIntegrationEntryJob applies one entry to one integration (here: Kubernetes Routes).
	processIntegrationEntryJob = "ProcessIntegrationEntryJob"
)

// activeJobPayload is the ActiveJob serialisation que stores in args[0].
type activeJobPayload struct {
	JobClass            string         `json:"job_class"`
	JobID               string         `json:"job_id"`
	ProviderJobID       *string        `json:"provider_job_id"`
	QueueName           string         `json:"queue_name"`
	Priority            *int           `json:"priority"`
	Arguments           []any          `json:"arguments"`
	Executions          int            `json:"executions"`
	ExceptionExecutions map[string]int `json:"exception_executions"`
	Locale              string         `json:"locale"`
	Timezone            string         `json:"timezone"`
	EnqueuedAt          string         `json:"enqueued_at"`
}

// globalID is how ActiveJob serialises a record argument.
func globalID(class string, id int64) map[string]string {
	return map[string]string{"_aj_globalid": fmt.Sprintf("gid://zync/%s/%d", class, id)}
}

// enqueue inserts an ActiveJob job into que_jobs inside tx. With deduplicate, pending jobs of
// the same class and arguments are deleted first, as UpdateJob does, so que_jobs grows by
// distinct models rather than by notifications (research/porta-zync.md §5.2 "UpdateJob").
// Rows a worker holds locked are left alone: they are already running.
func enqueue(ctx context.Context, tx pgx.Tx, class string, args []any, deduplicate bool) (int64, error) {
	argsJSON, err := json.Marshal(args)
	if err != nil {
		return 0, err
	}
	if deduplicate {
		if _, err := tx.Exec(ctx, `
			DELETE FROM que_jobs WHERE id IN (
				SELECT id FROM que_jobs
				WHERE finished_at IS NULL AND expired_at IS NULL
				  AND job_class = $1
				  AND args->0->>'job_class' = $2
				  AND args->0->'arguments' = $3::jsonb
				FOR UPDATE SKIP LOCKED)`,
			activeJobWrapper, class, string(argsJSON)); err != nil {
			return 0, fmt.Errorf("delete duplicate %s jobs: %w", class, err)
		}
	}
	payload := activeJobPayload{
		JobClass:            class,
		JobID:               newUUID(),
		QueueName:           defaultQueue,
		Arguments:           args,
		ExceptionExecutions: map[string]int{},
		Locale:              "en",
		Timezone:            "UTC",
		EnqueuedAt:          time.Now().UTC().Format(time.RFC3339Nano),
	}
	body, err := json.Marshal([]any{payload})
	if err != nil {
		return 0, err
	}
	var id int64
	err = tx.QueryRow(ctx, `
		INSERT INTO que_jobs (priority, run_at, job_class, queue, args, data, kwargs, job_schema_version)
		VALUES ($1, now(), $2, $3, $4::jsonb, '{}', '{}', $5)
		RETURNING id`,
		defaultPriority, activeJobWrapper, defaultQueue, string(body), queJobSchemaVersion).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("enqueue %s: %w", class, err)
	}
	return id, nil
}

// newUUID returns a random RFC 4122 version 4 UUID, the form of ActiveJob's job_id.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// QueRetryDelay is que's default back-off: error_count⁴ + 3 seconds after the error_count-th
// failure (research/porta-zync.md §5.2 "Retries").
func QueRetryDelay(errorCount int) time.Duration {
	c := time.Duration(errorCount)
	return (c*c*c*c + 3) * time.Second
}

// QueMaximumRetryCount is que's default number of retries before a job is expired
// (research/porta-zync.md §5.2 "Retries").
const QueMaximumRetryCount = 15
