package system

import (
	"database/sql"
	"errors"
	"fmt"
	"html"
	"net/http"
	"strings"
)

// The developer portal (the system-developer container) as porta 3scale-2.16.4-GA serves it.
//
// Every page is behind AccessCodeProtection: unless the access_code cookie equals the
// provider's site access code (the account's site_access_code, else ACCESS_CODE; none when both
// are blank), the controller renders the "Access Restricted" page with 200 and no layout, and
// remembers the page as the session's return_to. JSON and XML requests and OPTIONS pass. A
// provider gets a random site_access_code when it is created (Account before_create
// generate_site_access_code, SecureRandom.hex(5)), so a fresh tenant's portal is closed until
// the code is given; an API client reads it from GET /admin/api/provider.json
// (account.site_access_code). /access_code with the right access_code parameter sets the
// cookie and redirects to the remembered page or the root
// (porta@3scale-2.16.4-GA:lib/developer_portal/lib/access_code_protection.rb,
// lib/developer_portal/app/controllers/developer_portal/access_codes_controller.rb,
// lib/developer_portal/app/views/developer_portal/access_codes/show.html.erb,
// app/models/account.rb:100,584; 3scale-2.15.1-GA is the same).
//
// Behind it the twin serves the CMS pages ImportSimpleLayoutWorker published (the homepage at
// / and /docs; porta@3scale-2.16.4-GA:app/lib/simple_layout.rb import_pages!) in the default
// layout's shape: the navigation bar with the provider's name as the brand, and for a visitor
// not signed in the Documentation and Plans links and a "Sign in" link to /login
// (lib/developer_portal/app/views/developer_portal/main_layout.html.liquid, _submenu.html.liquid);
// the homepage lists the published plans of the provider's "api" product (index.html.liquid).

const accessCodeCookie = "access_code"

func (a *app) devTenant(w http.ResponseWriter, r *http.Request) *account {
	tenant, err := a.tenantFor(r.Context(), roleDeveloper, requestHost(r))
	if err != nil {
		a.fail(w, r, "", err)
		return nil
	}
	if tenant == nil {
		writeHTML(w, http.StatusNotFound, "Not found", "<p>No developer portal at this address.</p>")
		return nil
	}
	return tenant
}

// siteAccessCode is AccessCodeProtection#access_code: the account's code, else ACCESS_CODE.
func (a *app) siteAccessCode(tenant *account) string {
	if tenant.SiteAccessCode.Valid && tenant.SiteAccessCode.String != "" {
		return tenant.SiteAccessCode.String
	}
	return a.cfg.AccessCode
}

type devHandler func(w http.ResponseWriter, r *http.Request, tenant *account)

// devPortal is AccessCodeProtection#protect_access in front of a developer portal page.
func (a *app) devPortal(h devHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tenant := a.devTenant(w, r)
		if tenant == nil {
			return
		}
		code := a.siteAccessCode(tenant)
		pass := code == "" || r.Method == http.MethodOptions || requestFormat(r) == "json" || requestFormat(r) == "xml"
		if ck, err := r.Cookie(accessCodeCookie); err == nil && code != "" && ck.Value == code {
			pass = true
		}
		if !pass {
			s := a.readSession(r)
			s.ReturnTo = r.URL.RequestURI()
			a.renderAccessCodePage(w, s)
			return
		}
		h(w, r, tenant)
	}
}

// renderAccessCodePage is access_codes/show rendered without a layout, status 200: a form
// posting access_code (a password field) to /access_code with the session's CSRF token.
func (a *app) renderAccessCodePage(w http.ResponseWriter, s *railsSession) {
	secret, _ := csrfSecret(s)
	a.writeSession(w, s)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	fmt.Fprintf(w, `<html>
  <head>
    <title>Access Restricted</title>
  </head>
  <body>
      <form action="/access_code" accept-charset="UTF-8" method="post"><input type="hidden" name="authenticity_token" value="%s" autocomplete="off" />
        <label for="access_code">Access code</label>
        <input type="password" name="access_code" id="access_code" />
        <input type="submit" name="commit" value="Enter" data-disable-with="Enter" />
</form>
      <p>This developer portal needs its access code, set in the admin portal.</p>
  </body>
</html>
`, maskedCSRFToken(secret))
}

// accessCode is /access_code (GET or POST): without a code to give it redirects to the root; with
// the right access_code parameter it sets the access_code cookie and redirects to the page the
// visitor came from (return_to param or session), else the root; otherwise it renders the
// page again. A POST is forgery-protected like any ApplicationController action (403 without
// the session's token).
func (a *app) accessCode(w http.ResponseWriter, r *http.Request) {
	tenant := a.devTenant(w, r)
	if tenant == nil {
		return
	}
	s := a.readSession(r)
	if r.Method == http.MethodPost {
		secret, fresh := csrfSecret(s)
		given := r.PostFormValue("authenticity_token")
		if given == "" {
			given = r.Header.Get("X-CSRF-Token")
		}
		if fresh || !validCSRFToken(secret, given) {
			a.writeSession(w, &railsSession{SessionID: randomHex(16)})
			writeHTML(w, http.StatusForbidden, "Forbidden", "<p>Access denied.</p>")
			return
		}
	} else if r.Method != http.MethodGet {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	code := a.siteAccessCode(tenant)
	returnTo := func() string {
		rt := r.FormValue("return_to")
		if rt == "" {
			rt = s.ReturnTo
		}
		if rt == "" || rt == "/access_code" || !strings.HasPrefix(rt, "/") {
			rt = "/"
		}
		return rt
	}
	if code == "" {
		redirectTo(w, r, returnTo())
		return
	}
	if given := r.FormValue("access_code"); given != "" && given == code {
		target := returnTo()
		s.ReturnTo = ""
		a.writeSession(w, s)
		http.SetCookie(w, &http.Cookie{Name: accessCodeCookie, Value: code, Path: "/", SameSite: http.SameSiteLaxMode})
		redirectTo(w, r, target)
		return
	}
	a.renderAccessCodePage(w, s)
}

// cmsPage serves a published CMS page by path; anything else, hidden pages included, is the
// portal's 404. A page with Liquid off is its published HTML in the layout; the two Liquid pages
// are drawn as the default templates render them for a visitor: the homepage's plans of the
// "api" product, the docs page's heading.
func (a *app) cmsPage(w http.ResponseWriter, r *http.Request, tenant *account) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		devNotFound(w)
		return
	}
	ctx := r.Context()
	var title, published string
	var liquid bool
	err := a.db.QueryRowContext(ctx, `SELECT title, liquid_enabled, published FROM cms_pages WHERE account_id=? AND path=? AND published IS NOT NULL`,
		tenant.ID, r.URL.Path).Scan(&title, &liquid, &published)
	if errors.Is(err, sql.ErrNoRows) {
		devNotFound(w)
		return
	}
	if err != nil {
		a.fail(w, r, "", err)
		return
	}
	_, signedIn, err := a.devUser(r, tenant)
	if err != nil {
		a.fail(w, r, "", err)
		return
	}
	var content strings.Builder
	switch {
	case !liquid:
		content.WriteString(published)
	case r.URL.Path == "/":
		content.WriteString(`<header class="jumbotron page-header"><h1>Echo API</h1></header>`)
		rows, err := a.db.QueryContext(ctx, `SELECT p.id, p.name FROM plans p JOIN services s ON s.id=p.issuer_id
			WHERE s.account_id=? AND s.system_name='api' AND s.state<>'deleted' AND p.type='ApplicationPlan' AND p.state='published' ORDER BY p.id`, tenant.ID)
		if err != nil {
			a.fail(w, r, "", err)
			return
		}
		defer rows.Close()
		content.WriteString(`<section class="plans" id="plans"><h1>Pick your plan</h1>`)
		for rows.Next() {
			var pid int64
			var name string
			if err := rows.Scan(&pid, &name); err != nil {
				a.fail(w, r, "", err)
				return
			}
			fmt.Fprintf(&content, `<div class="plan"><strong>%s</strong> <a class="btn btn-success" href="/signup?plan_ids[]=%d">Signup to plan %s</a></div>`,
				html.EscapeString(name), pid, html.EscapeString(name))
		}
		if err := rows.Err(); err != nil {
			a.fail(w, r, "", err)
			return
		}
		content.WriteString(`</section>`)
	default:
		fmt.Fprintf(&content, `<div class="container"><h1>%s</h1></div>`, html.EscapeString(title))
	}
	writeDevPage(w, http.StatusOK, tenant, title, content.String(), signedIn)
}

func devNotFound(w http.ResponseWriter) {
	writeHTML(w, http.StatusNotFound, "Not found", "<p>No page at this address.</p>")
}
