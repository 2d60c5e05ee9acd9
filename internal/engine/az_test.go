package engine_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/azkeep/azkeep/internal/azcli"
	"github.com/azkeep/azkeep/internal/azconfig"
	"github.com/azkeep/azkeep/internal/azure"
	"github.com/azkeep/azkeep/internal/engine"
	"github.com/azkeep/azkeep/internal/entraemu"
	"github.com/azkeep/azkeep/internal/testbed"
)

// The az engine against the real az and the emulator: Redeem from a cache
// holding only the account and the refresh token (what the lifecycle
// writes at start step 3), a revoked refresh token, and Logout.
func TestAZEngineWithRealAZ(t *testing.T) {
	testbed.RequireAZ(t)
	emu := testbed.Emulator(t, entraemu.Config{TokenLifetime: 30 * time.Minute})
	tenant := emu.Tenants()[0]
	sub := tenant.Subscriptions[0]
	dir := testbed.NewConfigDir(t)
	testbed.LoginDeviceCode(t, emu, dir, tenant.ID)
	ctx := context.Background()

	var home string
	stripToRefreshToken := func() {
		t.Helper()
		err := azconfig.UpdateTokenCache(ctx, dir, func(c *azconfig.TokenCache) error {
			c.RemoveAccessTokens("")
			c.IDTokens.Clear()
			for _, a := range c.Accounts.All() {
				home = a.HomeAccountID
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	stripToRefreshToken()

	var logged []string
	eng := engine.NewAZ(azcli.New(azcli.Options{Env: testbed.AZEnv(emu, ""), Log: func(s string) { logged = append(logged, s) }}))
	if eng.Name() != "az" {
		t.Errorf("name %q", eng.Name())
	}
	emu.ResetRequests()
	before := time.Now()
	res, err := eng.Redeem(ctx, engine.Request{
		ConfigDir: dir, Cloud: azure.AzureCloud, TenantID: tenant.ID, SubscriptionID: sub.ID,
		HomeAccountID: home, Resources: []string{"https://vault.azure.net"},
	})
	if err != nil {
		t.Fatalf("redeem: %v\n%q", err, logged)
	}
	for _, l := range logged {
		t.Log(l)
	}
	if d := res.ExpiresOn.Sub(before); d < 29*time.Minute || d > 31*time.Minute {
		t.Errorf("expires in %v, want about 30m", d)
	}
	if n := len(emu.TokenRequests("refresh_token")); n != 2 {
		t.Errorf("%d refresh grants, want 2 (ARM, vault)", n)
	}
	c, err := azconfig.LoadTokenCache(dir)
	if err != nil {
		t.Fatal(err)
	}
	at, ok := c.AccessTokenFor(home, tenant.ID, "https://management.core.windows.net//.default")
	if !ok {
		t.Fatal("no ARM access token in the cache")
	}
	if exp, _ := at.ExpiresAt(); !exp.Equal(res.ExpiresOn) {
		t.Errorf("cache %v, result %v", exp, res.ExpiresOn)
	}
	if _, ok := c.AccessTokenFor(home, tenant.ID, "https://vault.azure.net/.default"); !ok {
		t.Error("no vault access token")
	}

	// A revoked refresh token: a typed needs-login error naming AADSTS.
	if err := emu.RevokeUser(tenant.Users[0].Username); err != nil {
		t.Fatal(err)
	}
	stripToRefreshToken()
	_, err = eng.Redeem(ctx, engine.Request{ConfigDir: dir, TenantID: tenant.ID, SubscriptionID: sub.ID, HomeAccountID: home})
	var nl *azure.NeedsLoginError
	if !azure.IsNeedsLogin(err) {
		t.Fatalf("revoked: %v", err)
	}
	if errorsAs(err, &nl); nl.Code != "invalid_grant" || nl.Description == "" {
		t.Errorf("needs login %+v", nl)
	}

	// Stop: az logout, then again with nothing logged in.
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
	eng := engine.NewAZ(azcli.New(azcli.Options{}))
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
	dir := testbed.NewConfigDir(t)
	testbed.LoginDeviceCode(t, emu, dir, tenant.ID)
	ctx := context.Background()
	if err := azconfig.UpdateTokenCache(ctx, dir, func(c *azconfig.TokenCache) error {
		c.RemoveAccessTokens("")
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := emu.RequireInteraction(tenant.Users[0].Username, true); err != nil {
		t.Fatal(err)
	}
	eng := engine.NewAZ(azcli.New(azcli.Options{Env: testbed.AZEnv(emu, "")}))
	_, err := eng.Redeem(ctx, engine.Request{ConfigDir: dir, TenantID: tenant.ID, SubscriptionID: tenant.Subscriptions[0].ID})
	var nl *azure.NeedsLoginError
	if !errorsAs(err, &nl) {
		t.Fatalf("err %v", err)
	}
	t.Logf("needs login: %v", err)
	if nl.Description == "" {
		t.Error("no description")
	}
}
