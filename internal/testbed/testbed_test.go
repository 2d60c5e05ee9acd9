package testbed

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// A new config dir makes az skip its version check: versionCheck.json has
// the local versions (taken from a scratch run) and fresh times, and
// commandIndex.json is there.
func TestNewConfigDirSkipsVersionCheck(t *testing.T) {
	RequireAZ(t)
	dir := NewConfigDir(t)
	data, err := os.ReadFile(filepath.Join(dir, "versionCheck.json"))
	if err != nil {
		t.Fatal(err)
	}
	var vc struct {
		Versions map[string]map[string]string `json:"versions"`
		Update   string                       `json:"update_time"`
		Check    string                       `json:"check_time"`
	}
	if err := json.Unmarshal(data, &vc); err != nil || vc.Versions["core"]["local"] == "" || vc.Versions["azure-cli"]["local"] == "" || vc.Update == "" || vc.Check == "" {
		t.Errorf("versionCheck.json: %s (%v)", data, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "commandIndex.json")); err != nil {
		t.Error(err)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("dir mode %v (%v)", fi.Mode(), err)
	}
}

func TestDirSnapshot(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "a"), []byte("1"), 0o600)
	os.MkdirAll(filepath.Join(dir, "sub"), 0o700)
	os.WriteFile(filepath.Join(dir, "sub", "b"), []byte("2"), 0o600)
	top, err := DirSnapshot(dir, false)
	if err != nil || len(top) != 1 || top["a"] != "1" {
		t.Fatalf("top level: %v %v", top, err)
	}
	all, err := DirSnapshot(dir, true)
	if err != nil || len(all) != 2 || all["sub/b"] != "2" {
		t.Fatalf("deep: %v %v", all, err)
	}
	if _, err := DirSnapshot(filepath.Join(dir, "missing"), false); err == nil {
		t.Fatal("a missing dir gave no error")
	}
}
