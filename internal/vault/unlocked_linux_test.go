package vault

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// The file vault unlocked by one process is found unlocked by the next
// one of the login session (the kernel keyring), until it is locked.
func TestFileVaultUnlocksOncePerSession(t *testing.T) {
	home := t.TempDir()
	asked := 0
	open := func(pass string) Store {
		t.Helper()
		s, err := Open(File, Options{Home: home, ScryptWorkFactor: 10, UnlockTTL: time.Minute, Passphrase: func() ([]byte, error) {
			asked++
			if pass == "" {
				return nil, errors.New("no passphrase (the test's prompt)")
			}
			return []byte(pass), nil
		}})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	ctx := context.Background()
	if err := open("right").Set(ctx, "i1/refresh-token", []byte("secret")); err != nil {
		t.Fatal(err)
	}
	sealed, err := os.ReadFile(filepath.Join(home, "vault", "file", "identity.age"))
	if err != nil {
		t.Fatal(err)
	}
	desc := unlockedDesc(sealed)
	t.Cleanup(func() { forgetUnlocked(desc) })
	if _, ok := recallUnlocked(desc); !ok {
		t.Skip("the kernel keyring is not available here (keyctl not permitted)")
	}
	asked = 0
	got, err := open("").Get(ctx, "i1/refresh-token")
	if err != nil || string(got) != "secret" || asked != 0 {
		t.Fatalf("second process: %q, %v, asked %d times; want the secret without a passphrase", got, err, asked)
	}
	if n, err := forgetUnlocked(desc); err != nil || n != 1 {
		t.Fatalf("lock forgot %d keys (%v), want 1", n, err)
	}
	if _, err := open("").Get(ctx, "i1/refresh-token"); err == nil || asked != 1 {
		t.Fatalf("after lock: %v, asked %d times; want the passphrase asked for", err, asked)
	}
}

// Without UnlockTTL (tests, or AZKEEP_VAULT_UNLOCK_TTL=0) nothing is kept.
func TestFileVaultUnlockOffKeepsNothing(t *testing.T) {
	home := t.TempDir()
	s, err := Open(File, Options{Home: home, ScryptWorkFactor: 10, Passphrase: func() ([]byte, error) { return []byte("p"), nil }})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Set(context.Background(), "i1/account", []byte("x")); err != nil {
		t.Fatal(err)
	}
	sealed, err := os.ReadFile(filepath.Join(home, "vault", "file", "identity.age"))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := recallUnlocked(unlockedDesc(sealed)); ok {
		t.Fatal("the identity went to the kernel keyring with UnlockTTL 0")
	}
}
