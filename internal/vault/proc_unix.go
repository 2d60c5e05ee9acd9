//go:build unix

package vault

import (
	"os/exec"
	"syscall"
)

// killGroup makes a cancelled command take its children with it: pass runs
// gpg, which would otherwise outlive the deadline.
func killGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
}
