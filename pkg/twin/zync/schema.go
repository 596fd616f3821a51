package zync

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// schemaVersion is the one row written to schema_migrations once the tables below exist.
// /status/live checks for it, the way zync's liveness check asks whether migrations are
// pending (research/porta-zync.md §5.3): an empty database (zync-database on an emptyDir came
// back wiped, research/3scale-operator.md §2.6) makes liveness fail until zync restarts and
// creates the schema again.
const schemaVersion = "20260101000001"

// schemaLockKey serialises schema creation between processes that start together.
const schemaLockKey = 0x7a796e63 // "zync"

// schemaDDL creates zync's tables: the records system notifies about (tenants, and the
// polymorphic models with one table per allowed type), notifications, entries fetched back
// from system, integrations and their states (research/porta-zync.md §5.2, §8 "zync-que"), and
// que 2's job and locker tables (§5.2 "Que jobs", §5.3 "zync-que down").
const schemaDDL = `
CREATE TABLE IF NOT EXISTS schema_migrations (version text PRIMARY KEY);

CREATE TABLE IF NOT EXISTS tenants (
	id           bigint PRIMARY KEY,
	endpoint     text NOT NULL,
	access_token text NOT NULL,
	created_at   timestamptz NOT NULL,
	updated_at   timestamptz NOT NULL
);

CREATE TABLE IF NOT EXISTS services (
	id         bigint PRIMARY KEY,
	tenant_id  bigint NOT NULL REFERENCES tenants(id),
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS applications (
	id         bigint PRIMARY KEY,
	tenant_id  bigint NOT NULL REFERENCES tenants(id),
	service_id bigint REFERENCES services(id),
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS proxies (
	id         bigint PRIMARY KEY,
	tenant_id  bigint NOT NULL REFERENCES tenants(id),
	service_id bigint NOT NULL REFERENCES services(id),
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS providers (
	id         bigint PRIMARY KEY,
	tenant_id  bigint NOT NULL REFERENCES tenants(id),
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS models (
	id          bigserial PRIMARY KEY,
	tenant_id   bigint NOT NULL REFERENCES tenants(id),
	record_type text NOT NULL,
	record_id   bigint NOT NULL,
	created_at  timestamptz NOT NULL DEFAULT now(),
	updated_at  timestamptz NOT NULL DEFAULT now(),
	UNIQUE (record_type, record_id)
);

CREATE TABLE IF NOT EXISTS notifications (
	id         bigserial PRIMARY KEY,
	model_id   bigint NOT NULL REFERENCES models(id),
	tenant_id  bigint NOT NULL REFERENCES tenants(id),
	data       jsonb NOT NULL,
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS entries (
	id         bigserial PRIMARY KEY,
	tenant_id  bigint NOT NULL REFERENCES tenants(id),
	model_id   bigint NOT NULL REFERENCES models(id),
	data       jsonb,
	created_at timestamptz NOT NULL DEFAULT now(),
	updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS integrations (
	id            bigserial PRIMARY KEY,
	tenant_id     bigint NOT NULL REFERENCES tenants(id),
	type          text NOT NULL,
	configuration jsonb NOT NULL DEFAULT '{}',
	created_at    timestamptz NOT NULL DEFAULT now(),
	updated_at    timestamptz NOT NULL DEFAULT now(),
	UNIQUE (tenant_id, type)
);

CREATE TABLE IF NOT EXISTS integration_states (
	id             bigserial PRIMARY KEY,
	model_id       bigint NOT NULL REFERENCES models(id),
	integration_id bigint NOT NULL REFERENCES integrations(id),
	entry_id       bigint REFERENCES entries(id),
	started_at     timestamptz,
	finished_at    timestamptz,
	success        boolean,
	created_at     timestamptz NOT NULL DEFAULT now(),
	updated_at     timestamptz NOT NULL DEFAULT now(),
	UNIQUE (model_id, integration_id)
);

CREATE TABLE IF NOT EXISTS que_jobs (
	priority             smallint    NOT NULL DEFAULT 100,
	run_at               timestamptz NOT NULL DEFAULT now(),
	id                   bigserial   PRIMARY KEY,
	job_class            text        NOT NULL,
	error_count          integer     NOT NULL DEFAULT 0,
	last_error_message   text,
	queue                text        NOT NULL DEFAULT 'default',
	last_error_backtrace text,
	finished_at          timestamptz,
	expired_at           timestamptz,
	args                 jsonb       NOT NULL DEFAULT '[]',
	data                 jsonb       NOT NULL DEFAULT '{}',
	kwargs               jsonb       NOT NULL DEFAULT '{}',
	job_schema_version   integer     NOT NULL DEFAULT 2
);
CREATE INDEX IF NOT EXISTS que_poll_idx ON que_jobs (queue, priority, run_at, id)
	WHERE finished_at IS NULL AND expired_at IS NULL;

CREATE TABLE IF NOT EXISTS que_lockers (
	pid                integer PRIMARY KEY,
	worker_count       integer NOT NULL,
	worker_priorities  integer[] NOT NULL,
	ruby_pid           integer NOT NULL,
	ruby_hostname      text NOT NULL,
	queues             text[] NOT NULL,
	listening          boolean NOT NULL,
	job_schema_version integer NOT NULL DEFAULT 2
);
`

// ensureSchema creates every table that is missing, under an advisory lock so that zync and
// zync-que starting together do not race on CREATE TABLE.
func ensureSchema(ctx context.Context, pool *pgxpool.Pool) error {
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, schemaLockKey); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, schemaDDL); err != nil {
			return err
		}
		_, err := tx.Exec(ctx,
			`INSERT INTO schema_migrations (version) VALUES ($1) ON CONFLICT DO NOTHING`, schemaVersion)
		return err
	})
}

// errSchemaMissing means the database answers but zync's schema is not there.
var errSchemaMissing = errors.New("schema migrations are pending")

// checkSchema answers whether the database is reachable and holds this schema version.
func checkSchema(ctx context.Context, pool *pgxpool.Pool) error {
	var n int
	err := pool.QueryRow(ctx,
		`SELECT count(*) FROM schema_migrations WHERE version = $1`, schemaVersion).Scan(&n)
	if err != nil {
		return err
	}
	if n == 0 {
		return errSchemaMissing
	}
	return nil
}

// newPool builds a pool that notices a dead server quickly: a bounded connect, zync's
// statement_timeout (research/porta-zync.md §5.3: connect_timeout 5, statement_timeout 5000 ms),
// and a short health-check period so broken connections are replaced without a restart.
func newPool(ctx context.Context, url string, connectTimeout, statementTimeout time.Duration, minMaxConns int) (*pgxpool.Pool, error) {
	pc, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("database URL: %w", err)
	}
	pc.ConnConfig.ConnectTimeout = connectTimeout
	pc.ConnConfig.RuntimeParams["statement_timeout"] = fmt.Sprint(statementTimeout.Milliseconds())
	pc.ConnConfig.RuntimeParams["application_name"] = "zync-twin"
	pc.HealthCheckPeriod = 5 * time.Second
	pc.MaxConnLifetime = 10 * time.Minute
	if int(pc.MaxConns) < minMaxConns {
		pc.MaxConns = int32(minMaxConns)
	}
	// pgxpool dials lazily, so a pool can be built while PostgreSQL is down.
	return pgxpool.NewWithConfig(ctx, pc)
}

// retryUntil calls f until it succeeds or ctx ends, waiting between attempts.
func retryUntil(ctx context.Context, every time.Duration, f func(context.Context) error, onErr func(error)) error {
	for {
		err := f(ctx)
		if err == nil {
			return nil
		}
		if onErr != nil {
			onErr(err)
		}
		t := time.NewTimer(every)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (last error: %v)", ctx.Err(), err)
		case <-t.C:
		}
	}
}
