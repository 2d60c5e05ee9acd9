//go:build windows

package azcli

import (
	"context"
	"os/exec"
	"strings"
)

func setGroup(*exec.Cmd) {}

// inheritLocks: Windows cannot hand a file to a child (exec.Cmd.ExtraFiles).
func inheritLocks(context.Context, *exec.Cmd) {}

func killGroup(cmd *exec.Cmd) error {
	if cmd.Process == nil {
		return nil
	}
	return cmd.Process.Kill()
}

// interrupt: Windows has no SIGINT to send to another process; the
// console's Ctrl-C reaches az directly, and cancellation kills it.
func interrupt(cmd *exec.Cmd) error { return killGroup(cmd) }

// envKey: environment names are case-insensitive on Windows.
func envKey(k string) string { return strings.ToUpper(k) }
