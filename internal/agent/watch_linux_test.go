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
