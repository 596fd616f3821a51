package testsupport

import (
	"context"
	"errors"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
)

// PollInterval is how often Eventually asks its condition.
const PollInterval = 50 * time.Millisecond

// Eventually asks cond every PollInterval, the first time at once, until it reports ok or
// timeout passes; then it fails the test with what and the last state cond reported (seen), so
// a failure says what was last observed, not only that time ran out. cond's ctx ends with the
// wait (or the test). cond runs on the calling goroutine, so it may call t.Fatal.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func(ctx context.Context) (ok bool, seen string)) {
	t.Helper()
	if err := Poll(t.Context(), timeout, what, cond); err != nil {
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
	err := wait.PollUntilContextCancel(ctx, PollInterval, true, func(ctx context.Context) (bool, error) {
		ok, seen := cond(ctx)
		if seen != "" {
			last = seen
		}
		return ok, nil
	})
	if err != nil {
		return errors.New("waited " + timeout.String() + " for " + what + ": " + err.Error() + "; last seen: " + last)
	}
	return nil
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
