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
	if !isBackend(name) {
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

// Held counts, per backend, the items azkeep's index under home says it
// stored there (no backend is contacted). `azkeep vault status` uses it to
// show items left in another backend, e.g. by an interrupted migration.
func Held(home string) map[string]int {
	out := map[string]int{}
	for _, name := range Backends() {
		b, err := os.ReadFile(filepath.Join(home, "vault", name, "index.json"))
		if err != nil {
			continue
		}
		var idx index
		if json.Unmarshal(b, &idx) == nil && len(idx.Items) > 0 {
			out[name] = len(idx.Items)
		}
	}
	return out
}
