package conformance

import (
	"context"
	"fmt"
	"net/url"
	"reflect"
	"testing"
	"time"

	"github.com/threescale-chaos/harness/internal/testsupport"
)

// The tenant token ZyncWorker sends zync, whom zync then calls back with: porta 3scale-2.16.4-GA
// takes the tenant's impersonation admin (else its first admin) and
// user.access_tokens.oidc_sync, a find_or_create_by! on the name "OIDC Synchronization Token"
// with a read-only account_management scope, never cached and never expiring
// (porta@3scale-2.16.4-GA:app/workers/zync_worker.rb provider_access_token,
// app/models/access_token.rb oidc_sync; the same at 3scale-2.15.1-GA). So with system-memcache
// at zero an application change still reaches zync's database, and no token row is added: the
// zync-sync cell of the system-memcache scenario rests on this.
func TestPortaZyncTokenWithoutMemcache(t *testing.T) {
	ctx := context.Background()
	db := systemDB(t)
	p := newPortaApp(t, "zynctoken")
	type token struct {
		Value, Owner string
		Expires      bool
	}
	tokens := func() []token {
		t.Helper()
		rows, err := db.QueryContext(ctx, `SELECT t.value, u.username, t.expires_at IS NOT NULL FROM access_tokens t
			JOIN users u ON u.id=t.owner_id JOIN accounts a ON a.id=u.account_id
			WHERE t.name='OIDC Synchronization Token' AND a.admin_domain=? ORDER BY t.id`, adminHost())
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []token
		for rows.Next() {
			var k token
			if err := rows.Scan(&k.Value, &k.Owner, &k.Expires); err != nil {
				t.Fatal(err)
			}
			out = append(out, k)
		}
		return out
	}
	change := func(marker string) {
		t.Helper()
		mustAdmin(t, "PUT", "/admin/api/accounts/"+p.accountID+"/applications/"+p.appID+".json", url.Values{"description": {marker}}, 200)
		testsupport.Eventually(t, 90*time.Second, "zync's entry with "+marker, func(context.Context) (bool, string) {
			out, err := psql(t, fmt.Sprintf(`SELECT count(*) FROM entries e JOIN models m ON m.id=e.model_id
				WHERE m.record_type='Application' AND m.record_id=%s AND strpos(e.data::text, '%s') > 0`, p.appID, marker))
			return err == nil && out != "0", fmt.Sprintf("%s %v", out, err)
		})
	}
	check := func(when string, got []token) {
		t.Helper()
		if len(got) == 0 {
			t.Fatalf("%s: no OIDC sync token", when)
		}
		for _, k := range got {
			if k.Owner != "3scaleadmin" || k.Expires {
				t.Errorf("%s: token of %s expiring=%v, want the impersonation admin's (3scaleadmin), never expiring", when, k.Owner, k.Expires)
			}
		}
	}
	change(fmt.Sprintf("zync-token-%s-memcache-up", p.appID))
	before := tokens()
	check("with system-memcache up", before)

	scaleDown(t, "system-memcache")
	change(fmt.Sprintf("zync-token-%s-memcache-down", p.appID))
	after := tokens()
	check("with system-memcache down", after)
	if !reflect.DeepEqual(after, before) {
		t.Errorf("ZyncWorker made a token with system-memcache down: %d tokens before, %d after", len(before), len(after))
	}
	scaleUp(t, "system-memcache")
}
