package threescale

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"
)

// podDialer opens connections to a store's pod through the API server (client-go's
// port-forward over SPDY), for stores a harness outside the cluster cannot reach directly:
// a target file's store without an address (Store.PortForward). Every dial looks the pod
// up again, so after the store has been scaled down and back the next connection goes to
// the new pod; each connection has its own forward, closed with it. Store clients pool
// connections, so dials are rare.
type podDialer struct {
	rc   *rest.Config
	kube kubernetes.Interface
	ns   string
	// Either selector+port, or service (resolved on each dial to its selector and
	// target port).
	selector    string
	port        int
	service     string
	servicePort int
}

// DialContext implements the dialers of go-redis and pgx; network and addr (the in-cluster
// address from the store's URL) are ignored.
func (d *podDialer) DialContext(ctx context.Context, _, _ string) (net.Conn, error) {
	pod, port, err := d.target(ctx)
	if err != nil {
		return nil, err
	}
	transport, upgrader, err := spdy.RoundTripperFor(d.rc)
	if err != nil {
		return nil, fmt.Errorf("port-forward to %s/%s: %w", d.ns, pod, err)
	}
	u := d.kube.CoreV1().RESTClient().Post().Resource("pods").Namespace(d.ns).Name(pod).SubResource("portforward").URL()
	dialer := spdy.NewDialer(upgrader, &http.Client{Transport: transport}, http.MethodPost, u)
	stop, ready := make(chan struct{}), make(chan struct{})
	pf, err := portforward.NewOnAddresses(dialer, []string{"127.0.0.1"}, []string{"0:" + strconv.Itoa(port)}, stop, ready, io.Discard, io.Discard)
	if err != nil {
		return nil, fmt.Errorf("port-forward to %s/%s:%d: %w", d.ns, pod, port, err)
	}
	errc := make(chan error, 1)
	go func() { errc <- pf.ForwardPorts() }()
	var once sync.Once
	closeFwd := func() { once.Do(func() { close(stop) }) }
	select {
	case <-ready:
	case err := <-errc:
		return nil, fmt.Errorf("port-forward to %s/%s:%d: %w", d.ns, pod, port, err)
	case <-ctx.Done():
		closeFwd()
		return nil, fmt.Errorf("port-forward to %s/%s:%d: %w", d.ns, pod, port, ctx.Err())
	}
	ports, err := pf.GetPorts()
	if err != nil || len(ports) == 0 {
		closeFwd()
		return nil, fmt.Errorf("port-forward to %s/%s:%d: no local port: %v", d.ns, pod, port, err)
	}
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(int(ports[0].Local))))
	if err != nil {
		closeFwd()
		return nil, fmt.Errorf("port-forward to %s/%s:%d: %w", d.ns, pod, port, err)
	}
	return &forwardedConn{Conn: conn, close: closeFwd}, nil
}

// target finds a running, ready pod and the container port to forward to.
func (d *podDialer) target(ctx context.Context) (string, int, error) {
	selector, port := d.selector, intstr.FromInt32(int32(d.port))
	if d.service != "" {
		svc, err := d.kube.CoreV1().Services(d.ns).Get(ctx, d.service, metav1.GetOptions{})
		if err != nil {
			return "", 0, fmt.Errorf("store service %s/%s: %w", d.ns, d.service, err)
		}
		if len(svc.Spec.Selector) == 0 {
			return "", 0, fmt.Errorf("store service %s/%s has no selector; give stores.*.portForward or address", d.ns, d.service)
		}
		selector = labels.SelectorFromSet(svc.Spec.Selector).String()
		found := false
		for _, p := range svc.Spec.Ports {
			if d.servicePort == 0 || int(p.Port) == d.servicePort {
				port, found = p.TargetPort, true
				if port.IntVal == 0 && port.StrVal == "" {
					port = intstr.FromInt32(p.Port)
				}
				break
			}
		}
		if !found {
			return "", 0, fmt.Errorf("store service %s/%s has no port %d", d.ns, d.service, d.servicePort)
		}
	}
	pods, err := d.kube.CoreV1().Pods(d.ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return "", 0, fmt.Errorf("store pods %q in %s: %w", selector, d.ns, err)
	}
	for _, p := range pods.Items {
		if p.Status.Phase != corev1.PodRunning || p.DeletionTimestamp != nil || !podReady(&p) {
			continue
		}
		if port.Type == intstr.Int {
			return p.Name, int(port.IntVal), nil
		}
		for _, c := range p.Spec.Containers {
			for _, cp := range c.Ports {
				if cp.Name == port.StrVal {
					return p.Name, int(cp.ContainerPort), nil
				}
			}
		}
		return "", 0, fmt.Errorf("pod %s/%s has no container port named %q", d.ns, p.Name, port.StrVal)
	}
	// No pod: the store is down. Say so in words a classifier maps to "refused".
	return "", 0, fmt.Errorf("no ready pod %q in %s: connection refused", selector, d.ns)
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// forwardedConn stops its forward when closed.
type forwardedConn struct {
	net.Conn
	close func()
}

func (c *forwardedConn) Close() error {
	err := c.Conn.Close()
	c.close()
	return err
}
