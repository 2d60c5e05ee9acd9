// Package fileutil holds the two file primitives every state-holding write in
// azkeep goes through: an atomic replace and an exclusive advisory lock.
//
// A reader of a file written by WriteAtomic or Replace sees the old content
// or the new, never half of either, even when the writer is killed mid-way.
// Only WriteAtomic also survives a power cut: it fsyncs, which costs a
// millisecond or more per file on a journalling filesystem, so it is kept
// for what cannot be rebuilt.
package fileutil

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/gofrs/flock"
)

// DirPerm and FilePerm are the modes of everything azkeep creates.
const (
	DirPerm  os.FileMode = 0o700
	FilePerm os.FileMode = 0o600
)

// WriteAtomic replaces path with data: it writes a temp file in the same
// directory, fsyncs it, renames it over path and fsyncs the directory.
func WriteAtomic(path string, data []byte, perm os.FileMode) error {
	return replace(path, data, perm, true)
}

// Replace is WriteAtomic without the fsyncs: atomic for readers and for a
// killed writer, but after a power cut path may hold the old content (or,
// on some filesystems, nothing). For files that can be rebuilt, such as
// what a session start writes into an az config dir from the vault.
func Replace(path string, data []byte, perm os.FileMode) error {
	return replace(path, data, perm, false)
}

func replace(path string, data []byte, perm os.FileMode, durable bool) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	name := tmp.Name()
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(name)
		}
	}()
	if err := tmp.Chmod(perm); err != nil {
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		return err
	}
	if durable {
		if err := tmp.Sync(); err != nil {
			return err
		}
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(name, path); err != nil {
		return err
	}
	ok = true
	if !durable {
		return nil
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	// Some filesystems (and Windows) cannot fsync a directory; the rename
	// has happened either way.
	_ = d.Sync()
	return nil
}

// Lock takes an exclusive flock on path (created 0600 if missing), waiting
// until ctx is done. The returned func releases it.
func Lock(ctx context.Context, path string) (unlock func() error, err error) {
	if err := os.MkdirAll(filepath.Dir(path), DirPerm); err != nil {
		return nil, err
	}
	fl := flock.New(path, flock.SetPermissions(FilePerm))
	locked, err := fl.TryLockContext(ctx, 20*time.Millisecond)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if !locked {
		return nil, fmt.Errorf("lock %s: not acquired", path)
	}
	return fl.Unlock, nil
}

// TryLock takes the flock on path (created 0600 if missing) if no one
// holds it, without waiting; ok is false when someone does (or the lock
// cannot be taken at all).
func TryLock(path string) (unlock func() error, ok bool) {
	fl := flock.New(path, flock.SetPermissions(FilePerm))
	locked, err := fl.TryLock()
	if err != nil || !locked {
		return nil, false
	}
	return fl.Unlock, true
}

// LockHeld is Lock returning the held lock (see Held).
func LockHeld(ctx context.Context, path string) (Held, error) {
	if err := os.MkdirAll(filepath.Dir(path), DirPerm); err != nil {
		return Held{}, err
	}
	for {
		if h, ok := TryLockHeld(path); ok {
			return h, nil
		}
		select {
		case <-ctx.Done():
			return Held{}, fmt.Errorf("lock %s: %w", path, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

type heldKey struct{}

// WithHeld returns ctx carrying h: the children that work on what h guards
// (see InheritedLocks) inherit it, so that a process killed while such a
// child runs does not hand the lock to the next one before the child is
// done.
func WithHeld(ctx context.Context, h Held) context.Context {
	return context.WithValue(ctx, heldKey{}, h)
}

// InheritedLocks are the files of the locks ctx carries (WithHeld), for
// exec.Cmd.ExtraFiles.
func InheritedLocks(ctx context.Context) []*os.File {
	if h, ok := ctx.Value(heldKey{}).(Held); ok && h.File() != nil {
		return []*os.File{h.File()}
	}
	return nil
}

// LockTimeout is Lock with a deadline of d.
func LockTimeout(path string, d time.Duration) (func() error, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return Lock(ctx, path)
}
