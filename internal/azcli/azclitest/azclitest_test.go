package azclitest_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/azkeep/azkeep/internal/azcli"
	"github.com/azkeep/azkeep/internal/azcli/azclitest"
)

func TestFakes(t *testing.T) {
	ctx := context.Background()
	call := azcli.Call{Args: []string{"account", "get-access-token"}, ConfigDir: t.TempDir(), Token: true}
	run := func(mode azclitest.Mode) error {
		r := azcli.New(azcli.Options{Path: azclitest.FakeAZ(t, mode), Timeout: time.Second})
		_, err := r.Run(ctx, call)
		return err
	}
	var old *azcli.TooOldError
	if err := run(azclitest.TooOld); !errors.As(err, &old) || old.Version != "2.29.0" {
		t.Errorf("too old: %v", err)
	}
	for _, m := range []azclitest.Mode{azclitest.Hang, azclitest.HangAfterVersion} {
		if err := run(m); !azcli.IsTimeout(err) {
			t.Errorf("%s: %v", m, err)
		}
	}
	var vu *azcli.VersionUnknownError
	if err := run(azclitest.Garbage); !errors.As(err, &vu) {
		t.Errorf("garbage: %v", err)
	}
	r := azcli.New(azcli.Options{Path: azclitest.Missing(t)})
	if _, err := r.Run(ctx, call); !errors.Is(err, azcli.ErrNotInstalled) {
		t.Errorf("missing: %v", err)
	}
}
