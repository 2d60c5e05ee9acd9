//go:build unix

package cli

import (
	"syscall"
	"testing"
	"time"
)

// Regression: SIGHUP killed azkeep without clean-up (its `az login` child
// polled on and wrote a refresh token into a login dir nobody removed); it
// must cancel the command as SIGTERM does.
func TestSIGHUPCancelsTheCommand(t *testing.T) {
	ctx, stop := signalContext()
	defer stop()
	if err := syscall.Kill(syscall.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("SIGHUP did not cancel the context")
	}
}
