package cli

import (
	"bytes"
	"testing"

	"github.com/azkeep/azkeep/internal/lifecycle"
)

// Not on a terminal (a pipe, a file, a test's buffer) the spinner prints
// nothing and the manager's notes go where they went.
func TestProgressSilentWithoutATerminal(t *testing.T) {
	var errb bytes.Buffer
	m := &lifecycle.Manager{IO: lifecycle.IO{Err: &errb}}
	ran := false
	err := withProgress(m, IO{Err: &errb}, "table", "syncing contoso", func() error {
		ran = true
		if m.IO.Err != &errb {
			t.Error("notes redirected without a terminal")
		}
		return nil
	})
	if err != nil || !ran || errb.Len() != 0 {
		t.Fatalf("err %v ran %v printed %q", err, ran, errb.String())
	}
}
