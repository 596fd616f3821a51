package system

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"encoding/xml"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Products (services), their metrics and methods, mapping rules, application plans and limits,
// backend APIs and backend usages: the §2 rows of research/porta-zync.md, with what porta does
// after commit (§4.2): backend syncs inline, Sidekiq jobs through enqueue (path A of §4.3).

type serviceRow struct {
	ID                                                               int64
	AccountID                                                        int64
	Name, SystemName, Description, State, DeploymentOption, BVersion string
	CreatedAt, UpdatedAt                                             time.Time
	// NotificationSettings is the serialized notification_settings column: NULL for a new
	// product, else the normalised settings (notification_settings.go).
	NotificationSettings sql.NullString
	// supportEmail is Service#support_email: the provider's, which is its first admin's e-mail.
	supportEmail sql.NullString
	// annotations is the product's annotations as a JSON object, NULL when none (annotations.go).
	annotations sql.NullString
	// metricsXML is the product's metrics and methods for its XML (serviceMetricsCol).
	metricsXML sql.NullString
}

var serviceCols = `id, account_id, name, system_name, COALESCE(description,''), state, deployment_option, backend_version, created_at, updated_at,
	notification_settings, (SELECT u.email FROM users u WHERE u.account_id=services.account_id ORDER BY u.id LIMIT 1), ` +
	annotationsCol("Service", "services") + `, ` + serviceMetricsCol

func scanService(row interface{ Scan(...any) error }) (*serviceRow, error) {
	var s serviceRow
	err := row.Scan(&s.ID, &s.AccountID, &s.Name, &s.SystemName, &s.Description, &s.State, &s.DeploymentOption, &s.BVersion, &s.CreatedAt, &s.UpdatedAt,
		&s.NotificationSettings, &s.supportEmail, &s.annotations, &s.metricsXML)
	return &s, err
}

func (s *serviceRow) json() map[string]any { return map[string]any{"service": s.fields()} }

// service loads a live (not soft-deleted) service of the tenant; 404 otherwise.
func (a *app) service(ctx context.Context, q querier, rc *reqCtx, sid int64) (*serviceRow, error) {
	s, err := scanService(q.QueryRowContext(ctx, `SELECT `+serviceCols+` FROM services WHERE id=? AND account_id=? AND state<>'deleted'`, sid, rc.tenant.ID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errNotFound
	}
	return s, err
}

// deploymentOptions is Service::DeploymentOption.all: the plugins, the two APIcast gateways and
// Istio (porta@3scale-2.16.4-GA:app/models/service.rb:138-162, validated at :165).
var deploymentOptions = map[string]bool{
	"plugin_ruby": true, "plugin_java": true, "plugin_python": true, "plugin_nodejs": true, "plugin_php": true,
	"plugin_rest": true, "plugin_csharp": true, "hosted": true, "self_managed": true, "service_mesh_istio": true,
}

// denyMaster is porta's deny_on_premises_for_master: product APIs are refused on master (§1.2).
func denyMaster(rc *reqCtx) error {
	if rc.tenant.Kind == "master" {
		return errMasterOnPremise
	}
	return nil
}

func (a *app) listServices(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	if err := denyMaster(rc); err != nil {
		return err
	}
	limit, offset := page(parseParams(r))
	rows, err := a.db.QueryContext(r.Context(), `SELECT `+serviceCols+` FROM services WHERE account_id=? AND state<>'deleted' ORDER BY id LIMIT ? OFFSET ?`, rc.tenant.ID, limit, offset)
	if err != nil {
		return err
	}
	defer rows.Close()
	var out servicesDoc
	for rows.Next() {
		s, err := scanService(rows)
		if err != nil {
			return err
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	return ok(w, rc, out)
}

func (a *app) showService(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	if err := denyMaster(rc); err != nil {
		return err
	}
	sid, err := pathID(r, "id")
	if err != nil {
		return err
	}
	s, err := a.service(r.Context(), a.db, rc, sid)
	if err != nil {
		return err
	}
	return ok(w, rc, serviceDoc{s})
}

// defaultEndpoint builds a new proxy's staging or production endpoint from the tenant's
// subdomain (porta@3scale-2.16.4-GA:app/models/proxy.rb DeploymentStrategy provider_subdomain).
func (a *app) defaultEndpoint(tenant *account, sysName, env string) string {
	sub := a.tenantSubdomain(tenant)
	host := sysName + "-" + sub + "-apicast-" + env + "." + a.cfg.Seed.Superdomain
	if env == "staging" && a.cfg.ApicastStagingDomain != "" {
		host = sysName + "-" + sub + "." + a.cfg.ApicastStagingDomain
	}
	if env == "production" && a.cfg.ApicastProductionDomain != "" {
		host = sysName + "-" + sub + "." + a.cfg.ApicastProductionDomain
	}
	return "https://" + strings.ReplaceAll(host, "_", "-") + ":443"
}

// createService is ServiceCreator: the service, its proxy, the default hits metric and the
// default "GET /" mapping rule in one transaction. The service token is not part of it: porta
// publishes Services::ServiceCreatedEvent after commit (with a token value generated then) and
// CreateServiceTokenWorker creates the token and saves it to backend later
// (porta@3scale-2.16.4-GA:app/models/service.rb after_commit
// :create_and_publish_service_created_event; app/events/services/service_created_event.rb
// after_commit → CreateServiceTokenWorker.enqueue; app/workers/create_service_token_worker.rb,
// a Sidekiq job on queue default). A proxy config deployed before that job ran has
// backend_authentication_value null (Service#service_token is service_tokens.first). After
// commit, in Rails 7.0's reverse order of declaration, the audit job is enqueued, then the
// created event is published, then the service is saved to backend
// (Backend::ModelExtensions::Service#update_backend_service); the index, metric-sync and zync
// jobs follow (§4.2 async table). Any failure there answers 500 with the service created; with
// system-redis down the audit fails first, so the product has no service token and backend
// never hears of it.
func (a *app) createService(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	if err := denyMaster(rc); err != nil {
		return err
	}
	p := parseParams(r)
	name := p.get("name")
	if name == "" {
		return invalid("name", "can't be blank")
	}
	sys := p.get("system_name")
	if sys == "" {
		sys = systemName(name)
	}
	bv := p.get("backend_version")
	if bv == "" {
		bv = "1"
	}
	switch bv {
	case "1", "2", "oidc", "oauth":
	default:
		return invalid("backend_version", "is not included in the list")
	}
	dep := p.get("deployment_option")
	if dep == "" {
		dep = "hosted"
	}
	if !deploymentOptions[dep] {
		return invalid("deployment_option", "is not included in the list")
	}
	annotations, err := annotationsParam(p)
	if err != nil {
		return err
	}
	ctx := r.Context()
	var sid, proxyID, hitsID int64
	var others []job // the metric's and the mapping rule's jobs
	var zs, zp job
	err = a.inTx(ctx, func(tx *sql.Tx) error {
		t := now()
		var err error
		sid, err = lastID(tx.ExecContext(ctx, `INSERT INTO services (account_id, name, system_name, description, state, deployment_option, backend_version, created_at, updated_at)
			VALUES (?,?,?,?,?,?,?,?,?)`, rc.tenant.ID, name, sys, p.get("description"), "incomplete", dep, bv, t, t))
		if isDuplicate(err) {
			return invalid("system_name", "has already been taken")
		}
		if err != nil {
			return err
		}
		if err := saveAnnotations(ctx, tx, "Service", sid, annotations); err != nil {
			return err
		}
		proxyID, err = lastID(tx.ExecContext(ctx, `INSERT INTO proxies (service_id, api_backend, endpoint, sandbox_endpoint, secret_token, policies_config, created_at, updated_at)
			VALUES (?,?,?,?,?,?,?,?)`, sid, nil, a.defaultEndpoint(rc.tenant, sys, "production"), a.defaultEndpoint(rc.tenant, sys, "staging"), newSecretToken(),
			`[{"name":"apicast","version":"builtin","configuration":{},"enabled":true}]`, t, t))
		if err != nil {
			return err
		}
		hitsID, err = lastID(tx.ExecContext(ctx, `INSERT INTO metrics (owner_type, owner_id, system_name, friendly_name, unit, description, created_at, updated_at)
			VALUES ('Service',?,?,?,?,?,?,?)`, sid, "hits", "Hits", "hit", "Number of API hits", t, t))
		if err != nil {
			return err
		}
		ruleID, err := lastID(tx.ExecContext(ctx, `INSERT INTO proxy_rules (owner_type, owner_id, http_method, pattern, metric_id, delta, position, last, created_at, updated_at)
			VALUES ('Proxy',?,?,?,?,?,?,?,?,?)`, proxyID, "GET", "/", hitsID, 1, 1, false, t, t))
		if err != nil {
			return err
		}
		if zp, err = zyncEvent(ctx, tx, "Proxy", proxyID, rc.tenant.ID, "OIDC::ProxyChangedEvent", map[string]any{"service_id": sid}); err != nil {
			return err
		}
		if zs, err = zyncEvent(ctx, tx, "Service", sid, rc.tenant.ID, "OIDC::ServiceChangedEvent", map[string]any{"service_id": sid}); err != nil {
			return err
		}
		others = []job{metricSyncJob(sid, hitsID), indexJob("Metric", hitsID), indexJob("ProxyRule", ruleID)}
		return nil
	})
	if err != nil {
		return err
	}
	// The service joined the transaction first: its callbacks run first, the audit's
	// AuditedWorker before all (audited is declared last in app/models/service.rb), then the
	// created event, published outside the transaction (its job dropped with a log when it
	// cannot be enqueued), backend, the index. The other records' jobs follow; the zync
	// subscribers run even when the service's callbacks failed.
	service := model(
		a.enqueueing(auditJob("Service", sid, rc.tenant.ID, "create", map[string]any{"name": name, "system_name": sys}, rc.userID())),
		func(ctx context.Context) error {
			tokenJob, err := a.publishServiceCreated(ctx, a.db, sid, rc.tenant.ID)
			if err != nil {
				return err
			}
			a.publish(ctx, tokenJob)
			return nil
		},
		func(ctx context.Context) error {
			return a.backend.saveService(ctx, sid, rc.tenant.APIKey, bv, "active")
		},
		a.enqueueing(indexJob("Service", sid)))
	// The Service event goes first: zync refuses a Proxy whose Service it does not know (422).
	if err := a.afterCommit(ctx, service, model(a.enqueueing(others...)), subscriber(a.enqueueing(zs)), subscriber(a.enqueueing(zp))); err != nil {
		return err
	}
	s, err := a.service(ctx, a.db, rc, sid)
	if err != nil {
		return err
	}
	return created(w, rc, fmtID("/admin/api/services/", sid), serviceDoc{s})
}

// updateService is PUT /admin/api/services/{id}: service.update(service_params)
// (porta@3scale-2.16.4-GA:app/controllers/admin/api/services_controller.rb update). Inside the
// transaction the audit is queued for after commit (audited's before_update audit_update; the
// hack's run_after_commit) and after_save publish_events publishes OIDC::ServiceChangedEvent,
// whose ZyncEvent's subscriber enqueues ZyncWorker at commit (app/models/service.rb
// publish_events; app/subscribers/publish_zync_event_subscriber.rb, zync_subscriber.rb). After
// commit the service's callbacks run in reverse order of declaration (app/models/service.rb:
// `audited` at :171 is declared last, so its after_commit :_run_after_commit_queue runs first;
// then update_notification_settings :44, update_backend_service from
// Backend::ModelExtensions::Service :7, index_object from Searchable :6), then the ZyncWorker.
// With system-redis down the audit's AuditedWorker.perform_async raises first: the request
// answers 500 with the update saved, and neither backend's alert limits nor its service are
// updated; the index and zync jobs are lost. The same at 3scale-2.15.1-GA (audited at :162).
func (a *app) updateService(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	if err := denyMaster(rc); err != nil {
		return err
	}
	sid, err := pathID(r, "id")
	if err != nil {
		return err
	}
	ctx := r.Context()
	s, err := a.service(ctx, a.db, rc, sid)
	if err != nil {
		return err
	}
	p := parseParams(r)
	changes := map[string]any{}
	change := func(field string, dst *string, v string) {
		if *dst != v {
			changes[field] = []any{*dst, v}
			*dst = v
		}
	}
	if v := p.get("name"); v != "" {
		change("name", &s.Name, v)
	}
	if p.has("description") {
		change("description", &s.Description, p.get("description"))
	}
	if v := p.get("deployment_option"); v != "" {
		if !deploymentOptions[v] {
			return invalid("deployment_option", "is not included in the list")
		}
		change("deployment_option", &s.DeploymentOption, v)
	}
	if v := p.get("backend_version"); v != "" {
		change("backend_version", &s.BVersion, v)
	}
	switch p.get("state_event") {
	case "publish":
		change("state", &s.State, "published")
	case "hide":
		change("state", &s.State, "hidden")
	}
	// notification_settings (notification_settings.go): saved as normalised; a change syncs
	// backend's alert limits after commit, before the service itself is saved to backend.
	settingsChanged := false
	var settings notificationSettings
	if ns, given := notificationSettingsParam(p); given {
		settings = ns
		enc := ns.encode()
		settingsChanged = !s.NotificationSettings.Valid || s.NotificationSettings.String != enc
		if settingsChanged {
			changes["notification_settings"] = []any{nullable(s.NotificationSettings.String, s.NotificationSettings.Valid), enc}
		}
		s.NotificationSettings = sql.NullString{String: enc, Valid: true}
	}
	annotations, err := annotationsParam(p)
	if err != nil {
		return err
	}
	var zs job
	err = a.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE services SET name=?, description=?, deployment_option=?, backend_version=?, state=?, notification_settings=?, updated_at=? WHERE id=?`,
			s.Name, s.Description, s.DeploymentOption, s.BVersion, s.State, s.NotificationSettings, now(), sid); err != nil {
			return err
		}
		if err := saveAnnotations(ctx, tx, "Service", sid, annotations); err != nil {
			return err
		}
		zs, err = zyncEvent(ctx, tx, "Service", sid, rc.tenant.ID, "OIDC::ServiceChangedEvent", map[string]any{"service_id": sid})
		return err
	})
	if err != nil {
		return err
	}
	var service []step
	// audited only writes an audit when an audited attribute changed (audit_update).
	if len(changes) > 0 {
		service = append(service, a.enqueueing(auditJob("Service", sid, rc.tenant.ID, "update", changes, rc.userID())))
	}
	if settingsChanged {
		service = append(service, func(ctx context.Context) error { return a.backend.syncAlertLimits(ctx, sid, settings) })
	}
	service = append(service,
		func(ctx context.Context) error {
			return a.backend.saveService(ctx, sid, rc.tenant.APIKey, s.BVersion, "active")
		},
		a.enqueueing(indexJob("Service", sid)))
	if err := a.afterCommit(ctx, model(service...), subscriber(a.enqueueing(zs))); err != nil {
		return err
	}
	s, err = a.service(ctx, a.db, rc, sid)
	if err != nil {
		return err
	}
	return ok(w, rc, serviceDoc{s})
}

// deleteService is DELETE /admin/api/services/{id} (porta@3scale-2.16.4-GA:
// app/controllers/admin/api/services_controller.rb destroy): `authorize!(:destroy, service) if
// current_user`, then service.mark_as_deleted!.
//
// The default product (account.default_service_id, never set for a new tenant) and the last
// accessible one cannot be deleted (Service#default_or_last?). With an access token there is a
// current_user, and the ability refuses it first (config/abilities/provider_admin.rb
// `can :destroy, Service` unless default_or_last?): CanCan::AccessDenied, answered by
// ErrorHandling#handle_access_denied with 403, {"status":"Forbidden"} in JSON and an empty body
// in XML. With a provider_key there is none, and mark_as_deleted! raises
// StateMachines::InvalidTransition, which Admin::Api::BaseController answers with 422 and
// StateMachine::InvalidTransitionRepresenter ({"error":{"from","event","error","object"}},
// ThreeScale::Api::ErrorResponder).
//
// Otherwise the state becomes deleted and 200 comes back with an empty body; the product is
// gone from every accessible_services lookup (lists, GET → 404). After commit, the service's
// callbacks in reverse order of declaration: the audit job (audited, declared last), then
// update_backend_service, which runs on every commit of a service that is not destroyed (a
// failing backend answers 500 with the product already marked deleted), then the index job.
// Then the subscribers of the events published in the transaction, in their order: the
// ZyncWorker jobs of the save (after_save publish_events), and ServiceScheduledForDeletionEvent's
// DeleteObjectHierarchyWorker (ActiveJob, queue deletion; published by the transition's
// after_transition notify_deletion), which removes the product's data and, when the Service
// row is destroyed, has ServiceDeletedEvent enqueue BackendDeleteServiceWorker
// (app/subscribers/service_deletion_subscriber.rb, service_deleted_subscriber.rb). With
// system-redis down the audit fails first: 500 with the product marked deleted, and its data
// is never removed, from system or backend.
func (a *app) deleteService(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	if err := denyMaster(rc); err != nil {
		return err
	}
	sid, err := pathID(r, "id")
	if err != nil {
		return err
	}
	ctx := r.Context()
	s, err := a.service(ctx, a.db, rc, sid)
	if err != nil {
		return err
	}
	var others int
	var defaultID sql.NullInt64
	if err := a.db.QueryRowContext(ctx, `SELECT (SELECT COUNT(*) FROM services WHERE account_id=? AND state<>'deleted' AND id<>?),
		(SELECT default_service_id FROM accounts WHERE id=?)`, rc.tenant.ID, sid, rc.tenant.ID).Scan(&others, &defaultID); err != nil {
		return err
	}
	if others == 0 || defaultID.Valid && defaultID.Int64 == sid {
		if rc.cred.UserID != 0 {
			if rc.format == "xml" {
				return &httpError{http.StatusForbidden, nil}
			}
			return &httpError{http.StatusForbidden, map[string]string{"status": "Forbidden"}}
		}
		return &httpError{http.StatusUnprocessableEntity, invalidTransitionDoc{from: s.State, event: "mark_as_deleted", object: s}}
	}
	var zs, zp job
	err = a.inTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE services SET state='deleted', updated_at=? WHERE id=?`, now(), sid); err != nil {
			return err
		}
		var proxyID int64
		if err := tx.QueryRowContext(ctx, `SELECT id FROM proxies WHERE service_id=?`, sid).Scan(&proxyID); err != nil {
			return err
		}
		var err error
		if zs, err = zyncEvent(ctx, tx, "Service", sid, rc.tenant.ID, "OIDC::ServiceChangedEvent", map[string]any{"service_id": sid}); err != nil {
			return err
		}
		zp, err = zyncEvent(ctx, tx, "Proxy", proxyID, rc.tenant.ID, "OIDC::ProxyChangedEvent", map[string]any{"service_id": sid})
		return err
	})
	if err != nil {
		return err
	}
	err = a.afterCommit(ctx,
		model(a.enqueueing(auditJob("Service", sid, rc.tenant.ID, "update", map[string]any{"state": []any{s.State, "deleted"}}, rc.userID())),
			func(ctx context.Context) error {
				return a.backend.saveService(ctx, sid, rc.tenant.APIKey, s.BVersion, "active")
			},
			a.enqueueing(indexJob("Service", sid))),
		subscriber(a.enqueueing(zs)), subscriber(a.enqueueing(zp)),
		subscriber(a.enqueueing(deleteHierarchyJob("Service", sid))))
	if err != nil {
		return err
	}
	return deleted(w)
}

// invalidTransitionDoc is StateMachine::InvalidTransitionRepresenter for a product: JSON
// {"error":{"from","event","error","object":{"service":{…}}}}, XML <error> with the product as
// <service>. The message is state_machines-activemodel's full message for the state attribute,
// porta's locale 'cannot transition via "%{event}"' with the event's humanized name
// (porta@3scale-2.16.4-GA:app/representers/state_machine/invalid_transition_representer.rb,
// config/locales/en.yml invalid_transition; the same shape porta's own tests assert for users:
// test/integration/user-management-api/buyers_users_test.rb).
type invalidTransitionDoc struct {
	from, event string
	object      *serviceRow
}

func (d invalidTransitionDoc) message() string {
	return `State cannot transition via "` + strings.ReplaceAll(d.event, "_", " ") + `"`
}

func (d invalidTransitionDoc) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]any{"error": map[string]any{"from": d.from, "event": d.event, "error": d.message(), "object": d.object.json()}})
}

func (d invalidTransitionDoc) renderXML(b *bytes.Buffer) {
	b.WriteString("<error><from>")
	_ = xml.EscapeText(b, []byte(d.from))
	b.WriteString("</from><event>" + d.event + "</event><error>")
	_ = xml.EscapeText(b, []byte(d.message()))
	b.WriteString("</error>")
	d.object.writeXML(b)
	b.WriteString("</error>")
}

// publishServiceCreated records Services::ServiceCreatedEvent, whose token_value is generated
// when the event is created (SecureRandom.hex(32)), and returns its CreateServiceTokenWorker
// job (perform_async(event_id), queue default).
func (a *app) publishServiceCreated(ctx context.Context, q querier, sid, tenantID int64) (job, error) {
	eventID := uuid.NewString()
	data, _ := json.Marshal(map[string]any{"service_id": sid, "provider_id": tenantID, "token_value": randomHex(32)})
	if _, err := q.ExecContext(ctx, `INSERT INTO event_store_events (event_id, event_type, provider_id, data, created_at) VALUES (?,?,?,?,?)`,
		eventID, "Services::ServiceCreatedEvent", tenantID, string(data), now()); err != nil {
		return job{}, err
	}
	return job{false, "default", ClassCreateServiceToken, []any{eventID}}, nil
}

// --- metrics and methods ---

// metricInLatestConfigs says whether the newest sandbox or production configuration of one of
// the products maps a rule to the metric (ProxyConfig#contains_metric? reads
// content.proxy.proxy_rules[].metric_id).
func (a *app) metricInLatestConfigs(ctx context.Context, services []int64, mid int64) (bool, error) {
	for _, sid := range services {
		for _, env := range []string{"sandbox", "production"} {
			var content string
			err := a.db.QueryRowContext(ctx, `SELECT content FROM proxy_configs WHERE service_id=? AND environment=? ORDER BY version DESC LIMIT 1`, sid, env).Scan(&content)
			if errors.Is(err, sql.ErrNoRows) {
				continue
			}
			if err != nil {
				return false, err
			}
			var c struct {
				Proxy struct {
					Rules []struct {
						MetricID int64 `json:"metric_id"`
					} `json:"proxy_rules"`
				} `json:"proxy"`
			}
			if json.Unmarshal([]byte(content), &c) != nil {
				continue
			}
			for _, r := range c.Proxy.Rules {
				if r.MetricID == mid {
					return true, nil
				}
			}
		}
	}
	return false, nil
}

type metricRow struct {
	ID, OwnerID                                 int64
	OwnerType                                   string
	ParentID                                    sql.NullInt64
	SystemName, FriendlyName, Unit, Description string
	CreatedAt, UpdatedAt                        time.Time
}

const metricCols = `id, owner_type, owner_id, parent_id, system_name, friendly_name, unit, COALESCE(description,''), created_at, updated_at`

func scanMetric(row interface{ Scan(...any) error }) (*metricRow, error) {
	var m metricRow
	err := row.Scan(&m.ID, &m.OwnerType, &m.OwnerID, &m.ParentID, &m.SystemName, &m.FriendlyName, &m.Unit, &m.Description, &m.CreatedAt, &m.UpdatedAt)
	return &m, err
}

func (m *metricRow) json() map[string]any {
	// MetricRepresenter, under "metric" for a method too (wraps_resource names the model): a backend API's metric is shown under its extended system_name
	// ("<name>.<backend_api_id>", stored so by porta) without name, and links its backend API
	// (porta@3scale-2.16.4-GA:app/representers/metric_representer.rb;
	// app/lib/backend_api_logic/metric_extension.rb extend_system_name).
	base := fmtID("/admin/api/services/", m.OwnerID)
	owner := link("service", base)
	if m.OwnerType == "BackendApi" {
		base = fmtID("/admin/api/backend_apis/", m.OwnerID)
		owner = link("backend_api", base)
	}
	body := map[string]any{"id": m.ID, "system_name": m.backendName(), "friendly_name": m.FriendlyName,
		"unit": m.Unit, "description": m.Description, "created_at": ts(m.CreatedAt), "updated_at": ts(m.UpdatedAt),
		"links": []any{owner, link("self", fmtID(base+"/metrics/", m.ID))}}
	if m.OwnerType != "BackendApi" {
		body["name"] = m.SystemName
	}
	if m.ParentID.Valid {
		body["parent_id"] = m.ParentID.Int64
	}
	return map[string]any{"metric": xmlDoc{body, m.writeXML}}
}

// backendName is the metric name backend knows: backend API metrics carry a ".<backend_api_id>"
// suffix so they cannot clash with a product's own metrics.
func (m *metricRow) backendName() string {
	if m.OwnerType == "BackendApi" {
		return m.SystemName + "." + id(m.OwnerID)
	}
	return m.SystemName
}

// metricOwner resolves the owner of metric routes: a service (products) or a backend API.
type metricOwner struct {
	typ string
	id  int64
	// services are the products whose backend sees these metrics.
	services []int64
}

func (a *app) serviceOwner(ctx context.Context, rc *reqCtx, r *http.Request, name string) (*metricOwner, error) {
	if err := denyMaster(rc); err != nil {
		return nil, err
	}
	sid, err := pathID(r, name)
	if err != nil {
		return nil, err
	}
	if _, err := a.service(ctx, a.db, rc, sid); err != nil {
		return nil, err
	}
	return &metricOwner{"Service", sid, []int64{sid}}, nil
}

func (a *app) backendAPIOwner(ctx context.Context, rc *reqCtx, r *http.Request, name string) (*metricOwner, error) {
	bid, err := pathID(r, name)
	if err != nil {
		return nil, err
	}
	if _, err := a.backendAPI(ctx, rc, bid); err != nil {
		return nil, err
	}
	rows, err := a.db.QueryContext(ctx, `SELECT u.service_id FROM backend_usages u JOIN services s ON s.id=u.service_id WHERE u.backend_api_id=? AND s.state<>'deleted'`, bid)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	o := &metricOwner{typ: "BackendApi", id: bid}
	for rows.Next() {
		var sid int64
		if err := rows.Scan(&sid); err != nil {
			return nil, err
		}
		o.services = append(o.services, sid)
	}
	return o, rows.Err()
}

func (a *app) metric(ctx context.Context, o *metricOwner, mid int64) (*metricRow, error) {
	m, err := scanMetric(a.db.QueryRowContext(ctx, `SELECT `+metricCols+` FROM metrics WHERE id=? AND owner_type=? AND owner_id=?`, mid, o.typ, o.id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errNotFound
	}
	return m, err
}

func (a *app) listMetrics(ownerOf func(context.Context, *reqCtx, *http.Request, string) (*metricOwner, error), methods bool) apiHandler {
	return func(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
		ctx := r.Context()
		o, err := ownerOf(ctx, rc, r, "id")
		if err != nil {
			return err
		}
		q := `SELECT ` + metricCols + ` FROM metrics WHERE owner_type=? AND owner_id=?`
		args := []any{o.typ, o.id}
		key := "metrics"
		if methods {
			parent, err := a.methodParent(ctx, o, r, false)
			if err != nil {
				return err
			}
			q += ` AND parent_id=?`
			args = append(args, parent.ID)
			key = "methods"
		}
		rows, err := a.db.QueryContext(ctx, q+` ORDER BY id`, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		out := []any{}
		for rows.Next() {
			m, err := scanMetric(rows)
			if err != nil {
				return err
			}
			if methods {
				out = append(out, m.methodJSON())
			} else {
				out = append(out, m.json())
			}
		}
		if err := rows.Err(); err != nil {
			return err
		}
		return ok(w, rc, map[string]any{key: out})
	}
}

// createMetric adds a metric (or a method under parent mid); BackendMetricWorker on
// backend_sync and SphinxIndexationWorker follow the commit (§4.2).
func (a *app) createMetric(ownerOf func(context.Context, *reqCtx, *http.Request, string) (*metricOwner, error), method bool) apiHandler {
	return func(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
		ctx := r.Context()
		o, err := ownerOf(ctx, rc, r, "id")
		if err != nil {
			return err
		}
		p := parseParams(r)
		friendly := p.get("friendly_name")
		if friendly == "" {
			return invalid("friendly_name", "can't be blank")
		}
		sys := p.get("system_name")
		if sys == "" {
			sys = p.get("name")
		}
		if sys == "" {
			sys = systemName(friendly)
		}
		if o.typ == "BackendApi" {
			// A name given with its suffix is stored once suffixed (system_name_without_suffix).
			sys = strings.TrimSuffix(sys, "."+id(o.id))
		}
		unit := p.get("unit")
		if unit == "" {
			unit = "hit"
		}
		var parent any
		if method {
			pm, err := a.methodParent(ctx, o, r, true)
			if err != nil {
				return err
			}
			parent = pm.ID
		}
		t := now()
		newID, err := lastID(a.db.ExecContext(ctx, `INSERT INTO metrics (owner_type, owner_id, parent_id, system_name, friendly_name, unit, description, created_at, updated_at)
			VALUES (?,?,?,?,?,?,?,?,?)`, o.typ, o.id, parent, sys, friendly, unit, p.get("description"), t, t))
		if isDuplicate(err) {
			return invalid("system_name", "has already been taken")
		}
		if err != nil {
			return err
		}
		jobs := []job{indexJob("Metric", newID)}
		for _, sid := range o.services {
			jobs = append(jobs, metricSyncJob(sid, newID))
		}
		if err := a.enqueue(ctx, jobs...); err != nil {
			return err
		}
		m, err := a.metric(ctx, o, newID)
		if err != nil {
			return err
		}
		base := fmtID("/admin/api/services/", o.id)
		if o.typ == "BackendApi" {
			base = fmtID("/admin/api/backend_apis/", o.id)
		}
		if method {
			return created(w, rc, fmtID(fmtID(base+"/metrics/", m.ParentID.Int64)+"/methods/", newID), m.methodJSON())
		}
		return created(w, rc, fmtID(base+"/metrics/", newID), m.json())
	}
}

func (a *app) metricAction(ownerOf func(context.Context, *reqCtx, *http.Request, string) (*metricOwner, error)) apiHandler {
	return func(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
		ctx := r.Context()
		o, err := ownerOf(ctx, rc, r, "sid")
		if err != nil {
			return err
		}
		mid, err := pathID(r, "mid")
		if err != nil {
			return err
		}
		m, err := a.metric(ctx, o, mid)
		if err != nil {
			return err
		}
		if err := checkMethodParent(r, m); err != nil {
			return err
		}
		switch r.Method {
		case http.MethodGet:
			return ok(w, rc, metricJSONFor(r, m))
		case http.MethodDelete:
			// Metric#destroyable?: not a metric the newest sandbox or production configuration
			// of a product that sees it maps a rule to, and not hits; otherwise 403 with the
			// errors (porta@3scale-2.16.4-GA:app/models/metric.rb destroyable?,
			// belongs_to_latest_config?; app/models/proxy.rb metric_in_latest_configs?;
			// app/models/proxy_config.rb contains_metric?; config/locales/en.yml:1159-1160).
			var errs []string
			used, err := a.metricInLatestConfigs(ctx, o.services, mid)
			if err != nil {
				return err
			}
			if used {
				kind := "Metric"
				if m.ParentID.Valid {
					kind = "Method"
				}
				errs = append(errs, kind+" is used by the latest gateway configuration and cannot be deleted")
			}
			if m.OwnerType == "Service" && m.SystemName == "hits" {
				errs = append(errs, "The Hits metric cannot be deleted")
			}
			if len(errs) > 0 {
				return &httpError{http.StatusForbidden, map[string]any{"errors": map[string][]string{"base": errs}}}
			}
			err = a.inTx(ctx, func(tx *sql.Tx) error {
				for _, q := range []string{`DELETE FROM metrics WHERE id=? OR parent_id=?`} {
					if _, err := tx.ExecContext(ctx, q, mid, mid); err != nil {
						return err
					}
				}
				if _, err := tx.ExecContext(ctx, `DELETE FROM usage_limits WHERE metric_id=?`, mid); err != nil {
					return err
				}
				if _, err := tx.ExecContext(ctx, `DELETE FROM pricing_rules WHERE metric_id=?`, mid); err != nil {
					return err
				}
				_, err := tx.ExecContext(ctx, `DELETE FROM proxy_rules WHERE metric_id=?`, mid)
				return err
			})
			if err != nil {
				return err
			}
			jobs := []job{indexJob("Metric", mid)}
			for _, sid := range o.services {
				jobs = append(jobs, metricSyncJob(sid, mid))
			}
			if err := a.enqueue(ctx, jobs...); err != nil {
				return err
			}
			return deleted(w)
		default: // PUT
			p := parseParams(r)
			if v := p.get("friendly_name"); v != "" {
				m.FriendlyName = v
			}
			if v := p.get("unit"); v != "" {
				m.Unit = v
			}
			if p.has("description") {
				m.Description = p.get("description")
			}
			if _, err := a.db.ExecContext(ctx, `UPDATE metrics SET friendly_name=?, unit=?, description=?, updated_at=? WHERE id=?`,
				m.FriendlyName, m.Unit, m.Description, now(), mid); err != nil {
				return err
			}
			jobs := []job{indexJob("Metric", mid)}
			for _, sid := range o.services {
				jobs = append(jobs, metricSyncJob(sid, mid))
			}
			if err := a.enqueue(ctx, jobs...); err != nil {
				return err
			}
			m, err = a.metric(ctx, o, mid)
			if err != nil {
				return err
			}
			return ok(w, rc, metricJSONFor(r, m))
		}
	}
}

// --- mapping rules ---

type ruleRow struct {
	ID, OwnerID, MetricID      int64
	OwnerType, Method, Pattern string
	Delta, Position            int
	Last                       bool
	CreatedAt, UpdatedAt       time.Time
}

const ruleCols = `id, owner_type, owner_id, http_method, pattern, metric_id, delta, position, last, created_at, updated_at`

func scanRule(row interface{ Scan(...any) error }) (*ruleRow, error) {
	var m ruleRow
	err := row.Scan(&m.ID, &m.OwnerType, &m.OwnerID, &m.Method, &m.Pattern, &m.MetricID, &m.Delta, &m.Position, &m.Last, &m.CreatedAt, &m.UpdatedAt)
	return &m, err
}

func (m *ruleRow) json(base string) map[string]any {
	return map[string]any{"mapping_rule": map[string]any{"id": m.ID, "metric_id": m.MetricID, "pattern": m.Pattern,
		"http_method": m.Method, "delta": m.Delta, "position": m.Position, "last": m.Last,
		"created_at": ts(m.CreatedAt), "updated_at": ts(m.UpdatedAt),
		"links": []any{link("self", fmtID(base+"/mapping_rules/", m.ID))}}}
}

// ruleOwner is the proxy of a product or a backend API, with where its metrics live.
type ruleOwner struct {
	typ      string // Proxy or BackendApi
	id       int64
	metrics  *metricOwner
	basePath string
}

func (a *app) productRules(ctx context.Context, rc *reqCtx, r *http.Request, name string) (*ruleOwner, error) {
	o, err := a.serviceOwner(ctx, rc, r, name)
	if err != nil {
		return nil, err
	}
	var proxyID int64
	if err := a.db.QueryRowContext(ctx, `SELECT id FROM proxies WHERE service_id=?`, o.id).Scan(&proxyID); err != nil {
		return nil, err
	}
	return &ruleOwner{"Proxy", proxyID, o, fmtID("/admin/api/services/", o.id) + "/proxy"}, nil
}

func (a *app) backendAPIRules(ctx context.Context, rc *reqCtx, r *http.Request, name string) (*ruleOwner, error) {
	o, err := a.backendAPIOwner(ctx, rc, r, name)
	if err != nil {
		return nil, err
	}
	return &ruleOwner{"BackendApi", o.id, o, fmtID("/admin/api/backend_apis/", o.id)}, nil
}

func (a *app) listRules(ownerOf func(context.Context, *reqCtx, *http.Request, string) (*ruleOwner, error)) apiHandler {
	return func(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
		ctx := r.Context()
		o, err := ownerOf(ctx, rc, r, "id")
		if err != nil {
			return err
		}
		rows, err := a.db.QueryContext(ctx, `SELECT `+ruleCols+` FROM proxy_rules WHERE owner_type=? AND owner_id=? ORDER BY position, id`, o.typ, o.id)
		if err != nil {
			return err
		}
		defer rows.Close()
		out := []any{}
		for rows.Next() {
			m, err := scanRule(rows)
			if err != nil {
				return err
			}
			out = append(out, m.json(o.basePath))
		}
		if err := rows.Err(); err != nil {
			return err
		}
		return ok(w, rc, map[string]any{"mapping_rules": out})
	}
}

var httpMethods = map[string]bool{"GET": true, "POST": true, "PUT": true, "PATCH": true, "DELETE": true, "HEAD": true, "OPTIONS": true}

func (a *app) createRule(ownerOf func(context.Context, *reqCtx, *http.Request, string) (*ruleOwner, error)) apiHandler {
	return func(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
		ctx := r.Context()
		o, err := ownerOf(ctx, rc, r, "id")
		if err != nil {
			return err
		}
		p := parseParams(r)
		method := strings.ToUpper(p.get("http_method"))
		pattern := p.get("pattern")
		switch {
		case !httpMethods[method]:
			return invalid("http_method", "is not included in the list")
		case !strings.HasPrefix(pattern, "/"):
			return invalid("pattern", "shall start with '/'")
		}
		mid := p.int64("metric_id")
		if _, err := a.metric(ctx, o.metrics, mid); err != nil {
			return invalid("metric_id", "can't be blank")
		}
		delta := int(p.int64("delta"))
		if !p.has("delta") {
			delta = 1
		}
		// acts_as_list, scoped to the owner and adding at the bottom: without a position the
		// rule goes last; with one (at least 1) the rules at or below it move down one
		// (ProxyRule acts_as_list; acts_as_list 0.9.17 add_to_list_bottom, check_top_position).
		t := now()
		var rid int64
		err = a.inTx(ctx, func(tx *sql.Tx) error {
			var pos int
			if p.get("position") == "" {
				if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(position),0)+1 FROM proxy_rules WHERE owner_type=? AND owner_id=?`, o.typ, o.id).Scan(&pos); err != nil {
					return err
				}
			} else {
				pos = max(1, int(p.int64("position")))
				if err := shiftRules(ctx, tx, o, +1, pos, -1, 0, t); err != nil {
					return err
				}
			}
			var err error
			rid, err = lastID(tx.ExecContext(ctx, `INSERT INTO proxy_rules (owner_type, owner_id, http_method, pattern, metric_id, delta, position, last, created_at, updated_at)
				VALUES (?,?,?,?,?,?,?,?,?,?)`, o.typ, o.id, method, pattern, mid, delta, pos, p.boolean("last", false), t, t))
			return err
		})
		if err != nil {
			return err
		}
		if err := a.enqueue(ctx, indexJob("ProxyRule", rid)); err != nil {
			return err
		}
		m, err := scanRule(a.db.QueryRowContext(ctx, `SELECT `+ruleCols+` FROM proxy_rules WHERE id=?`, rid))
		if err != nil {
			return err
		}
		return created(w, rc, fmtID(o.basePath+"/mapping_rules/", rid), m.json(o.basePath))
	}
}

// shiftRules adds delta to the position of the owner's rules from lo to hi (hi < 0: no upper
// bound), all but rule skip, and touches their updated_at, as acts_as_list's
// update_all_with_touch does.
func shiftRules(ctx context.Context, tx *sql.Tx, o *ruleOwner, delta, lo, hi int, skip int64, t time.Time) error {
	q := `UPDATE proxy_rules SET position=position+?, updated_at=? WHERE owner_type=? AND owner_id=? AND position>=? AND id<>?`
	args := []any{delta, t, o.typ, o.id, lo, skip}
	if hi >= 0 {
		q += ` AND position<=?`
		args = append(args, hi)
	}
	_, err := tx.ExecContext(ctx, q, args...)
	return err
}

func (a *app) ruleAction(ownerOf func(context.Context, *reqCtx, *http.Request, string) (*ruleOwner, error)) apiHandler {
	return func(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
		ctx := r.Context()
		o, err := ownerOf(ctx, rc, r, "sid")
		if err != nil {
			return err
		}
		rid, err := pathID(r, "rid")
		if err != nil {
			return err
		}
		m, err := scanRule(a.db.QueryRowContext(ctx, `SELECT `+ruleCols+` FROM proxy_rules WHERE id=? AND owner_type=? AND owner_id=?`, rid, o.typ, o.id))
		if errors.Is(err, sql.ErrNoRows) {
			return errNotFound
		}
		if err != nil {
			return err
		}
		switch r.Method {
		case http.MethodGet:
			return ok(w, rc, m.json(o.basePath))
		case http.MethodDelete:
			// The rules below it move up one (acts_as_list after_destroy
			// decrement_positions_on_lower_items).
			err := a.inTx(ctx, func(tx *sql.Tx) error {
				if _, err := tx.ExecContext(ctx, `DELETE FROM proxy_rules WHERE id=?`, rid); err != nil {
					return err
				}
				return shiftRules(ctx, tx, o, -1, m.Position+1, -1, 0, now())
			})
			if err != nil {
				return err
			}
			if err := a.enqueue(ctx, indexJob("ProxyRule", rid)); err != nil {
				return err
			}
			return deleted(w)
		default:
			p := parseParams(r)
			if v := strings.ToUpper(p.get("http_method")); v != "" {
				if !httpMethods[v] {
					return invalid("http_method", "is not included in the list")
				}
				m.Method = v
			}
			if v := p.get("pattern"); v != "" {
				if !strings.HasPrefix(v, "/") {
					return invalid("pattern", "shall start with '/'")
				}
				m.Pattern = v
			}
			if p.has("delta") {
				m.Delta = int(p.int64("delta"))
			}
			oldPos := m.Position
			if p.get("position") != "" {
				m.Position = max(1, int(p.int64("position")))
			}
			if p.has("last") {
				m.Last = p.boolean("last", false)
			}
			if p.has("metric_id") {
				if _, err := a.metric(ctx, o.metrics, p.int64("metric_id")); err != nil {
					return invalid("metric_id", "is invalid")
				}
				m.MetricID = p.int64("metric_id")
			}
			// A new position that another rule holds shifts the rules between the old and the
			// new one by one, towards the old (acts_as_list 0.9.17 update_positions,
			// shuffle_positions_on_intermediate_items).
			t := now()
			err := a.inTx(ctx, func(tx *sql.Tx) error {
				if _, err := tx.ExecContext(ctx, `UPDATE proxy_rules SET http_method=?, pattern=?, metric_id=?, delta=?, position=?, last=?, updated_at=? WHERE id=?`,
					m.Method, m.Pattern, m.MetricID, m.Delta, m.Position, m.Last, t, rid); err != nil {
					return err
				}
				if m.Position == oldPos {
					return nil
				}
				var same int
				if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM proxy_rules WHERE owner_type=? AND owner_id=? AND position=?`, o.typ, o.id, m.Position).Scan(&same); err != nil || same < 2 {
					return err
				}
				if oldPos < m.Position {
					return shiftRules(ctx, tx, o, -1, oldPos+1, m.Position, rid, t)
				}
				return shiftRules(ctx, tx, o, +1, m.Position, oldPos-1, rid, t)
			})
			if err != nil {
				return err
			}
			if err := a.enqueue(ctx, indexJob("ProxyRule", rid)); err != nil {
				return err
			}
			return ok(w, rc, m.json(o.basePath))
		}
	}
}

// --- backend APIs and usages ---

type backendAPIRow struct {
	ID, AccountID                                         int64
	Name, SystemName, Description, PrivateEndpoint, State string
	CreatedAt, UpdatedAt                                  time.Time
	annotations                                           sql.NullString
}

var backendAPICols = `id, account_id, name, system_name, COALESCE(description,''), COALESCE(private_endpoint,''), state, created_at, updated_at, ` +
	annotationsCol("BackendApi", "backend_apis")

func scanBackendAPI(row interface{ Scan(...any) error }) (*backendAPIRow, error) {
	var b backendAPIRow
	err := row.Scan(&b.ID, &b.AccountID, &b.Name, &b.SystemName, &b.Description, &b.PrivateEndpoint, &b.State, &b.CreatedAt, &b.UpdatedAt, &b.annotations)
	return &b, err
}

func (b *backendAPIRow) json() map[string]any {
	self := fmtID("/admin/api/backend_apis/", b.ID)
	return map[string]any{"backend_api": map[string]any{"id": b.ID, "account_id": b.AccountID, "name": b.Name,
		"system_name": b.SystemName, "description": b.Description, "private_endpoint": b.PrivateEndpoint,
		"annotations": decodeAnnotations(b.annotations), "created_at": ts(b.CreatedAt), "updated_at": ts(b.UpdatedAt),
		"links": []any{link("self", self), link("metrics", self+"/metrics"), link("mapping_rules", self+"/mapping_rules")}}}
}

func (a *app) backendAPI(ctx context.Context, rc *reqCtx, bid int64) (*backendAPIRow, error) {
	b, err := scanBackendAPI(a.db.QueryRowContext(ctx, `SELECT `+backendAPICols+` FROM backend_apis WHERE id=? AND account_id=? AND state<>'deleted'`, bid, rc.tenant.ID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errNotFound
	}
	return b, err
}

func (a *app) listBackendAPIs(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	limit, offset := page(parseParams(r))
	rows, err := a.db.QueryContext(r.Context(), `SELECT `+backendAPICols+` FROM backend_apis WHERE account_id=? AND state<>'deleted' ORDER BY id LIMIT ? OFFSET ?`, rc.tenant.ID, limit, offset)
	if err != nil {
		return err
	}
	out, err := collectJSON(rows, scanBackendAPI)
	if err != nil {
		return err
	}
	return ok(w, rc, map[string]any{"backend_apis": out})
}

// createBackendAPI adds a backend API with its own hits metric
// (porta@3scale-2.16.4-GA:app/controllers/admin/api/backend_apis_controller.rb create,
// app/models/backend_api.rb after_create :create_default_metrics). After commit the backend
// API's callbacks run in reverse order of declaration: the audit job (`audited` comes after
// `include Searchable`), then its index job; then the metric's. With system-redis down the
// audit fails first: 500 with the backend API created.
func (a *app) createBackendAPI(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	p := parseParams(r)
	name := p.get("name")
	if name == "" {
		return invalid("name", "can't be blank")
	}
	sys := p.get("system_name")
	if sys == "" {
		sys = systemName(name)
	}
	annotations, err := annotationsParam(p)
	if err != nil {
		return err
	}
	ctx := r.Context()
	var bid, hitsID int64
	err = a.inTx(ctx, func(tx *sql.Tx) error {
		t := now()
		var err error
		bid, err = lastID(tx.ExecContext(ctx, `INSERT INTO backend_apis (account_id, name, system_name, description, private_endpoint, created_at, updated_at)
			VALUES (?,?,?,?,?,?,?)`, rc.tenant.ID, name, sys, p.get("description"), p.get("private_endpoint"), t, t))
		if isDuplicate(err) {
			return invalid("system_name", "has already been taken")
		}
		if err != nil {
			return err
		}
		if err := saveAnnotations(ctx, tx, "BackendApi", bid, annotations); err != nil {
			return err
		}
		hitsID, err = lastID(tx.ExecContext(ctx, `INSERT INTO metrics (owner_type, owner_id, system_name, friendly_name, unit, created_at, updated_at)
			VALUES ('BackendApi',?,?,?,?,?,?)`, bid, "hits", "Hits", "hit", t, t))
		return err
	})
	if err != nil {
		return err
	}
	err = a.afterCommit(ctx,
		model(a.enqueueing(auditJob("BackendApi", bid, rc.tenant.ID, "create", map[string]any{"name": name, "system_name": sys}, rc.userID()), indexJob("BackendApi", bid))),
		model(a.enqueueing(indexJob("Metric", hitsID))))
	if err != nil {
		return err
	}
	b, err := a.backendAPI(ctx, rc, bid)
	if err != nil {
		return err
	}
	return created(w, rc, fmtID("/admin/api/backend_apis/", bid), b.json())
}

func (a *app) backendAPIAction(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	ctx := r.Context()
	bid, err := pathID(r, "id")
	if err != nil {
		return err
	}
	b, err := a.backendAPI(ctx, rc, bid)
	if err != nil {
		return err
	}
	switch r.Method {
	case http.MethodGet:
		return ok(w, rc, b.json())
	case http.MethodDelete:
		var used int
		if err := a.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM backend_usages WHERE backend_api_id=?`, bid).Scan(&used); err != nil {
			return err
		}
		if used > 0 {
			return &httpError{http.StatusForbidden, map[string]any{"errors": map[string][]string{"base": {"cannot be deleted because it is used by at least one Product"}}}}
		}
		// BackendApi#mark_as_deleted: the state machine's transition saves the state and runs
		// after_transition schedule_deletion, DeleteObjectHierarchyWorker.perform_later(self),
		// inside the transition's transaction, so a failed enqueue (system-redis down) raises
		// through it and rolls the delete back: 500 and the backend API is still there. After
		// commit, its audit and index jobs (porta@3scale-2.16.4-GA:
		// app/controllers/admin/api/backend_apis_controller.rb destroy, app/models/backend_api.rb
		// state_machine, schedule_deletion; the same at 3scale-2.15.1-GA). A backend API a
		// product uses fails the validation: 403 with the errors
		// (ThreeScale::Api::Responder#error_status for a DELETE).
		err := a.inTx(ctx, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, `UPDATE backend_apis SET state='deleted', updated_at=? WHERE id=?`, now(), bid); err != nil {
				return err
			}
			return a.enqueue(ctx, deleteHierarchyJob("BackendApi", bid))
		})
		if err != nil {
			return err
		}
		err = a.afterCommit(ctx, model(a.enqueueing(
			auditJob("BackendApi", bid, rc.tenant.ID, "update", map[string]any{"state": []any{b.State, "deleted"}}, rc.userID()),
			indexJob("BackendApi", bid))))
		if err != nil {
			return err
		}
		return deleted(w)
	default:
		p := parseParams(r)
		if v := p.get("name"); v != "" {
			b.Name = v
		}
		if p.has("description") {
			b.Description = p.get("description")
		}
		if p.has("private_endpoint") {
			b.PrivateEndpoint = p.get("private_endpoint")
		}
		annotations, err := annotationsParam(p)
		if err != nil {
			return err
		}
		err = a.inTx(ctx, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, `UPDATE backend_apis SET name=?, description=?, private_endpoint=?, updated_at=? WHERE id=?`,
				b.Name, b.Description, b.PrivateEndpoint, now(), bid); err != nil {
				return err
			}
			return saveAnnotations(ctx, tx, "BackendApi", bid, annotations)
		})
		if err != nil {
			return err
		}
		if err := a.enqueue(ctx, indexJob("BackendApi", bid)); err != nil {
			return err
		}
		if b, err = a.backendAPI(ctx, rc, bid); err != nil {
			return err
		}
		return ok(w, rc, b.json())
	}
}

type usageRow struct {
	ID, ServiceID, BackendAPIID int64
	Path                        string
}

func (u *usageRow) json() map[string]any {
	return map[string]any{"backend_usage": map[string]any{"id": u.ID, "path": u.Path, "service_id": u.ServiceID,
		"backend_id": u.BackendAPIID, "backend_api_id": u.BackendAPIID,
		"links": []any{link("self", fmtID(fmtID("/admin/api/services/", u.ServiceID)+"/backend_usages/", u.ID))}}}
}

func (a *app) listUsages(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	ctx := r.Context()
	o, err := a.serviceOwner(ctx, rc, r, "id")
	if err != nil {
		return err
	}
	rows, err := a.db.QueryContext(ctx, `SELECT id, service_id, backend_api_id, path FROM backend_usages WHERE service_id=? ORDER BY id`, o.id)
	if err != nil {
		return err
	}
	defer rows.Close()
	out := []any{}
	for rows.Next() {
		var u usageRow
		if err := rows.Scan(&u.ID, &u.ServiceID, &u.BackendAPIID, &u.Path); err != nil {
			return err
		}
		out = append(out, u.json())
	}
	if err := rows.Err(); err != nil {
		return err
	}
	return writeBodyOK(w, rc, out)
}

// writeBodyOK writes a bare JSON array (porta's backend_usages index is an array of wrappers).
func writeBodyOK(w http.ResponseWriter, rc *reqCtx, out []any) error {
	writeBody(w, rc.format, http.StatusOK, out)
	return nil
}

// createUsage links a backend API to a product; the backend API's metrics are then synced to
// the product's backend service (BackendMetricWorker per metric, §4.2).
func (a *app) createUsage(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	ctx := r.Context()
	o, err := a.serviceOwner(ctx, rc, r, "id")
	if err != nil {
		return err
	}
	p := parseParams(r)
	bid := p.int64("backend_api_id")
	if _, err := a.backendAPI(ctx, rc, bid); err != nil {
		return invalid("backend_api", "can't be blank")
	}
	path := p.get("path")
	if path == "" {
		path = "/"
	}
	if !strings.HasPrefix(path, "/") {
		return invalid("path", "shall start with '/'")
	}
	t := now()
	uid, err := lastID(a.db.ExecContext(ctx, `INSERT INTO backend_usages (service_id, backend_api_id, path, created_at, updated_at) VALUES (?,?,?,?,?)`, o.id, bid, path, t, t))
	if isDuplicate(err) {
		return invalid("backend_api_id", "has already been taken")
	}
	if err != nil {
		return err
	}
	rows, err := a.db.QueryContext(ctx, `SELECT id FROM metrics WHERE owner_type='BackendApi' AND owner_id=?`, bid)
	if err != nil {
		return err
	}
	var jobs []job
	for rows.Next() {
		var mid int64
		if err := rows.Scan(&mid); err != nil {
			rows.Close()
			return err
		}
		jobs = append(jobs, metricSyncJob(o.id, mid))
	}
	rows.Close()
	if err := a.enqueue(ctx, jobs...); err != nil {
		return err
	}
	u := usageRow{uid, o.id, bid, path}
	return created(w, rc, fmtID(fmtID("/admin/api/services/", o.id)+"/backend_usages/", uid), u.json())
}

func (a *app) usageAction(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	ctx := r.Context()
	o, err := a.serviceOwner(ctx, rc, r, "sid")
	if err != nil {
		return err
	}
	uid, err := pathID(r, "uid")
	if err != nil {
		return err
	}
	var u usageRow
	err = a.db.QueryRowContext(ctx, `SELECT id, service_id, backend_api_id, path FROM backend_usages WHERE id=? AND service_id=?`, uid, o.id).Scan(&u.ID, &u.ServiceID, &u.BackendAPIID, &u.Path)
	if errors.Is(err, sql.ErrNoRows) {
		return errNotFound
	}
	if err != nil {
		return err
	}
	switch r.Method {
	case http.MethodGet:
		return ok(w, rc, u.json())
	case http.MethodDelete:
		if _, err := a.db.ExecContext(ctx, `DELETE FROM backend_usages WHERE id=?`, uid); err != nil {
			return err
		}
		return deleted(w)
	default:
		p := parseParams(r)
		if v := p.get("path"); v != "" {
			u.Path = v
		}
		if _, err := a.db.ExecContext(ctx, `UPDATE backend_usages SET path=?, updated_at=? WHERE id=?`, u.Path, now(), uid); err != nil {
			return err
		}
		return ok(w, rc, u.json())
	}
}
