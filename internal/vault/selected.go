package vault

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"time"

	"github.com/azkeep/azkeep/internal/fileutil"
)

// selection records the backend `azkeep vault migrate` moved everything to,
// so that later commands without --vault or AZKEEP_VAULT find the secrets.
type selection struct {
	Backend string    `json:"backend"`
	Since   time.Time `json:"since"`
}

func selectionPath(home string) string { return filepath.Join(home, "vault", "backend.json") }

// Selected returns the backend recorded in home by Select, or "".
func Selected(home string) string {
	if home == "" {
		return ""
	}
	b, err := os.ReadFile(selectionPath(home))
	if err != nil {
		return ""
	}
	var s selection
	if json.Unmarshal(b, &s) != nil || !isBackend(s.Backend) {
		return ""
	}
	return s.Backend
}

// Select records name as home's backend: Open("", …) uses it from then on.
func Select(home, name string) error {
	if !isBackend(name) || name == MemoryBackend {
		return errors.New("vault: cannot select backend " + name)
	}
	if err := os.MkdirAll(filepath.Dir(selectionPath(home)), fileutil.DirPerm); err != nil {
		return err
	}
	b, _ := json.MarshalIndent(selection{Backend: name, Since: time.Now().UTC().Truncate(time.Second)}, "", "  ")
	return fileutil.WriteAtomic(selectionPath(home), append(b, '\n'), fileutil.FilePerm)
}

// Resolve is the backend Open uses for name: name itself, else the one
// recorded in home by the last migration, else the OS default.
func Resolve(name, home string) string {
	if name != "" {
		return name
	}
	if s := Selected(home); s != "" {
		return s
	}
	return Default()
}
