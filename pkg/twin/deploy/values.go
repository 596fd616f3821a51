package deploy

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
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
// They are generated once per data directory and kept beside the data (see LoadOrCreateSecrets).
type Secrets struct {
	MasterPassword          string `json:"masterPassword"`
	MasterAccessToken       string `json:"masterAccessToken"`
	AdminPassword           string `json:"adminPassword"`
	AdminAccessToken        string `json:"adminAccessToken"`
	APIcastAccessToken      string `json:"apicastAccessToken"`
	BackendInternalUser     string `json:"backendInternalUser"`
	BackendInternalPassword string `json:"backendInternalPassword"`
	ZyncToken               string `json:"zyncToken"`
	ZyncDatabasePassword    string `json:"zyncDatabasePassword"`
	MySQLPassword           string `json:"mysqlPassword"`
	EventsHookPassword      string `json:"eventsHookPassword"`
}

// fields lists every credential with its name, for generation and for checking a loaded file.
func (s *Secrets) fields() map[string]*string {
	return map[string]*string{
		"masterPassword": &s.MasterPassword, "masterAccessToken": &s.MasterAccessToken,
		"adminPassword": &s.AdminPassword, "adminAccessToken": &s.AdminAccessToken,
		"apicastAccessToken": &s.APIcastAccessToken, "backendInternalUser": &s.BackendInternalUser,
		"backendInternalPassword": &s.BackendInternalPassword, "zyncToken": &s.ZyncToken,
		"zyncDatabasePassword": &s.ZyncDatabasePassword, "mysqlPassword": &s.MySQLPassword,
		"eventsHookPassword": &s.EventsHookPassword,
	}
}

// NewSecrets generates fresh random credentials.
func NewSecrets() (Secrets, error) {
	var s Secrets
	for name, f := range s.fields() {
		if name == "backendInternalUser" {
			continue
		}
		b := make([]byte, 16)
		if _, err := rand.Read(b); err != nil {
			return s, fmt.Errorf("generate secret: %w", err)
		}
		*f = hex.EncodeToString(b)
	}
	s.BackendInternalUser = "system"
	return s, nil
}

// CredentialsFile is the file in the data directory that keeps the credentials the data was
// seeded with (JSON, mode 0600).
const CredentialsFile = "credentials.json"

// LoadOrCreateSecrets returns the credentials of the twin whose data lives in dataDir.
//
// The first deploy on a data directory generates them and writes them to
// dataDir/CredentialsFile before anything is seeded; every later deploy reads them back. This
// is how the real operator treats its Secrets: it creates system-seed, backend-internal-api,
// system-master-apicast, system-events-hook, ... once, and on every later pass only adds keys
// that are missing, never replacing a value (operator@3scale-2.16.3-GA
// pkg/reconcilers/secret.go DefaultsOnlySecretMutator, used by system_reconciler.go and
// backend_reconciler.go ReconcileSecret). porta seeds only an empty database
// (porta@3scale-2.16.4-GA lib/tasks/db.rake db:deploy runs db:seed only when no migration
// ran), so new credentials over old data would give an admin password that does not sign in
// and tokens system does not know.
//
// A data directory that already holds data but no credentials file is refused: the credentials
// its database was seeded with are lost, and the error says how to start clean.
func LoadOrCreateSecrets(dataDir string) (Secrets, error) {
	path := filepath.Join(dataDir, CredentialsFile)
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		var s Secrets
		if err := json.Unmarshal(b, &s); err != nil {
			return Secrets{}, fmt.Errorf("credentials file %s: %w (remove %s to start clean)", path, err, dataDir)
		}
		var missing []string
		for name, f := range s.fields() {
			if *f == "" {
				missing = append(missing, name)
			}
		}
		if len(missing) > 0 {
			sort.Strings(missing)
			return Secrets{}, fmt.Errorf("credentials file %s lacks %s (remove %s to start clean)", path, strings.Join(missing, ", "), dataDir)
		}
		return s, nil
	case !errors.Is(err, fs.ErrNotExist):
		return Secrets{}, fmt.Errorf("read credentials file: %w", err)
	}
	entries, err := os.ReadDir(dataDir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return Secrets{}, fmt.Errorf("data directory: %w", err)
	}
	if len(entries) > 0 {
		names := make([]string, 0, len(entries))
		for _, e := range entries {
			names = append(names, e.Name())
		}
		return Secrets{}, fmt.Errorf("data directory %s holds data of an earlier deploy (%s) but no %s, so the credentials its database was seeded with are unknown and a new deploy could not sign in; start clean with `make clean` or `rm -rf %s`",
			dataDir, strings.Join(names, ", "), CredentialsFile, dataDir)
	}
	s, err := NewSecrets()
	if err != nil {
		return Secrets{}, err
	}
	if err := writeSecrets(dataDir, s); err != nil {
		return Secrets{}, err
	}
	return s, nil
}

// writeSecrets writes the credentials file whole or not at all (a temporary file renamed into
// place), readable by its owner only.
func writeSecrets(dataDir string, s Secrets) error {
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("encode credentials: %w", err)
	}
	tmp, err := os.CreateTemp(dataDir, "."+CredentialsFile+".*")
	if err != nil {
		return fmt.Errorf("write credentials: %w", err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename there is nothing left to remove
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("write credentials: %w", err)
	}
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("write credentials: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write credentials: %w", err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dataDir, CredentialsFile)); err != nil {
		return fmt.Errorf("write credentials: %w", err)
	}
	return nil
}

// Values fill the templates.
type Values struct {
	Namespace  string
	TenantName string
	Domain     string // wildcard domain: <tenant>-admin.<Domain>, master.<Domain>, ...
	Bin        string // absolute path of the threescale-twin binary
	DataDir    string // persistent hostPath root (Redis, MySQL, searchd data)
	PGBin      string // directory of initdb and postgres
	Ports      Ports
	Secrets    Secrets
	UIDs, GIDs map[string]int64 // of Debian's service users: postgres, mysql, redis, memcache
	// OwnerUID is the uid of the APIManager, which owns what the operator creates; empty until
	// Up has applied the APIManager.
	OwnerUID string
	// NodePortBase is, on a kubelet, the first of the six NodePorts in front of the
	// endpoints (NodePort says which is which): PublishedNodePortBase, the ones
	// kind-config.yaml publishes on the host's loopback, unless a second twin in the same
	// cluster needs others.
	NodePortBase int
	// NodeAddress is where this machine reaches those NodePorts (the target file's URLs):
	// 127.0.0.1, unless the NodePorts are not published there.
	NodeAddress string
	// Platform is where the pods run; Image, on a kubelet that runs images, the twin's image.
	Platform Platform
	Image    string
	// ProductionConfigCache is apicast-production's APICAST_CONFIGURATION_CACHE, the period
	// of its configuration refresh; zero means the operator's 300 s
	// (DefaultProductionConfigCache). The real operator offers no setting for it; a shorter one
	// is the twin's, for test runs that must wait for a refresh (the harness reads the period
	// from the Deployment, so its waits follow).
	ProductionConfigCache time.Duration
}

// DefaultProductionConfigCache is the refresh period the operator gives apicast-production
// (3scale-operator@3scale-2.16.3-GA pkg/3scale/amp/component/apicast.go:376, the same at
// 3scale-2.15.1-GA).
const DefaultProductionConfigCache = 300 * time.Second

// ProductionConfigCacheSeconds is the value of apicast-production's APICAST_CONFIGURATION_CACHE.
func (v Values) ProductionConfigCacheSeconds() int {
	if v.ProductionConfigCache <= 0 {
		return int(DefaultProductionConfigCache / time.Second)
	}
	return int(v.ProductionConfigCache / time.Second)
}

// Platform says where the twin's pods run, which decides how they listen and find each other.
type Platform string

const (
	// ProcessNode is pkg/twin/node: every pod is a host process on the host network, listens
	// on 127.0.0.1 at its port of the plan, and reaches its peers there. Images are names only.
	ProcessNode Platform = ""
	// Kubelet is a real node, such as kind's: every pod is a container with its own address,
	// listens on all its interfaces (at the same port of the plan), and reaches its peers
	// through their Services on the operator's port numbers (80-services.yaml.tmpl), by the
	// Service's name, as 3scale's components do. Every container runs Values.Image
	// (hack/twin-image.sh).
	Kubelet Platform = "kubelet"
)

// HostNetwork is whether pods share the host's network (the process node's pods do).
func (v Values) HostNetwork() bool { return v.Platform == ProcessNode }

// Listen is the address the twin's servers bind.
func (v Values) Listen() string {
	if v.Platform == ProcessNode {
		return "127.0.0.1"
	}
	return "0.0.0.0"
}

// ImageFor is the image of a container whose role (redis, porta, apicast, ...) the process
// node shows in its name only.
func (v Values) ImageFor(role string) string {
	if v.Platform == ProcessNode {
		return "threescale-twin/" + role
	}
	return v.Image
}

// servicePorts are the Services in front of the twin's servers that its components call, each
// with the operator's port (80-services.yaml.tmpl) and the server's port in the plan.
var servicePorts = map[string]struct {
	port int
	plan func(Ports) int
}{
	"backend-listener": {3000, func(p Ports) int { return p.BackendListener }},
	"backend-redis":    {6379, func(p Ports) int { return p.BackendRedis }},
	"system-redis":     {6379, func(p Ports) int { return p.SystemRedis }},
	"system-mysql":     {3306, func(p Ports) int { return p.SystemMySQL }},
	"system-memcache":  {11211, func(p Ports) int { return p.SystemMemcache }},
	"system-searchd":   {9306, func(p Ports) int { return p.SystemSearchd }},
	"system-master":    {3000, func(p Ports) int { return p.SystemMaster }},
	"system-provider":  {3000, func(p Ports) int { return p.SystemProvider }},
	"zync":             {8080, func(p Ports) int { return p.Zync }},
	"zync-database":    {5432, func(p Ports) int { return p.ZyncDatabase }},
	"echo-api":         {8080, func(p Ports) int { return p.EchoAPI }},
}

// PeerHost and PeerPort are where a component reaches the Service named: on the process node
// the server itself on the host's loopback, on a kubelet the Service.
func (v Values) PeerHost(service string) (string, error) {
	if _, ok := servicePorts[service]; !ok {
		return "", fmt.Errorf("no Service %q among the twin's peers", service)
	}
	if v.Platform == ProcessNode {
		return "127.0.0.1", nil
	}
	return service, nil
}

// PeerPort: see PeerHost.
func (v Values) PeerPort(service string) (int, error) {
	sp, ok := servicePorts[service]
	if !ok {
		return 0, fmt.Errorf("no Service %q among the twin's peers", service)
	}
	if v.Platform == ProcessNode {
		return sp.plan(v.Ports), nil
	}
	return sp.port, nil
}

// Peer is PeerHost:PeerPort.
func (v Values) Peer(service string) (string, error) {
	h, err := v.PeerHost(service)
	if err != nil {
		return "", err
	}
	p, _ := v.PeerPort(service)
	return h + ":" + strconv.Itoa(p), nil
}

// APIManagerName is the name of the twin's APIManager.
const APIManagerName = "3scale"

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
// the credentials kept with the data in dataDir (generated and written there on the first
// deploy, see LoadOrCreateSecrets), the default ports (moved by PortShiftEnv when set).
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
	if v.Secrets, err = LoadOrCreateSecrets(dataDir); err != nil {
		return v, err
	}
	return v, nil
}

// The labels hack/twin-image.sh puts on the twin's image: where PostgreSQL's server
// binaries are, and the uid:gid of Debian's service users inside it (Debian numbers system
// users in the order their packages were installed, so the image's are not the host's).
const (
	ImageLabelPGBin = "io.threescale-chaos.twin.pgbin"
	ImageLabelIDs   = "io.threescale-chaos.twin.ids"
	// ImageBin is where the image has the threescale-twin binary.
	ImageBin = "/usr/local/bin/threescale-twin"
	// KubeletDataDir is the hostPath root on a kubelet's node (inside kind's node container),
	// under which each namespace's twin has a directory of its own.
	KubeletDataDir = "/var/lib/threescale-twin"
	// PublishedNodePortBase is the first NodePort kind-config.yaml publishes on the host's
	// loopback (30080 to 30085).
	PublishedNodePortBase = 30080
)

// nodePortOffsets are the endpoints behind NodePorts on a kubelet, in the order of
// kind-config.yaml's port mappings.
var nodePortOffsets = map[string]int{
	"apicast-production": 0, "apicast-staging": 1, "system-provider": 2,
	"system-master": 3, "system-developer": 4, "backend-listener": 5,
}

// NodePort is the NodePort in front of an endpoint on a kubelet (apicast-production,
// apicast-staging, system-provider, system-master, system-developer, backend-listener). An
// unknown name panics: it is a mistake in a template or in this package.
func (v Values) NodePort(endpoint string) int {
	off, ok := nodePortOffsets[endpoint]
	if !ok {
		panic("deploy: no NodePort for " + endpoint)
	}
	return v.NodePortBase + off
}

// OperatorPorts is the port plan on a real kubelet, where every pod has its own network: each
// server listens where the 3scale operator's containers do, so that its Services and the
// NodePorts in front of them look as they do on a real install and `threescale-chaos
// discover` finds them there (3scale-operator@3scale-2.16.3-GA, pkg/3scale/amp/component:
// apicast.go:790-838 gateway 8080, management 8090; backend.go:59 and :618 listener 3000,
// worker metrics 9421; system.go:1572-1596 master 3002, provider 3000, developer 3001;
// memcached.go:60 11211; system_searchd.go:48 9306; zync.go:37 and :618 zync 8080, zync-que
// metrics 9394; redis 6379, MySQL 3306 and PostgreSQL 5432 as the Services of
// 80-services.yaml.tmpl give them). The echo API is the twin's own: 8080.
func OperatorPorts() Ports {
	return Ports{
		BackendRedis: 6379, SystemRedis: 6379, SystemMySQL: 3306, SystemMemcache: 11211, SystemSearchd: 9306, ZyncDatabase: 5432,
		BackendListener: 3000, BackendWorkerMetrics: 9421,
		SystemProvider: 3000, SystemDeveloper: 3001, SystemMaster: 3002,
		ApicastStaging: 8080, ApicastStagingManagement: 8090,
		ApicastProduction: 8080, ApicastProductionManagement: 8090,
		Zync: 8080, ZyncQueMetrics: 9394,
		EchoAPI: 8080,
	}
}

// NewKubeletValues are the values for the twin on a real kubelet (Platform Kubelet), running
// image, whose labels say where PostgreSQL is and who the service users are. The credentials
// are kept in stateDir on this machine, as NewValues keeps them beside the data.
func NewKubeletValues(namespace, image string, labels map[string]string, stateDir string) (Values, error) {
	v := Values{
		Namespace:    namespace,
		TenantName:   "3scale",
		Domain:       "twin.localhost",
		Bin:          ImageBin,
		DataDir:      KubeletDataDir + "/" + namespace,
		Ports:        OperatorPorts(),
		NodePortBase: PublishedNodePortBase,
		NodeAddress:  "127.0.0.1",
		UIDs:         map[string]int64{},
		GIDs:         map[string]int64{},
		Platform:     Kubelet,
		Image:        image,
		PGBin:        labels[ImageLabelPGBin],
	}
	if v.PGBin == "" {
		return v, fmt.Errorf("image %s has no label %s: build it with hack/twin-image.sh", image, ImageLabelPGBin)
	}
	for _, kv := range strings.Split(labels[ImageLabelIDs], ",") {
		name, ids, _ := strings.Cut(kv, "=")
		uid, gid, _ := strings.Cut(ids, ":")
		u, uerr := strconv.ParseInt(uid, 10, 64)
		g, gerr := strconv.ParseInt(gid, 10, 64)
		if name == "" || uerr != nil || gerr != nil {
			continue
		}
		v.UIDs[name], v.GIDs[name] = u, g
	}
	for _, name := range serviceUsers {
		if _, ok := v.UIDs[name]; !ok {
			return v, fmt.Errorf("image %s: label %s=%q names no uid:gid for %s", image, ImageLabelIDs, labels[ImageLabelIDs], name)
		}
	}
	var err error
	if v.Secrets, err = LoadOrCreateSecrets(stateDir); err != nil {
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
