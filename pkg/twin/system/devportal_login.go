package system

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"net/http"
	"regexp"
	"strconv"
	"strings"
)

// The developer portal's sign-in and search, as porta 3scale-2.16.4-GA serves them
// (3scale-2.15.1-GA is the same).
//
// Sign-in (DeveloperPortal::LoginController, porta@3scale-2.16.4-GA:
// lib/developer_portal/app/controllers/developer_portal/login_controller.rb;
// lib/developer_portal/config/routes.rb:6,157): GET /login renders the default login template
// (lib/developer_portal/app/views/developer_portal/login/new.html.liquid: the form new_session
// posting username, password and remember_me to /session, with the session's
// authenticity_token, lib/developer_portal/lib/liquid/forms/base.rb metadata) and sends a
// signed-in buyer to /admin (redirect_if_logged_in). POST /session is forgery-protected like
// every ApplicationController action; its bot check passes, as spam_protection_level is "none"
// unless the provider raises it (db/schema.rb:1250), which the twin's never do. Then the
// internal strategy (app/lib/authentication/strategy/internal.rb, sso.rb): a buyer user of the
// provider by username or e-mail with that password; a wrong pair renders the form again with
// 200 and "Incorrect email or password. Please try again."; a user who is not active, or whose
// account is not approved, gets "Your account isn't active or hasn't been approved yet."
// (User#can_login?, app/models/user.rb:224-227); a good one gets the user_session cookie and a
// 302 to the stored return_to, else / (Strategy::Base#redirect_to_on_successful_login is
// root_path).
//
// Search (DeveloperPortal::SearchController,
// lib/developer_portal/app/controllers/developer_portal/search_controller.rb; routes.rb:166
// GET /search(.:format)): login_required unless the provider's public_search setting is on
// (:31-33; db/schema.rb:1262, off by default; the twin has no way to turn it on), so a visitor
// is sent to /login with the search stored as return_to, JSON or not. A signed-in buyer's
// search runs ThinkingSphinx over the CMS page index with the provider's tenant_id, 7 results a
// page, at most 20 (app/presenters/search_presenters.rb:5-6,60-66,121-128), drops the pages the
// buyer may not see (the twin's pages are all in the public root section), and answers JSON as
// a list of {title, path, content} (SearchResult#as_json): the title and the published content
// as Sphinx excerpts of the query, sanitized to span tags (Highlighter; the excerpts come from
// searchd's CALL SNIPPETS with ThinkingSphinx's default match markers). The controller has no
// SearchSupport, so with searchd down the error is unhandled: 500.

const (
	devLoginError    = "Incorrect email or password. Please try again."
	devInactiveError = "Your account isn't active or hasn't been approved yet."
)

// devUser is the buyer user a valid user_session names, when that user belongs to a buyer
// account of tenant that may sign in (AuthenticatedSystem#login_from_user_session).
func (a *app) devUser(r *http.Request, tenant *account) (int64, bool, error) {
	key, ok := a.userSessionKey(r)
	if !ok {
		return 0, false, nil
	}
	var uid int64
	err := a.db.QueryRowContext(r.Context(), `SELECT u.id FROM user_sessions s JOIN users u ON u.id=s.user_id JOIN accounts b ON b.id=u.account_id
		WHERE s.session_key=? AND b.kind='buyer' AND b.provider_account_id=? AND b.state='approved' AND u.state='active'`, key, tenant.ID).Scan(&uid)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	return uid, err == nil, err
}

// devLoginPage is GET /login.
func (a *app) devLoginPage(w http.ResponseWriter, r *http.Request, tenant *account) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		devNotFound(w)
		return
	}
	_, in, err := a.devUser(r, tenant)
	if err != nil {
		a.fail(w, r, "", err)
		return
	}
	if in {
		redirectTo(w, r, "/admin")
		return
	}
	s := a.readSession(r)
	if rt := r.FormValue("return_to"); rt != "" && s.ReturnTo == "" && strings.HasPrefix(rt, "/") {
		s.ReturnTo = rt
		a.writeSession(w, s)
	}
	a.renderDevLogin(w, tenant, s, "")
}

func (a *app) renderDevLogin(w http.ResponseWriter, tenant *account, s *railsSession, flashError string) {
	secret, _ := csrfSecret(s)
	a.writeSession(w, s)
	var flash string
	if flashError != "" {
		flash = fmt.Sprintf(`<div id="flash-messages"><p class="alert alert-danger">%s</p></div>`, html.EscapeString(flashError))
	}
	body := flash + `<div class="row"><div class="col-md-9"><div class="panel panel-default"><div class="panel-heading"><i class="fa fa-user"></i> Sign in</div><div class="panel-body">` +
		`<form accept-charset="UTF-8" action="/session" class="formtastic session form-horizontal" id="new_session" method="post">` +
		`<div style="margin:0;padding:0;display:inline"><input type="hidden" name="utf8" value="&#x2713;" />` +
		fmt.Sprintf(`<input type="hidden" name="authenticity_token" value="%s" />`, maskedCSRFToken(secret)) +
		`<input type="hidden" name="_method" value="post" /></div>` +
		`<fieldset><div class="form-group" id="session_username_input"><label for="session_username" class="control-label col-md-4">Username or Email</label>` +
		`<div class="col-md-6"><input id="session_username" name="username" tabindex="1" autofocus="autofocus" type="text" placeholder="Authenticate with your email" class="form-control"></div></div>` +
		`<div class="form-group" id="session_password_input"><label for="session_password" class="control-label col-md-4">Password</label>` +
		`<div class="col-md-6"><input id="session_password" name="password" tabindex="2" type="password" placeholder="…and password" class="form-control"></div></div>` +
		`<input name="remember_me" type="hidden" value="1"></fieldset>` +
		`<fieldset><div class="form-group"><div class="col-md-10"><input name="commit" type="submit" value="Sign in" class="btn btn-success btn-lg pull-right"></div></div></fieldset>` +
		`</form></div><div class="panel-footer"><a href="/admin/account/password/new">Forgot password?</a></div></div></div></div>`
	writeDevPage(w, http.StatusOK, tenant, "Sign in", body, false)
}

// devLogin is POST /session.
func (a *app) devLogin(w http.ResponseWriter, r *http.Request, tenant *account) {
	if r.Method != http.MethodPost {
		devNotFound(w)
		return
	}
	ctx := r.Context()
	s := a.readSession(r)
	if !a.forgeryChecked(w, r, s) {
		writeHTML(w, http.StatusForbidden, "Forbidden", "<p>Access denied.</p>")
		return
	}
	username := r.PostFormValue("username")
	var uid int64
	var userState, accountState string
	err := a.db.QueryRowContext(ctx, `SELECT u.id, u.state, b.state FROM users u JOIN accounts b ON b.id=u.account_id
		WHERE b.kind='buyer' AND b.provider_account_id=? AND (u.username=? OR u.email=?) AND u.password=? AND u.password<>'' ORDER BY u.id LIMIT 1`,
		tenant.ID, username, username, r.PostFormValue("password")).Scan(&uid, &userState, &accountState)
	if errors.Is(err, sql.ErrNoRows) {
		a.renderDevLogin(w, tenant, s, devLoginError)
		return
	}
	if err != nil {
		a.fail(w, r, "", err)
		return
	}
	if (userState != "active" && userState != "email_unverified") || accountState != "approved" {
		a.renderDevLogin(w, tenant, s, devInactiveError)
		return
	}
	a.signedIn(w, r, s, uid, "/")
}

// Search pagination (SearchAbstractPresenter: DEFAULT_PER_PAGE 7, MAX_PER_PAGE 20, MAX_MATCHES 1000).
const (
	devSearchPerPage    = 7
	devSearchMaxPerPage = 20
	devSearchMaxMatches = 1000
)

// devSearchResult is SearchResult#as_json for a CMS page.
type devSearchResult struct {
	Title   string `json:"title"`
	Path    string `json:"path"`
	Content string `json:"content"`
}

// devSearch is GET /search and /search.json.
func (a *app) devSearch(w http.ResponseWriter, r *http.Request, tenant *account) {
	ctx := r.Context()
	_, in, err := a.devUser(r, tenant)
	if err != nil {
		a.fail(w, r, "", err)
		return
	}
	if !in {
		s := a.readSession(r)
		s.ReturnTo = r.RequestURI // request.fullpath: the format suffix too
		a.writeSession(w, s)
		redirectTo(w, r, "/login")
		return
	}
	perPage := devSearchPerPage
	if v := r.FormValue("per_page"); v != "" {
		n, _ := strconv.Atoi(v)
		perPage = min(max(n, 0), devSearchMaxPerPage)
	}
	page, _ := strconv.Atoi(r.FormValue("page"))
	if page <= 0 {
		page = 1
	} else if perPage > 0 && perPage*page > devSearchMaxMatches {
		page = devSearchMaxMatches / perPage
	}
	q := r.FormValue("q")
	ids, err := a.search.query(ctx, "cms_page_core", tenant.ID, q)
	if err != nil {
		a.fail(w, r, "", err)
		return
	}
	from := min((page-1)*perPage, len(ids))
	ids = ids[from:min(from+perPage, len(ids))]
	results := []devSearchResult{}
	for _, id := range ids {
		var title, path, published string
		err := a.db.QueryRowContext(ctx, `SELECT title, path, COALESCE(published,'') FROM cms_pages WHERE id=? AND account_id=? AND published IS NOT NULL`, id, tenant.ID).Scan(&title, &path, &published)
		if errors.Is(err, sql.ErrNoRows) {
			continue // the index is ahead of the database (retry_stale)
		}
		if err != nil {
			a.fail(w, r, "", err)
			return
		}
		t, err := a.search.snippet(ctx, "cms_page_core", title, q)
		if err != nil {
			a.fail(w, r, "", err)
			return
		}
		c, err := a.search.snippet(ctx, "cms_page_core", published, q)
		if err != nil {
			a.fail(w, r, "", err)
			return
		}
		results = append(results, devSearchResult{Title: sanitizeSpans(t), Path: path, Content: sanitizeSpans(c)})
	}
	if requestFormat(r) == "json" {
		b, _ := json.Marshal(results)
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(b)
		return
	}
	var body strings.Builder
	fmt.Fprintf(&body, `<h2>Search</h2><p class="search-summary">%d results for <strong>%s</strong></p><ul class="search-results">`, len(results), html.EscapeString(q))
	for _, res := range results {
		fmt.Fprintf(&body, `<li><a href="%s">%s</a><p>%s</p></li>`, html.EscapeString(res.Path), res.Title, res.Content)
	}
	body.WriteString(`</ul>`)
	writeDevPage(w, http.StatusOK, tenant, "Search", body.String(), true)
}

// otherTags are the tags sanitize(value, tags: %w(span), attributes: %w(class)) strips: every
// tag but span; a span keeps only its class.
var (
	anyTag     = regexp.MustCompile(`<(/?)([a-zA-Z][a-zA-Z0-9]*)([^>]*)>`)
	classAttrs = regexp.MustCompile(`\sclass="[^"]*"`)
)

func sanitizeSpans(s string) string {
	return anyTag.ReplaceAllStringFunc(s, func(t string) string {
		m := anyTag.FindStringSubmatch(t)
		if !strings.EqualFold(m[2], "span") {
			return ""
		}
		if m[1] == "/" {
			return "</span>"
		}
		return "<span" + classAttrs.FindString(m[3]) + ">"
	})
}

// writeDevPage writes a developer portal page in the default main layout
// (lib/developer_portal/app/views/developer_portal/main_layout.html.liquid, _submenu.html.liquid):
// the navigation bar with the provider's name as the brand, the Documentation and Plans links,
// and "Sign in" for a visitor or "Sign Out" for a signed-in buyer.
func writeDevPage(w http.ResponseWriter, status int, tenant *account, title, content string, signedIn bool) {
	org := html.EscapeString(tenant.OrgName)
	right := `<li><a href="/login" title="Login">Sign in</a></li>`
	if signedIn {
		right = `<li><a href="/logout" title="Sign Out">Sign Out</a></li>`
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<!DOCTYPE html>
<html lang="en">
  <head><title>%s</title><meta charset="utf-8"></head>
  <body>
    <header role="banner">
      <nav class="navbar navbar-fixed-top navbar-inverse" role="navigation">
        <div class="container tabbed">
          <div class="navbar-header"><a class="navbar-brand" href="/">%s</a></div>
          <div id="navbar-1" class="navbar-collapse collapse">
            <ul class="nav navbar-nav"><li><a href="/docs">Documentation</a></li><li><a href="/#plans">Plans</a></li></ul>
            <ul class="nav navbar-nav navbar-right">%s</ul>
          </div>
        </div>
      </nav>
    </header>
    <main id="main-content" role="main">%s</main>
    <footer role="contentinfo"><ul class="list-inline pull-right"><li>%s</li><li><a class="powered-by" href="http://3scale.net/">Powered by 3scale</a></li></ul></footer>
  </body>
</html>
`, html.EscapeString(title), org, right, content, org)
}
