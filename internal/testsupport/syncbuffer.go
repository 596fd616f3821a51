package testsupport

import (
	"bytes"
	"sync"
)

// SyncBuffer is a bytes.Buffer that goroutines may write to at once (a logger's handler,
// a server's output) while a test reads it.
type SyncBuffer struct {
	// Limit, when positive, bounds what is kept: a write to a buffer holding more than Limit
	// bytes starts it over, so it keeps about the last Limit bytes.
	Limit int

	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Limit > 0 && s.b.Len() > s.Limit {
		s.b.Reset()
	}
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
