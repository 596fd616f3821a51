package system

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
)

// schema is the twin's slice of porta's MySQL schema: the tables the Account Management API,
// the proxy configs and the Sidekiq jobs read and write (research/porta-zync.md §2, §4.2, §6).
// Column names follow porta's where the twin has the same concept; porta's hundreds of other
// columns are left out.
var schema = []string{
	`CREATE TABLE IF NOT EXISTS accounts (
		id BIGINT AUTO_INCREMENT PRIMARY KEY,
		org_name VARCHAR(255) NOT NULL,
		kind ENUM('master','provider','buyer') NOT NULL,
		provider_account_id BIGINT NULL,
		state VARCHAR(32) NOT NULL DEFAULT 'approved',
		admin_domain VARCHAR(255) NULL,
		domain VARCHAR(255) NULL,
		api_key VARCHAR(255) NULL,
		default_service_id BIGINT NULL,
		site_access_code VARCHAR(255) NULL,
		sample_data TINYINT(1) NOT NULL DEFAULT 0,
		created_at DATETIME(6) NOT NULL,
		updated_at DATETIME(6) NOT NULL,
		UNIQUE KEY idx_admin_domain (admin_domain),
		UNIQUE KEY idx_domain (domain),
		UNIQUE KEY idx_api_key (api_key),
		KEY idx_provider (provider_account_id)
	) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
	`CREATE TABLE IF NOT EXISTS users (
		id BIGINT AUTO_INCREMENT PRIMARY KEY,
		account_id BIGINT NOT NULL,
		username VARCHAR(255) NOT NULL,
		email VARCHAR(255) NOT NULL,
		password VARCHAR(255) NOT NULL DEFAULT '',
		role VARCHAR(32) NOT NULL DEFAULT 'admin',
		state VARCHAR(32) NOT NULL DEFAULT 'active',
		created_at DATETIME(6) NOT NULL,
		KEY idx_account (account_id),
		KEY idx_username (username),
		KEY idx_email (email)
	) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
	`CREATE TABLE IF NOT EXISTS access_tokens (
		id BIGINT AUTO_INCREMENT PRIMARY KEY,
		owner_id BIGINT NOT NULL,
		name VARCHAR(255) NOT NULL,
		value VARCHAR(255) NOT NULL,
		scopes VARCHAR(255) NOT NULL,
		permission VARCHAR(4) NOT NULL,
		expires_at DATETIME(6) NULL,
		created_at DATETIME(6) NOT NULL,
		UNIQUE KEY idx_value (value)
	) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
	`CREATE TABLE IF NOT EXISTS user_sessions (
		id BIGINT AUTO_INCREMENT PRIMARY KEY,
		user_id BIGINT NOT NULL,
		session_key VARCHAR(64) NOT NULL,
		created_at DATETIME(6) NOT NULL,
		UNIQUE KEY idx_key (session_key)
	) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
	`CREATE TABLE IF NOT EXISTS services (
		id BIGINT AUTO_INCREMENT PRIMARY KEY,
		account_id BIGINT NOT NULL,
		name VARCHAR(255) NOT NULL,
		system_name VARCHAR(255) NOT NULL,
		description TEXT NULL,
		state VARCHAR(32) NOT NULL DEFAULT 'incomplete',
		deployment_option VARCHAR(32) NOT NULL DEFAULT 'hosted',
		backend_version VARCHAR(8) NOT NULL DEFAULT '1',
		notification_settings TEXT NULL,
		created_at DATETIME(6) NOT NULL,
		updated_at DATETIME(6) NOT NULL,
		UNIQUE KEY idx_system_name (account_id, system_name)
	) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
	`CREATE TABLE IF NOT EXISTS service_tokens (
		id BIGINT AUTO_INCREMENT PRIMARY KEY,
		service_id BIGINT NOT NULL,
		value VARCHAR(255) NOT NULL,
		UNIQUE KEY idx_value (value),
		KEY idx_service (service_id)
	) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
	`CREATE TABLE IF NOT EXISTS proxies (
		id BIGINT AUTO_INCREMENT PRIMARY KEY,
		service_id BIGINT NOT NULL,
		api_backend VARCHAR(255) NULL,
		endpoint VARCHAR(255) NULL,
		sandbox_endpoint VARCHAR(255) NULL,
		credentials_location VARCHAR(32) NOT NULL DEFAULT 'query',
		auth_user_key VARCHAR(255) NOT NULL DEFAULT 'user_key',
		auth_app_id VARCHAR(255) NOT NULL DEFAULT 'app_id',
		auth_app_key VARCHAR(255) NOT NULL DEFAULT 'app_key',
		hostname_rewrite VARCHAR(255) NULL,
		secret_token VARCHAR(255) NULL,
		error_auth_failed VARCHAR(255) NULL DEFAULT 'Authentication failed',
		error_status_auth_failed INT NULL DEFAULT 403,
		error_headers_auth_failed VARCHAR(255) NOT NULL DEFAULT 'text/plain; charset=us-ascii',
		error_auth_missing VARCHAR(255) NULL DEFAULT 'Authentication parameters missing',
		error_status_auth_missing INT NULL DEFAULT 403,
		error_headers_auth_missing VARCHAR(255) NOT NULL DEFAULT 'text/plain; charset=us-ascii',
		error_no_match VARCHAR(255) NULL DEFAULT 'No Mapping Rule matched',
		error_status_no_match INT NULL DEFAULT 404,
		error_headers_no_match VARCHAR(255) NOT NULL DEFAULT 'text/plain; charset=us-ascii',
		error_limits_exceeded VARCHAR(255) NULL DEFAULT 'Usage limit exceeded',
		error_status_limits_exceeded INT NULL DEFAULT 429,
		error_headers_limits_exceeded VARCHAR(255) NOT NULL DEFAULT 'text/plain; charset=us-ascii',
		api_test_path VARCHAR(8192) NULL DEFAULT '/',
		lock_version BIGINT NOT NULL DEFAULT 0,
		policies_config MEDIUMTEXT NULL,
		created_at DATETIME(6) NOT NULL,
		updated_at DATETIME(6) NOT NULL,
		UNIQUE KEY idx_service (service_id)
	) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
	`CREATE TABLE IF NOT EXISTS proxy_rules (
		id BIGINT AUTO_INCREMENT PRIMARY KEY,
		owner_type VARCHAR(32) NOT NULL,
		owner_id BIGINT NOT NULL,
		http_method VARCHAR(16) NOT NULL,
		pattern VARCHAR(255) NOT NULL,
		metric_id BIGINT NOT NULL,
		delta INT NOT NULL DEFAULT 1,
		position INT NOT NULL DEFAULT 0,
		last TINYINT(1) NOT NULL DEFAULT 0,
		created_at DATETIME(6) NOT NULL,
		updated_at DATETIME(6) NOT NULL,
		KEY idx_owner (owner_type, owner_id)
	) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
	`CREATE TABLE IF NOT EXISTS backend_apis (
		id BIGINT AUTO_INCREMENT PRIMARY KEY,
		account_id BIGINT NOT NULL,
		name VARCHAR(255) NOT NULL,
		system_name VARCHAR(255) NOT NULL,
		description TEXT NULL,
		private_endpoint VARCHAR(255) NULL,
		state VARCHAR(32) NOT NULL DEFAULT 'published',
		created_at DATETIME(6) NOT NULL,
		updated_at DATETIME(6) NOT NULL,
		UNIQUE KEY idx_system_name (account_id, system_name)
	) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
	`CREATE TABLE IF NOT EXISTS backend_usages (
		id BIGINT AUTO_INCREMENT PRIMARY KEY,
		service_id BIGINT NOT NULL,
		backend_api_id BIGINT NOT NULL,
		path VARCHAR(255) NOT NULL DEFAULT '/',
		created_at DATETIME(6) NOT NULL,
		updated_at DATETIME(6) NOT NULL,
		UNIQUE KEY idx_usage (service_id, backend_api_id)
	) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
	`CREATE TABLE IF NOT EXISTS metrics (
		id BIGINT AUTO_INCREMENT PRIMARY KEY,
		owner_type VARCHAR(32) NOT NULL,
		owner_id BIGINT NOT NULL,
		parent_id BIGINT NULL,
		system_name VARCHAR(255) NOT NULL,
		friendly_name VARCHAR(255) NOT NULL,
		unit VARCHAR(255) NOT NULL DEFAULT 'hit',
		description TEXT NULL,
		created_at DATETIME(6) NOT NULL,
		updated_at DATETIME(6) NOT NULL,
		UNIQUE KEY idx_system_name (owner_type, owner_id, system_name)
	) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
	`CREATE TABLE IF NOT EXISTS plans (
		id BIGINT AUTO_INCREMENT PRIMARY KEY,
		issuer_id BIGINT NOT NULL,
		type VARCHAR(32) NOT NULL DEFAULT 'ApplicationPlan',
		name VARCHAR(255) NOT NULL,
		system_name VARCHAR(255) NOT NULL,
		state VARCHAR(32) NOT NULL DEFAULT 'hidden',
		approval_required TINYINT(1) NOT NULL DEFAULT 0,
		is_default TINYINT(1) NOT NULL DEFAULT 0,
		setup_fee DECIMAL(20,4) NOT NULL DEFAULT 0,
		cost_per_month DECIMAL(20,4) NOT NULL DEFAULT 0,
		trial_period_days INT NULL,
		cancellation_period INT NOT NULL DEFAULT 0,
		description TEXT NULL,
		created_at DATETIME(6) NOT NULL,
		updated_at DATETIME(6) NOT NULL,
		UNIQUE KEY idx_system_name (issuer_id, type, system_name)
	) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
	`CREATE TABLE IF NOT EXISTS annotations (
		id BIGINT AUTO_INCREMENT PRIMARY KEY,
		annotated_type VARCHAR(255) NOT NULL,
		annotated_id BIGINT NOT NULL,
		name VARCHAR(255) NOT NULL,
		value VARCHAR(255) NOT NULL,
		created_at DATETIME(6) NOT NULL,
		updated_at DATETIME(6) NOT NULL,
		UNIQUE KEY idx_annotated_name (annotated_type, annotated_id, name)
	) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
	`CREATE TABLE IF NOT EXISTS usage_limits (
		id BIGINT AUTO_INCREMENT PRIMARY KEY,
		plan_id BIGINT NOT NULL,
		metric_id BIGINT NOT NULL,
		period VARCHAR(16) NOT NULL,
		value BIGINT NOT NULL,
		created_at DATETIME(6) NOT NULL,
		updated_at DATETIME(6) NOT NULL,
		UNIQUE KEY idx_limit (plan_id, metric_id, period)
	) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
	`CREATE TABLE IF NOT EXISTS cinstances (
		id BIGINT AUTO_INCREMENT PRIMARY KEY,
		plan_id BIGINT NOT NULL,
		user_account_id BIGINT NOT NULL,
		service_id BIGINT NOT NULL,
		name VARCHAR(255) NOT NULL,
		description TEXT NULL,
		state VARCHAR(32) NOT NULL DEFAULT 'live',
		user_key VARCHAR(255) NULL,
		application_id VARCHAR(255) NOT NULL,
		provider_public_key VARCHAR(255) NULL,
		created_at DATETIME(6) NOT NULL,
		updated_at DATETIME(6) NOT NULL,
		UNIQUE KEY idx_user_key (service_id, user_key),
		UNIQUE KEY idx_app_id (service_id, application_id),
		KEY idx_account (user_account_id)
	) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
	`CREATE TABLE IF NOT EXISTS application_keys (
		id BIGINT AUTO_INCREMENT PRIMARY KEY,
		application_id BIGINT NOT NULL,
		value VARCHAR(255) NOT NULL,
		created_at DATETIME(6) NOT NULL,
		UNIQUE KEY idx_key (application_id, value)
	) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
	`CREATE TABLE IF NOT EXISTS proxy_configs (
		id BIGINT AUTO_INCREMENT PRIMARY KEY,
		proxy_id BIGINT NOT NULL,
		service_id BIGINT NOT NULL,
		environment VARCHAR(16) NOT NULL,
		version INT NOT NULL,
		hosts VARCHAR(8192) NULL,
		content MEDIUMTEXT NOT NULL,
		created_at DATETIME(6) NOT NULL,
		updated_at DATETIME(6) NOT NULL,
		UNIQUE KEY idx_version (proxy_id, environment, version)
	) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
	`CREATE TABLE IF NOT EXISTS event_store_events (
		id BIGINT AUTO_INCREMENT PRIMARY KEY,
		event_id VARCHAR(64) NOT NULL,
		event_type VARCHAR(255) NOT NULL,
		provider_id BIGINT NULL,
		data TEXT NOT NULL,
		created_at DATETIME(6) NOT NULL,
		UNIQUE KEY idx_event_id (event_id)
	) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
	`CREATE TABLE IF NOT EXISTS mail_deliveries (
		id BIGINT AUTO_INCREMENT PRIMARY KEY,
		job_id VARCHAR(64) NOT NULL,
		mailer VARCHAR(255) NOT NULL,
		mail_method VARCHAR(255) NOT NULL,
		arguments TEXT NOT NULL,
		delivered_at DATETIME(6) NOT NULL,
		UNIQUE KEY idx_job (job_id)
	) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
	// alerts are porta's Alert rows: one per account an imported alert event is kept for (the
	// provider for web_provider levels, the buyer for web_buyer), unique per account and
	// backend alert id (porta@3scale-2.16.4-GA:app/models/alert.rb).
	`CREATE TABLE IF NOT EXISTS alerts (
		id BIGINT AUTO_INCREMENT PRIMARY KEY,
		alert_id BIGINT NULL,
		backend_event_id BIGINT NULL,
		account_id BIGINT NULL,
		cinstance_id BIGINT NULL,
		service_id BIGINT NULL,
		level INT NOT NULL,
		utilization DECIMAL(12,4) NULL,
		message VARCHAR(1024) NOT NULL,
		state VARCHAR(32) NOT NULL DEFAULT 'unread',
		timestamp VARCHAR(64) NOT NULL,
		created_at DATETIME(6) NOT NULL,
		UNIQUE KEY idx_alert (account_id, alert_id)
	) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
	// cms_pages are the developer portal's CMS pages the twin serves: the homepage and the
	// docs page ImportSimpleLayoutWorker imports, and the pages of the CMS API (cms.go; porta's
	// cms_templates rows of type CMS::Page, db/schema.rb "cms_templates").
	`CREATE TABLE IF NOT EXISTS cms_pages (
		id BIGINT AUTO_INCREMENT PRIMARY KEY,
		account_id BIGINT NOT NULL,
		path VARCHAR(255) NOT NULL,
		title VARCHAR(255) NOT NULL,
		system_name VARCHAR(255) NULL,
		content_type VARCHAR(255) NOT NULL DEFAULT 'text/html',
		liquid_enabled TINYINT(1) NOT NULL DEFAULT 1,
		draft MEDIUMTEXT NULL,
		published MEDIUMTEXT NULL,
		searchable TINYINT(1) NOT NULL DEFAULT 0,
		created_at DATETIME(6) NOT NULL,
		updated_at DATETIME(6) NULL,
		UNIQUE KEY idx_path (account_id, path)
	) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
	// audits are the rows AuditedWorker saves (porta's audits table, the columns the twin's
	// audits carry; porta@3scale-2.16.4-GA:db/schema.rb "audits").
	`CREATE TABLE IF NOT EXISTS audits (
		id BIGINT AUTO_INCREMENT PRIMARY KEY,
		auditable_id BIGINT NULL,
		auditable_type VARCHAR(255) NULL,
		action VARCHAR(255) NOT NULL,
		audited_changes TEXT NULL,
		kind VARCHAR(255) NOT NULL,
		provider_id BIGINT NULL,
		user_id BIGINT NULL,
		request_uuid VARCHAR(255) NULL,
		created_at DATETIME(6) NOT NULL,
		KEY idx_auditable (auditable_type, auditable_id),
		KEY idx_provider (provider_id)
	) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
	// pricing_rules are an application plan's prices per metric usage
	// (porta@3scale-2.16.4-GA:db/schema.rb "pricing_rules": min defaults to 1, max NULL for no
	// upper bound, cost_per_unit DECIMAL(20,4) defaulting to 0).
	`CREATE TABLE IF NOT EXISTS pricing_rules (
		id BIGINT AUTO_INCREMENT PRIMARY KEY,
		plan_id BIGINT NOT NULL,
		metric_id BIGINT NOT NULL,
		min BIGINT NOT NULL DEFAULT 1,
		max BIGINT NULL,
		cost_per_unit DECIMAL(20,4) NOT NULL DEFAULT 0,
		created_at DATETIME(6) NOT NULL,
		updated_at DATETIME(6) NOT NULL,
		KEY idx_plan (plan_id),
		KEY idx_metric (metric_id)
	) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
	`CREATE TABLE IF NOT EXISTS backend_events (
		id BIGINT AUTO_INCREMENT PRIMARY KEY,
		backend_event_id BIGINT NOT NULL,
		event_type VARCHAR(64) NOT NULL,
		data TEXT NOT NULL,
		created_at DATETIME(6) NOT NULL,
		UNIQUE KEY idx_event (backend_event_id)
	) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
	// oidc_configurations hold a proxy's OIDC flows, config serialized as a JSON object
	// (porta@3scale-2.16.4-GA:db/migrate/20190225170501_create_oidc_configurations.rb).
	`CREATE TABLE IF NOT EXISTS oidc_configurations (
		id BIGINT AUTO_INCREMENT PRIMARY KEY,
		config TEXT NULL,
		oidc_configurable_type VARCHAR(255) NOT NULL,
		oidc_configurable_id BIGINT NOT NULL,
		tenant_id BIGINT NULL,
		created_at DATETIME(6) NOT NULL,
		updated_at DATETIME(6) NOT NULL,
		UNIQUE KEY oidc_configurable (oidc_configurable_type, oidc_configurable_id)
	) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
}

// migrations bring a database created by an earlier twin up to the schema above (MariaDB's
// IF NOT EXISTS forms make each one idempotent).
var migrations = []string{
	`ALTER TABLE cinstances ADD COLUMN IF NOT EXISTS provider_public_key VARCHAR(255) NULL`,
	`ALTER TABLE services ADD COLUMN IF NOT EXISTS notification_settings TEXT NULL`,
	`ALTER TABLE cms_pages ADD COLUMN IF NOT EXISTS system_name VARCHAR(255) NULL`,
	`ALTER TABLE cms_pages ADD COLUMN IF NOT EXISTS content_type VARCHAR(255) NOT NULL DEFAULT 'text/html'`,
	`ALTER TABLE cms_pages ADD COLUMN IF NOT EXISTS liquid_enabled TINYINT(1) NOT NULL DEFAULT 1`,
	`ALTER TABLE cms_pages ADD COLUMN IF NOT EXISTS draft MEDIUMTEXT NULL`,
	`ALTER TABLE cms_pages ADD COLUMN IF NOT EXISTS published MEDIUMTEXT NULL`,
	`ALTER TABLE cms_pages ADD COLUMN IF NOT EXISTS searchable TINYINT(1) NOT NULL DEFAULT 0`,
	`ALTER TABLE cms_pages ADD COLUMN IF NOT EXISTS updated_at DATETIME(6) NULL`,
	`UPDATE cms_pages SET published='{% disable_client_cache %}' WHERE published IS NULL AND draft IS NULL AND path IN ('/','/docs')`,
	`ALTER TABLE accounts ADD COLUMN IF NOT EXISTS default_service_id BIGINT NULL`,
	`ALTER TABLE accounts ADD COLUMN IF NOT EXISTS site_access_code VARCHAR(255) NULL`,
	`ALTER TABLE accounts ADD COLUMN IF NOT EXISTS sample_data TINYINT(1) NOT NULL DEFAULT 0`,
	`ALTER TABLE alerts ADD COLUMN IF NOT EXISTS alert_id BIGINT NULL`,
	`ALTER TABLE alerts ADD COLUMN IF NOT EXISTS utilization DECIMAL(12,4) NULL`,
	`ALTER TABLE alerts MODIFY backend_event_id BIGINT NULL`,
	`ALTER TABLE plans ADD COLUMN IF NOT EXISTS setup_fee DECIMAL(20,4) NOT NULL DEFAULT 0`,
	`ALTER TABLE plans ADD COLUMN IF NOT EXISTS cost_per_month DECIMAL(20,4) NOT NULL DEFAULT 0`,
	`ALTER TABLE plans ADD COLUMN IF NOT EXISTS trial_period_days INT NULL`,
	`ALTER TABLE plans ADD COLUMN IF NOT EXISTS cancellation_period INT NOT NULL DEFAULT 0`,
	`ALTER TABLE plans ADD COLUMN IF NOT EXISTS description TEXT NULL`,
	`ALTER TABLE alerts DROP INDEX IF EXISTS idx_event`,
	`CREATE UNIQUE INDEX IF NOT EXISTS idx_alert ON alerts (account_id, alert_id)`,
	`ALTER TABLE accounts ADD COLUMN IF NOT EXISTS from_email VARCHAR(255) NULL`,
	`ALTER TABLE accounts ADD COLUMN IF NOT EXISTS support_email VARCHAR(255) NULL`,
	`ALTER TABLE accounts ADD COLUMN IF NOT EXISTS finance_support_email VARCHAR(255) NULL`,
	`ALTER TABLE accounts ADD COLUMN IF NOT EXISTS state_changed_at DATETIME(6) NULL`,
	`ALTER TABLE users ADD COLUMN IF NOT EXISTS updated_at DATETIME(6) NULL`,
}

func init() {
	// A proxy's error answers, api_test_path and lock_version take porta's column defaults
	// (porta@3scale-2.16.4-GA:db/schema.rb create_table "proxies"); rows an earlier twin wrote
	// without them get them, and a secret_token as Proxy#create_default_secret_token makes.
	for _, f := range []struct{ name, text, status string }{
		{"auth_failed", "Authentication failed", "403"}, {"auth_missing", "Authentication parameters missing", "403"},
		{"no_match", "No Mapping Rule matched", "404"}, {"limits_exceeded", "Usage limit exceeded", "429"},
	} {
		migrations = append(migrations,
			`ALTER TABLE proxies ADD COLUMN IF NOT EXISTS error_headers_`+f.name+` VARCHAR(255) NOT NULL DEFAULT 'text/plain; charset=us-ascii'`,
			`ALTER TABLE proxies ALTER COLUMN error_`+f.name+` SET DEFAULT '`+f.text+`'`,
			`ALTER TABLE proxies ALTER COLUMN error_status_`+f.name+` SET DEFAULT `+f.status,
			`UPDATE proxies SET error_`+f.name+`='`+f.text+`' WHERE error_`+f.name+` IS NULL`,
			`UPDATE proxies SET error_status_`+f.name+`=`+f.status+` WHERE error_status_`+f.name+` IS NULL`)
	}
	migrations = append(migrations,
		`ALTER TABLE proxies ADD COLUMN IF NOT EXISTS api_test_path VARCHAR(8192) NULL DEFAULT '/'`,
		`ALTER TABLE proxies ADD COLUMN IF NOT EXISTS lock_version BIGINT NOT NULL DEFAULT 0`,
		`UPDATE proxies SET secret_token=CONCAT('`+secretTokenPrefix+`', LEFT(SHA2(CONCAT(id, RAND()), 256), 16)) WHERE secret_token IS NULL OR secret_token=''`)
}

// openDB connects to system-mysql, creating the database and the schema when missing.
func openDB(ctx context.Context, databaseURL string, timeout time.Duration) (*sql.DB, error) {
	dsn, name, err := mysqlDSN(databaseURL, timeout)
	if err != nil {
		return nil, err
	}
	if strings.ContainsAny(name, "`;") {
		return nil, fmt.Errorf("database name %q is not allowed", name)
	}
	boot, err := sql.Open("mysql", dsn(""))
	if err != nil {
		return nil, err
	}
	_, err = boot.ExecContext(ctx, "CREATE DATABASE IF NOT EXISTS `"+name+"` CHARACTER SET utf8mb4")
	_ = boot.Close()
	if err != nil {
		return nil, fmt.Errorf("create database %s: %w", name, err)
	}
	db, err := sql.Open("mysql", dsn(name))
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(20)
	db.SetMaxIdleConns(5)
	db.SetConnMaxLifetime(5 * time.Minute)
	for _, stmt := range append(append([]string{}, schema...), migrations...) {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			_ = db.Close()
			return nil, fmt.Errorf("create schema: %w", err)
		}
	}
	return db, nil
}

// randomHex returns n random bytes hex-encoded (porta's keys and tokens are hex strings).
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// isDuplicate reports a unique-key violation (ActiveRecord::RecordNotUnique → 409, §1.5).
func isDuplicate(err error) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && me.Number == 1062
}
