package system

import (
	"context"
	"database/sql"
	"errors"
	"net/http"
	"regexp"
	"strings"
	"time"
)

// Users of a developer account (porta@3scale-2.16.4-GA:config/routes.rb `resources :users,
// controller: 'buyers_users'`; app/controllers/admin/api/buyers_users_controller.rb;
// app/models/user.rb, user/states.rb, user/roles.rb; app/representers/user_representer.rb).
// The abilities are taken as an on-premises tenant's admin has them (every switch allowed,
// multiple_users among them); member permissions are not modelled.

type userRow struct {
	ID, AccountID                int64
	Username, Email, Role, State string
	CreatedAt, UpdatedAt         time.Time
}

const userCols = `id, account_id, username, email, role, state, created_at, COALESCE(updated_at, created_at)`

func scanUser(row interface{ Scan(...any) error }) (*userRow, error) {
	var u userRow
	err := row.Scan(&u.ID, &u.AccountID, &u.Username, &u.Email, &u.Role, &u.State, &u.CreatedAt, &u.UpdatedAt)
	return &u, err
}

// json is UserRepresenter for a buyer's user: id, state, role, the timestamps, the builtin
// fields (username, email) and extra_fields, and links to the account and to itself.
func (u *userRow) json() map[string]any {
	acc := fmtID("/admin/api/accounts/", u.AccountID)
	return map[string]any{"user": map[string]any{"id": u.ID, "state": u.State, "role": u.Role,
		"created_at": ts(u.CreatedAt), "updated_at": ts(u.UpdatedAt), "username": u.Username, "email": u.Email,
		"extra_fields": map[string]any{},
		"links":        []any{link("account", acc), link("self", fmtID(acc+"/users/", u.ID))}}}
}

var (
	// reLoginOK and reEmailOK are Authentication::RE_LOGIN_OK and RE_EMAIL_OK
	// (porta@3scale-2.16.4-GA:app/lib/authentication.rb).
	reLoginOK = regexp.MustCompile(`\A\w[\w.\-_@+]+\z`)
	reEmailOK = regexp.MustCompile(`(?i)\A['\w.%+\-]+@(?:[A-Z0-9\-]+\.)+(?:[A-Za-z]{2,63})\z`)
)

// userErrors validates a buyer user as User does for an API signup (no password required, a
// given one at least 6 characters): username 3..40 characters of RE_LOGIN_OK, email 6..255
// characters that look like an address, both unique among the tenant's buyers' users
// (porta@3scale-2.16.4-GA:app/models/user.rb:81-121, email_is_unique, username_is_unique).
func (a *app) userErrors(ctx context.Context, tenantID, selfID int64, username, email, password string, passwordSet bool) (map[string][]string, error) {
	errs := map[string][]string{}
	if n := len(username); n < 3 {
		errs["username"] = append(errs["username"], "is too short (minimum is 3 characters)")
	} else if n > 40 {
		errs["username"] = append(errs["username"], "is too long (maximum is 40 characters)")
	}
	if username != "" && !reLoginOK.MatchString(username) {
		errs["username"] = append(errs["username"], "use only letters, numbers, and .-_@+ please.")
	}
	if n := len(email); n > 0 && n < 6 {
		errs["email"] = append(errs["email"], "is too short (minimum is 6 characters)")
	} else if n > 255 {
		errs["email"] = append(errs["email"], "is too long (maximum is 255 characters)")
	}
	if !reEmailOK.MatchString(email) {
		errs["email"] = append(errs["email"], "should look like an email address")
	}
	if passwordSet && password != "" && len(password) < 6 {
		errs["password"] = append(errs["password"], "is too short (minimum is 6 characters)")
	}
	for _, f := range []struct{ col, value string }{{"email", email}, {"username", username}} {
		if f.value == "" {
			continue
		}
		var n int
		if err := a.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM users u JOIN accounts b ON b.id=u.account_id
			WHERE b.provider_account_id=? AND u.`+f.col+`=? AND u.id<>?`, tenantID, f.value, selfID).Scan(&n); err != nil {
			return nil, err
		}
		if n > 0 {
			errs[f.col] = append(errs[f.col], "has already been taken")
		}
	}
	return errs, nil
}

func (a *app) buyerUser(ctx context.Context, rc *reqCtx, r *http.Request) (*account, *userRow, error) {
	aid, err := pathID(r, "aid")
	if err != nil {
		return nil, nil, err
	}
	ac, err := a.buyer(ctx, rc, aid)
	if err != nil {
		return nil, nil, err
	}
	if r.PathValue("uid") == "" {
		return ac, nil, nil
	}
	uid, err := pathID(r, "uid")
	if err != nil {
		return nil, nil, err
	}
	u, err := scanUser(a.db.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE id=? AND account_id=?`, uid, ac.ID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, errNotFound
	}
	return ac, u, err
}

// listBuyerUsers is GET /admin/api/accounts/{id}/users: the account's users, filtered by state
// and role when given.
func (a *app) listBuyerUsers(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	ctx := r.Context()
	ac, _, err := a.buyerUser(ctx, rc, r)
	if err != nil {
		return err
	}
	users, err := a.queryUsers(ctx, parseParams(r), `account_id=?`, ac.ID)
	if err != nil {
		return err
	}
	out := make([]any, 0, len(users))
	for _, u := range users {
		out = append(out, u.json())
	}
	return ok(w, rc, map[string]any{"users": out})
}

// queryUsers lists the users a condition selects, in id order, narrowed by the state and role
// parameters when given (both users controllers filter so).
func (a *app) queryUsers(ctx context.Context, p params, where string, args ...any) ([]*userRow, error) {
	q := `SELECT ` + userCols + ` FROM users WHERE ` + where
	for _, f := range []string{"state", "role"} {
		if p.v.Get(f) != "" {
			q += ` AND ` + f + `=?`
			args = append(args, p.v.Get(f))
		}
	}
	rows, err := a.db.QueryContext(ctx, q+` ORDER BY id`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*userRow
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

// createBuyerUser is POST /admin/api/accounts/{id}/users: username, email and an optional
// password; the user starts pending (User::States initial) as a member (User::Roles set_role),
// and answers 201, or 422 with the validation errors.
func (a *app) createBuyerUser(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	ctx := r.Context()
	ac, _, err := a.buyerUser(ctx, rc, r)
	if err != nil {
		return err
	}
	p := parseParams(r)
	username, email, password := strings.TrimSpace(p.get("username")), p.get("email"), p.get("password")
	errs, err := a.userErrors(ctx, rc.tenant.ID, 0, username, email, password, p.has("password"))
	if err != nil {
		return err
	}
	if len(errs) > 0 {
		return &httpError{http.StatusUnprocessableEntity, map[string]any{"errors": errs}}
	}
	t := now()
	uid, err := lastID(a.db.ExecContext(ctx, `INSERT INTO users (account_id, username, email, password, role, state, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?)`,
		ac.ID, username, email, password, "member", "pending", t, t))
	if err != nil {
		return err
	}
	if err := a.enqueue(ctx, accountIndexJob(ac.ID)); err != nil {
		return err
	}
	u, err := scanUser(a.db.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE id=?`, uid))
	if err != nil {
		return err
	}
	return created(w, rc, fmtID(fmtID("/admin/api/accounts/", ac.ID)+"/users/", uid), u.json())
}

// buyerUserAction serves GET, PUT (username, email, password) and DELETE of one user. The
// account's last admin cannot be destroyed: before_destroy avoid_destruction adds "Can't delete
// last admin" to base and the responder answers a failed delete 403 with the errors
// (app/models/user.rb can_be_destroyed?, destroyable?; config/locales/en.yml last_admin;
// app/lib/three_scale/api/responder.rb error_status).
func (a *app) buyerUserAction(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	ctx := r.Context()
	ac, u, err := a.buyerUser(ctx, rc, r)
	if err != nil {
		return err
	}
	switch r.Method {
	case http.MethodGet:
		return ok(w, rc, u.json())
	case http.MethodDelete:
		if u.Role == "admin" {
			var admins int
			if err := a.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM users WHERE account_id=? AND role='admin'`, ac.ID).Scan(&admins); err != nil {
				return err
			}
			if admins == 1 {
				return &httpError{http.StatusForbidden, map[string]any{"errors": map[string][]string{"base": {"Can't delete last admin"}}}}
			}
		}
		if _, err := a.db.ExecContext(ctx, `DELETE FROM users WHERE id=?`, u.ID); err != nil {
			return err
		}
		if err := a.enqueue(ctx, accountIndexJob(ac.ID)); err != nil {
			return err
		}
		return deleted(w)
	default:
		p := parseParams(r)
		username, email := u.Username, u.Email
		if p.has("username") {
			username = strings.TrimSpace(p.get("username"))
		}
		if p.has("email") {
			email = p.get("email")
		}
		errs, err := a.userErrors(ctx, rc.tenant.ID, u.ID, username, email, p.get("password"), p.has("password"))
		if err != nil {
			return err
		}
		if len(errs) > 0 {
			return &httpError{http.StatusUnprocessableEntity, map[string]any{"errors": errs}}
		}
		q := `UPDATE users SET username=?, email=?, updated_at=?`
		args := []any{username, email, now()}
		if p.get("password") != "" {
			q += `, password=?`
			args = append(args, p.get("password"))
		}
		if _, err := a.db.ExecContext(ctx, q+` WHERE id=?`, append(args, u.ID)...); err != nil {
			return err
		}
		if err := a.enqueue(ctx, accountIndexJob(ac.ID)); err != nil {
			return err
		}
		return a.renderUser(ctx, w, rc, u.ID)
	}
}

func (a *app) renderUser(ctx context.Context, w http.ResponseWriter, rc *reqCtx, uid int64) error {
	u, err := scanUser(a.db.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE id=?`, uid))
	if err != nil {
		return err
	}
	return ok(w, rc, u.json())
}

// invalidTransition is a bang event's StateMachines::InvalidTransition as
// Admin::Api::BaseController renders it: 422 {"error":{from, event, error (the record's full
// error messages), object (the record's representation)}}
// (porta@3scale-2.16.4-GA:app/controllers/admin/api/base_controller.rb
// handle_state_machine_invalid_transition; app/representers/state_machine/invalid_transition_representer.rb).
func invalidTransition(u *userRow, event string) error {
	return &httpError{http.StatusUnprocessableEntity, map[string]any{"error": map[string]any{"from": u.State, "event": event,
		"error": `State cannot transition via "` + event + `"`, "object": u.json()["user"]}}}
}

// userEvents are the state and role member actions: activate (only from pending; an active
// user is answered as it is, `activate! unless active?`), suspend (active or suspended →
// suspended, raised with a bang: an invalid transition is StateMachines::InvalidTransition,
// which Admin::Api::BaseController answers 422 through InvalidTransitionRepresenter),
// unsuspend (suspended → active, without a bang: 422 on state), admin and member (the role
// set, no validation) (porta@3scale-2.16.4-GA:app/models/user/states.rb, user/roles.rb).
func (a *app) userEvent(event string) apiHandler {
	return func(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
		ctx := r.Context()
		_, u, err := a.buyerUser(ctx, rc, r)
		if err != nil {
			return err
		}
		col, to := "state", ""
		switch event {
		case "activate":
			switch u.State {
			case "active":
				return ok(w, rc, u.json())
			case "pending":
				to = "active"
			default:
				return invalidTransition(u, "activate")
			}
		case "suspend":
			if u.State != "active" && u.State != "suspended" {
				return invalidTransition(u, "suspend")
			}
			to = "suspended"
		case "unsuspend":
			if u.State != "suspended" {
				return invalid("state", `cannot transition via "unsuspend"`)
			}
			to = "active"
		default: // admin, member
			col, to = "role", event
		}
		if _, err := a.db.ExecContext(ctx, `UPDATE users SET `+col+`=?, updated_at=? WHERE id=?`, to, now(), u.ID); err != nil {
			return err
		}
		return a.renderUser(ctx, w, rc, u.ID)
	}
}

// providerUserJSON is UserRepresenter for a user of the provider itself: no account link, and
// self under /admin/api/users.
func (u *userRow) providerUserJSON() map[string]any {
	body := u.json()["user"].(map[string]any)
	body["links"] = []any{link("self", fmtID("/admin/api/users/", u.ID))}
	return map[string]any{"user": body}
}

// listProviderUsers is GET /admin/api/users and showProviderUser GET /admin/api/users/{id}:
// the tenant's own users without the impersonation admin (User.but_impersonation_admin), filtered by state and role
// (porta@3scale-2.16.4-GA:app/controllers/admin/api/users_controller.rb index, show, users).
func (a *app) listProviderUsers(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	ctx := r.Context()
	users, err := a.queryUsers(ctx, parseParams(r), `account_id=? AND username<>?`, rc.tenant.ID, impersonationAdmin)
	if err != nil {
		return err
	}
	out := make([]any, 0, len(users))
	for _, u := range users {
		out = append(out, u.providerUserJSON())
	}
	return ok(w, rc, map[string]any{"users": out})
}

func (a *app) showProviderUser(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	ctx := r.Context()
	uid, err := pathID(r, "uid")
	if err != nil {
		return err
	}
	u, err := scanUser(a.db.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE id=? AND account_id=? AND username<>?`, uid, rc.tenant.ID, impersonationAdmin))
	if errors.Is(err, sql.ErrNoRows) {
		return errNotFound
	}
	if err != nil {
		return err
	}
	return ok(w, rc, u.providerUserJSON())
}
