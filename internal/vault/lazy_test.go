package vault

import (
	"context"
	"errors"
	"testing"
)

// The lazily opened store opens nothing until used, opens once, and
// reports an open failure on every call.
func TestOpenLazilyOpensOnFirstUseOnly(t *testing.T) {
	home := t.TempDir()
	s := OpenLazily(File, Options{Home: home, ScryptWorkFactor: 10, Passphrase: func() ([]byte, error) {
		return []byte("lazy"), nil
	}})
	if s.Name() != File {
		t.Fatalf("name %q", s.Name())
	}
	ctx := context.Background()
	if err := s.Set(ctx, "i/rt", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if v, err := s.Get(ctx, "i/rt"); err != nil || string(v) != "x" {
		t.Fatalf("get %q %v", v, err)
	}

	bad := OpenLazily("no-such-backend", Options{Home: home})
	if bad.Name() != "no-such-backend" {
		t.Fatalf("name %q", bad.Name())
	}
	_, err1 := bad.Get(ctx, "i/rt")
	_, err2 := bad.List(ctx)
	if err1 == nil || err2 == nil || !errors.Is(err1, err2) && err1.Error() != err2.Error() {
		t.Fatalf("open failure not kept: %v / %v", err1, err2)
	}
}
