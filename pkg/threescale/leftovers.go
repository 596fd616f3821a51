package threescale

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// A run token in a name is the run id without its separators (kube.NewRunID:
// 20060102-150405-xxxxxx): 14 digits of date and time and 6 hex digits. Only names that carry
// one in the places Provision and the samplers put it are the harness's; a tenant's own
// "chaos_monkey" is not.
var (
	leftoverProduct = regexp.MustCompile(`^chaos_([0-9]{14}[0-9a-f]{6})$`)
	leftoverBackend = regexp.MustCompile(`^chaos_([0-9]{14}[0-9a-f]{6})_backend$`)
	leftoverAccount = regexp.MustCompile(`^chaos(?:org|idx|work)([0-9]{14}[0-9a-f]{6})`)
)

// Leftover is what one run left in the tenant: a run that was killed (SIGKILL, a crash, a
// lost node) cannot remove its own objects.
type Leftover struct {
	// Token is the run's token, in every name it made.
	Token string
	// ProductID, BackendUsageID and BackendAPIID are 0 where the run left none.
	ProductID, BackendUsageID, BackendAPIID int64
	// Accounts are its buyer accounts.
	Accounts []Object
}

func (l Leftover) String() string {
	var parts []string
	if l.ProductID != 0 {
		parts = append(parts, fmt.Sprintf("product %d", l.ProductID))
	}
	if l.BackendAPIID != 0 {
		parts = append(parts, fmt.Sprintf("backend API %d", l.BackendAPIID))
	}
	if n := len(l.Accounts); n > 0 {
		parts = append(parts, fmt.Sprintf("%d buyer account(s)", n))
	}
	return fmt.Sprintf("run %s: %s", l.Token, strings.Join(parts, ", "))
}

// FindLeftovers lists the tenant's products, backend APIs and buyer accounts and groups the
// harness's own by run token (except the tokens in keep: a run still going). It only reads.
func FindLeftovers(ctx context.Context, a *Admin, keep ...string) ([]Leftover, error) {
	byToken := map[string]*Leftover{}
	get := func(token string) *Leftover {
		if byToken[token] == nil {
			byToken[token] = &Leftover{Token: token}
		}
		return byToken[token]
	}
	products, err := listObjects(ctx, a, "/admin/api/services.json", "services", "service", "system_name")
	if err != nil {
		return nil, err
	}
	for _, p := range products {
		if m := leftoverProduct.FindStringSubmatch(p.Name); m != nil {
			get(m[1]).ProductID = p.ID
		}
	}
	backends, err := listObjects(ctx, a, "/admin/api/backend_apis.json", "backend_apis", "backend_api", "system_name")
	if err != nil {
		return nil, err
	}
	for _, b := range backends {
		if m := leftoverBackend.FindStringSubmatch(b.Name); m != nil {
			get(m[1]).BackendAPIID = b.ID
		}
	}
	accounts, err := listObjects(ctx, a, "/admin/api/accounts.json", "accounts", "account", "org_name")
	if err != nil {
		return nil, err
	}
	for _, x := range accounts {
		if m := leftoverAccount.FindStringSubmatch(x.Name); m != nil {
			l := get(m[1])
			l.Accounts = append(l.Accounts, x)
		}
	}
	for _, k := range keep {
		delete(byToken, k)
	}
	var out []Leftover
	for _, l := range byToken {
		if l.ProductID != 0 && l.BackendAPIID != 0 {
			if l.BackendUsageID, err = backendUsage(ctx, a, l.ProductID, l.BackendAPIID); err != nil {
				return nil, err
			}
		}
		out = append(out, *l)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Token < out[j].Token })
	return out, nil
}

// Delete removes what the run left, as the run would have at its end (Fixture.Delete):
// accounts, the backend usage, the product, then the backend API.
func (l Leftover) Delete(ctx context.Context, a *Admin) error {
	if l.Token == "" {
		return errors.New("leftover without a run token")
	}
	f := &Fixture{Token: l.Token, ServiceID: l.ProductID, BackendUsageID: l.BackendUsageID, BackendAPIID: l.BackendAPIID}
	return f.Delete(ctx, &Env{Admin: a})
}

// backendUsage is the id of the product's usage of the backend API (0: none). porta lists a
// product's backend usages as a bare JSON array of {"backend_usage": {...}}, with the backend
// API's id as backend_id (porta@3scale-2.16.4-GA:
// app/controllers/admin/api/services/backend_usages_controller.rb index,
// app/representers/backend_api_configs_representer.rb, backend_api_config_representer.rb).
func backendUsage(ctx context.Context, a *Admin, productID, backendAPIID int64) (int64, error) {
	var usages []struct {
		BackendUsage struct {
			ID        int64 `json:"id"`
			BackendID int64 `json:"backend_id"`
		} `json:"backend_usage"`
	}
	path := "/admin/api/services/" + strconv.FormatInt(productID, 10) + "/backend_usages.json"
	if err := a.JSON(ctx, http.MethodGet, path, url.Values{"per_page": {"500"}}, &usages); err != nil {
		return 0, fmt.Errorf("leftovers: %w", err)
	}
	for _, u := range usages {
		if u.BackendUsage.BackendID == backendAPIID {
			return u.BackendUsage.ID, nil
		}
	}
	return 0, nil
}

// RunToken is the run id as it appears in the names a run makes: its letters and digits,
// lower-cased.
func RunToken(runID string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			return r
		case r >= 'A' && r <= 'Z':
			return r + 'a' - 'A'
		}
		return -1
	}, runID)
}
