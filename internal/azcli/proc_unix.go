//go:build !windows

package azcli

import (
	"os"
	"os/exec"
	"syscall"
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
