package samplers

import (
	"context"
	"errors"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/threescale-chaos/harness/pkg/scenario"
)

// Integration errors are what backend stores when it cannot apply a call of the Service
// Management API: backend-worker stores one error for a report job it drops (a
// ThreeScale::Backend::Error while it resolves the job's applications and usage, such as
// MetricInvalid for a metric the product does not have), and the listener one for each
// authorize or authrep it refuses (apisonator@3scale-2.16.4-GA:
// lib/3scale/backend/transactor/report_job.rb:10-27,58-80, lib/3scale/backend/listener.rb:149-182,
// lib/3scale/backend/error_storage.rb, lib/3scale/backend/errors.rb:127-131). The admin portal
// lists a product's errors, newest first, on /apiconfig/services/<id>/errors, reading them
// from backend's internal API (porta@3scale-2.16.4-GA:app/controllers/api/errors_controller.rb,
// app/services/integration_errors_service.rb, app/views/api/errors/index.html.slim).
//
// The harness makes its own: a report of a metric named chaos_<token>_err<n><hex> (work<n><hex>
// for the work probe), which no
// product has, for the write application. Its job is dropped whole, so nothing is counted; the
// error reads `metric "<name>" is invalid`.

// errorsPerPage is how many errors one read of the admin page asks for: the page passes
// per_page to backend (pagination_params), whose ErrorStorage keeps the last 1000.
const errorsPerPage = 100

// errorsPages bounds how far back a read looks: backend keeps 1000 errors per product
// (ErrorStorage::MAX_NUM_ERRORS), and the gateways' authreps with unknown keys
// (unauthorized-denial) add theirs to the same list.
const errorsPages = 1000 / errorsPerPage

// errorCell is the Error cell of a row of the integration errors table; Slim writes the
// attributes sorted (index.html.slim: td role="cell" data-label="Error").
var errorCell = regexp.MustCompile(`(?s)<td[^>]*\bdata-label="Error"[^>]*>(.*?)</td>`)

// errorMessages returns the messages of an integration errors page, unescaped.
func errorMessages(page []byte) []string {
	var out []string
	for _, m := range errorCell.FindAllSubmatch(page, -1) {
		out = append(out, html.UnescapeString(string(m[1])))
	}
	return out
}

// metricInvalid is the message of apisonator's MetricInvalid (errors.rb:127-131).
func metricInvalid(metric string) string { return `metric "` + metric + `" is invalid` }

// errorsShown reads the product's integration errors from the admin portal, signed in, page
// by page, until every wanted message is found or the list ends, and says which were found.
func (s *samplers) errorsShown(ctx context.Context, want []string) (map[string]bool, error) {
	found := map[string]bool{}
	for page := 1; page <= errorsPages; page++ {
		rctx, cancel := context.WithTimeout(ctx, s.o.Timeout)
		_, body, err := s.env.Portal.Page(rctx, fmt.Sprintf("/apiconfig/services/%d/errors", s.f.ServiceID),
			url.Values{"page": {strconv.Itoa(page)}, "per_page": {strconv.Itoa(errorsPerPage)}}, http.StatusOK)
		cancel()
		if err != nil {
			return found, adminFailure(err)
		}
		msgs := errorMessages(body)
		for _, m := range msgs {
			for _, w := range want {
				if m == w {
					found[w] = true
				}
			}
		}
		if len(found) == len(want) || len(msgs) < errorsPerPage {
			break
		}
	}
	return found, nil
}

// reportUnknownMetric reports one hit of a metric the product does not have, for the write
// application, through backend-listener; the listener accepts it (202, it checks only the
// service) and backend-worker stores the integration error.
func (s *samplers) reportUnknownMetric(ctx context.Context, metric string) error {
	if s.env.Listener == nil {
		return errors.New("backend-listener is unknown (target backend:)")
	}
	rctx, cancel := context.WithTimeout(ctx, s.o.Timeout)
	defer cancel()
	err := s.env.Listener.Report(rctx, s.f.ServiceID, s.f.ServiceToken, s.f.WriteApp.UserKey, map[string]int{metric: 1})
	if err != nil {
		return fmt.Errorf("backend-listener report of %s: %w", metric, adminFailure(err))
	}
	return nil
}

// errorSeq names the harness's unknown metrics, chaos_<token>_<kind><n><hex>: the sampler's
// kind is err, the work probe's work, so no two reports of a run share a name.
type errorSeq struct {
	kind string
	mu   sync.Mutex
	n    int
}

func (q *errorSeq) next(token string) string {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.n++
	return fmt.Sprintf("chaos_%s_%s%d%s", token, q.kind, q.n, randomHex(2))
}

// errorSampler reports one unknown metric per sample and waits, within AsyncBound, for its
// error on the admin portal's integration errors page.
type errorSampler struct {
	s   *samplers
	seq errorSeq
}

func (x *errorSampler) sample(ctx context.Context) error {
	s := x.s
	metric := x.seq.next(s.f.Token)
	if err := s.reportUnknownMetric(ctx, metric); err != nil {
		return err
	}
	want := metricInvalid(metric)
	var pageErr error
	err := s.waitFor(ctx, "integration error "+strconv.Quote(want), func(ctx context.Context) (bool, string) {
		found, err := s.errorsShown(ctx, []string{want})
		if err != nil {
			if ctx.Err() != nil { // the end of the wait cut a read short: keep what was seen
				return false, ""
			}
			pageErr = err
			return false, "admin portal: " + err.Error()
		}
		pageErr = nil
		return found[want], "not listed on the product's integration errors page"
	})
	if err != nil && pageErr != nil {
		return pageErr // the page failed: say how, not only that the error was not seen
	}
	return err
}

// errorsProbe reports unknown metrics while the fault holds and checks, after recovery, that
// each one's integration error is listed on the admin portal.
type errorsProbe struct {
	s   *samplers
	o   WorkOptions
	seq errorSeq

	mu   sync.Mutex
	want []string
}

func (p *errorsProbe) Capability() scenario.Capability { return scenario.IntegrationErrors }

// Baseline checks that the integration errors page can be read, signed in.
func (p *errorsProbe) Baseline(ctx context.Context) error {
	if _, err := p.s.errorsShown(ctx, nil); err != nil {
		return fmt.Errorf("integration-errors baseline: %w", err)
	}
	p.mu.Lock()
	p.want = nil
	p.mu.Unlock()
	return nil
}

// Submit reports Units unknown metrics; a report that was not accepted submitted nothing.
func (p *errorsProbe) Submit(ctx context.Context) error {
	for i := range p.o.Units {
		metric := p.seq.next(p.s.f.Token)
		if err := p.s.reportUnknownMetric(ctx, metric); err != nil {
			return fmt.Errorf("integration-errors submit: %d of %d reports accepted: %w", i, p.o.Units, err)
		}
		p.mu.Lock()
		p.want = append(p.want, metricInvalid(metric))
		p.mu.Unlock()
	}
	return nil
}

// Check waits, within the cell's budget, until every submitted report's error is listed;
// Applied counts those listed when it ends.
func (p *errorsProbe) Check(ctx context.Context, budget time.Duration) (scenario.WorkCheck, error) {
	o := p.o.within(budget)
	p.mu.Lock()
	want := append([]string(nil), p.want...)
	p.mu.Unlock()
	wc := scenario.WorkCheck{Capability: scenario.IntegrationErrors, What: "reports of unknown metrics", Submitted: len(want)}
	shown, last := 0, "nothing read"
	wctx, cancel := context.WithTimeout(ctx, o.Settle)
	defer cancel()
	_ = wait.PollUntilContextCancel(wctx, time.Second, true, func(ctx context.Context) (bool, error) {
		found, err := p.s.errorsShown(ctx, want)
		if err != nil {
			if ctx.Err() == nil {
				last = "admin portal: " + err.Error()
			}
			return false, nil
		}
		shown = len(found)
		last = fmt.Sprintf("%d of %d listed", shown, len(want))
		return shown == len(want), nil
	})
	wc.CheckedAt = time.Now()
	wc.Applied = shown
	wc.Detail = fmt.Sprintf("%d of %d integration errors listed on the admin portal", shown, len(want))
	if shown < len(want) {
		wc.Detail += "; last seen: " + last
	}
	return wc, nil
}
