package hint

import (
	"errors"
	"fmt"
	"testing"
)

func TestOfFindsWrappedHint(t *testing.T) {
	base := errors.New("integration \"contoso\" needs a new login")
	err := fmt.Errorf("start session: %w", New(base, "run azkeep integration login contoso"))
	if got := Of(err); got != "run azkeep integration login contoso" {
		t.Errorf("Of = %q", got)
	}
	if !errors.Is(err, base) {
		t.Error("hint hides the wrapped error")
	}
	if New(nil, "x") != nil {
		t.Error("New(nil) != nil")
	}
	if Of(base) != "" {
		t.Error("hint on a plain error")
	}
}
