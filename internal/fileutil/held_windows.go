//go:build windows

package fileutil

import (
	"os"

	"github.com/gofrs/flock"
)

// Held is an exclusive lock this process holds (LockHeld, TryLockHeld).
// Windows cannot hand it to a child: File is nil.
type Held struct{ fl *flock.Flock }

// File is nil: see Held.
func (h Held) File() *os.File { return nil }

// Unlock releases the lock.
func (h Held) Unlock() error { return h.fl.Unlock() }

// TryLockHeld is TryLock returning the held lock.
func TryLockHeld(path string) (Held, bool) {
	fl := flock.New(path, flock.SetPermissions(FilePerm))
	locked, err := fl.TryLock()
	if err != nil || !locked {
		return Held{}, false
	}
	return Held{fl}, true
}
