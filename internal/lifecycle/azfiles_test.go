package lifecycle

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/azkeep/azkeep/internal/azconfig"
)

// copyGolden puts az 2.45's files after a login (internal/azconfig's
// golden files) into a fresh dir.
func copyGolden(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for src, dst := range map[string]string{
		"login.msal_token_cache.json": "msal_token_cache.json",
		"login.azureProfile.json":     "azureProfile.json",
	} {
		data, err := os.ReadFile(filepath.Join("..", "azconfig", "testdata", src))
		if err != nil {
			t.Skipf("golden file missing: %v", err)
		}
		if err := os.WriteFile(filepath.Join(dir, dst), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestAZFilesRoundTripThroughTheVaultItems(t *testing.T) {
	f := AZFiles{}
	ld, err := f.ReadLogin(copyGolden(t))
	if err != nil {
		t.Fatal(err)
	}
	if ld.HomeAccountID == "" || ld.TenantID != "72f988bf-86f1-41af-91ab-2d7cd011db47" || len(ld.Subscriptions) < 2 || len(ld.RefreshToken) == 0 {
		t.Fatalf("login data: %+v", ld)
	}

	// Start steps 2–3 in a dir that already has another account's tokens.
	dir := t.TempDir()
	if err := f.WriteProfile(dir, "AzureCloud", ld.Subscriptions[1].Raw); err != nil {
		t.Fatal(err)
	}
	if err := f.PutCredentials(dir, ld.Account, ld.RefreshToken); err != nil {
		t.Fatal(err)
	}
	prof, err := azconfig.LoadProfile(dir)
	if err != nil || len(prof.Subscriptions) != 1 || !prof.Subscriptions[0].IsDefault || prof.Subscriptions[0].ID != ld.Subscriptions[1].ID {
		t.Fatalf("profile: %+v %v", prof, err)
	}
	if sub, _ := azconfig.CloudSubscription(dir, "AzureCloud"); sub != ld.Subscriptions[1].ID {
		t.Fatalf("clouds.config subscription %q", sub)
	}
	c, err := azconfig.LoadTokenCache(dir)
	if err != nil {
		t.Fatal(err)
	}
	if c.Accounts.Len() != 1 || c.RefreshTokens.Len() != 1 || c.AccessTokens.Len() != 0 {
		t.Fatalf("cache: %d accounts, %d RTs, %d ATs", c.Accounts.Len(), c.RefreshTokens.Len(), c.AccessTokens.Len())
	}

	// Steps 7–8: the refresh token comes out whole and leaves the file.
	rt, err := f.TakeRefreshToken(dir, ld.HomeAccountID)
	if err != nil || !sameJSON(rt, ld.RefreshToken) {
		t.Fatalf("taken %s, want %s (%v)", rt, ld.RefreshToken, err)
	}
	data, _ := os.ReadFile(filepath.Join(dir, "msal_token_cache.json"))
	if strings.Contains(string(data), `"RefreshToken": {
        "`) {
		t.Fatalf("refresh token left on disk:\n%s", data)
	}
	if fi, _ := os.Stat(filepath.Join(dir, "msal_token_cache.json")); fi.Mode().Perm() != 0o600 {
		t.Fatalf("cache mode %v", fi.Mode().Perm())
	}

	if err := f.SetLocation(dir, "westeurope"); err != nil {
		t.Fatal(err)
	}
	if loc, _ := azconfig.DefaultLocation(dir); loc != "westeurope" {
		t.Fatalf("location %q", loc)
	}
}

func TestAZFilesLoginDirConfig(t *testing.T) {
	target, login := t.TempDir(), t.TempDir()
	os.WriteFile(filepath.Join(target, "config"), []byte("[core]\ncollect_telemetry = false\n"), 0o600)
	if err := (AZFiles{}).LoginDirConfig(login, target); err != nil {
		t.Fatal(err)
	}
	if v, _ := azconfig.Core(login, "collect_telemetry"); v != "false" {
		t.Fatalf("config not copied: %q", v)
	}
	if v, _ := azconfig.Core(login, azconfig.CoreEnableBrokerOnWindows); v != "false" {
		t.Fatalf("broker not disabled: %q", v)
	}
	if _, err := os.Stat(filepath.Join(login, "clouds.config")); !os.IsNotExist(err) {
		t.Fatal("clouds.config invented")
	}
}

func TestAZFilesOtherLogins(t *testing.T) {
	dir := copyGolden(t)
	f := AZFiles{}
	ld, err := f.ReadLogin(dir)
	if err != nil {
		t.Fatal(err)
	}
	if others, err := f.OtherLogins(dir, ld.HomeAccountID); err != nil || len(others) != 0 {
		t.Fatalf("own account reported as foreign: %v %v", others, err)
	}
	if others, err := f.OtherLogins(dir, "someone.else"); err != nil || len(others) != 1 || others[0] != ld.Username {
		t.Fatalf("foreign login not named: %v %v", others, err)
	}
}
