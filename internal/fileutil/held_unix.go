//go:build !windows

package fileutil

import (
	"errors"
	"os"
	"syscall"
)

// Held is an exclusive flock this process holds (LockHeld, TryLockHeld).
// A flock belongs to the open file, not to the process: a child started
// with File among its ExtraFiles holds the lock too, until it exits, even
// when this process is killed first.
type Held struct{ f *os.File }

// File is the locked file, for a child to inherit.
func (h Held) File() *os.File { return h.f }

// Unlock releases the lock, for every holder of the file: call it once the
// children that inherited it are gone.
func (h Held) Unlock() error {
	err := syscall.Flock(int(h.f.Fd()), syscall.LOCK_UN)
	return errors.Join(err, h.f.Close())
}

// TryLockHeld is TryLock returning the held lock.
func TryLockHeld(path string) (Held, bool) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, FilePerm)
	if err != nil {
		return Held{}, false
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return Held{}, false
	}
	return Held{f}, true
}
