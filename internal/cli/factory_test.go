package cli

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/azkeep/azkeep/internal/azcli"
	"github.com/azkeep/azkeep/internal/engine"
)

// TestNewEngine: the factory builds the engine its name asks for (az by
// default, redeeming in the staging dir); an unknown engine is an error,
// not a fallback.
func TestNewEngine(t *testing.T) {
	staging := t.TempDir()
	for name, want := range map[string]string{"": "az", "az": "az", "native": "native"} {
		e, err := newEngine(name, azcli.New(azcli.Options{}), staging, http.DefaultClient, IO{})
		if err != nil || e.Name() != want {
			t.Errorf("engine %q: %v %v", name, e, err)
		}
		if az, ok := e.(*engine.AZ); ok && az.Dir != staging {
			t.Errorf("az engine stages in %q, want %q", az.Dir, staging)
		}
	}
	if _, err := newEngine("python", azcli.New(azcli.Options{}), staging, http.DefaultClient, IO{}); err == nil {
		t.Error("unknown engine accepted")
	}
}

// Regression: building the command tree reset Globals a factory came with
// to the flags' defaults, so a test's preset home fell back to the user's.
func TestPresetGlobalsSurviveTheCommandTree(t *testing.T) {
	home, cfg := t.TempDir(), t.TempDir()
	var out, errb bytes.Buffer
	f := NewFactory(IO{In: strings.NewReader(""), Out: &out, Err: &errb})
	f.Globals.Home, f.Globals.ConfigDir = home, cfg
	if code := Run(f, []string{"integration", "create", "--alias", "x", "--tenant", "x.example"}); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if _, err := os.Stat(filepath.Join(home, "state.json")); err != nil {
		t.Fatalf("the preset home was not used: %v", err)
	}
}
