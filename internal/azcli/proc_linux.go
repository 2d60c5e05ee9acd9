//go:build linux

package azcli

import (
	"os/exec"
	"syscall"
)

// dieWithParent has the kernel stop an interactive az when azkeep dies,
// even by SIGKILL: an orphaned `az login` would poll on and, once the user
// completes the login, write a refresh token into a login dir whose owner
// is gone.
func dieWithParent(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGTERM
}
