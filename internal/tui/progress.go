package tui

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// Progress is a spinner line at the bottom of a terminal's stderr while a
// long step runs (a login, a sync, a wait for another azkeep's lock). It
// is also the writer the step's own notes go to: a note clears the line,
// is written, and the spinner comes back under it, so az login's
// device-code message and azkeep's "waiting for" notes stay readable.
// Callers create one only for a terminal (see the cli's progress).
type Progress struct {
	mu      sync.Mutex
	w       io.Writer
	msg     string
	start   time.Time
	frame   int
	shown   bool // the spinner line is on the screen
	midLine bool // the last note did not end its line: no spinner until it does
	stop    chan struct{}
	done    chan struct{}
}

// progressDelay keeps a quick step silent; progressEvery is the frame rate.
const (
	progressDelay = 300 * time.Millisecond
	progressEvery = 100 * time.Millisecond
)

var spinner = []rune("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏")

// StartProgress draws the spinner with msg on w until Stop.
func StartProgress(w io.Writer, msg string) *Progress {
	p := &Progress{w: w, msg: msg, start: time.Now(), stop: make(chan struct{}), done: make(chan struct{})}
	go p.run()
	return p
}

func (p *Progress) run() {
	defer close(p.done)
	t := time.NewTicker(progressEvery)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case now := <-t.C:
			p.mu.Lock()
			if now.Sub(p.start) >= progressDelay && !p.midLine {
				p.frame++
				fmt.Fprintf(p.w, "\r\x1b[K%c %s %ds", spinner[p.frame%len(spinner)], p.msg, int(now.Sub(p.start).Seconds()))
				p.shown = true
			}
			p.mu.Unlock()
		}
	}
}

func (p *Progress) clear() {
	if p.shown {
		io.WriteString(p.w, "\r\x1b[K")
		p.shown = false
	}
}

// Write writes a note above the spinner.
func (p *Progress) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clear()
	if len(b) > 0 {
		p.midLine = b[len(b)-1] != '\n'
	}
	return p.w.Write(b)
}

// Stop removes the spinner line; it is safe to call twice.
func (p *Progress) Stop() {
	select {
	case <-p.stop:
		return
	default:
	}
	close(p.stop)
	<-p.done
	p.mu.Lock()
	p.clear()
	p.mu.Unlock()
}
