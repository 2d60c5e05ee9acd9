package fileutil

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func TestWriteAtomicReplacesWithMode(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "state.json")
	if err := os.WriteFile(p, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteAtomic(p, []byte("new"), FilePerm); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil || string(b) != "new" {
		t.Fatalf("read %q, %v", b, err)
	}
	st, _ := os.Stat(p)
	if st.Mode().Perm() != FilePerm {
		t.Errorf("mode %v, want %v", st.Mode().Perm(), FilePerm)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("temp files left behind: %v", ents)
	}
}

func TestWriteAtomicFailureLeavesOldFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "missing-dir", "x")
	if err := WriteAtomic(p, []byte("x"), FilePerm); err == nil {
		t.Fatal("want an error writing into a missing directory")
	}
}

func TestLockExcludes(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x.lock")
	unlock, err := Lock(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := LockTimeout(p, 50*time.Millisecond); err == nil {
		t.Fatal("second lock succeeded while the first was held")
	}
	if err := unlock(); err != nil {
		t.Fatal(err)
	}
	// The counter lives in a file: flock is invisible to the race detector,
	// and a file is what the lock guards in azkeep anyway.
	cf := filepath.Join(filepath.Dir(p), "counter")
	if err := os.WriteFile(cf, []byte{0}, FilePerm); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			u, err := LockTimeout(p, 10*time.Second)
			if err != nil {
				t.Error(err)
				return
			}
			b, _ := os.ReadFile(cf)
			time.Sleep(time.Millisecond)
			os.WriteFile(cf, []byte{b[0] + 1}, FilePerm)
			u()
		}()
	}
	wg.Wait()
	if b, _ := os.ReadFile(cf); b[0] != 8 {
		t.Errorf("counter %d, want 8: lock did not serialise", b[0])
	}
}
