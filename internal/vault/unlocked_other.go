//go:build !linux

package vault

import (
	"errors"
	"time"
)

// Only Linux has a kernel keyring: elsewhere the file vault asks for its
// passphrase once per process.

var errNoKernelKeyring = errors.New("no kernel keyring on this system")

func rememberUnlocked(string, []byte, time.Duration) error { return errNoKernelKeyring }

func recallUnlocked(string) ([]byte, bool) { return nil, false }

func forgetUnlocked(string) (int, error) { return 0, nil }
