package backend

import (
	"context"
	"flag"
	"os"
	"testing"

	"github.com/redis/go-redis/v9"
)

type quietRedisLogger struct{}

func (quietRedisLogger) Printf(context.Context, string, ...any) {}

// TestMain silences go-redis's own connection-failure logging unless -v: the tests kill Redis
// on purpose and the lines would bury real failures.
func TestMain(m *testing.M) {
	flag.Parse()
	if !testing.Verbose() {
		redis.SetLogger(quietRedisLogger{})
	}
	os.Exit(m.Run())
}
