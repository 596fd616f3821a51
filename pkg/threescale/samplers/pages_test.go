package samplers

import (
	"strings"
	"testing"

	"github.com/threescale-chaos/harness/pkg/threescale"
)

// loginPage2164 is the shape of porta 3scale-2.16.4-GA's GET /p/login as the server sends
// it (app/views/layouts/provider/login.html.slim with csrf_meta_tags;
// app/views/provider/sessions/new.html.slim): a React mount point whose props are escaped
// JSON, the token only in the meta tag, no <form>. Written for this test, values invented.
const loginPage2164 = `<!DOCTYPE html><html><head><meta charset="utf-8">
<title>Log in | Red Hat 3scale API Management</title>
<meta name="csrf-param" content="authenticity_token" />
<meta name="csrf-token" content="Zm9vK2Jhci9iYXo9PQ&#x3D;&#x3D;" />
</head><body>
<div id="pf-login-page-container" data-login-props="{&quot;redirectUrl&quot;:&quot;null&quot;,&quot;show3scaleLoginForm&quot;:true,&quot;providerSessionsPath&quot;:&quot;/p/sessions&quot;,&quot;session&quot;:{&quot;username&quot;:null}}"></div>
</body></html>`

// The pre-2.15 twin's page: a server-side form with a hidden authenticity_token input and no
// meta tag. The sampler must not take it for porta's page.
const oldTwinLoginPage = `<html><body><form action="/p/sessions" method="post">
<input type="hidden" name="authenticity_token" value="abc"><input name="username"><input type="password" name="password"></form></body></html>`

func TestCSRFTokenFromTheMetaTag(t *testing.T) {
	tok, ok := threescale.CSRFToken([]byte(loginPage2164))
	if !ok || tok != "Zm9vK2Jhci9iYXo9PQ==" {
		t.Errorf("CSRFToken = %q, %v; want the meta tag's content, entities decoded", tok, ok)
	}
	if tok, ok := threescale.CSRFToken([]byte(`<meta content="xyz" name="csrf-token">`)); !ok || tok != "xyz" {
		t.Errorf("attributes in the other order: %q, %v", tok, ok)
	}
	if _, ok := threescale.CSRFToken([]byte(oldTwinLoginPage)); ok {
		t.Error("a hidden input is not porta's token source at 2.15/2.16")
	}
	if _, ok := threescale.CSRFToken([]byte(`<meta name="csrf-param" content="authenticity_token" />`)); ok {
		t.Error("the csrf-param meta tag is not the token")
	}
}

func TestLoginPageJudgesPortasShape(t *testing.T) {
	if err := loginPage([]byte(loginPage2164)); err != nil {
		t.Errorf("porta 2.16's login page: %v", err)
	}
	if err := loginPage([]byte(oldTwinLoginPage)); err == nil {
		t.Error("a page without the React mount point and the meta token passed")
	}
	noToken := strings.Replace(loginPage2164, `name="csrf-token"`, `name="other"`, 1)
	if err := loginPage([]byte(noToken)); err == nil || !strings.Contains(err.Error(), "csrf-token") {
		t.Errorf("page without the token: %v", err)
	}
}

// alertsPage2164 follows app/views/api/alerts/index.html.slim at 3scale-2.16.4-GA: one row per
// alert, tr id=dom_id(alert), the level cell colorize_utilization(level) →
// <span class="above-50">&ge;&nbsp;50&nbsp;%</span> (app/helpers/alerts_helper.rb).
const alertsPage2164 = `<table class="pf-c-table pf-m-grid-lg" role="grid" aria-label="Alerts table">
<thead><tr role="row"><th>Account</th><th>Application</th><th>Message</th><th>Level</th></tr></thead>
<tbody role="rowgroup">
<tr id="alert_12" role="row" class="unread"><td role="cell" data-label="Account"><a href="/buyers/accounts/3">chaosorgx</a></td>
<td role="cell" data-label="Application"><a href="/p/admin/applications/9">chaos_x-alert0</a></td>
<td role="cell" data-label="Message">hits per day: 81 of 100</td>
<td role="cell" data-label="Level" class="utilization"><span class="above-80">&ge;&nbsp;80&nbsp;%</span></td>
<td role="cell" data-label="Time (UTC)">4 Dec 2026 14:00:00 UTC</td></tr>
<tr id="alert_11" role="row" class="read"><td data-label="Level" class="utilization"><span class="above-50">&ge;&nbsp;50&nbsp;%</span></td></tr>
</tbody></table>`

func TestParseAlertLevels(t *testing.T) {
	got := parseAlertLevels([]byte(alertsPage2164))
	if len(got) != 2 || !got[50] || !got[80] {
		t.Errorf("levels = %v, want 50 and 80", got)
	}
	if got := parseAlertLevels([]byte(`<tr role="row"><th>Level</th></tr><p>&ge;&nbsp;90&nbsp;%</p>`)); len(got) != 0 {
		t.Errorf("a level outside an alert row counted: %v", got)
	}
	if got := parseAlertLevels([]byte(`<tr id="alert_1"><td>≥ 100 %</td></tr>`)); !got[100] {
		t.Errorf("decoded ≥ and spaces: %v", got)
	}
}

func TestPortalHomeIsNotTheAccessCodeForm(t *testing.T) {
	// lib/developer_portal/app/views/developer_portal/access_codes/show.html.erb at the GA tag:
	// a page of its own with a form posting to /access_code.
	gate := `<!DOCTYPE html><html><body><form action="/access_code" accept-charset="UTF-8" method="post">
<label for="access_code">Access code</label><input type="password" name="access_code" id="access_code" /></form></body></html>`
	if err := portalHome([]byte(gate)); err == nil {
		t.Error("the access-code form passed as the portal")
	}
	home := `<!DOCTYPE html><html><head><title>Developer Portal</title></head><body><nav><a href="/login">Sign in</a></nav></body></html>`
	if err := portalHome([]byte(home)); err != nil {
		t.Errorf("a portal page: %v", err)
	}
}

// accountsSearch2164 follows app/views/buyers/accounts/index.html.slim at 3scale-2.16.4-GA: the
// search box echoes the query, and each account is a row tr id=dom_id(account) (line 58;
// Slim writes attributes sorted) whose name links to admin_buyers_account_path.
const accountsSearch2164 = `<input name="search[query]" value="chaosorg77"><table aria-label="Accounts table" class="pf-c-table pf-m-grid-lg" id="buyer_accounts" role="grid">
<tbody role="rowgroup"><tr id="account_77" role="row"><td class="pf-c-table__check select" id="77" role="cell"></td>
<td data-label="Group/Org." role="cell"><a href="/buyers/accounts/77">chaosorg77</a></td></tr></tbody></table>`

// rulesSearch2164 follows app/views/shared/proxy_rules/_body_section.html.slim at the tag: each
// rule's last cell links to its edit page (line 47, proxy_rule_path_for(rule, edit: true)).
const rulesSearch2164 = `<table aria-label="Mapping rules table" class="pf-c-table pf-m-grid-lg" id="mapping_rules" role="grid"><tbody role="rowgroup">
<tr role="row"><td class="http_method" data-label="Verb" role="cell">PATCH</td><td class="pattern" data-label="Pattern" role="cell">/chaos/tok/search</td>
<td class="pf-c-table__action" role="cell"><div class="pf-c-overflow-menu__item"><a class="action edit" href="/apiconfig/services/5/proxy_rules/41/edit"></a></div></td></tr></tbody></table>`

func TestPortalSearchRows(t *testing.T) {
	if !threescale.AccountListed([]byte(accountsSearch2164), 77) {
		t.Error("account 77's row not found")
	}
	// The echoed query and the checkbox cell's id="77" are not the row.
	if threescale.AccountListed([]byte(accountsSearch2164), 7) || threescale.AccountListed([]byte(`<input value="chaosorg77"><td id="77">`), 77) {
		t.Error("a row found where there is none")
	}
	if !threescale.RuleListed([]byte(rulesSearch2164), 5, 41) {
		t.Error("rule 41's edit link not found")
	}
	if threescale.RuleListed([]byte(rulesSearch2164), 5, 4) || threescale.RuleListed([]byte(rulesSearch2164), 6, 41) {
		t.Error("another rule or product matched")
	}
}

// errorsPage2164 is the shape of porta 3scale-2.16.4-GA's integration errors table
// (app/views/api/errors/index.html.slim; Slim sorts attributes, and `h error.message` escapes
// the quotes of apisonator's MetricInvalid message). Written for this test, values invented.
const errorsPage2164 = `<table aria-label="Integration errors table" class="pf-c-table pf-m-grid-lg" data-toolbar-props="{&quot;totalEntries&quot;:2}" role="grid"><thead><tr role="row"><th role="columnheader" scope="col">Time (UTC)</th><th role="columnheader" scope="col">Error</th><td></td></tr></thead>
<tbody role="rowgroup"><tr role="row"><td data-label="Time (UTC)" role="cell">2026-12-05 18:01:02 UTC</td><td data-label="Error" role="cell">metric &quot;chaos_t1_err1ab12&quot; is invalid</td><td></td></tr>
<tr role="row"><td data-label="Time (UTC)" role="cell">2026-12-05 18:01:00 UTC</td><td data-label="Error" role="cell">user key &quot;&lt;unknown&gt;&quot; is invalid</td><td></td></tr></tbody></table>`

func TestErrorMessagesFromTheErrorsPage(t *testing.T) {
	got := errorMessages([]byte(errorsPage2164))
	want := []string{metricInvalid("chaos_t1_err1ab12"), `user key "<unknown>" is invalid`}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("errorMessages = %q, want %q", got, want)
	}
	// The "Hooray!" empty state has no table: no messages.
	if got := errorMessages([]byte(`<div class="pf-c-empty-state"><h1 class="pf-c-title pf-m-lg">Hooray!</h1></div>`)); len(got) != 0 {
		t.Errorf("empty state: %q", got)
	}
}
