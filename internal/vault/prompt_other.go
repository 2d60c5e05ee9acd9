//go:build !linux && !windows && !darwin && !freebsd && !netbsd && !openbsd && !dragonfly

package vault

import (
	"errors"
	"os"
)

func isTerminal(*os.File) bool { return false }

func echoOff(*os.File) (func(), error) { return nil, errors.New("not supported on this OS") }
