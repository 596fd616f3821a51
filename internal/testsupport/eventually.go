package testsupport

import (
	"context"
	"errors"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
)

// PollInterval is how often Eventually asks its condition once it has waited a while: it asks
// at once, then after 1 ms, 2 ms, 4 ms... up to PollInterval, so an in-process condition (a
// fake clock's waiter, a goroutine's counter) is seen within a millisecond or two and a slow
// one (a pod's readiness) does not load the API server.
const PollInterval = 50 * time.Millisecond

// Eventually asks cond, at once and then at the intervals PollInterval describes, until it
// reports ok or timeout passes; then it fails the test with what and the last state cond
// reported (seen), so a failure says what was last observed, not only that time ran out.
// cond's ctx ends with the wait. It is not t.Context(), which ends before the test's Cleanup
// functions run, and those wait too (a restore that waits for its pods). cond runs on the
// calling goroutine, so it may call t.Fatal.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func(ctx context.Context) (ok bool, seen string)) {
	t.Helper()
	if err := Poll(context.Background(), timeout, what, cond); err != nil {
		t.Fatal(err)
	}
}

// Poll is Eventually for code that wants the failure as an error (a TestMain, a helper
// returning error): it returns nil once cond reports ok, or an error naming what, the timeout
// and the last state seen.
func Poll(ctx context.Context, timeout time.Duration, what string, cond func(ctx context.Context) (ok bool, seen string)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	last := "nothing observed"
	backoff := wait.Backoff{Duration: time.Millisecond, Factor: 2, Steps: 32, Cap: PollInterval}
	for {
		ok, seen := cond(ctx)
		if seen != "" {
			last = seen
		}
		if ok {
			return nil
		}
		timer := time.NewTimer(backoff.Step())
		select {
		case <-ctx.Done():
			timer.Stop()
			return errors.New("waited " + timeout.String() + " for " + what + ": " + ctx.Err().Error() + "; last seen: " + last)
		case <-timer.C:
		}
	}
}

// NoError adapts a condition that reports its state as an error (nil once it holds) to
// Eventually: the error's text is the state seen.
func NoError(cond func(ctx context.Context) error) func(ctx context.Context) (bool, string) {
	return func(ctx context.Context) (bool, string) {
		if err := cond(ctx); err != nil {
			return false, err.Error()
		}
		return true, ""
	}
}
