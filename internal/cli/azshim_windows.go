package cli

import (
	"errors"
	"fmt"
	"os/exec"

	"github.com/azkeep/azkeep/internal/childproc"
)

// execAZ runs az as a child (Windows cannot replace a process) with the
// shim's streams, and passes its exit status on.
func execAZ(az string, args []string, streams IO) error {
	cmd := exec.Command(az, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = streams.In, streams.Out, streams.Err
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return &childproc.ExitError{Code: ee.ExitCode()}
	}
	if err != nil {
		return fmt.Errorf("run %s: %w", az, err)
	}
	return nil
}
