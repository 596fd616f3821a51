package deploy

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
)

// Ports are the loopback ports of the twin's components. They avoid the standard ports of
// servers that may already run on the machine (6379, 3306, 5432, 11211, 9306).
type Ports struct {
	BackendRedis, SystemRedis, SystemMySQL, SystemMemcache, SystemSearchd, ZyncDatabase int
	BackendListener, BackendWorkerMetrics                                               int
	SystemProvider, SystemDeveloper, SystemMaster                                       int
	ApicastStaging, ApicastStagingManagement                                            int
	ApicastProduction, ApicastProductionManagement                                      int
	Zync, ZyncQueMetrics                                                                int
	EchoAPI                                                                             int
}

// DefaultPorts is the twin's port plan.
func DefaultPorts() Ports {
	return Ports{
		BackendRedis: 26379, SystemRedis: 26380, SystemMySQL: 23306, SystemMemcache: 21211, SystemSearchd: 29306, ZyncDatabase: 25432,
		BackendListener: 23100, BackendWorkerMetrics: 29421,
		SystemProvider: 23000, SystemDeveloper: 23001, SystemMaster: 23002,
		ApicastStaging: 28080, ApicastStagingManagement: 28090,
		ApicastProduction: 28081, ApicastProductionManagement: 28091,
		Zync: 28082, ZyncQueMetrics: 29394,
		EchoAPI: 28083,
	}
}

// Secrets are the credentials the operator would generate (research/3scale-operator.md §3.5).
type Secrets struct {
	MasterPassword, MasterAccessToken string
	AdminPassword, AdminAccessToken   string
	APIcastAccessToken                string
	BackendInternalUser               string
	BackendInternalPassword           string
	ZyncToken, ZyncDatabasePassword   string
	MySQLPassword, EventsHookPassword string
}

// NewSecrets generates fresh random credentials.
func NewSecrets() (Secrets, error) {
	gen := func(n int) (string, error) {
		b := make([]byte, n)
		if _, err := rand.Read(b); err != nil {
			return "", err
		}
		return hex.EncodeToString(b), nil
	}
	var s Secrets
	for _, f := range []*string{&s.MasterPassword, &s.MasterAccessToken, &s.AdminPassword, &s.AdminAccessToken, &s.APIcastAccessToken, &s.BackendInternalPassword, &s.ZyncToken, &s.ZyncDatabasePassword, &s.MySQLPassword, &s.EventsHookPassword} {
		v, err := gen(16)
		if err != nil {
			return s, fmt.Errorf("generate secret: %w", err)
		}
		*f = v
	}
	s.BackendInternalUser = "system"
	return s, nil
}

// Values fill the templates.
type Values struct {
	Namespace  string
	TenantName string
	Domain     string // wildcard domain: <tenant>-admin.<Domain>, master.<Domain>, ...
	Bin        string // absolute path of the threescale-twin binary
	DataDir    string // persistent hostPath root (Redis, MySQL, searchd data)
	PGBin      string // directory of initdb and postgres
	CronEvery  string // backend-cron's reschedule period (a Go duration)
	Ports      Ports
	Secrets    Secrets
	UIDs, GIDs map[string]int64 // of Debian's service users: postgres, mysql, redis, memcache
}

// serviceUsers are the Debian users whose ids the manifests need.
var serviceUsers = []string{"postgres", "mysql", "redis", "memcache"}

// PortShiftEnv names the environment variable that moves every port of the twin by a
// number, so that twins of two checkouts (or two test packages) run side by side.
const PortShiftEnv = "THREESCALE_TWIN_PORT_SHIFT"

// PortShift is the shift PortShiftEnv asks for (0 when unset).
func PortShift() (int, error) {
	raw := os.Getenv(PortShiftEnv)
	if raw == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < 0 || n > 5000 {
		return 0, fmt.Errorf("%s=%q: want a number of ports from 0 to 5000", PortShiftEnv, raw)
	}
	return n, nil
}

// NewValues fills Values for this machine: ids of the service users, the PostgreSQL binaries,
// fresh secrets, the default ports (moved by PortShiftEnv when set).
func NewValues(namespace, bin, dataDir string) (Values, error) {
	shift, err := PortShift()
	if err != nil {
		return Values{}, err
	}
	v := Values{
		Namespace:  namespace,
		TenantName: "3scale",
		Domain:     "twin.localhost",
		Bin:        bin,
		DataDir:    dataDir,
		CronEvery:  "30s",
		Ports:      DefaultPorts().Shifted(shift),
		UIDs:       map[string]int64{},
		GIDs:       map[string]int64{},
	}
	for _, name := range serviceUsers {
		u, err := user.Lookup(name)
		if err != nil {
			return v, fmt.Errorf("user %q (installed by Debian's packages; run `make deps`): %w", name, err)
		}
		uid, _ := strconv.ParseInt(u.Uid, 10, 64)
		gid, _ := strconv.ParseInt(u.Gid, 10, 64)
		v.UIDs[name], v.GIDs[name] = uid, gid
	}
	pg, err := postgresBin()
	if err != nil {
		return v, err
	}
	v.PGBin = pg
	if v.Secrets, err = NewSecrets(); err != nil {
		return v, err
	}
	return v, nil
}

// postgresBin finds Debian's PostgreSQL server binaries (/usr/lib/postgresql/<major>/bin),
// the newest major if several are installed.
func postgresBin() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	var ok []string
	for _, d := range dirs {
		if m, _ := filepath.Glob(filepath.Join(d, "initdb")); len(m) == 1 {
			ok = append(ok, d)
		}
	}
	if len(ok) == 0 {
		return "", fmt.Errorf("no PostgreSQL server binaries under /usr/lib/postgresql/*/bin (run `make deps`)")
	}
	sort.Slice(ok, func(i, j int) bool {
		a, _ := strconv.Atoi(filepath.Base(filepath.Dir(ok[i])))
		b, _ := strconv.Atoi(filepath.Base(filepath.Dir(ok[j])))
		return a < b
	})
	return ok[len(ok)-1], nil
}

// Shifted returns the port plan moved by offset, so that two twins (in two test packages run
// side by side) do not collide.
func (p Ports) Shifted(offset int) Ports {
	q := p
	for _, f := range []*int{&q.BackendRedis, &q.SystemRedis, &q.SystemMySQL, &q.SystemMemcache, &q.SystemSearchd, &q.ZyncDatabase,
		&q.BackendListener, &q.BackendWorkerMetrics, &q.SystemProvider, &q.SystemDeveloper, &q.SystemMaster,
		&q.ApicastStaging, &q.ApicastStagingManagement, &q.ApicastProduction, &q.ApicastProductionManagement,
		&q.Zync, &q.ZyncQueMetrics, &q.EchoAPI} {
		*f += offset
	}
	return q
}
