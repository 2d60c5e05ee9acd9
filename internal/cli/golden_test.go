package cli

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/cobra"

	"github.com/azkeep/azkeep/internal/vault"
	"github.com/azkeep/azkeep/internal/workspace"
)

// update rewrites the golden files: go test ./internal/cli -run Golden -update
var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// golden compares got with testdata/<name>, or writes it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/cli -run Golden -update to write it)", err)
	}
	if d := cmp.Diff(string(want), string(got)); d != "" {
		t.Errorf("%s differs (-want +got):\n%s", path, d)
	}
}

// commandPaths lists every command of the tree, as "azkeep session start".
func commandPaths(c *cobra.Command) []*cobra.Command {
	out := []*cobra.Command{c}
	for _, sub := range c.Commands() {
		if sub.Name() == "help" || sub.Name() == "completion" {
			continue
		}
		out = append(out, commandPaths(sub)...)
	}
	return out
}

// TestHelpGolden pins the --help text of every command: what it does, its
// flags and its JSON fields are the interface users and scripts learn.
func TestHelpGolden(t *testing.T) {
	for _, c := range commandPaths(NewCmdRoot(NewFactory(IO{}))) {
		path := c.CommandPath()
		t.Run(path, func(t *testing.T) {
			var out, errb bytes.Buffer
			args := append(strings.Fields(path)[1:], "--help")
			if code := Run(NewFactory(IO{In: strings.NewReader(""), Out: &out, Err: &errb}), args); code != 0 {
				t.Fatalf("exit %d: %s", code, errb.String())
			}
			golden(t, filepath.Join("help", strings.ReplaceAll(path, " ", "_")+".txt"), out.Bytes())
		})
	}
}

// goldenHome writes a state with fixed ids and times: one integration with
// two sessions, the first active in cfg until 2099.
func goldenHome(t testing.TB, home, cfg string) {
	t.Helper()
	ws, err := workspace.Open(home)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	in := workspace.Integration{ID: "in-0001", Alias: "contoso", Tenant: "contoso.onmicrosoft.com",
		TenantID: "00000000-0000-4000-8000-000000000001", Location: "westeurope", Status: workspace.Online,
		Username: "ada@contoso.onmicrosoft.com", HomeAccountID: "uid.utid", CreatedAt: at, LoggedInAt: at}
	in.Cloud.Name = "AzureCloud"
	err = ws.Update(context.Background(), func(st *workspace.State) error {
		st.Integrations = append(st.Integrations, in)
		st.Sessions = append(st.Sessions,
			workspace.Session{ID: "s-prod", SubscriptionID: "10000000-0000-4000-8000-000000000001", SubscriptionName: "Prod",
				TenantID: in.TenantID, IntegrationID: in.ID, Status: workspace.Active, ConfigDir: cfg,
				StartedAt: at, ExpiresAt: time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC)},
			workspace.Session{ID: "s-dev", SubscriptionID: "10000000-0000-4000-8000-000000000002", SubscriptionName: "Dev",
				TenantID: in.TenantID, IntegrationID: in.ID, Status: workspace.Inactive})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestJSONGolden pins every --output json shape the README calls stable,
// on a state with fixed ids and times (temp paths read as $HOME and $CFG).
func TestJSONGolden(t *testing.T) {
	root := t.TempDir()
	home, cfg := filepath.Join(root, "home"), filepath.Join(root, "azure")
	goldenHome(t, home, cfg)
	t.Setenv("AZKEEP_ROTATE_WINDOW", "")
	t.Setenv(vault.PassphraseEnv, "golden")
	t.Setenv(vault.TimeoutEnv, "")
	t.Setenv(SessionEnv, "")
	for _, c := range []struct {
		name string
		args []string
	}{
		{"integration_list", []string{"integration", "list"}},
		{"session_list", []string{"session", "list"}},
		{"session_current", []string{"session", "current"}},
		{"agent_status", []string{"agent", "status"}},
		{"vault_status", []string{"--vault", "file", "vault", "status"}},
		{"whoami", []string{"--vault", "file", "--engine", "az", "whoami"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			f := NewFactory(IO{In: strings.NewReader(""), Out: &out, Err: &errb})
			mem := vault.NewMemory()
			f.Vault = func() (vault.Store, error) { return mem, nil }
			args := append([]string{"--home", home, "--config-dir", cfg}, append(c.args, "--output", "json")...)
			if code := Run(f, args); code != 0 {
				t.Fatalf("exit %d: %s", code, errb.String())
			}
			got := strings.ReplaceAll(strings.ReplaceAll(out.String(), cfg, "$CFG"), home, "$HOME")
			golden(t, filepath.Join("json", c.name+".json"), []byte(got))
		})
	}
}
