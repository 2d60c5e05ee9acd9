//go:build unix

package cli

import (
	"fmt"
	"os"
	"syscall"
)

// execAZ replaces this process with az: the shim then costs nothing while
// az runs, and az's exit status and signals are its own.
func execAZ(az string, args []string, _ IO) error {
	err := syscall.Exec(az, append([]string{"az"}, args...), os.Environ())
	return fmt.Errorf("run %s: %w", az, err)
}
