//go:build !linux

package agent

import "context"

// Watch returns nil where azkeep has no file-change notification: the
// agent re-reads the state on its rescan timer.
func Watch(ctx context.Context, dir, name string) <-chan struct{} { return nil }
