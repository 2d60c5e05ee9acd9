package agent

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/azkeep/azkeep/internal/fileutil"
)

func TestWatchSeesAtomicReplace(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := Watch(ctx, dir, "state.json")
	if ch == nil {
		t.Fatal("no watcher on linux")
	}
	os.WriteFile(filepath.Join(dir, "other.json"), []byte("{}"), 0o600)
	if err := fileutil.WriteAtomic(filepath.Join(dir, "state.json"), []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatal("no change notification")
	}
}

// TestWatchStopsWithoutReadingAReusedDescriptor: stopping a watcher while
// files are being opened must not let its reader read another file through
// a reused descriptor number (it once parsed a file's bytes as inotify
// events and panicked when the agent stopped during a rotation).
func TestWatchStopsWithoutReadingAReusedDescriptor(t *testing.T) {
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk")
	garbage := make([]byte, 64<<10)
	for i := range garbage {
		garbage[i] = 0xff
	}
	if err := os.WriteFile(junk, garbage, 0o600); err != nil {
		t.Fatal(err)
	}
	for range 300 {
		ctx, cancel := context.WithCancel(context.Background())
		if Watch(ctx, dir, "state.json") == nil {
			t.Fatal("no watcher on linux")
		}
		cancel()
		// Grab descriptor numbers as they are freed, with bytes that are
		// no inotify events.
		var files []*os.File
		for range 8 {
			if f, err := os.Open(junk); err == nil {
				files = append(files, f)
			}
		}
		time.Sleep(time.Millisecond)
		for _, f := range files {
			f.Close()
		}
	}
}
