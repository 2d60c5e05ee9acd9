package cli

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestDefaultHome guards W6: on Windows the home is local app data, not the
// roaming profile (which would carry the state to machines whose vault lacks
// its items), but a home already in the roaming place stays in use.
func TestDefaultHome(t *testing.T) {
	type dirs struct{ roaming, local string }
	mk := func(t *testing.T) dirs {
		d := dirs{roaming: filepath.Join(t.TempDir(), "Roaming"), local: filepath.Join(t.TempDir(), "Local")}
		return d
	}
	state := func(t *testing.T, dir string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Join(dir, "azkeep"), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "azkeep", "state.json"), []byte("{}"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name  string
		goos  string
		setup func(*testing.T, dirs)
		want  func(dirs) string
	}{
		{"linux: the config dir", "linux", nil, func(d dirs) string { return filepath.Join(d.roaming, "azkeep") }},
		{"windows: local app data", "windows", nil, func(d dirs) string { return filepath.Join(d.local, "azkeep") }},
		{"windows: an existing roaming home stays", "windows",
			func(t *testing.T, d dirs) { state(t, d.roaming) },
			func(d dirs) string { return filepath.Join(d.roaming, "azkeep") }},
		{"windows: a local home wins over a roaming one", "windows",
			func(t *testing.T, d dirs) { state(t, d.roaming); state(t, d.local) },
			func(d dirs) string { return filepath.Join(d.local, "azkeep") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := mk(t)
			if tc.setup != nil {
				tc.setup(t, d)
			}
			got, err := defaultHome(tc.goos, func() (string, error) { return d.roaming, nil }, d.local)
			if err != nil {
				t.Fatal(err)
			}
			if want := tc.want(d); got != want {
				t.Errorf("home = %s, want %s", got, want)
			}
		})
	}

	t.Run("windows without LocalAppData: the roaming place", func(t *testing.T) {
		d := mk(t)
		got, err := defaultHome("windows", func() (string, error) { return d.roaming, nil }, "")
		if err != nil || got != filepath.Join(d.roaming, "azkeep") {
			t.Errorf("home = %s, %v", got, err)
		}
	})
	t.Run("no config dir", func(t *testing.T) {
		boom := errors.New("$HOME is not set")
		if _, err := defaultHome("linux", func() (string, error) { return "", boom }, ""); !errors.Is(err, boom) {
			t.Errorf("err = %v", err)
		}
	})
}
