package deploy

import (
	"fmt"
	"net"
	"os"
	"strconv"

	"sigs.k8s.io/yaml"
)

// The target file tells the harness how to reach a 3scale install: its namespace, endpoints,
// credentials' Secrets and stores (README "On a real cluster (OpenShift, kind)"). The twin
// writes one for itself; on kind or OpenShift the harness builds it from the cluster or the
// user writes it. Credentials are never in the file: it names the Secret and keys to read.

// Target is the twin's target file.
type Target struct {
	Kubeconfig      string         `json:"kubeconfig,omitempty"`
	Namespace       string         `json:"namespace"`
	Version         string         `json:"version"`
	WildcardDomain  string         `json:"wildcardDomain"`
	Gateways        TargetGateways `json:"gateways"`
	Admin           Endpoint       `json:"admin"`
	Master          Endpoint       `json:"master"`
	DeveloperPortal Endpoint       `json:"developerPortal"`
	// Backend is backend-listener as the harness reaches it, when the URL in the Secret
	// backend-listener (the in-cluster Service) is not reachable from where it runs.
	Backend     *Endpoint       `json:"backend,omitempty"`
	Credentials TargetSecrets   `json:"credentials"`
	Stores      TargetStores    `json:"stores"`
	Upstream    Endpoint        `json:"upstream"`
	Operator    *TargetOperator `json:"operator,omitempty"`
}

// Endpoint is a base URL, and the Host header to send when the URL's host is not the name
// 3scale routes on (no Routes or DNS in front of it).
type Endpoint struct {
	URL  string `json:"url"`
	Host string `json:"host,omitempty"`
}

// TargetGateways are APIcast's proxy ports. Products get their Host from the wildcard domain.
type TargetGateways struct {
	Production Endpoint `json:"production"`
	Staging    Endpoint `json:"staging"`
}

// SecretKeyRef names one key of a Secret in the target's namespace.
type SecretKeyRef struct {
	Secret string `json:"secret"`
	Key    string `json:"key"`
}

// TargetSecrets say where the harness reads its tokens.
type TargetSecrets struct {
	AdminAccessToken  SecretKeyRef `json:"adminAccessToken"`
	MasterAccessToken SecretKeyRef `json:"masterAccessToken"`
}

// Store is how to reach one internal datastore: a URL from a Secret, and an address that
// replaces the URL's host:port when the in-cluster one cannot be reached (a direct address
// here; a port-forward on real clusters).
type Store struct {
	URL     SecretKeyRef `json:"url"`
	Address string       `json:"address,omitempty"`
}

// TargetStores are the internal stores the harness inspects for queues and lost work.
type TargetStores struct {
	BackendRedisStorage Store `json:"backendRedisStorage"`
	BackendRedisQueues  Store `json:"backendRedisQueues"`
	SystemRedis         Store `json:"systemRedis"`
	ZyncDatabase        Store `json:"zyncDatabase"`
}

// TargetOperator names the APIManager that owns the components' replicas, if any.
type TargetOperator struct {
	APIManager string `json:"apiManager"`
}

// NewTarget describes the twin deployed with v.
func NewTarget(v Values, kubeconfig string) Target {
	local := func(port int) string { return "http://127.0.0.1:" + strconv.Itoa(port) }
	addr := func(port int) string { return "127.0.0.1:" + strconv.Itoa(port) }
	// url is where the harness reaches an endpoint: on the process node at its port on the
	// loopback.
	url := func(_ string, port int) string { return local(port) }
	upstream := local(v.Ports.EchoAPI)
	var backend *Endpoint
	if v.Platform == Kubelet {
		// On a kubelet the harness reaches the twin as it reaches 3scale on kind
		// (fixtures/kind/target.yaml): the endpoints through the NodePorts of
		// 90-kubelet.yaml.tmpl at NodeAddress (the host's loopback, where kind-config.yaml
		// publishes them), by name since several share a container port; the stores through
		// port-forwards (no address); the upstream by its in-cluster name.
		url = func(endpoint string, _ int) string {
			return "http://" + net.JoinHostPort(v.NodeAddress, strconv.Itoa(v.NodePort(endpoint)))
		}
		addr = func(int) string { return "" }
		upstream = "http://echo-api." + v.Namespace + ".svc.cluster.local:8080"
		backend = &Endpoint{URL: url("backend-listener", v.Ports.BackendListener)}
	}
	return Target{
		Kubeconfig: kubeconfig,
		Namespace:  v.Namespace,
		// The release the twin operator stamps on the APIManager
		// (apps.3scale.net/apimanager-threescale-version,
		// operator@3scale-2.16.3-GA:version/version.go), as discover reads it.
		Version:        ThreescaleRelease,
		WildcardDomain: v.Domain,
		Gateways: TargetGateways{
			Production: Endpoint{URL: url("apicast-production", v.Ports.ApicastProduction)},
			Staging:    Endpoint{URL: url("apicast-staging", v.Ports.ApicastStaging)},
		},
		Admin:           Endpoint{URL: url("system-provider", v.Ports.SystemProvider), Host: v.TenantName + "-admin." + v.Domain},
		Master:          Endpoint{URL: url("system-master", v.Ports.SystemMaster), Host: "master." + v.Domain},
		DeveloperPortal: Endpoint{URL: url("system-developer", v.Ports.SystemDeveloper), Host: v.TenantName + "." + v.Domain},
		Credentials: TargetSecrets{
			AdminAccessToken:  SecretKeyRef{Secret: "system-seed", Key: "ADMIN_ACCESS_TOKEN"},
			MasterAccessToken: SecretKeyRef{Secret: "system-seed", Key: "MASTER_ACCESS_TOKEN"},
		},
		Stores: TargetStores{
			BackendRedisStorage: Store{URL: SecretKeyRef{Secret: "backend-redis", Key: "REDIS_STORAGE_URL"}, Address: addr(v.Ports.BackendRedis)},
			BackendRedisQueues:  Store{URL: SecretKeyRef{Secret: "backend-redis", Key: "REDIS_QUEUES_URL"}, Address: addr(v.Ports.BackendRedis)},
			SystemRedis:         Store{URL: SecretKeyRef{Secret: "system-redis", Key: "URL"}, Address: addr(v.Ports.SystemRedis)},
			ZyncDatabase:        Store{URL: SecretKeyRef{Secret: "zync", Key: "DATABASE_URL"}, Address: addr(v.Ports.ZyncDatabase)},
		},
		Backend:  backend,
		Upstream: Endpoint{URL: upstream},
	}
}

// WriteTarget writes the target file (YAML, mode 0644: it holds no secret).
func WriteTarget(path string, t Target) error {
	b, err := yaml.Marshal(t)
	if err != nil {
		return err
	}
	header := "# How the chaos harness reaches this 3scale twin (written by threescale-twin deploy).\n# Tokens are read from the named Secrets; none is stored here.\n"
	if err := os.WriteFile(path, append([]byte(header), b...), 0o644); err != nil {
		return fmt.Errorf("write target file: %w", err)
	}
	return nil
}
