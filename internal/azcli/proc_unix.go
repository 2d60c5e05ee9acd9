//go:build !windows

package azcli

import (
	"context"
	"os"
	"os/exec"
	"syscall"

	"github.com/azkeep/azkeep/internal/fileutil"
)

// setGroup puts a non-interactive az in its own process group so that a
// timeout kills az and whatever it started.
func setGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

func killGroup(cmd *exec.Cmd) error {
	if cmd.Process == nil {
		return nil
	}
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); err != nil {
		return cmd.Process.Kill()
	}
	return nil
}

// interrupt asks an interactive az to stop as Ctrl-C would.
func interrupt(cmd *exec.Cmd) error {
	if cmd.Process == nil {
		return nil
	}
	return cmd.Process.Signal(os.Interrupt)
}

func envKey(k string) string { return k }

// inheritLocks hands az the locks ctx carries (fileutil.WithHeld): an az
// that redeems a single-use refresh token keeps running when azkeep is
// killed, and writes the rotated token only when the endpoint answers; as
// long as it holds the procedures' lock, the next azkeep waits for it and
// then moves that token into the vault.
func inheritLocks(ctx context.Context, cmd *exec.Cmd) {
	cmd.ExtraFiles = fileutil.InheritedLocks(ctx)
}
