//go:build unix

package childproc

import (
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// forwardedSignals are relayed to the child. It is an explicit list:
// signal.Notify with no list would also relay the Go runtime's own SIGURG.
var forwardedSignals = []os.Signal{
	syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGWINCH,
}

// shouldForward relays s unless the terminal has delivered it to the child
// already. Ctrl-C, Ctrl-\ and a window resize go from the terminal to its
// whole foreground process group; when azkeep and the child are both in it,
// a relayed copy would be a second signal (Terraform takes a second SIGINT
// as "stop now, without cleaning up"). A child that made itself its own
// group (an interactive shell does) gets every signal relayed.
func shouldForward(s os.Signal, childPid int) bool {
	switch s {
	case syscall.SIGINT, syscall.SIGQUIT, syscall.SIGWINCH:
	default:
		return true
	}
	tty, err := os.Open("/dev/tty")
	if err != nil {
		return true // no controlling terminal: the signal came from kill
	}
	defer tty.Close()
	fg, err := unix.IoctlGetInt(int(tty.Fd()), unix.TIOCGPGRP)
	if err != nil {
		return true
	}
	own := syscall.Getpgrp()
	child, err := syscall.Getpgid(childPid)
	if err != nil {
		return true
	}
	return !(fg == own && child == own)
}

func signalCode(st *os.ProcessState) int {
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return 1
}
