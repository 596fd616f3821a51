package system

import (
	"context"
	"database/sql"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"
)

// account is a row of accounts: master, a provider tenant or a buyer.
type account struct {
	ID          int64  `json:"id"`
	OrgName     string `json:"org_name"`
	Kind        string `json:"kind"`
	ProviderID  int64  `json:"provider_account_id"`
	State       string `json:"state"`
	AdminDomain string `json:"admin_domain"`
	Domain      string `json:"domain"`
	APIKey      string `json:"api_key"`
	// SiteAccessCode is the developer portal's access code; NULL means none
	// (porta@3scale-2.16.4-GA:db/migrate/20090303160646_add_site_access_code_to_accounts.rb).
	SiteAccessCode sql.NullString `json:"site_access_code"`
	CreatedAt      time.Time      `json:"created_at"`
	UpdatedAt      time.Time      `json:"updated_at"`
	// Annotations is the account's annotations as a JSON object, NULL when none (annotations.go).
	Annotations sql.NullString `json:"annotations"`
}

var accountCols = `id, org_name, kind, COALESCE(provider_account_id,0), state, COALESCE(admin_domain,''), COALESCE(domain,''), COALESCE(api_key,''), site_access_code, created_at, updated_at, ` +
	annotationsCol("Account", "accounts")

func scanAccount(row interface{ Scan(...any) error }) (*account, error) {
	var ac account
	if err := row.Scan(&ac.ID, &ac.OrgName, &ac.Kind, &ac.ProviderID, &ac.State, &ac.AdminDomain, &ac.Domain, &ac.APIKey, &ac.SiteAccessCode, &ac.CreatedAt, &ac.UpdatedAt, &ac.Annotations); err != nil {
		return nil, err
	}
	return &ac, nil
}

// credential is a resolved access token (or provider key).
type credential struct {
	UserID    int64     `json:"user_id"`
	AccountID int64     `json:"account_id"`
	Scopes    []string  `json:"scopes"`
	Perm      string    `json:"permission"`
	ExpiresAt time.Time `json:"expires_at"`
}

// reqCtx is what the API wrapper resolved for a request.
type reqCtx struct {
	role   role
	tenant *account
	cred   *credential
	format string
}

// cacheTTL bounds how long memcache may serve a tenant or token looked up earlier.
const cacheTTL = 5 * time.Minute

// errNoDB is returned while the schema is not created yet (MySQL unreachable since start).
var errNoDB = errors.New("system-mysql: database not ready")

func (a *app) needDB() error {
	if !a.ready.Load() {
		return errNoDB
	}
	return nil
}

// tenantFor resolves the account a request is for, by the role the Host chose (routesFor)
// and the Host (§1.2): master answers every Host as the master account (on the master
// container master_on_premises? holds; elsewhere only a master domain routes here); provider needs a
// provider or master admin domain (else 403 Access denied); developer needs a dev portal
// domain (else 404). Only the master account is cached in memcache, as porta caches
// Account.master_id (§7); a provider or developer Host is a MySQL lookup on every request
// (Account.is_admin_domain?, §1.2), so with MySQL down no portal page can be served.
func (a *app) tenantFor(ctx context.Context, rl role, host string) (*account, error) {
	if err := a.needDB(); err != nil {
		return nil, err
	}
	var key, q string
	var arg any
	switch rl {
	case roleMaster:
		key, q, arg = "tenant/master", `SELECT `+accountCols+` FROM accounts WHERE kind=? ORDER BY id LIMIT 1`, "master"
	case roleProvider:
		key, q, arg = "tenant/admin/"+host, `SELECT `+accountCols+` FROM accounts WHERE admin_domain=? AND kind IN ('provider','master')`, host
	default:
		key, q, arg = "tenant/dev/"+host, `SELECT `+accountCols+` FROM accounts WHERE domain=? AND kind='provider'`, host
	}
	var ac account
	if rl == roleMaster && a.cache.get(key, &ac) && ac.ID != 0 {
		return &ac, nil
	}
	found, err := scanAccount(a.db.QueryRowContext(ctx, q, arg))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if rl == roleMaster {
		a.cache.set(key, found, cacheTTL)
	}
	return found, nil
}

// credentialsOf extracts the token the way porta's API authentication does (§1.4): the
// access_token parameter, else Basic auth's first non-blank field; provider_key as a
// parameter or through Basic as the alternative. Bearer is not read.
func credentialsOf(r *http.Request) (token, providerKey string) {
	token = r.FormValue("access_token")
	providerKey = r.FormValue("provider_key")
	if token == "" && providerKey == "" {
		// The first of user and password that is not blank
		// (porta@3scale-2.16.4-GA:app/lib/api_authentication/http_authentication.rb find(&:presence)).
		if u, p, ok := r.BasicAuth(); ok {
			if strings.TrimSpace(u) != "" {
				token = u
			} else if strings.TrimSpace(p) != "" {
				token = p
			}
		}
	}
	return token, providerKey
}

// lookupToken resolves an access token value; nil when it does not exist or has expired.
// porta reads access tokens from MySQL on every request (they are not in its cache list, §7).
func (a *app) lookupToken(ctx context.Context, value string) (*credential, error) {
	var c credential
	{
		var scopes string
		var exp sql.NullTime
		err := a.db.QueryRowContext(ctx, `SELECT u.id, u.account_id, t.scopes, t.permission, t.expires_at
			FROM access_tokens t JOIN users u ON u.id = t.owner_id WHERE t.value = ?`, value).
			Scan(&c.UserID, &c.AccountID, &scopes, &c.Perm, &exp)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		c.Scopes = strings.Split(scopes, ",")
		if exp.Valid {
			c.ExpiresAt = exp.Time
		}
	}
	if !c.ExpiresAt.IsZero() && time.Now().After(c.ExpiresAt) {
		return nil, nil
	}
	return &c, nil
}

// lookupProviderKey resolves a provider_key (porta caches account_ids/<api_key>, §7).
func (a *app) lookupProviderKey(ctx context.Context, pk string) (*credential, error) {
	key := "account_ids/" + pk
	var c credential
	if a.cache.get(key, &c) && c.AccountID != 0 {
		return &c, nil
	}
	err := a.db.QueryRowContext(ctx, `SELECT id FROM accounts WHERE api_key=? AND kind IN ('provider','master')`, pk).Scan(&c.AccountID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	c.Scopes = []string{"account_management", "stats", "finance", "cms", "policy_registry"}
	c.Perm = "rw"
	a.cache.set(key, c, cacheTTL)
	return &c, nil
}

// authenticate resolves tenant and credentials and checks scope and permission. Failures are
// porta's (§1.4): 403 Access denied for a wrong host or missing/invalid/foreign credentials,
// 403 with the permission message for a missing scope, and the same for a write with a
// read-only token (porta runs it in a READ ONLY transaction, so the write fails).
func (a *app) authenticate(r *http.Request, rl role, scope string) (*reqCtx, error) {
	ctx := r.Context()
	rc := &reqCtx{role: rl, format: requestFormat(r)}
	tenant, err := a.tenantFor(ctx, rl, requestHost(r))
	if err != nil {
		return nil, err
	}
	if tenant == nil {
		return nil, errAccessDenied
	}
	rc.tenant = tenant
	token, pk := credentialsOf(r)
	var cred *credential
	switch {
	case token != "":
		cred, err = a.lookupToken(ctx, token)
	case pk != "":
		cred, err = a.lookupProviderKey(ctx, pk)
	}
	if err != nil {
		return nil, err
	}
	if cred == nil || cred.AccountID != tenant.ID {
		return nil, errAccessDenied
	}
	// ApiAuthentication::SuspendedAccount: a tenant that is not approved (suspended, scheduled
	// for deletion) gets head :forbidden (porta@3scale-2.16.4-GA:app/lib/api_authentication/suspended_account.rb).
	if tenant.State != "approved" {
		return nil, errSuspended
	}
	if scope != "" && !slices.Contains(cred.Scopes, scope) {
		return nil, errWrongScope
	}
	if cred.Perm != "rw" && r.Method != http.MethodGet && r.Method != http.MethodHead {
		return nil, errWrongScope
	}
	rc.cred = cred
	return rc, nil
}

// apiHandler is an Account Management API action.
type apiHandler func(w http.ResponseWriter, r *http.Request, rc *reqCtx) error

// api wraps an action with authentication and porta's error answers (§1.4, §1.5). defFormat
// is the format when the path has no suffix: XML for most of /admin/api, JSON for the few
// resources that default to it.
func (a *app) api(rl role, scope, defFormat string, h apiHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		format := requestFormat(r)
		if format == "" {
			format = defFormat
		}
		rc, err := a.authenticate(r, rl, scope)
		if err == nil {
			rc.format = format
			err = h(w, r, rc)
		}
		if err != nil {
			a.fail(w, r, format, err)
		}
	}
}
