package vault

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/azkeep/azkeep/internal/fileutil"
)

// dirKV is a fake OS keyring for the suite: one file per item, with a
// per-item size limit it enforces like wincred and go-keyring's Keychain do.
// It runs the keyring envelope (inline/sealed) code on every OS, across
// processes, without a keyring daemon.
type dirKV struct {
	dir   string
	limit int
}

func (d *dirKV) path(key string) string {
	sum := sha256.Sum256([]byte(key))
	return filepath.Join(d.dir, hex.EncodeToString(sum[:]))
}

func (d *dirKV) get(_ context.Context, key string) (string, error) {
	b, err := os.ReadFile(d.path(key))
	if errors.Is(err, os.ErrNotExist) {
		return "", ErrNotFound
	}
	return string(b), err
}

func (d *dirKV) set(_ context.Context, key, value string) error {
	if len(value) > d.limit {
		return fmt.Errorf("fake keyring: %d bytes exceed the %d-byte item limit", len(value), d.limit)
	}
	os.MkdirAll(d.dir, 0o700)
	return fileutil.WriteAtomic(d.path(key), []byte(value), 0o600)
}

func (d *dirKV) del(_ context.Context, key string) error {
	err := os.Remove(d.path(key))
	if errors.Is(err, os.ErrNotExist) {
		return ErrNotFound
	}
	return err
}

// openFakeKeyring builds the store the keychain backend builds, over dirKV.
func openFakeKeyring(spec childSpec) Store {
	dir := filepath.Join(spec.Home, "vault", "fake-keyring")
	kv := &dirKV{dir: filepath.Join(spec.Home, "fake-kv"), limit: spec.Limit}
	return newStore("fake-keyring", nil, &keyringBackend{name: "fake-keyring", kv: kv, limit: spec.Limit, dir: dir}, dir, 0)
}

func init() {
	osFixtures = append(osFixtures, fixture{"fake-keyring-keychain-limit", func(t *testing.T) (Store, *childSpec) {
		spec := childSpec{Backend: "fake-keyring", Home: t.TempDir(), Limit: keychainLimit}
		s, err := spec.open()
		if err != nil {
			t.Fatal(err)
		}
		return s, &spec
	}})
}
