package vault

import (
	"fmt"
	"time"

	"github.com/azkeep/azkeep/internal/hint"
)

// Options configure a backend.
type Options struct {
	// Home is azkeep's state dir; the file backend and sealed large
	// secrets live below it.
	Home string
	// Passphrase returns the file backend's passphrase (from
	// $AZKEEP_VAULT_PASSPHRASE or a prompt).
	Passphrase func() ([]byte, error)
	// Timeout bounds every backend call (0: the default, a few seconds).
	Timeout time.Duration
}

// Open returns the backend called name ("" picks the OS default).
// STUB: the vault issue replaces this with the real backends.
func Open(name string, opts Options) (Store, error) {
	switch name {
	case "memory":
		return NewMemory(), nil
	}
	return nil, hint.New(fmt.Errorf("unknown vault backend %q", name), "use --vault secret-service, keychain, wincred, pass or file")
}
