package system

import (
	"context"
	"net/url"
	"testing"
	"time"
)

// testDeletionJobBeforeCommit: porta enqueues DeleteObjectHierarchyWorker inside the
// transaction that marks the record deleted (BackendApi and Service after_transition
// schedule_deletion), so Sidekiq may run the job before that commit, when the row still reads
// as published. The job finds its record by GlobalID, by id whatever the state
// (porta@3scale-2.16.4-GA:app/workers/delete_object_hierarchy_worker.rb,
// app/models/backend_api.rb schedule_deletion), and its deletes then wait for the marking
// transaction's row lock. The twin's worker once looked for state='deleted', dropped the job
// when it saw the row as published, and left the row for ever: a race the conformance suite
// lost under load. The test gives the job a row that reads as published, as it does before
// the commit (waiting on the lock itself is MariaDB's, not the twin's).
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
	if err := w.deleteBackendAPIHierarchy(ctx, id); err != nil {
		t.Fatalf("deletion job: %v", err)
	}
	var n int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM backend_apis WHERE id=?`, id).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("backend API %d still has its row after a deletion job that ran before the marking commit", id)
	}
}
