package tui

import (
	"io"
	"strings"
	"sync"
	"testing"
	"time"
)

type syncBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func TestProgressSpinsAndKeepsNotesReadable(t *testing.T) {
	var b syncBuf
	p := StartProgress(&b, "syncing contoso")
	time.Sleep(progressDelay + 2*progressEvery)
	io.WriteString(p, "azkeep: waiting for the lock\n")
	time.Sleep(2 * progressEvery) // the spinner comes back under the note
	p.Stop()
	p.Stop()
	out := b.String()
	if !strings.Contains(out, "syncing contoso 0s") {
		t.Fatalf("no spinner: %q", out)
	}
	// The note starts on a cleared line, the spinner comes back under it,
	// and its line is cleared at the end.
	_, after, _ := strings.Cut(out, "\r\x1b[Kazkeep: waiting for the lock\n")
	if !strings.Contains(after, "syncing contoso") || !strings.HasSuffix(out, "\r\x1b[K") {
		t.Fatalf("note or end not cleared: %q", out)
	}
}

func TestProgressQuickStepIsSilent(t *testing.T) {
	var b syncBuf
	p := StartProgress(&b, "starting")
	p.Stop()
	if b.String() != "" {
		t.Fatalf("a quick step printed %q", b.String())
	}
}
