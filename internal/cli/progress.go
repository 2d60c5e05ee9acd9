package cli

import (
	"github.com/azkeep/azkeep/internal/lifecycle"
	"github.com/azkeep/azkeep/internal/tui"
)

// withProgress runs fn with a spinner saying msg on stderr, when stderr is
// a terminal and the output is not JSON; the manager's notes (a wait for
// another azkeep's lock, az login's browser or device-code prompt) are
// written above it. Elsewhere fn runs as it is and nothing is printed.
func withProgress(m *lifecycle.Manager, streams IO, output, msg string, fn func() error) error {
	if output == "json" || !isTerminal(streams.Err) {
		return fn()
	}
	p := tui.StartProgress(streams.Err, msg)
	saved := m.IO
	m.IO.Err = p
	defer func() {
		m.IO = saved
		p.Stop()
	}()
	return fn()
}
