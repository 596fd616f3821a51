package probe

import (
	"crypto/tls"
	"fmt"
	"net/http/httptrace"
	"sync"
	"time"
)

// requestTrace records how far one request got, from net/http/httptrace, so
// that a sample that failed without an answer says where it stopped: a TCP
// connect that never completed is a network path (a NodePort, a route, a
// port-forward) and not the component; a request sent and never answered is
// the server (or what it waits on). The transport calls the hooks from its
// own goroutines, hence the lock.
type requestTrace struct {
	start time.Time

	mu          sync.Mutex
	dnsStart    time.Duration
	addr        string
	connStart   time.Duration
	connDone    time.Duration
	tlsStart    time.Duration
	gotConn     time.Duration
	reused      bool
	wrote       time.Duration
	firstByte   time.Duration
	dnsStarted  bool
	dnsFinished bool
	connStarted bool
	connected   bool
	connFailed  bool
	tlsStarted  bool
	tlsFinished bool
	hasConn     bool
	sent        bool
	answered    bool
}

func newRequestTrace(start time.Time) *requestTrace { return &requestTrace{start: start} }

func (t *requestTrace) at() time.Duration { return time.Since(t.start) }

func (t *requestTrace) clientTrace() *httptrace.ClientTrace {
	set := func(f func(d time.Duration)) {
		d := t.at()
		t.mu.Lock()
		f(d)
		t.mu.Unlock()
	}
	return &httptrace.ClientTrace{
		DNSStart: func(httptrace.DNSStartInfo) { set(func(d time.Duration) { t.dnsStart, t.dnsStarted = d, true }) },
		DNSDone:  func(httptrace.DNSDoneInfo) { set(func(time.Duration) { t.dnsFinished = true }) },
		ConnectStart: func(_, addr string) {
			set(func(d time.Duration) { t.connStart, t.connStarted, t.addr = d, true, addr })
		},
		ConnectDone: func(_, addr string, err error) {
			set(func(d time.Duration) {
				if err != nil {
					t.connFailed = true // the error says why
					return
				}
				t.connDone, t.connected, t.addr = d, true, addr
			})
		},
		TLSHandshakeStart: func() { set(func(d time.Duration) { t.tlsStart, t.tlsStarted = d, true }) },
		// A failed handshake is finished too: its error says why.
		TLSHandshakeDone: func(tls.ConnectionState, error) { set(func(time.Duration) { t.tlsFinished = true }) },
		GotConn: func(i httptrace.GotConnInfo) {
			set(func(d time.Duration) {
				t.gotConn, t.hasConn, t.reused = d, true, i.Reused
				if i.Conn != nil && t.addr == "" {
					t.addr = i.Conn.RemoteAddr().String()
				}
			})
		},
		WroteRequest: func(i httptrace.WroteRequestInfo) {
			if i.Err == nil {
				set(func(d time.Duration) { t.wrote, t.sent = d, true })
			}
		},
		GotFirstResponseByte: func() { set(func(d time.Duration) { t.firstByte, t.answered = d, true }) },
	}
}

// where says how far the request had got when it failed after elapsed: the
// last step it completed and the one it was waiting on. Empty when nothing was
// recorded (the request never reached the transport).
func (t *requestTrace) where(elapsed time.Duration) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	ms := func(d time.Duration) string { return d.Round(100 * time.Microsecond).String() }
	switch {
	case t.answered:
		return fmt.Sprintf("response began at %s, cut off at %s", ms(t.firstByte), ms(elapsed))
	case t.sent:
		conn := "on a new connection to " + t.addr
		if t.reused {
			conn = "on a reused connection to " + t.addr
		} else if t.connected {
			conn = fmt.Sprintf("connected to %s in %s", t.addr, ms(t.connDone-t.connStart))
		}
		return fmt.Sprintf("%s, request sent at %s, no response in the %s after it", conn, ms(t.wrote), ms(elapsed-t.wrote))
	case t.hasConn:
		return fmt.Sprintf("connection to %s at %s, request not sent at %s", t.addr, ms(t.gotConn), ms(elapsed))
	case t.tlsStarted && !t.tlsFinished:
		return fmt.Sprintf("connected to %s in %s, TLS handshake not done after %s", t.addr, ms(t.connDone-t.connStart), ms(elapsed-t.tlsStart))
	case t.connStarted && !t.connected && !t.connFailed:
		return fmt.Sprintf("TCP connect to %s not done after %s", t.addr, ms(elapsed-t.connStart))
	case t.dnsStarted && !t.dnsFinished:
		return fmt.Sprintf("DNS lookup not done after %s", ms(elapsed-t.dnsStart))
	}
	return ""
}
