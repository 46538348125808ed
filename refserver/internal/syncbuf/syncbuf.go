// Package syncbuf is a bytes.Buffer that is safe for concurrent writes:
// the sink tests give slog handlers and subprocesses to capture output.
package syncbuf

import (
	"bytes"
	"sync"
)

// Buffer collects writes from several goroutines. The zero value is ready
// to use.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns everything written so far.
func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
