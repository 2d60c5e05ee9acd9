package agent

import (
	"context"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Watch returns a channel that receives (coalesced) when a file named name
// is written or renamed into dir — the state file, which azkeep replaces
// by rename — until ctx is done. On failure it returns nil (the agent
// then relies on its rescan timer).
func Watch(ctx context.Context, dir, name string) <-chan struct{} {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC)
	if err != nil {
		return nil
	}
	if _, err := unix.InotifyAddWatch(fd, filepath.Clean(dir), unix.IN_MOVED_TO|unix.IN_CLOSE_WRITE|unix.IN_CREATE); err != nil {
		unix.Close(fd)
		return nil
	}
	out := make(chan struct{}, 1)
	go func() {
		<-ctx.Done()
		unix.Close(fd) // unblocks the read below
	}()
	go func() {
		buf := make([]byte, 64*(unix.SizeofInotifyEvent+unix.NAME_MAX+1))
		for {
			n, err := unix.Read(fd, buf)
			if err != nil || n <= 0 {
				return
			}
			for off := 0; off+unix.SizeofInotifyEvent <= n; {
				ev := (*unix.InotifyEvent)(unsafePointer(&buf[off]))
				nameBytes := buf[off+unix.SizeofInotifyEvent : off+unix.SizeofInotifyEvent+int(ev.Len)]
				off += unix.SizeofInotifyEvent + int(ev.Len)
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
