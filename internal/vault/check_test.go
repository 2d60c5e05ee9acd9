package vault

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// Check asks the file vault's passphrase up front (a login must not find
// out after the sign-in that nobody can give it) and writes nothing.
func TestCheckAsksThePassphraseAndWritesNothing(t *testing.T) {
	ctx := context.Background()
	home := t.TempDir()
	asked := 0
	s, err := Open(File, Options{Home: home, ScryptWorkFactor: 10, Passphrase: func() ([]byte, error) {
		asked++
		return []byte("pw"), nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	if err := Check(ctx, s); err != nil || asked != 1 {
		t.Fatalf("check: %v, asked %d times", err, asked)
	}
	if _, err := os.Stat(filepath.Join(home, "vault")); !os.IsNotExist(err) {
		t.Fatalf("check wrote to the home: %v", err)
	}
	if err := s.Set(ctx, "i/rt", []byte("x")); err != nil || asked != 1 {
		t.Fatalf("set after check: %v, asked %d times", err, asked)
	}

	none, _ := Open(File, Options{Home: t.TempDir(), Passphrase: func() ([]byte, error) { return nil, errors.New("no terminal") }})
	if err := Check(ctx, none); err == nil {
		t.Fatal("check passed without a passphrase")
	}
	if err := Check(ctx, &Memory{Fail: mark(ErrLocked, "locked")}); !errors.Is(err, ErrLocked) {
		t.Fatalf("memory: %v", err)
	}
}

// Over SSH, in WSL or a container there is no D-Bus session: the OS vault
// azkeep would use by default is offered to be replaced by the file vault,
// and the choice is remembered for the home; a declined offer fails at
// once; a backend the user chose is never replaced.
func TestOfferFileReplacesAnUnreachableOSVault(t *testing.T) {
	if Default() != SecretService {
		t.Skip("the OS vault here is " + Default())
	}
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", "")
	if sessionBusAvailable() {
		t.Skip("a session bus is reachable through /run/user")
	}
	ctx := context.Background()
	pass := func() ([]byte, error) { return []byte("pw"), nil }

	home := t.TempDir()
	var cause error
	s := OpenLazily("", Options{Home: home, ScryptWorkFactor: 10, Passphrase: pass, OfferFile: func(err error) bool { cause = err; return true }})
	if err := Check(ctx, s); err != nil {
		t.Fatal(err)
	}
	if !errors.Is(cause, ErrUnavailable) || s.Name() != File || Selected(home) != File {
		t.Fatalf("cause %v, name %q, selected %q", cause, s.Name(), Selected(home))
	}
	later := OpenLazily("", Options{Home: home, Passphrase: pass, OfferFile: func(error) bool { t.Fatal("asked again"); return false }})
	if err := Check(ctx, later); err != nil || later.Name() != File {
		t.Fatalf("later: %v %q", err, later.Name())
	}

	declined := t.TempDir()
	s = OpenLazily("", Options{Home: declined, OfferFile: func(error) bool { return false }})
	if err := Check(ctx, s); !errors.Is(err, ErrUnavailable) || Selected(declined) != "" {
		t.Fatalf("declined: %v, selected %q", err, Selected(declined))
	}
	s = OpenLazily(SecretService, Options{Home: t.TempDir(), OfferFile: func(error) bool { t.Fatal("offered for a chosen backend"); return true }})
	if err := Check(ctx, s); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("chosen: %v", err)
	}
}
