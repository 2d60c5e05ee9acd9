package azconfig

import (
	"os"
	"path/filepath"
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
