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

func TestExitErrorText(t *testing.T) {
	for code, want := range map[int]string{0: "exit status 0", 3: "exit status 3", 130: "exit status 130", -1: "exit status -1"} {
		if got := (&ExitError{Code: code}).Error(); got != want {
			t.Errorf("%d: %q", code, got)
		}
	}
}
