package engine_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/azkeep/azkeep/internal/azcli"
	"github.com/azkeep/azkeep/internal/azconfig"
	"github.com/azkeep/azkeep/internal/azure"
	"github.com/azkeep/azkeep/internal/engine"
	"github.com/azkeep/azkeep/internal/entraemu"
	"github.com/azkeep/azkeep/internal/testbed"
)

// The CLI's az runner is the az engine's runner.
var _ engine.AZRunner = (*azcli.Runner)(nil)

// The az engine's Logout against the real az: az logout, then again with
// nothing logged in.
func TestAZEngineLogoutWithRealAZ(t *testing.T) {
	testbed.RequireAZ(t)
	emu := testbed.Emulator(t, entraemu.Config{})
	dir := testbed.NewConfigDir(t)
	testbed.LoginDeviceCode(t, emu, dir, emu.Tenants()[0].ID)
	ctx := context.Background()
	eng := engine.NewAZ(azcli.New(azcli.Options{Env: testbed.AZEnv(emu, "")}), filepath.Join(t.TempDir(), "az"))
	if eng.Name() != "az" {
		t.Errorf("name %q", eng.Name())
	}
	if err := eng.Logout(ctx, dir); err != nil {
		t.Fatal(err)
	}
	checkLoggedOut(t, dir)
	if err := eng.Logout(ctx, dir); err != nil {
		t.Fatalf("second logout: %v", err)
	}
	checkLoggedOut(t, dir)
}

func checkLoggedOut(t *testing.T, dir string) {
	t.Helper()
	c, err := azconfig.LoadTokenCache(dir)
	if err != nil {
		t.Fatal(err)
	}
	if n := c.AccessTokens.Len() + c.RefreshTokens.Len() + c.IDTokens.Len() + c.Accounts.Len(); n != 0 {
		t.Errorf("%d entries left after logout", n)
	}
	p, err := azconfig.LoadProfile(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Subscriptions) != 0 {
		t.Errorf("%d subscriptions left", len(p.Subscriptions))
	}
	if f := testbed.ScanSecrets(dir); len(f) != 0 {
		t.Errorf("secrets left: %v", f)
	}
}

// Logout falls back to azkeep's own cleanup when az cannot do it.
func TestAZEngineLogoutWithoutAZ(t *testing.T) {
	t.Setenv(azcli.EnvAZ, filepath.Join(t.TempDir(), "no-az"))
	dir := t.TempDir()
	b, err := os.ReadFile("../../testdata/az245/device-code-login/msal_token_cache.json")
	if err != nil {
		t.Skip("no golden file")
	}
	os.WriteFile(filepath.Join(dir, azconfig.TokenCacheJSON), b, 0o600)
	p, _ := os.ReadFile("../../testdata/az245/device-code-login/azureProfile.json")
	os.WriteFile(filepath.Join(dir, azconfig.ProfileFile), p, 0o600)
	eng := engine.NewAZ(azcli.New(azcli.Options{}), t.TempDir())
	if err := eng.Logout(context.Background(), dir); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(filepath.Join(dir, azconfig.TokenCacheJSON))
	want, _ := os.ReadFile("../../testdata/az245/logout/msal_token_cache.json")
	if string(got) != string(want) {
		t.Errorf("cache after logout:\n%s", got)
	}
	gotP, _ := os.ReadFile(filepath.Join(dir, azconfig.ProfileFile))
	wantP, _ := os.ReadFile("../../testdata/az245/logout/azureProfile.json")
	if string(gotP) != string(wantP) {
		t.Errorf("profile after logout: %q", gotP)
	}
}

func errorsAs(err error, target **azure.NeedsLoginError) bool {
	return errors.As(err, target)
}

// MFA or another interaction demanded at refresh: interaction_required.
func TestAZEngineInteractionRequired(t *testing.T) {
	testbed.RequireAZ(t)
	emu := testbed.Emulator(t, entraemu.Config{})
	tenant := emu.Tenants()[0]
	sub := tenant.Subscriptions[0]
	dir := testbed.NewConfigDir(t)
	testbed.LoginDeviceCode(t, emu, dir, tenant.ID)
	home, account, rt, subJSON := vaultItems(t, dir, sub.ID)
	if err := emu.RequireInteraction(tenant.Users[0].Username, true); err != nil {
		t.Fatal(err)
	}
	eng := engine.NewAZ(azcli.New(azcli.Options{Env: testbed.AZEnv(emu, "")}), filepath.Join(t.TempDir(), "az"))
	_, err := eng.Redeem(context.Background(), engine.Request{ConfigDir: dir, TenantID: tenant.ID, SubscriptionID: sub.ID, HomeAccountID: home,
		Subscription: subJSON, Account: account, RefreshToken: rt, Keep: func([]byte) error { t.Error("keep after a rejection"); return nil }})
	var nl *azure.NeedsLoginError
	if !errorsAs(err, &nl) {
		t.Fatalf("err %v", err)
	}
	t.Logf("needs login: %v", err)
	if nl.Description == "" {
		t.Error("no description")
	}
}
