package azconfig

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// PrepareDir mirrors config and clouds.config (removing stale copies),
// copies versionCheck.json and commandIndex.json only into a dir without
// them, and turns the broker off.
func TestPrepareDir(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	write := func(dir, name, s string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	read := func(dir, name string) string {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return "<absent>"
		}
		return string(b)
	}
	write(src, "config", "[core]\ncollect_telemetry = no\n")
	write(src, "versionCheck.json", `{"versions": {}}`)
	write(src, "commandIndex.json", `{"version": "2.74.0"}`)
	write(dst, "clouds.config", "[AzureCloud]\nsubscription = stale\n")
	write(dst, "versionCheck.json", `{"kept": true}`)
	if err := PrepareDir(dst, src); err != nil {
		t.Fatal(err)
	}
	if c := read(dst, "config"); !strings.Contains(c, "collect_telemetry = no") || !strings.Contains(c, "allow_broker = false") {
		t.Errorf("config: %q", c)
	}
	if c := read(dst, "clouds.config"); c != "<absent>" {
		t.Errorf("stale clouds.config kept: %q", c)
	}
	if c := read(dst, "versionCheck.json"); c != `{"kept": true}` {
		t.Errorf("versionCheck.json replaced: %q", c)
	}
	if c := read(dst, "commandIndex.json"); c != `{"version": "2.74.0"}` {
		t.Errorf("commandIndex.json not copied: %q", c)
	}
	if c := read(src, "config"); strings.Contains(c, "broker") {
		t.Errorf("src changed: %q", c)
	}
}

// A prepared dir keeps token-cache encryption off on Linux and macOS even
// when the user's dir has it on: az's encrypted store there is one keyring
// item shared by every such dir, so a private dir using it would read and
// write the user's own cache. On Windows the DPAPI file is per dir and the
// user's setting is kept.
func TestPrepareDirTurnsSharedEncryptionOff(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(src, ConfigFile), []byte("[core]\nencrypt_token_cache = true\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := PrepareDir(dst, src); err != nil {
		t.Fatal(err)
	}
	want := "false"
	if runtime.GOOS == "windows" {
		want = "true"
	}
	if v, err := Core(dst, "encrypt_token_cache"); err != nil || v != want {
		t.Errorf("encrypt_token_cache = %q, %v; want %s", v, err, want)
	}
	t.Setenv(EncryptEnv, "")
	os.Unsetenv(EncryptEnv)
	if p, err := CachePersistence(dst); err != nil || (runtime.GOOS != "windows" && p != PlainJSON) {
		t.Errorf("persistence = %v, %v", p, err)
	}
}
