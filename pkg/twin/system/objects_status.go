package system

import (
	"database/sql"
	"errors"
	"net/http"
)

// objectTenantQueries give an object's tenant_id per ObjectsController::ALLOWED_OBJECTS type,
// read unscoped: a product or backend API marked deleted is still found until its hierarchy
// is removed. A provider account is its own tenant, a buyer its provider's.
var objectTenantQueries = map[string]string{
	"service":     `SELECT account_id FROM services WHERE id=?`,
	"account":     `SELECT CASE WHEN kind='buyer' THEN provider_account_id ELSE id END FROM accounts WHERE id=?`,
	"proxy":       `SELECT s.account_id FROM proxies p JOIN services s ON s.id=p.service_id WHERE p.id=?`,
	"backend_api": `SELECT account_id FROM backend_apis WHERE id=?`,
}

// objectStatus is GET /admin/api/objects/status.json?object_type=&object_id=, whether an
// object deleted in the background is still there
// (porta@3scale-2.16.4-GA:app/controllers/admin/api/objects_controller.rb; config/routes.rb:509):
// a missing object_type or object_id is ParameterMissing's plain-text 400; a type other than
// service, account, proxy or backend_api, a request without an admin user (a provider_key
// has none), or another tenant's object is CanCan's 403 {"status":"Forbidden"}; an id not in
// the table is 404; else 200 with no body.
func (a *app) objectStatus(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	ctx := r.Context()
	p := parseParams(r)
	missing := func(name string) error {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte("Required parameter missing: " + name))
		return nil
	}
	forbidden := &httpError{http.StatusForbidden, map[string]string{"status": "Forbidden"}}
	typ, given := p.v["object_type"]
	if !given {
		return missing("object_type")
	}
	q, known := objectTenantQueries[first(typ)]
	if !known {
		return forbidden
	}
	admin := false
	if rc.cred.UserID != 0 {
		var role string
		if err := a.db.QueryRowContext(ctx, `SELECT role FROM users WHERE id=?`, rc.cred.UserID).Scan(&role); err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		admin = role == "admin"
	}
	if !admin {
		return forbidden
	}
	oid, given := p.v["object_id"]
	if !given {
		return missing("object_id")
	}
	var tenantID int64
	err := a.db.QueryRowContext(ctx, q, first(oid)).Scan(&tenantID)
	if errors.Is(err, sql.ErrNoRows) {
		return errNotFound
	}
	if err != nil {
		return err
	}
	if rc.tenant.Kind != "master" && tenantID != rc.tenant.ID {
		return forbidden
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

func first(vs []string) string {
	if len(vs) == 0 {
		return ""
	}
	return vs[0]
}
