package samplers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/threescale-chaos/harness/pkg/probe"
	"github.com/threescale-chaos/harness/pkg/scenario"
	"github.com/threescale-chaos/harness/pkg/threescale"
	"github.com/threescale-chaos/harness/pkg/threescale/fixture"
	"github.com/threescale-chaos/harness/pkg/threescale/target"
)

// indexBed is the admin API as the search-indexing sampler sees it: a signup that commits
// and then answers as the test says (at once, 500, or only after the harness gave up), the
// account lookup, account_query search and the account's delete.
type indexBed struct {
	mu      sync.Mutex
	answer  int           // the signup's status once it has answered
	hang    time.Duration // how long the signup takes to answer
	save    bool          // whether the signup commits its account
	saved   string        // the org of the committed account
	deleted bool
}

const indexBedAccount = 41

func newIndexSampler(t *testing.T, b *indexBed) *samplers {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		b.mu.Lock()
		saved := b.saved
		b.mu.Unlock()
		switch {
		case r.Method == http.MethodPost && r.URL.Path == "/admin/api/signup.json":
			b.mu.Lock()
			if b.save {
				b.saved = r.Form.Get("username")
			}
			hang, answer := b.hang, b.answer
			b.mu.Unlock()
			select {
			case <-time.After(hang):
			case <-r.Context().Done():
				return
			}
			w.WriteHeader(answer)
			if answer == http.StatusCreated {
				fmt.Fprintf(w, `{"account":{"id":%d}}`, indexBedAccount)
			}
		case r.URL.Path == "/admin/api/accounts/find.json":
			if saved == "" || r.Form.Get("username") != saved {
				http.NotFound(w, r)
				return
			}
			fmt.Fprintf(w, `{"account":{"id":%d}}`, indexBedAccount)
		case r.URL.Path == "/admin/api/applications.json":
			if saved == "" || r.Form.Get("account_query") != saved {
				fmt.Fprint(w, `{"applications":[]}`)
				return
			}
			fmt.Fprint(w, `{"applications":[{"application":{"id":9}}]}`)
		case r.Method == http.MethodDelete && r.URL.Path == fmt.Sprintf("/admin/api/accounts/%d.json", indexBedAccount):
			b.mu.Lock()
			b.deleted = true
			b.mu.Unlock()
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	hc := probe.NewHTTPClient(probe.HTTPClientOptions{})
	env := &threescale.Env{HTTP: hc, Admin: threescale.NewAdmin(target.Endpoint{URL: srv.URL}, "tok", hc)}
	o := Options{Timeout: 300 * time.Millisecond, AsyncBound: 3 * time.Second, PollInterval: 20 * time.Millisecond}.withDefaults()
	return &samplers{env: env, f: &fixture.Fixture{Token: "t", PlanID: 3}, o: o}
}

// A signup that committed is judged by whether its account becomes searchable, however the
// call ended: at once, with a 500 after the commit, or after the harness's request timeout
// (porta waiting on a backend-listener pod that is going away). The account is deleted after.
// A signup that saved nothing fails the sample with its own failure.
func TestIndexSamplerJudgesACommittedSignup(t *testing.T) {
	for _, tc := range []struct {
		name string
		bed  *indexBed
	}{
		{"answered 201", &indexBed{answer: http.StatusCreated, save: true}},
		{"answered 500 after its commit", &indexBed{answer: http.StatusInternalServerError, save: true}},
		{"outlasted the request timeout after its commit", &indexBed{answer: http.StatusInternalServerError, hang: 2 * time.Second, save: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.bed
			s := newIndexSampler(t, b)
			if err := s.createAndFind(context.Background(), "chaosidxtn1"); err != nil {
				t.Fatalf("a committed signup: %v", err)
			}
			b.mu.Lock()
			defer b.mu.Unlock()
			if !b.deleted {
				t.Error("the probe's account was not deleted")
			}
		})
	}
	for _, tc := range []struct {
		name  string
		bed   *indexBed
		class scenario.ErrorClass
	}{
		{"refused with 422", &indexBed{answer: http.StatusUnprocessableEntity}, scenario.ErrorClass("")},
		{"timed out with nothing saved", &indexBed{answer: http.StatusCreated, hang: 2 * time.Second}, scenario.ErrTimeout},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.bed
			s := newIndexSampler(t, b)
			err := s.createAndFind(context.Background(), "chaosidxtn1")
			var f *probe.Failure
			if !errors.As(err, &f) {
				t.Fatalf("a signup that saved nothing: got %v, want a failure", err)
			}
			if tc.class != "" && f.Class != tc.class {
				t.Errorf("class %q, want %q (%v)", f.Class, tc.class, err)
			}
			if b.deleted {
				t.Error("deleted an account that was never saved")
			}
		})
	}
}

// A failure already classified where it was made (PortalSearch's wrong body) keeps its class
// and status through adminFailure; an API error gets its status's class.
func TestAdminFailureKeepsAClassifiedFailure(t *testing.T) {
	wrong := probe.Failf(scenario.ErrWrongBody, "page not among 0 results")
	wrong.Status = http.StatusOK
	var f *probe.Failure
	if err := adminFailure(fmt.Errorf("search: %w", wrong)); !errors.As(err, &f) || f.Class != scenario.ErrWrongBody || f.Status != http.StatusOK {
		t.Errorf("a wrong body: %v", err)
	}
	if err := adminFailure(&threescale.APIError{Method: "GET", Path: "/search.json", Status: 500}); !errors.As(err, &f) || f.Status != 500 || f.Class != probe.ClassifyStatus(500) {
		t.Errorf("a 500: %v", err)
	}
}
