package system

import (
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// integrationErrorsPage is the admin portal's GET /apiconfig/services/{id}/errors, as porta
// 3scale-2.16.4-GA renders it (porta@3scale-2.16.4-GA:app/controllers/api/errors_controller.rb
// index, app/services/integration_errors_service.rb list, app/presenters/api/
// errors_index_presenter.rb, app/views/api/errors/index.html.slim,
// app/views/shared/_empty_state.html.slim, config/locales/en.yml api.errors.index).
//
//   - The product is one of the signed-in provider's services that is not deleted
//     (FrontendController#find_service on accessible_services); any other id is 404.
//   - The errors are backend's, one page of them: page (default 1) and per_page (default 20)
//     go to backend as the request gave them (params.permit(:page, :per_page)). Whatever
//     backend answers but a 200, and backend not answering, is an exception porta does not
//     handle: the portal's 500.
//   - Only then does WillPaginate::Collection.create read page, as Integer(): a page that is
//     not an integer of at least 1 is WillPaginate::InvalidPage, which ErrorHandling answers
//     404 (app/controllers/concerns/error_handling.rb; will_paginate@v3.3.1:
//     lib/will_paginate/page_number.rb).
//   - A page without errors is the "Hooray!" empty state; otherwise a table with a row per
//     error, timestamp then HTML-escaped message. Slim writes attributes sorted by name.
//
// The page header's body (a paragraph linking to the ActiveDocs) is left out.
func (a *app) integrationErrorsPage(w http.ResponseWriter, r *http.Request, tenant *account) error {
	ctx := r.Context()
	sid, err := pathID(r, "id")
	if err != nil {
		writeHTML(w, http.StatusNotFound, "Not found", "")
		return nil
	}
	var name string
	err = a.db.QueryRowContext(ctx, `SELECT name FROM services WHERE id=? AND account_id=? AND state<>'deleted'`, sid, tenant.ID).Scan(&name)
	if errors.Is(err, sql.ErrNoRows) {
		writeHTML(w, http.StatusNotFound, "Not found", "")
		return nil
	}
	if err != nil {
		return err
	}
	_ = r.ParseForm()
	var page, perPage any = 1, 20
	if vs, ok := r.Form["page"]; ok && len(vs) > 0 {
		page = vs[len(vs)-1]
	}
	if vs, ok := r.Form["per_page"]; ok && len(vs) > 0 {
		perPage = vs[len(vs)-1]
	}
	errs, total, err := a.backend.serviceErrors(ctx, sid, page, perPage)
	if err != nil {
		return err
	}
	if s, ok := page.(string); ok && !validPageNumber(s) {
		writeHTML(w, http.StatusNotFound, "Not found", "")
		return nil
	}
	var b strings.Builder
	if len(errs) == 0 {
		b.WriteString(`<div class="pf-c-empty-state"><div class="pf-c-empty-state__content">` +
			`<i aria-hidden="true" class="fas fa-check-circle pf-c-empty-state__icon"></i>` +
			`<h1 class="pf-c-title pf-m-lg">Hooray!</h1>` +
			`<div class="pf-c-empty-state__body">No integration errors reported for this service.</div></div></div>`)
	} else {
		fmt.Fprintf(&b, `<table aria-label="Integration errors table" class="pf-c-table pf-m-grid-lg" data-toolbar-props="%s" role="grid">`,
			attrEscape.Replace(errorsToolbarProps(sid, total, len(errs))))
		b.WriteString(`<thead><tr role="row"><th role="columnheader" scope="col">Time (UTC)</th>` +
			`<th role="columnheader" scope="col">Error</th><td></td></tr></thead><tbody role="rowgroup">`)
		for _, e := range errs {
			fmt.Fprintf(&b, `<tr role="row"><td data-label="Time (UTC)" role="cell">%s</td><td data-label="Error" role="cell">%s</td><td></td></tr>`,
				attrEscape.Replace(e.Timestamp), attrEscape.Replace(e.Message))
		}
		b.WriteString(`</tbody></table>`)
	}
	writeHTML(w, http.StatusOK, "Integration Errors for "+name, b.String())
	return nil
}

// errorsToolbarProps is ErrorsIndexPresenter#toolbar_props as JSON: the total and this page's
// count, and the purge action (a DELETE of the same path).
func errorsToolbarProps(sid int64, total int64, n int) string {
	type action struct {
		Variant string `json:"variant"`
		Label   string `json:"label"`
		Href    string `json:"href"`
		Confirm string `json:"data-confirm"`
		Method  string `json:"data-method"`
	}
	b, _ := json.Marshal(struct {
		TotalEntries int64    `json:"totalEntries"`
		PageEntries  int      `json:"pageEntries"`
		Actions      []action `json:"actions"`
	}{total, n, []action{{"danger", "Purge", fmt.Sprintf("/apiconfig/services/%d/errors", sid), "All errors will be permanently deleted.", "delete"}}})
	return string(b)
}

// validPageNumber is WillPaginate::PageNumber's test of a page given as a string: Ruby's
// Integer() accepts it (blanks around, a sign, 0x/0b/0o or a leading 0 for octal, underscores
// between digits; Go's base-0 syntax is the same but for Ruby's 0d) and it is at least 1.
func validPageNumber(s string) bool {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 0, 64)
	return err == nil && n >= 1
}
