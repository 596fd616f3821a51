package backend

import (
	"flag"
	"os"
	"testing"

	"github.com/threescale-chaos/harness/internal/testsupport"
)

// TestMain silences go-redis's own connection-failure logging unless -v: the tests kill Redis
// on purpose and the lines would bury real failures.
func TestMain(m *testing.M) {
	flag.Parse()
	testsupport.QuietRedisLogs()
	os.Exit(m.Run())
}
