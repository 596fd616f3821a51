package system

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/threescale-chaos/harness/internal/testsupport"
)

// testDeletionJobBeforeCommit: porta enqueues DeleteObjectHierarchyWorker inside the
// transaction that marks the record deleted (BackendApi and Service after_transition
// schedule_deletion), so Sidekiq may run the job before that commit. The job finds its record
// by GlobalID, by id whatever the state (porta@3scale-2.16.4-GA:
// app/workers/delete_object_hierarchy_worker.rb, app/models/backend_api.rb
// schedule_deletion), and its deletes wait for the marking transaction. The twin's worker
// once looked for state='deleted', saw the uncommitted row as published, dropped the job and
// left the row for ever: a race the conformance suite lost under load.
func testDeletionJobBeforeCommit(t *testing.T, e *testEnv) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	db := e.sqlDB()
	w := &worker{db: db, rdb: e.rdb, log: e.log}
	var b struct {
		BackendAPI struct {
			ID int64 `json:"id"`
		} `json:"backend_api"`
	}
	code, body := e.admin("POST", "/admin/api/backend_apis.json", url.Values{"name": {"Racy"}, "private_endpoint": {"http://backend.example.com:80"}})
	mustJSON(t, 201, code, body, &b)
	id := b.BackendAPI.ID

	// The API's transaction: marked deleted, not yet committed.
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit
	if _, err := tx.ExecContext(ctx, `UPDATE backend_apis SET state='deleted' WHERE id=?`, id); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- w.deleteBackendAPIHierarchy(ctx, id) }()
	// The job either waits for the marking transaction's lock or has already given up.
	var jobErr error
	finished := false
	testsupport.Eventually(t, time.Minute, "the deletion job waiting for the marking transaction, or finished", testsupport.NoError(func(ctx context.Context) error {
		select {
		case jobErr = <-done:
			finished = true
			return nil
		default:
		}
		var waiting int
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM information_schema.INNODB_TRX WHERE trx_state='LOCK WAIT'`).Scan(&waiting); err != nil {
			return err
		}
		if waiting == 0 {
			return fmt.Errorf("no lock wait yet")
		}
		return nil
	}))
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if !finished {
		jobErr = <-done
	}
	if jobErr != nil {
		t.Fatalf("deletion job: %v", jobErr)
	}
	var n int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM backend_apis WHERE id=?`, id).Scan(&n); err != nil && err != sql.ErrNoRows {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("backend API %d still has its row after a deletion job that ran before the marking commit", id)
	}
}
