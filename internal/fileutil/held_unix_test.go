//go:build !windows

package fileutil

import (
	"context"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// Regression: an az child redeeming a single-use refresh token outlived a
// SIGKILLed azkeep, and the next azkeep took the lock at once, redeemed the
// token az had just spent, and lost the login. A child that inherits the
// lock holds it until it exits, whatever becomes of its parent.
func TestHeldLockOutlivesItsHolderInTheChild(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lock")
	h, err := LockHeld(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := WithHeld(context.Background(), h)
	cmd := exec.Command("sleep", "0.5")
	cmd.ExtraFiles = InheritedLocks(ctx)
	if len(cmd.ExtraFiles) != 1 {
		t.Fatalf("InheritedLocks = %v, want the lock's file", cmd.ExtraFiles)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The holder dies without unlocking: its file closes, the child's stays.
	h.File().Close()
	if u, ok := TryLockHeld(path); ok {
		u.Unlock()
		t.Fatal("the lock was free while the child that inherited it ran")
	}
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	h2, err := LockHeld(ctxTimeout(t, 5*time.Second), path)
	if err != nil {
		t.Fatalf("the lock stayed held after the child exited: %v", err)
	}
	h2.Unlock()
	if InheritedLocks(context.Background()) != nil {
		t.Error("a context without a lock hands a file to children")
	}
}

func ctxTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
