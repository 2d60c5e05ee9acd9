// Package childproc runs the command of `azkeep exec`: it starts the child
// with the session's environment, forwards an explicit list of signals to it,
// and hands back its exit status unchanged. The per-session dirs the child
// uses are internal/sessiondir's.
package childproc

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strconv"

	"github.com/azkeep/azkeep/internal/hint"
)

// Run starts cmd, calls started with the child's pid (to record it next to
// the per-session dir), relays the forwarded signals while it runs, and
// waits. A child that exits 0 gives nil; any other status gives
// *ExitError with the child's code (128+n for a child killed by signal
// n, as shells report it), so azkeep exits with the child's status. A
// failing started is a warning written to warn (nil: dropped): the child
// runs already.
func Run(cmd *exec.Cmd, started func(pid int) error, warn io.Writer) error {
	sigs := make(chan os.Signal, 16)
	// Subscribe before Start: a signal in between must neither be lost nor
	// kill azkeep with the child left running.
	signal.Notify(sigs, forwardedSignals...)
	defer signal.Stop(sigs)

	if err := cmd.Start(); err != nil {
		name := cmd.Path
		if len(cmd.Args) > 0 {
			name = cmd.Args[0]
		}
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, os.ErrNotExist) {
			return hint.New(fmt.Errorf("cannot run %s: %w", name, err), "check the command name and PATH")
		}
		return fmt.Errorf("cannot run %s: %w", name, err)
	}
	if started != nil {
		if err := started(cmd.Process.Pid); err != nil && warn != nil {
			// The child runs already; say so but keep serving it.
			fmt.Fprintf(warn, "azkeep: warning: %v\n", err)
		}
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	for {
		select {
		case s := <-sigs:
			if shouldForward(s, cmd.Process.Pid) {
				_ = cmd.Process.Signal(s)
			}
		case err := <-done:
			return exitStatus(cmd, err)
		}
	}
}

func exitStatus(cmd *exec.Cmd, waitErr error) error {
	st := cmd.ProcessState
	if st == nil {
		return waitErr
	}
	code := st.ExitCode()
	if code == -1 {
		code = signalCode(st)
	}
	if code == 0 {
		return nil
	}
	return &ExitError{Code: code}
}

// ExitError is a child's non-zero exit status: the CLI exits with Code and
// prints nothing, since the child has said what went wrong (azkeep demo
// returns one too, after printing its own report). Not to be confused with
// azcli.ExitError: az failing under azkeep.
type ExitError struct{ Code int }

func (e *ExitError) Error() string { return "exit status " + strconv.Itoa(e.Code) }
