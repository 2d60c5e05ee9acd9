package cli

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestUINeedsATerminal(t *testing.T) {
	root := t.TempDir()
	_, e, c := run(t, filepath.Join(root, "home"), filepath.Join(root, "azure"), "ui")
	if c != 1 || !strings.Contains(e, "azkeep: error: azkeep ui needs a terminal") || !strings.Contains(e, "hint: azkeep session list") {
		t.Fatalf("ui without a terminal: %d %q", c, e)
	}
}
