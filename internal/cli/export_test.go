package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/azkeep/azkeep/internal/lifecycle"
	"github.com/azkeep/azkeep/internal/workspace"
)

// TestIntegrationExportGolden pins the definitions file: a stable,
// documented interface teams keep in git.
func TestIntegrationExportGolden(t *testing.T) {
	root := t.TempDir()
	home, cfg := filepath.Join(root, "home"), filepath.Join(root, "azure")
	goldenHome(t, home, cfg)
	out, e, code := run(t, home, cfg, "integration", "export")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, e)
	}
	golden(t, filepath.Join("json", "integration_export.json"), []byte(out))
	for _, secret := range []string{"ada@", "uid.utid", "s-prod", "in-0001"} {
		if strings.Contains(out, secret) {
			t.Errorf("the export holds %q", secret)
		}
	}
}

// args puts the home's dirs in front of args: building the command tree
// resets Globals to the flags' defaults.
func (h *importHome) args(args ...string) []string {
	return append([]string{"--home", h.home, "--config-dir", h.cfg}, args...)
}

func (h *importHome) run(t *testing.T, args ...string) (string, string) {
	t.Helper()
	h.out.Reset()
	h.err.Reset()
	if code := Run(h.f, h.args(args...)); code != 0 {
		t.Fatalf("azkeep %v: exit %d: %s", args, code, h.err.String())
	}
	return h.out.String(), h.err.String()
}

// TestIntegrationExportImportRoundTrip: one member exports, another
// imports into a home of their own; the second import changes nothing,
// updates arrive, and only --prune deletes (logging out first).
func TestIntegrationExportImportRoundTrip(t *testing.T) {
	a, b := newImportHome(t), newImportHome(t)
	a.run(t, "integration", "create", "--alias", "contoso", "--tenant", "contoso.onmicrosoft.com", "--location", "westeurope", "--resource", "https://vault.azure.net")
	a.run(t, "integration", "create", "--alias", "lab", "--tenant", "72f988bf-86f1-41af-91ab-2d7cd011db47")
	exported, _ := a.run(t, "integration", "export")
	file := filepath.Join(t.TempDir(), "integrations.json")
	if err := os.WriteFile(file, []byte(exported), 0o600); err != nil {
		t.Fatal(err)
	}

	// b has an integration of its own, logged in.
	b.run(t, "integration", "create", "--alias", "mine", "--tenant", "mine.onmicrosoft.com")
	ws, err := workspace.Open(b.home)
	if err != nil {
		t.Fatal(err)
	}
	var mineID string
	err = ws.Update(context.Background(), func(st *workspace.State) error {
		st.Integrations[0].Status = workspace.Online
		mineID = st.Integrations[0].ID
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range lifecycle.VaultKeys(mineID) {
		if err := b.mem.Set(context.Background(), k, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}

	out, msg := b.run(t, "integration", "import", file)
	if strings.Count(out, "\ncreate ") != 2 || !strings.Contains(msg, "2 created") {
		t.Fatalf("first import:\n%s%s", out, msg)
	}
	again, _ := b.run(t, "integration", "export", "contoso", "lab")
	if again != exported {
		t.Errorf("round trip differs:\n%s\nwant\n%s", again, exported)
	}
	before := b.snapshot(t)
	if _, msg := b.run(t, "integration", "import", file); !strings.HasPrefix(msg, "azkeep: no change") {
		t.Errorf("second import: %s", msg)
	}
	if b.snapshot(t) != before {
		t.Error("the second import changed the state or the vault")
	}

	// a moves contoso to another location and drops its resources.
	a.run(t, "integration", "edit", "contoso", "--location", "northeurope")
	var d lifecycle.Definitions
	exported, _ = a.run(t, "integration", "export")
	if err := json.Unmarshal([]byte(exported), &d); err != nil {
		t.Fatal(err)
	}
	d.Integrations[0].Resources = []string{}
	data, _ := json.Marshal(d)
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
	out, _ = b.run(t, "integration", "import", file, "--output", "json")
	var res struct {
		Changed      bool
		Integrations []lifecycle.DefinitionChange
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatal(err)
	}
	if !res.Changed || res.Integrations[0].Action != lifecycle.DefUpdate || strings.Join(res.Integrations[0].Changes, ",") != "location,resources" {
		t.Fatalf("update: %s", out)
	}
	st := b.state(t)
	if in := lifecycle.FindIntegration(st, "contoso"); in.Location != "northeurope" || len(in.Resources) != 0 {
		t.Errorf("contoso after the update: %+v", in)
	}
	if lifecycle.FindIntegration(st, "mine") == nil {
		t.Fatal("an import without --prune deleted an integration")
	}

	out, _ = b.run(t, "integration", "import", file, "--prune", "--dry-run")
	if !strings.Contains(out, "delete     mine") || lifecycle.FindIntegration(b.state(t), "mine") == nil {
		t.Fatalf("prune dry run:\n%s", out)
	}
	b.run(t, "integration", "import", file, "--prune")
	if lifecycle.FindIntegration(b.state(t), "mine") != nil {
		t.Fatal("--prune kept mine")
	}
	if items, _ := b.mem.List(context.Background()); len(items) != 0 {
		t.Errorf("--prune left vault items: %v", items)
	}
}

// TestIntegrationImportRefuses: a file that is not a definitions file, or
// holds a bad definition, changes nothing.
func TestIntegrationImportRefuses(t *testing.T) {
	h := newImportHome(t)
	dir := t.TempDir()
	for name, tc := range map[string]struct{ data, want string }{
		"foreign":   {`{"_sessions": []}`, "not an azkeep integrations file"},
		"not json":  {`alias: contoso`, "not an azkeep integrations file"},
		"newer":     {`{"azkeep_integrations": 2, "integrations": []}`, "version 2"},
		"bad alias": {`{"azkeep_integrations": 1, "integrations": [{"alias": "a b", "tenant": "contoso.onmicrosoft.com"}]}`, `alias "a b" is not valid`},
		"twice":     {`{"azkeep_integrations": 1, "integrations": [{"alias": "a", "tenant": "x.example.com"}, {"alias": "A", "tenant": "x.example.com"}]}`, "twice"},
	} {
		t.Run(name, func(t *testing.T) {
			file := filepath.Join(dir, name+".json")
			if err := os.WriteFile(file, []byte(tc.data), 0o600); err != nil {
				t.Fatal(err)
			}
			h.out.Reset()
			h.err.Reset()
			code := Run(h.f, h.args("integration", "import", file))
			if code != 1 || !strings.Contains(h.err.String(), tc.want) {
				t.Fatalf("exit %d: %s", code, h.err.String())
			}
			if len(h.state(t).Integrations) != 0 {
				t.Fatal("a refused import created an integration")
			}
		})
	}
}
