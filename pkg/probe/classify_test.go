package probe

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"syscall"
	"testing"

	"github.com/threescale-chaos/harness/pkg/scenario"
)

func TestClassifyError(t *testing.T) {
	opErr := func(err error) error {
		return &url.Error{Op: "Get", URL: "http://x/?user_key=s3cr3t", Err: &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", err)}}
	}
	tests := []struct {
		name string
		err  error
		want scenario.ErrorClass
	}{
		{"nil", nil, scenario.ErrNone},
		{"refused", opErr(syscall.ECONNREFUSED), scenario.ErrRefused},
		{"host unreachable", opErr(syscall.EHOSTUNREACH), scenario.ErrRefused},
		{"reset", opErr(syscall.ECONNRESET), scenario.ErrReset},
		{"broken pipe", opErr(syscall.EPIPE), scenario.ErrReset},
		{"eof", &url.Error{Op: "Get", URL: "http://x", Err: io.EOF}, scenario.ErrReset},
		{"unexpected eof", fmt.Errorf("reading body: %w", io.ErrUnexpectedEOF), scenario.ErrReset},
		{"deadline", &url.Error{Op: "Get", URL: "http://x", Err: context.DeadlineExceeded}, scenario.ErrTimeout},
		{"os deadline", fmt.Errorf("read: %w", os.ErrDeadlineExceeded), scenario.ErrTimeout},
		{"dns", &net.DNSError{Err: "no such host", Name: "x", IsNotFound: true}, scenario.ErrOther},
		{"dns timeout", &net.DNSError{Err: "timeout", Name: "x", IsTimeout: true}, scenario.ErrTimeout},
		{"canceled", context.Canceled, scenario.ErrOther},
		{"text only refused", errors.New("proxy: dial: connection refused"), scenario.ErrRefused},
		{"anything else", errors.New("boom"), scenario.ErrOther},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ClassifyError(tt.err); got != tt.want {
				t.Errorf("ClassifyError(%v) = %q, want %q", tt.err, got, tt.want)
			}
		})
	}
}

func TestClassifyStatus(t *testing.T) {
	for status, want := range map[int]scenario.ErrorClass{
		500: scenario.Err5xx, 503: scenario.Err5xx, 599: scenario.Err5xx,
		400: scenario.Err4xx, 403: scenario.Err4xx, 429: scenario.Err4xx,
		200: scenario.ErrWrongStatus, 302: scenario.ErrWrongStatus, 0: scenario.ErrOther,
	} {
		if got := ClassifyStatus(status); got != want {
			t.Errorf("ClassifyStatus(%d) = %q, want %q", status, got, want)
		}
	}
}

func TestErrorDetailDropsTheURL(t *testing.T) {
	err := &url.Error{Op: "Get", URL: "http://gw/?user_key=s3cr3t-key", Err: errors.New("dial tcp: connection refused")}
	got := ErrorDetail(err)
	if want := "Get: dial tcp: connection refused"; got != want {
		t.Errorf("ErrorDetail = %q, want %q", got, want)
	}
}

func TestSampleFromError(t *testing.T) {
	c := scenario.Search
	if s := SampleFromError(c, nil); !s.OK || s.ErrorClass != scenario.ErrNone || s.Capability != c {
		t.Errorf("nil error: %+v", s)
	}
	s := SampleFromError(c, fmt.Errorf("polling: %w", Failf(scenario.ErrNotApplied, "account %s not indexed after %d polls", "org-1", 5)))
	if s.OK || s.ErrorClass != scenario.ErrNotApplied || s.Detail != "account org-1 not indexed after 5 polls" {
		t.Errorf("failure: %+v", s)
	}
	if s := SampleFromError(c, syscall.ECONNREFUSED); s.OK || s.ErrorClass != scenario.ErrRefused {
		t.Errorf("refused: %+v", s)
	}
}
