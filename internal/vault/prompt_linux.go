//go:build linux

package vault

import "golang.org/x/sys/unix"

// The termios ioctls of Linux, for prompt_unix.go.
const (
	ioctlGetTermios = unix.TCGETS
	ioctlSetTermios = unix.TCSETS
)
