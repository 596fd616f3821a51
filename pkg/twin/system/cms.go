package system

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"
)

// The developer portal's CMS pages through the CMS API, as porta 3scale-2.16.4-GA serves it
// (Admin::Api::CMS::TemplatesController, porta@3scale-2.16.4-GA:
// app/controllers/admin/api/cms/templates_controller.rb, base_controller.rb;
// app/services/admin/api/cms/template_service.rb; app/models/cms/page.rb, template.rb;
// app/representers/cms/page_representer.rb). 3scale-2.15.1-GA is the same.
//
// The twin models pages only, in the provider's root section (public, so every page is
// accessible to every visitor) and without layouts: a type other than page answers 422 as an
// unknown type does, and a section_id, section_name, layout_id or layout_name answers 422 as
// an unknown section or layout does. Neither versions nor handlers are modelled.
//
// A page is searchable when its published content is HTML that Liquid would not render
// (Liquid off, or no tags but include: CMS::Page#is_searchable?, computed before every save);
// the cms_page_core real-time index holds the searchable published pages, title and published
// content, with the provider as tenant_id (app/indices/cms_page_index.rb). Every commit that
// touches a page queues SphinxIndexationWorker(CMS::Page, id) (app/concerns/searchable.rb),
// which writes the page into the index or removes it.

// cmsPageRow is a row of cms_pages.
type cmsPageRow struct {
	ID, AccountID        int64
	Title, Path          string
	SystemName           sql.NullString
	ContentType          string
	LiquidEnabled        bool
	Draft, Published     sql.NullString
	CreatedAt, UpdatedAt time.Time
}

const cmsPageCols = `id, account_id, title, path, system_name, content_type, liquid_enabled, draft, published, created_at, COALESCE(updated_at, created_at)`

func scanCMSPage(row interface{ Scan(...any) error }) (*cmsPageRow, error) {
	var p cmsPageRow
	err := row.Scan(&p.ID, &p.AccountID, &p.Title, &p.Path, &p.SystemName, &p.ContentType, &p.LiquidEnabled, &p.Draft, &p.Published, &p.CreatedAt, &p.UpdatedAt)
	return &p, err
}

// cmsPageShortJSON is CMS::PageRepresenter for a page without its content (the list's
// user_options short), in the representer's order; section_id is null (sections are not
// modelled), layout_id and handler are null (none are).
type cmsPageShortJSON struct {
	ID            int64   `json:"id"`
	Type          string  `json:"type"`
	CreatedAt     string  `json:"created_at"`
	UpdatedAt     string  `json:"updated_at"`
	Title         string  `json:"title"`
	SystemName    *string `json:"system_name"`
	LayoutID      *int64  `json:"layout_id"`
	SectionID     *int64  `json:"section_id"`
	Path          string  `json:"path"`
	ContentType   string  `json:"content_type"`
	LiquidEnabled bool    `json:"liquid_enabled"`
	Handler       *string `json:"handler"`
	Hidden        bool    `json:"hidden"`
}

// cmsPageJSON is the whole representation: then draft and published.
type cmsPageJSON struct {
	cmsPageShortJSON
	Draft     *string `json:"draft"`
	Published *string `json:"published"`
}

func (p *cmsPageRow) json() cmsPageJSON {
	out := cmsPageJSON{cmsPageShortJSON: cmsPageShortJSON{ID: p.ID, Type: "page", CreatedAt: ts(p.CreatedAt), UpdatedAt: ts(p.UpdatedAt), Title: p.Title,
		Path: p.Path, ContentType: p.ContentType, LiquidEnabled: p.LiquidEnabled, Hidden: !p.Published.Valid}}
	if p.SystemName.Valid {
		out.SystemName = &p.SystemName.String
	}
	if p.Draft.Valid {
		out.Draft = &p.Draft.String
	}
	if p.Published.Valid {
		out.Published = &p.Published.String
	}
	return out
}

// cmsReservedPaths are CMS::Page::RESERVED_PATHS: terms, privacy and refunds, bare or .html/.htm.
var cmsReservedPaths = map[string]bool{}

func init() {
	for _, n := range []string{"terms", "privacy", "refunds"} {
		for _, ext := range []string{"", ".html", ".htm"} {
			cmsReservedPaths[n+ext] = true
		}
	}
}

// liquidTag matches a Liquid tag's name ({% name ... %}).
var liquidTag = regexp.MustCompile(`\{%-?\s*(\w+)`)

// cmsSearchable is CMS::Page#is_searchable? on the published content: HTML (text/html, the
// default content type), and either Liquid off or no tag other than include.
func cmsSearchable(contentType string, liquid bool, published sql.NullString) bool {
	if contentType != "" && contentType != "text/html" {
		return false
	}
	if !liquid {
		return true
	}
	for _, m := range liquidTag.FindAllStringSubmatch(published.String, -1) {
		if m[1] != "include" {
			return false
		}
	}
	return true
}

// cmsTemplateError is render_error of a TemplateServiceError: 422 {"error": msg}.
func cmsTemplateError(msg string) error {
	return &httpError{http.StatusUnprocessableEntity, map[string]string{"error": msg}}
}

// cmsPageOf finds a page of the tenant (cms_templates.find: 404 for another provider's).
func (a *app) cmsPageOf(ctx context.Context, q querier, tenantID, id int64) (*cmsPageRow, error) {
	p, err := scanCMSPage(q.QueryRowContext(ctx, `SELECT `+cmsPageCols+` FROM cms_pages WHERE id=? AND account_id=?`, id, tenantID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errNotFound
	}
	return p, err
}

// cmsPageParam is the tenant's page the request's {id} names (404 when there is none).
func (a *app) cmsPageParam(r *http.Request, rc *reqCtx) (*cmsPageRow, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return nil, err
	}
	return a.cmsPageOf(r.Context(), a.db, rc.tenant.ID, id)
}

// createCMSTemplate is POST /admin/api/cms/templates (TemplateService::Create, then
// respond_with: 201 and the page, or 422 and its errors). Only the page's permitted
// parameters are read: title, path, content_type, system_name, liquid_enabled, draft.
func (a *app) createCMSTemplate(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	ctx := r.Context()
	p := parseParams(r)
	switch typ := p.get("type"); {
	case typ != "page":
		return cmsTemplateError(fmt.Sprintf("Unknown template type '%s'", typ))
	case p.has("section_id") || p.has("section_name"):
		return cmsTemplateError(fmt.Sprintf("Unknown section: '%s'", firstNonEmpty(p.get("section_id"), p.get("section_name"))))
	case p.has("layout_id") || p.has("layout_name"):
		return cmsTemplateError(fmt.Sprintf("Unknown layout: '%s'", firstNonEmpty(p.get("layout_id"), p.get("layout_name"))))
	}
	title := p.get("title")
	// strip_trailing_slashes, then the validations of CMS::Page.
	path := strings.TrimRight(p.get("path"), "/")
	if path == "" && strings.HasPrefix(p.get("path"), "/") {
		path = "/"
	}
	switch {
	case strings.TrimSpace(title) == "":
		return invalid("title", "can't be blank")
	case path == "":
		return invalid("path", "can't be blank")
	case !strings.HasPrefix(path, "/"):
		return invalid("path", "needs to start with a slash ( / )") // config/locales/en.yml:1284
	case cmsReservedPaths[strings.TrimPrefix(path, "/")]:
		return invalid("path", "is reserved")
	}
	sys := p.get("system_name")
	if sys == "" {
		sys = parameterize(title)
	}
	contentType := p.get("content_type")
	if contentType == "" {
		contentType = "text/html"
	}
	liquid := p.get("liquid_enabled") == "true" || p.get("liquid_enabled") == "1"
	var draft sql.NullString
	if p.has("draft") {
		draft = sql.NullString{String: p.get("draft"), Valid: true}
	}
	var id int64
	err := a.inTx(ctx, func(tx *sql.Tx) error {
		var taken int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM cms_pages WHERE account_id=? AND path=?`, rc.tenant.ID, path).Scan(&taken); err != nil {
			return err
		}
		if taken > 0 {
			return invalid("path", "has already been taken")
		}
		t := now()
		var err error
		id, err = lastID(tx.ExecContext(ctx, `INSERT INTO cms_pages (account_id, path, title, system_name, content_type, liquid_enabled, draft, published, searchable, created_at, updated_at)
			VALUES (?,?,?,?,?,?,?,NULL,?,?,?)`, rc.tenant.ID, path, title, sys, contentType, liquid, draft, cmsSearchable(contentType, liquid, sql.NullString{}), t, t))
		return err
	})
	if err != nil {
		return err
	}
	if err := a.afterCommit(ctx, model(a.enqueueing(indexJob("CMS::Page", id)))); err != nil {
		return err
	}
	pg, err := a.cmsPageOf(ctx, a.db, rc.tenant.ID, id)
	if err != nil {
		return err
	}
	return created(w, rc, "", pg.json())
}

// listCMSTemplates is GET /admin/api/cms/templates: the provider's templates by id, 20 a page
// (per_page up to 100), filtered by type (the twin's are all pages), each without its draft
// and published content unless content=true, as {"collection": [...]} with
// {"metadata": {per_page, total_entries, total_pages, current_page}} when there is more than a
// page (CMS::TemplatesRepresenter, ThreeScale::Api::Collection#to_json; base_controller.rb
// per_page, MAX_PER_PAGE 100, DEFAULT_PER_PAGE 20).
func (a *app) listCMSTemplates(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	ctx := r.Context()
	p := parseParams(r)
	perPage := 20
	if p.get("per_page") != "" {
		perPage = min(int(p.int64("per_page")), 100)
	}
	page := max(int(p.int64("page")), 1)
	var total int
	where := `account_id=?`
	if t := p.get("type"); t != "" && t != "page" {
		where += ` AND FALSE`
	}
	if err := a.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM cms_pages WHERE `+where, rc.tenant.ID).Scan(&total); err != nil {
		return err
	}
	items := []any{}
	if perPage > 0 {
		rows, err := a.db.QueryContext(ctx, `SELECT `+cmsPageCols+` FROM cms_pages WHERE `+where+` ORDER BY id LIMIT ? OFFSET ?`, rc.tenant.ID, perPage, (page-1)*perPage)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			pg, err := scanCMSPage(rows)
			if err != nil {
				return err
			}
			j := pg.json()
			if p.get("content") != "true" {
				items = append(items, j.cmsPageShortJSON)
			} else {
				items = append(items, j)
			}
		}
		if err := rows.Err(); err != nil {
			return err
		}
	}
	out := map[string]any{"collection": items}
	if perPage > 0 && perPage < total {
		out["metadata"] = map[string]int{"per_page": perPage, "total_entries": total, "total_pages": (total + perPage - 1) / perPage, "current_page": page}
	}
	return ok(w, rc, out)
}

// showCMSTemplate is GET /admin/api/cms/templates/{id}.
func (a *app) showCMSTemplate(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	pg, err := a.cmsPageParam(r, rc)
	if err != nil {
		return err
	}
	return ok(w, rc, pg.json())
}

// publishCMSTemplate is PUT /admin/api/cms/templates/{id}/publish (CMS::Template#publish!:
// with a draft, published becomes the draft and the draft is cleared, saved; without one
// nothing changes), answered with the page.
func (a *app) publishCMSTemplate(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	ctx := r.Context()
	pg, err := a.cmsPageParam(r, rc)
	if err != nil {
		return err
	}
	id := pg.ID
	if pg.Draft.Valid {
		if _, err := a.db.ExecContext(ctx, `UPDATE cms_pages SET published=draft, draft=NULL, searchable=?, updated_at=? WHERE id=?`,
			cmsSearchable(pg.ContentType, pg.LiquidEnabled, pg.Draft), now(), id); err != nil {
			return err
		}
		if err := a.afterCommit(ctx, model(a.enqueueing(indexJob("CMS::Page", id)))); err != nil {
			return err
		}
		if pg, err = a.cmsPageOf(ctx, a.db, rc.tenant.ID, id); err != nil {
			return err
		}
	}
	return ok(w, rc, pg.json())
}

// deleteCMSTemplate is DELETE /admin/api/cms/templates/{id} (TemplateService::Destroy; the
// page's after-commit index job then finds it gone and removes it from the index).
func (a *app) deleteCMSTemplate(w http.ResponseWriter, r *http.Request, rc *reqCtx) error {
	ctx := r.Context()
	pg, err := a.cmsPageParam(r, rc)
	if err != nil {
		return err
	}
	id := pg.ID
	if _, err := a.db.ExecContext(ctx, `DELETE FROM cms_pages WHERE id=?`, id); err != nil {
		return err
	}
	if err := a.afterCommit(ctx, model(a.enqueueing(indexJob("CMS::Page", id)))); err != nil {
		return err
	}
	return deleted(w)
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}
