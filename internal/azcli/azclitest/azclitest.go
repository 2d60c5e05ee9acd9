// Package azclitest makes fake az executables for tests of the error
// paths the real Azure CLI cannot be made to take: too old, hanging,
// printing garbage. Point AZKEEP_AZ (or azcli.Options.Path) at the path
// returned. The fakes are POSIX shell scripts: on Windows the test is
// skipped.
package azclitest

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// Mode is a fake az's behaviour.
type Mode string

// The fakes.
const (
	// TooOld answers `az version` with 2.29.0 (the last ADAL-based CLI).
	TooOld Mode = "too-old"
	// Hang never answers anything.
	Hang Mode = "hang"
	// HangAfterVersion answers `az version` with 2.45.0, then hangs on
	// every other command (a stuck token request).
	HangAfterVersion Mode = "hang-after-version"
	// Garbage prints binary junk and exits 0.
	Garbage Mode = "garbage"
)

var scripts = map[Mode]string{
	TooOld: `case "$1" in
version) echo '{"azure-cli": "2.29.0", "azure-cli-core": "2.29.0", "extensions": {}}' ;;
--version) echo 'azure-cli                         2.29.0' ;;
*) echo "ERROR: fake az 2.29.0 cannot do $1" >&2; exit 2 ;;
esac`,
	Hang: `exec sleep 3600`,
	HangAfterVersion: `case "$1" in
version) echo '{"azure-cli": "2.45.0", "azure-cli-core": "2.45.0", "extensions": {}}' ;;
*) exec sleep 3600 ;;
esac`,
	Garbage: `printf 'Traceback (most recent call last):\n\001\002\377 garbage\n'`,
}

// FakeAZ writes the fake az of mode into a fresh temp dir and returns its
// path (named "az", so the dir can also go first on PATH).
func FakeAZ(t testing.TB, mode Mode) string {
	t.Helper()
	body, ok := scripts[mode]
	if !ok {
		t.Fatalf("azclitest: unknown mode %q", mode)
	}
	return Script(t, body)
}

// Script writes a fake az running body with /bin/sh and returns its path.
func Script(t testing.TB, body string) string {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("fake az scripts need a POSIX shell")
	}
	path := filepath.Join(t.TempDir(), "az")
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// Missing returns a path where no az exists.
func Missing(t testing.TB) string {
	t.Helper()
	return filepath.Join(t.TempDir(), "no-such-az")
}
