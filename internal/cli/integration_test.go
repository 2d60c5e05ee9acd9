package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/azkeep/azkeep/internal/vault"
)

// run runs azkeep in-process with a private home and config dir and a
// fresh memory vault, as a process of its own would see it.
func run(t *testing.T, home, cfg string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	f := NewFactory(IO{In: strings.NewReader(""), Out: &out, Err: &errb})
	mem := vault.NewMemory()
	f.Vault = func() (vault.Store, error) { return mem, nil }
	code = Run(f, append([]string{"--home", home, "--config-dir", cfg}, args...))
	return out.String(), errb.String(), code
}

func TestIntegrationCommandsWithoutLogin(t *testing.T) {
	home, cfg := filepath.Join(t.TempDir(), "home"), filepath.Join(t.TempDir(), "azure")
	if _, e, c := run(t, home, cfg, "integration", "create", "--alias", "contoso", "--tenant", "contoso.onmicrosoft.com", "--location", "westeurope"); c != 0 {
		t.Fatalf("create: %d %s", c, e)
	}
	_, e, c := run(t, home, cfg, "integration", "create", "--alias", "bad", "--tenant", "not a tenant")
	if c != 1 || !strings.Contains(e, "azkeep: error: tenant \"not a tenant\"") || !strings.Contains(e, "azkeep: hint: ") {
		t.Fatalf("bad tenant: %d %q", c, e)
	}
	if _, e, c := run(t, home, cfg, "integration", "edit", "contoso", "--location", "northeurope"); c != 0 {
		t.Fatalf("edit: %d %s", c, e)
	}
	out, e, c := run(t, home, cfg, "integration", "list", "--output", "json")
	if c != 0 {
		t.Fatalf("list: %d %s", c, e)
	}
	var views []IntegrationView
	if err := json.Unmarshal([]byte(out), &views); err != nil || len(views) != 1 {
		t.Fatalf("list json: %v %q", err, out)
	}
	if v := views[0]; v.Alias != "contoso" || v.Status != "offline" || v.Location != "northeurope" || v.Cloud != "AzureCloud" {
		t.Fatalf("view: %+v", v)
	}
	out, _, _ = run(t, home, cfg, "integration", "list")
	if !strings.Contains(out, "ALIAS") || !strings.Contains(out, "contoso") {
		t.Fatalf("table: %q", out)
	}
	if _, e, c := run(t, home, cfg, "integration", "list", "--output", "yaml"); c != 2 || !strings.Contains(e, "--output table") {
		t.Fatalf("bad output: %d %q", c, e)
	}
	out, _, c = run(t, home, cfg, "session", "list", "--output", "json")
	if c != 0 || strings.TrimSpace(out) != "[]" {
		t.Fatalf("empty session list: %d %q", c, out)
	}
	_, e, c = run(t, home, cfg, "session", "current")
	if c != 1 || !strings.Contains(e, "no session is active") || !strings.Contains(e, "hint: start one") {
		t.Fatalf("current: %d %q", c, e)
	}
	_, e, c = run(t, home, cfg, "session", "start", "nope")
	if c != 1 || !strings.Contains(e, "session \"nope\": not found") {
		t.Fatalf("start unknown: %d %q", c, e)
	}
	if _, e, c := run(t, home, cfg, "integration", "delete", "contoso"); c != 0 {
		t.Fatalf("delete: %d %s", c, e)
	}
	out, _, _ = run(t, home, cfg, "integration", "list", "-o", "json")
	if strings.TrimSpace(out) != "[]" {
		t.Fatalf("after delete: %q", out)
	}
	fi, err := os.Stat(filepath.Join(home, "state.json"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("state file: %v %v", fi, err)
	}
}

func TestRotateWindowTooShortIsRefused(t *testing.T) {
	t.Setenv("AZKEEP_ROTATE_WINDOW", "5m")
	home, cfg := t.TempDir(), t.TempDir()
	_, e, c := run(t, home, cfg, "session", "list")
	if c != ExitUsage || !strings.Contains(e, "rotation window 5m0s is too short") || !strings.Contains(e, "hint:") {
		t.Fatalf("%d %q", c, e)
	}
}

// Regression: a bad duration in AZKEEP_ROTATE_WINDOW exited 1 and one in
// AZKEEP_VAULT_TIMEOUT exited 2, and the error funnel lower-cased the first
// letter of the variable's name ("aZKEEP_ROTATE_WINDOW").
func TestBadEnvironmentDurationsAreUsageErrors(t *testing.T) {
	for _, c := range []struct{ env, cmd string }{
		{"AZKEEP_ROTATE_WINDOW", "session list"},
		{"AZKEEP_VAULT_TIMEOUT", "vault status"},
	} {
		t.Run(c.env, func(t *testing.T) {
			t.Setenv(c.env, "abc")
			_, e, code := run(t, t.TempDir(), t.TempDir(), strings.Fields(c.cmd)...)
			if code != ExitUsage || !strings.Contains(e, "azkeep: error: "+c.env+`="abc"`) || !strings.Contains(e, "azkeep: hint: ") {
				t.Fatalf("%d %q", code, e)
			}
		})
	}
}

// Regression: integration edit printed "%!(EXTRA string=contoso)" after its
// sentence, without a final newline.
func TestIntegrationEditPrintsOneSentence(t *testing.T) {
	home, cfg := t.TempDir(), t.TempDir()
	if _, e, c := run(t, home, cfg, "integration", "create", "--alias", "contoso", "--tenant", "contoso.onmicrosoft.com"); c != 0 {
		t.Fatalf("create: %d %s", c, e)
	}
	out, e, c := run(t, home, cfg, "integration", "edit", "contoso", "--location", "northeurope")
	if c != 0 || !strings.HasPrefix(out, "updated integration contoso (id ") || !strings.HasSuffix(out, ")\n") || strings.Contains(out, "%!") {
		t.Fatalf("%d %q %q", c, out, e)
	}
}

// Regression: the in-memory test vault was a backend users could pick.
func TestMemoryVaultIsNotABackend(t *testing.T) {
	var out, errb bytes.Buffer
	code := Main([]string{"--home", t.TempDir(), "--config-dir", t.TempDir(), "--vault", "memory", "vault", "status"}, IO{In: strings.NewReader(""), Out: &out, Err: &errb})
	if code == 0 || !strings.Contains(errb.String(), `unknown vault backend "memory"`) {
		t.Fatalf("%d %q %q", code, out.String(), errb.String())
	}
}

func TestCorruptStateFileIsReportedNotOverwritten(t *testing.T) {
	home, cfg := t.TempDir(), t.TempDir()
	bad := []byte(`{"schema": 1, "integrations": [`)
	os.WriteFile(filepath.Join(home, "state.json"), bad, 0o600)
	_, e, c := run(t, home, cfg, "integration", "create", "--alias", "x", "--tenant", "x.com")
	if c != 1 || !strings.Contains(e, "is corrupt") {
		t.Fatalf("%d %q", c, e)
	}
	if got, _ := os.ReadFile(filepath.Join(home, "state.json")); !bytes.Equal(got, bad) {
		t.Fatal("state file rewritten")
	}
}

// Regression: a damaged state file was reported twice or three times (a
// warning from the recovery, one from the lazy rotation, then the error).
func TestDamagedStateIsReportedOnce(t *testing.T) {
	home, cfg := filepath.Join(t.TempDir(), "home"), filepath.Join(t.TempDir(), "azure")
	os.MkdirAll(filepath.Join(home, "journal"), 0o700)
	os.WriteFile(filepath.Join(home, "state.json"), []byte(`{"schema": 1, "integrations": [`), 0o600)
	os.WriteFile(filepath.Join(home, "journal", "x.y.json"), []byte("{}"), 0o600) // something in flight
	for _, args := range [][]string{{"integration", "list"}, {"session", "list"}} {
		_, e, c := run(t, home, cfg, args...)
		if c != 1 || strings.Count(e, "is corrupt") != 1 || strings.Contains(e, "warning") {
			t.Errorf("%v: exit %d, stderr:\n%s", args, c, e)
		}
	}
}
