package cli

import (
	"net/http"
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
