package agent

import (
	"context"
	"encoding/binary"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Watch returns a channel that receives (coalesced) when a file named name
// is written or renamed into dir — the state file, which azkeep replaces
// by rename — until ctx is done. On failure it returns nil (the agent
// then relies on its rescan timer).
func Watch(ctx context.Context, dir, name string) <-chan struct{} {
	// Non-blocking and handed to an *os.File: the Go poller then owns the
	// descriptor, so Close (when ctx is done) wakes the blocked Read and
	// releases the number only after it returns. Closing a raw descriptor
	// under a blocked read let the number be reused by a file the agent
	// opened, whose bytes the reader then parsed as events (a panic when
	// the agent stopped during a rotation).
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil
	}
	if _, err := unix.InotifyAddWatch(fd, filepath.Clean(dir), unix.IN_MOVED_TO|unix.IN_CLOSE_WRITE|unix.IN_CREATE); err != nil {
		unix.Close(fd)
		return nil
	}
	f := os.NewFile(uintptr(fd), "inotify")
	out := make(chan struct{}, 1)
	go func() {
		<-ctx.Done()
		f.Close() // unblocks the read below
	}()
	go func() {
		buf := make([]byte, 64*(unix.SizeofInotifyEvent+unix.NAME_MAX+1))
		for {
			n, err := f.Read(buf)
			if err != nil || n <= 0 {
				return
			}
			for off := 0; off+unix.SizeofInotifyEvent <= n; {
				// The kernel writes struct inotify_event in host byte
				// order, then ev.Len bytes of NUL-padded name.
				var ev unix.InotifyEvent
				if _, err := binary.Decode(buf[off:n], binary.NativeEndian, &ev); err != nil {
					break
				}
				end := off + unix.SizeofInotifyEvent + int(ev.Len)
				if ev.Len > unix.NAME_MAX+1 || end > n {
					break // not an event the kernel writes
				}
				nameBytes := buf[off+unix.SizeofInotifyEvent : end]
				off = end
				if cString(nameBytes) == name {
					select {
					case out <- struct{}{}:
					default:
					}
				}
			}
		}
	}()
	return out
}

func cString(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}
