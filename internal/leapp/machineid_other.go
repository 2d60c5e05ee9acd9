//go:build !windows

package leapp

import "errors"

func windowsMachineID() (string, error) { return "", errors.New("not on windows") }
