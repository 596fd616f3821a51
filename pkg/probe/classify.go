package probe

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"syscall"

	"github.com/threescale-chaos/harness/pkg/scenario"
)

// ClassifyError returns the error class of an error returned by a network call:
//
//   - nil gives scenario.ErrNone;
//   - a context deadline, os.ErrDeadlineExceeded or a net.Error that reports
//     Timeout() gives scenario.ErrTimeout;
//   - ECONNREFUSED gives scenario.ErrRefused, and so do EHOSTUNREACH and
//     ENETUNREACH: a Service without endpoints is rejected by kube-proxy with
//     an ICMP error that some CNIs surface as "no route to host", and an
//     address whose pod is gone answers the same way;
//   - ECONNRESET, ECONNABORTED, EPIPE, io.EOF and io.ErrUnexpectedEOF (the
//     peer closed the connection before or while answering) give
//     scenario.ErrReset;
//   - anything else (DNS, TLS, a cancelled context, a malformed URL) gives
//     scenario.ErrOther.
//
// The most specific class wins: a timeout wrapped in a url.Error is a timeout.
func ClassifyError(err error) scenario.ErrorClass {
	if err == nil {
		return scenario.ErrNone
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		return scenario.ErrTimeout
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return scenario.ErrTimeout
	}
	switch {
	case errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.EHOSTUNREACH),
		errors.Is(err, syscall.ENETUNREACH):
		return scenario.ErrRefused
	case errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.ECONNABORTED),
		errors.Is(err, syscall.EPIPE),
		errors.Is(err, io.EOF),
		errors.Is(err, io.ErrUnexpectedEOF):
		return scenario.ErrReset
	}
	var (
		dnsErr  *net.DNSError
		certErr *tls.CertificateVerificationError
		unkAuth x509.UnknownAuthorityError
	)
	switch {
	case errors.As(err, &dnsErr), errors.As(err, &certErr), errors.As(err, &unkAuth):
		return scenario.ErrOther
	}
	// Some resets reach us only as text (a proxy in between, an HTTP/2
	// stream error); match the kernel's wording as a last resort.
	msg := err.Error()
	switch {
	case strings.Contains(msg, "connection refused"):
		return scenario.ErrRefused
	case strings.Contains(msg, "connection reset by peer"), strings.Contains(msg, "broken pipe"),
		strings.Contains(msg, "server closed the connection"):
		return scenario.ErrReset
	}
	return scenario.ErrOther
}

// ClassifyStatus returns the error class of an HTTP status the caller did not
// expect: scenario.Err5xx for 500-599, scenario.Err4xx for 400-499,
// scenario.ErrOther for 0 (no status) and scenario.ErrWrongStatus for anything
// else (a 2xx where a denial was expected, a redirect).
func ClassifyStatus(status int) scenario.ErrorClass {
	switch {
	case status >= 500 && status <= 599:
		return scenario.Err5xx
	case status >= 400 && status <= 499:
		return scenario.Err4xx
	case status == 0:
		return scenario.ErrOther
	default:
		return scenario.ErrWrongStatus
	}
}

// maxDetail bounds Sample.Detail: a report shows thousands of them.
const maxDetail = 200

// ErrorDetail returns a short description of err for Sample.Detail. A url.Error
// is unwrapped to its cause and its operation, without the URL: request URLs
// carry user keys and access tokens in their query strings.
func ErrorDetail(err error) string {
	if err == nil {
		return ""
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return truncate(ue.Op + ": " + ue.Err.Error())
	}
	return truncate(err.Error())
}

func truncate(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) <= maxDetail {
		return s
	}
	cut := maxDetail
	for cut > 0 && !utf8Start(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }
