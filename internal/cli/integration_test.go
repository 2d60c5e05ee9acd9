package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// run runs azkeep in-process with a private home and config dir and the
// memory vault.
func run(t *testing.T, home, cfg string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	all := append([]string{"--home", home, "--config-dir", cfg, "--vault", "memory"}, args...)
	code = Main(all, IO{In: strings.NewReader(""), Out: &out, Err: &errb})
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
	if c != 1 || !strings.Contains(e, "rotation window 5m0s is too short") || !strings.Contains(e, "hint:") {
		t.Fatalf("%d %q", c, e)
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
