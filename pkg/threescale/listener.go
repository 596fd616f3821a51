package threescale

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// Listener is backend-listener: the Service Management API (POST /transactions.xml,
// research/apicast-apisonator.md §4.2) and, with the internal API's Basic credentials,
// the internal API system uses to sync (§4.3). Requests are made once, never retried.
type Listener struct {
	URL    string
	Client *http.Client

	internalUser, internalPassword string
}

// HasInternalAPI reports whether the internal API credentials were found.
func (l *Listener) HasInternalAPI() bool { return l != nil && l.internalPassword != "" }

// Report sends one report (POST /transactions.xml) of usage for the application with
// userKey, authenticated with the service token. apisonator answers 202 after only
// checking the service (§4.2, §5): the usage is applied later by backend-worker.
func (l *Listener) Report(ctx context.Context, serviceID int64, serviceToken, userKey string, usage map[string]int) error {
	form := url.Values{}
	form.Set("service_token", serviceToken)
	form.Set("service_id", fmt.Sprint(serviceID))
	form.Set("transactions[0][user_key]", userKey)
	for m, n := range usage {
		form.Set("transactions[0][usage]["+m+"]", fmt.Sprint(n))
	}
	status, body, err := l.do(ctx, http.MethodPost, "/transactions.xml", "application/x-www-form-urlencoded", []byte(form.Encode()), false)
	if err != nil {
		return err
	}
	if status != http.StatusAccepted {
		return &APIError{Method: http.MethodPost, Path: "/transactions.xml", Status: status, Body: Snippet(body)}
	}
	return nil
}

func (l *Listener) do(ctx context.Context, method, path, ctype string, body []byte, internal bool) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, l.URL+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	req.Header.Set("Content-Type", ctype)
	if internal {
		req.SetBasicAuth(l.internalUser, l.internalPassword)
	}
	resp, err := l.Client.Do(req)
	if err != nil {
		return 0, nil, transportError(method, strings.TrimSuffix(path, "/"), err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if err != nil {
		return resp.StatusCode, nil, &TransportError{Method: method, Path: path, Err: err}
	}
	return resp.StatusCode, b, nil
}
