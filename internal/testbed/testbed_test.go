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
