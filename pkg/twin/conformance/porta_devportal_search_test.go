package conformance

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/threescale-chaos/harness/internal/testsupport"
	"github.com/threescale-chaos/harness/pkg/probe"
	"github.com/threescale-chaos/harness/pkg/threescale"
	"github.com/threescale-chaos/harness/pkg/threescale/target"
)

// The developer portal's search as porta 3scale-2.16.4-GA serves it, through the harness's own
// client (threescale.NewDevPortal, PortalSearch.Pages):
//   - a CMS page made through the CMS API (POST /admin/api/cms/templates, type page, Liquid
//     off) is hidden until published (PUT …/publish), and then searchable
//     (porta@3scale-2.16.4-GA:app/controllers/admin/api/cms/templates_controller.rb,
//     app/models/cms/page.rb is_searchable?, app/indices/cms_page_index.rb);
//   - a visitor's GET /search.json is sent to /login (search_controller.rb:31-33,
//     public_search off by default, db/schema.rb:1262);
//   - a buyer signs in through the login form (GET /login, POST /session with the form's
//     authenticity_token; login_controller.rb, login/new.html.liquid) and finds the page;
//   - with system-searchd at zero the search is 500 (no SearchSupport).
func TestPortaDeveloperPortalSearch(t *testing.T) {
	acc := mustAdmin(t, "GET", "/admin/api/provider.json", nil, 200)
	code, _ := field(acc, "account", "site_access_code").(string)
	token := fmt.Sprintf("devsearch%d", time.Now().UnixNano()%1000000000)
	buyer := idOf(mustAdmin(t, "POST", "/admin/api/signup.json", url.Values{"org_name": {token}, "username": {token},
		"email": {token + "@x.test"}, "password": {"pw" + token}}, 201), "account")
	t.Cleanup(func() { _, _ = admin(t, "DELETE", "/admin/api/accounts/"+buyer+".json", nil) })

	page := mustAdmin(t, "POST", "/admin/api/cms/templates.json", url.Values{"type": {"page"}, "title": {"Guide " + token},
		"path": {"/" + token}, "liquid_enabled": {"false"}, "draft": {"<p>About " + token + ".</p>"}}, 201)
	id := fmt.Sprint(field(page, "id"))
	t.Cleanup(func() { _, _ = admin(t, "DELETE", "/admin/api/cms/templates/"+id+".json", nil) })
	for k, want := range map[string]any{"type": "page", "path": "/" + token, "hidden": true, "liquid_enabled": false, "published": nil, "draft": "<p>About " + token + ".</p>"} {
		if got := field(page, k); got != want {
			t.Errorf("created page %s = %v, want %v", k, got, want)
		}
	}
	if resp, _ := devPortalGet(t, "/"+token, &http.Cookie{Name: "access_code", Value: code}); resp.StatusCode != 404 {
		t.Errorf("an unpublished page: %d, want 404", resp.StatusCode)
	}
	pub := mustAdmin(t, "PUT", "/admin/api/cms/templates/"+id+"/publish.json", nil, 200)
	if field(pub, "hidden") != false || field(pub, "draft") != nil || field(pub, "published") != "<p>About "+token+".</p>" {
		t.Errorf("published page: %v", pub)
	}

	if resp, _ := devPortalGet(t, "/search.json?q="+token); resp.StatusCode != 302 || !strings.HasSuffix(resp.Header.Get("Location"), "/login") {
		t.Errorf("a visitor's search: %d %s, want 302 to /login", resp.StatusCode, resp.Header.Get("Location"))
	}

	e := target.Endpoint{URL: "http://127.0.0.1:" + strconv.Itoa(values.Ports.SystemDeveloper), Host: values.TenantName + "." + values.Domain}
	dp := threescale.NewDevPortal(e, token, "pw"+token, code, nil)
	q := threescale.PortalSearch{PageQuery: token, PagePath: "/" + token}
	testsupport.Eventually(t, 60*time.Second, "the page found by the signed-in buyer", func(ctx context.Context) (bool, string) {
		err := q.Pages(ctx, dp)
		return err == nil, fmt.Sprint(err)
	})
	if err := (threescale.PortalSearch{PageQuery: token, PagePath: "/elsewhere"}).Pages(context.Background(), dp); err == nil {
		t.Error("a page that is not there was found")
	} else if f := (*probe.Failure)(nil); !errors.As(err, &f) {
		t.Errorf("a page that is not there: %v, want a wrong-body failure", err)
	}

	scaleDown(t, "system-searchd")
	if err := q.Pages(context.Background(), dp); threescale.StatusOf(err) != 500 {
		t.Errorf("the search with system-searchd at zero: %v, want 500", err)
	}
	scaleUp(t, "system-searchd")
}
