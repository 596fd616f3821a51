package report

import (
	"syscall"
	"time"
)

// Usage is what the harness process itself spent over a span: CPU time (user and system,
// every goroutine: samplers, loads, watches) against wall time, and the process's peak
// resident set. Peak RSS is a high-water mark for the whole process, so for the second
// scenario of a run it is at least the first's.
type Usage struct {
	Wall Duration `json:"wall"`
	CPU  Duration `json:"cpu"`
	// CPUPercent is CPU over wall: 100 is one core busy for the whole span.
	CPUPercent  float64 `json:"cpuPercent"`
	MaxRSSBytes int64   `json:"maxRssBytes"`
}

// UsageMark is a reading of the process's counters; Since turns two into a Usage.
type UsageMark struct {
	at  time.Time
	cpu time.Duration
}

// MarkUsage reads the process's CPU time now.
func MarkUsage() UsageMark {
	cpu, _ := rusage()
	return UsageMark{at: time.Now(), cpu: cpu}
}

// Since is the usage from m to now.
func (m UsageMark) Since() Usage {
	cpu, rss := rusage()
	u := Usage{Wall: Duration(time.Since(m.at)), CPU: Duration(cpu - m.cpu), MaxRSSBytes: rss}
	if u.Wall > 0 {
		u.CPUPercent = 100 * float64(u.CPU) / float64(u.Wall)
	}
	return u
}

func rusage() (cpu time.Duration, maxRSS int64) {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0, 0
	}
	tv := func(t syscall.Timeval) time.Duration {
		return time.Duration(t.Sec)*time.Second + time.Duration(t.Usec)*time.Microsecond
	}
	// Linux reports ru_maxrss in KiB.
	return tv(ru.Utime) + tv(ru.Stime), int64(ru.Maxrss) * 1024
}
