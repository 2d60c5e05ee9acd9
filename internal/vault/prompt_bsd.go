//go:build darwin || freebsd || netbsd || openbsd || dragonfly

package vault

import "golang.org/x/sys/unix"

// The termios ioctls of the BSDs and macOS, for prompt_unix.go.
const (
	ioctlGetTermios = unix.TIOCGETA
	ioctlSetTermios = unix.TIOCSETA
)
