package cli

import (
	"testing"

	"github.com/azkeep/azkeep/internal/azcli"
	"github.com/azkeep/azkeep/internal/engine"
)

// TestEnginesRedeemDirectly: both engines the CLI builds, behind the lazy
// wrapper the lifecycle sees, redeem directly (the refresh token never
// enters the target dir); an unknown engine is an error, not a fallback.
func TestEnginesRedeemDirectly(t *testing.T) {
	staging := t.TempDir()
	for _, name := range []string{"", "az", "native"} {
		l := &lazyEngine{name: name, lazy: lazy[engine.Engine]{open: func() (engine.Engine, error) {
			return newEngine(name, azcli.New(azcli.Options{}), staging)
		}}}
		if _, ok := engine.DirectOf(l); !ok {
			t.Errorf("engine %q does not redeem directly", name)
		}
	}
	if _, err := newEngine("python", azcli.New(azcli.Options{}), staging); err == nil {
		t.Error("unknown engine accepted")
	}
}
