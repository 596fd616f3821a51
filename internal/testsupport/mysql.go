package testsupport

import (
	"io"
	"log"
	"testing"

	"github.com/go-sql-driver/mysql"
)

// QuietMySQLLogs silences the MySQL driver's own logging (its "unexpected EOF" and
// connection-failure lines) unless the tests run with -v, for tests that stop a MariaDB or
// wait for one to listen on purpose. Call it from TestMain after flag.Parse, as
// QuietRedisLogs.
func QuietMySQLLogs() {
	if !testing.Verbose() {
		_ = mysql.SetLogger(log.New(io.Discard, "", 0))
	}
}
