package probe

import (
	"context"
	"testing"
	"time"

	"github.com/threescale-chaos/harness/internal/testsupport"
)

// eventually polls cond until it holds or 10 s pass (testsupport.Eventually); it never
// sleeps for a fixed time to wait for something.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testsupport.Eventually(t, 10*time.Second, what, func(context.Context) (bool, string) {
		return cond(), ""
	})
}

// within fails the test if ch is not closed (or does not deliver) in time.
func within[T any](t *testing.T, what string, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
	var zero T
	return zero
}
