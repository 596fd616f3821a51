package conformance

import (
	"context"
	"net/http"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/threescale-chaos/harness/pkg/twin/cluster"
	"github.com/threescale-chaos/harness/pkg/twin/deploy"
)

// A second deploy on the same data (what a second `make twin-up` on one checkout does) keeps
// the credentials the data was seeded with: system-seed's ADMIN_USER/ADMIN_PASSWORD still
// sign in and ADMIN_ACCESS_TOKEN still reads the API. The real operator never replaces a
// Secret value it generated (operator@3scale-2.16.3-GA pkg/reconcilers/secret.go
// DefaultsOnlySecretMutator) and porta seeds only an empty database
// (porta@3scale-2.16.4-GA lib/tasks/db.rake db:deploy runs db:seed only when no migration ran).
func TestRedeployOnExistingDataKeepsCredentials(t *testing.T) {
	before := map[string]string{}
	for _, k := range []string{"ADMIN_PASSWORD", "ADMIN_ACCESS_TOKEN", "MASTER_ACCESS_TOKEN"} {
		before[k] = secret(t, "system-seed", k)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", cluster.KubeconfigPath(stateDir))
	if err != nil {
		t.Fatal(err)
	}
	again, err := deploy.NewValues(namespace, values.Bin, values.DataDir)
	if err != nil {
		t.Fatalf("second deploy's values: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := deploy.Up(ctx, cfg, again, nil); err != nil {
		t.Fatalf("second deploy: %v", err)
	}
	for k, v := range before {
		if got := secret(t, "system-seed", k); got != v {
			t.Errorf("system-seed %s changed on the second deploy", k)
		}
	}
	user, pass := secret(t, "system-seed", "ADMIN_USER"), secret(t, "system-seed", "ADMIN_PASSWORD")
	resp, _, session, err := signIn(user, pass)
	if err != nil || session == nil || resp.StatusCode != http.StatusFound {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("sign in with system-seed's ADMIN_USER/ADMIN_PASSWORD after the second deploy: status %d, session set %v, %v", status, session != nil, err)
	}
	mustAdmin(t, "GET", "/admin/api/services.json", nil, 200)
}
