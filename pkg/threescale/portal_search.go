package threescale

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"

	"github.com/threescale-chaos/harness/pkg/probe"
	"github.com/threescale-chaos/harness/pkg/scenario"
)

// PortalSearch is what the admin portal's two searchd-backed search boxes must find, as
// porta 3scale-2.16.4-GA serves them to the signed-in admin (research/porta-zync.md §3.2):
//
//   - the accounts list, GET /buyers/accounts?search[query]=<org>
//     (porta@3scale-2.16.4-GA:app/controllers/buyers/accounts_controller.rb:4,17-19, which
//     includes SearchSupport), one row per account, <tr id="account_<id>" role="row">
//     (app/views/buyers/accounts/index.html.slim:58, dom_id);
//   - the product's mapping rules, GET /apiconfig/services/<id>/proxy_rules?search[query]=<q>
//     (config/routes.rb:849; app/controllers/api/proxy_rules_controller.rb:13-14 and
//     app/presenters/proxy_rules_index_base_presenter.rb:9,20-22 hand search[query] to
//     app/queries/proxy_rule_query.rb:11-20, a searchd query with star: true filtered by the
//     proxy), one row per rule with its edit link,
//     /apiconfig/services/<id>/proxy_rules/<rule id>/edit
//     (app/views/shared/proxy_rules/_body_section.html.slim:47, app/helpers/proxy_rules_helper.rb:4-13).
//
// A row is recognised by the record's id, never by the query text, which the page echoes.
// 3scale-2.15.1-GA has the same routes, controllers and query.
type PortalSearch struct {
	// Org is the organisation name searched for; AccountID the account that must be listed.
	Org       string
	AccountID int64
	// ServiceID is the product whose rules are searched for RuleQuery; RuleID the rule that
	// must be listed.
	ServiceID int64
	RuleQuery string
	RuleID    int64
	// PageQuery is searched for in the developer portal; PagePath is the CMS page whose
	// result must be listed.
	PageQuery, PagePath string
}

// Pages searches the developer portal for PageQuery as dp's signed-in buyer:
// GET /search.json?q=…, which answers a list of {title, path, content}
// (porta@3scale-2.16.4-GA:lib/developer_portal/app/controllers/developer_portal/search_controller.rb,
// app/presenters/search_presenters.rb SearchResult#as_json). It returns nil when PagePath is
// listed; an *APIError for another status (searchd down: 500, the controller has no
// SearchSupport); a *probe.Failure of class wrong-body otherwise.
func (q PortalSearch) Pages(ctx context.Context, dp *Portal) error {
	_, body, err := dp.Page(ctx, "/search.json", url.Values{"q": {q.PageQuery}}, http.StatusOK)
	if err != nil {
		return err
	}
	var results []struct {
		Path string `json:"path"`
	}
	if err := json.Unmarshal(body, &results); err != nil {
		return &probe.Failure{Class: scenario.ErrWrongBody, Status: http.StatusOK,
			Detail: fmt.Sprintf("developer portal search for %q: not a list of results: %s", q.PageQuery, Snippet(body))}
	}
	for _, r := range results {
		if r.Path == q.PagePath {
			return nil
		}
	}
	return &probe.Failure{Class: scenario.ErrWrongBody, Status: http.StatusOK,
		Detail: fmt.Sprintf("developer portal search for %q: page %s not among %d results", q.PageQuery, q.PagePath, len(results))}
}

// Accounts loads the accounts list searched for Org as p's signed-in admin. It returns nil for
// a 200 with the account's row; an *APIError for another status (searchd down: 503, the
// controller's SearchSupport page); a *probe.Failure of class wrong-body for a 200 without it.
func (q PortalSearch) Accounts(ctx context.Context, p *Portal) error {
	_, body, err := p.Page(ctx, "/buyers/accounts", url.Values{"search[query]": {q.Org}}, http.StatusOK)
	if err != nil {
		return err
	}
	if !AccountListed(body, q.AccountID) {
		return &probe.Failure{Class: scenario.ErrWrongBody, Status: http.StatusOK,
			Detail: fmt.Sprintf("accounts search for %q: account %d not listed: %s", q.Org, q.AccountID, Snippet(body))}
	}
	return nil
}

// Rules loads the product's mapping rules searched for RuleQuery, as Accounts does; searchd
// down is a 500 there (no SearchSupport).
func (q PortalSearch) Rules(ctx context.Context, p *Portal) error {
	path := fmt.Sprintf("/apiconfig/services/%d/proxy_rules", q.ServiceID)
	_, body, err := p.Page(ctx, path, url.Values{"search[query]": {q.RuleQuery}}, http.StatusOK)
	if err != nil {
		return err
	}
	if !RuleListed(body, q.ServiceID, q.RuleID) {
		return &probe.Failure{Class: scenario.ErrWrongBody, Status: http.StatusOK,
			Detail: fmt.Sprintf("mapping rules search for %q: rule %d not listed: %s", q.RuleQuery, q.RuleID, Snippet(body))}
	}
	return nil
}

var accountRow = regexp.MustCompile(`<tr\b[^>]*\bid="account_(\d+)"`)

// AccountListed reports whether the accounts page has a row for account id.
func AccountListed(page []byte, id int64) bool {
	for _, m := range accountRow.FindAllSubmatch(page, -1) {
		if string(m[1]) == strconv.FormatInt(id, 10) {
			return true
		}
	}
	return false
}

// RuleListed reports whether the mapping rules page of product sid has rule id's edit link.
func RuleListed(page []byte, sid, id int64) bool {
	link := regexp.MustCompile(fmt.Sprintf(`href="[^"]*/apiconfig/services/%d/proxy_rules/%d/edit"`, sid, id))
	return link.Match(page)
}
