package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/azkeep/azkeep/internal/testbed"
	"github.com/azkeep/azkeep/internal/vault"
)

func runAzkeep(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	code = Main(args, IO{In: strings.NewReader(""), Out: &out, Err: &errb})
	return out.String(), errb.String(), code
}

func TestVaultStatusFile(t *testing.T) {
	home := t.TempDir()
	t.Setenv(vault.PassphraseEnv, "pw")
	t.Setenv("AZKEEP_VAULT", "")
	s, err := vault.Open(vault.File, vault.Options{Home: home, ScryptWorkFactor: 10})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	s.Set(ctx, "contoso/refresh-token", []byte("rt-secret-value"))
	s.Set(ctx, "contoso/profile", bytes.Repeat([]byte("p"), 40000))

	out, errOut, code := runAzkeep(t, "--home", home, "--vault", "file", "vault", "status", "--output", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var st VaultStatus
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if st.Backend != "file" || !st.Answers || len(st.Items) != 2 || st.Items[0].Key != "contoso/profile" || st.Items[0].Size != 40000 {
		t.Errorf("status = %+v", st)
	}
	if st.Elsewhere != nil {
		t.Errorf("elsewhere = %v, want none", st.Elsewhere)
	}
	// An interrupted migration left an item in pass's index: status says so.
	os.MkdirAll(filepath.Join(home, "vault", "pass"), 0o700)
	os.WriteFile(filepath.Join(home, "vault", "pass", "index.json"), []byte(`{"version":1,"backend":"pass","items":{"x/refresh-token":{"size":3}}}`), 0o600)
	out, _, _ = runAzkeep(t, "--home", home, "--vault", "file", "vault", "status")
	if !strings.Contains(out, "pass still holds 1 item(s)") {
		t.Errorf("status does not mention the items left in pass:\n%s", out)
	}
	os.RemoveAll(filepath.Join(home, "vault", "pass"))
	out, _, _ = runAzkeep(t, "--home", home, "--vault", "file", "vault", "status", "--output", "json")
	if strings.Contains(out, "rt-secret-value") {
		t.Error("status printed a secret")
	}
	out, _, code = runAzkeep(t, "--home", home, "--vault", "file", "vault", "status")
	if code != 0 || !strings.Contains(out, "backend:  file") || !strings.Contains(out, "contoso/refresh-token") {
		t.Errorf("table status (exit %d):\n%s", code, out)
	}
}

func TestVaultStatusVerify(t *testing.T) {
	home := t.TempDir()
	t.Setenv(vault.PassphraseEnv, "pw")
	t.Setenv("AZKEEP_VAULT", "")
	s, _ := vault.Open(vault.File, vault.Options{Home: home, ScryptWorkFactor: 10})
	ctx := context.Background()
	s.Set(ctx, "contoso/refresh-token", []byte("rt"))
	out, errOut, code := runAzkeep(t, "--home", home, "--vault", "file", "vault", "status", "--verify")
	if code != 0 || !strings.Contains(out, "verified: every item") {
		t.Fatalf("exit %d: %s%s", code, out, errOut)
	}
	// The index names an item the vault lost (a crash between the two).
	idx := filepath.Join(home, "vault", "file", "index.json")
	b, _ := os.ReadFile(idx)
	os.WriteFile(idx, []byte(strings.Replace(string(b), `"items": {`, `"items": {"gone/profile": {"size": 9, "updated": "2026-01-01T00:00:00Z"},`, 1)), 0o600)
	out, errOut, code = runAzkeep(t, "--home", home, "--vault", "file", "vault", "status", "--verify", "-o", "json")
	var st VaultStatus
	json.Unmarshal([]byte(out), &st)
	if code == 0 || len(st.Missing) != 1 || st.Missing[0] != "gone/profile" || !strings.Contains(errOut, "azkeep: hint:") {
		t.Errorf("exit %d, missing %v, stderr %q", code, st.Missing, errOut)
	}
}

func TestVaultStatusWrongBackend(t *testing.T) {
	other := map[bool]string{true: "wincred", false: "keychain"}[vault.Default() != "wincred"]
	out, errOut, code := runAzkeep(t, "--home", t.TempDir(), "--vault", other, "vault", "status", "--output", "json")
	if code == 0 || !strings.Contains(errOut, "azkeep: hint:") {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
	var st VaultStatus
	if err := json.Unmarshal([]byte(out), &st); err != nil || st.Answers || st.Error == "" {
		t.Errorf("json status = %+v (%v)", st, err)
	}
}

func TestVaultMigrateFileToPass(t *testing.T) {
	// Only inside scripts/test.sh, whose pass store is a throwaway one: never
	// a developer's own store.
	if os.Getenv("AZKEEP_TEST_INNER") != "1" {
		t.Skip("needs scripts/test.sh's throwaway pass store (the vault package's suite covers migration on every backend)")
	}
	if _, err := exec.LookPath("pass"); err != nil {
		t.Skip("pass not installed")
	}
	if _, err := vault.Open(vault.Pass, vault.Options{Home: t.TempDir()}); err != nil {
		t.Skipf("no usable pass store in this environment: %v", err)
	}
	home := t.TempDir()
	t.Setenv(vault.PassphraseEnv, "pw")
	t.Setenv("AZKEEP_VAULT", "")
	s, _ := vault.Open(vault.File, vault.Options{Home: home, ScryptWorkFactor: 10, Service: "azkeep"})
	ctx := context.Background()
	key := "cli-migrate-" + strings.ReplaceAll(t.Name(), "/", "-") + "/refresh-token"
	s.Set(ctx, key, []byte("rt"))
	out, errOut, code := runAzkeep(t, "--home", home, "--vault", "file", "vault", "migrate", "--to", "pass", "--output", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var rep VaultMigration
	json.Unmarshal([]byte(out), &rep)
	if rep.Copied != 1 || rep.Deleted != 1 || rep.To != "pass" {
		t.Errorf("report = %+v", rep)
	}
	// Without --vault, azkeep now uses pass.
	out, errOut, code = runAzkeep(t, "--home", home, "vault", "status", "--output", "json")
	var st VaultStatus
	json.Unmarshal([]byte(out), &st)
	if code != 0 || st.Backend != "pass" || len(st.Items) != 1 {
		t.Errorf("status after migrate (exit %d, %s): %+v", code, errOut, st)
	}
	p, _ := vault.Open("", vault.Options{Home: home})
	if got, err := p.Get(ctx, key); err != nil || string(got) != "rt" {
		t.Errorf("pass holds %q, %v", got, err)
	}
	p.Delete(ctx, key)
}

// TestVaultScripts runs testdata/vault with the same set-up as TestScriptsRealAZ
// (real az, the emulator) plus the private Secret Service of
// scripts/test.sh.
func TestVaultScripts(t *testing.T) {
	testbed.RequireAZ(t)
	if os.Getenv("AZKEEP_TEST_INNER") != "1" || os.Getenv("DBUS_SESSION_BUS_ADDRESS") == "" {
		if testbed.InCI() {
			t.Fatal("the Secret Service of scripts/test.sh is required in CI")
		}
		t.Skip("needs scripts/test.sh's private Secret Service")
	}
	p := scriptParams("vault")
	setup := p.Setup
	p.Setup = func(env *testscript.Env) error {
		if err := setup(env); err != nil {
			return err
		}
		env.Setenv("DBUS_SESSION_BUS_ADDRESS", os.Getenv("DBUS_SESSION_BUS_ADDRESS"))
		return nil
	}
	testscript.Run(t, p)
}

// A bad AZKEEP_VAULT_TIMEOUT is a usage error (exit 2) with the fix, read by
// vault.TimeoutFromEnv, the one parser of it.
func TestVaultTimeoutEnvIsStrict(t *testing.T) {
	t.Setenv(VaultTimeoutEnv, "x")
	_, errOut, code := runAzkeep(t, "--home", t.TempDir(), "--vault", "file", "vault", "status")
	if code != ExitUsage || !strings.Contains(errOut, `="x" is not a duration`) || !strings.Contains(errOut, "azkeep: hint: use a Go duration") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
}
