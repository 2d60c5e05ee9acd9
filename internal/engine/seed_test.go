package engine_test

import (
	"context"
	"testing"

	"github.com/azkeep/azkeep/internal/azcli"
	"github.com/azkeep/azkeep/internal/azconfig"
	"github.com/azkeep/azkeep/internal/azure"
	"github.com/azkeep/azkeep/internal/engine"
	"github.com/azkeep/azkeep/internal/entraemu"
	"github.com/azkeep/azkeep/internal/testbed"
)

// The seed's start, steps 2–8, done with azconfig and the az engine alone
// into a fresh target dir: the files azconfig writes are what az needs,
// the access token is then served from cache with no request, and no
// refresh token rests on disk. (The lifecycle owns the real procedure;
// this guards the file layer under it.)
func TestSeedStartWithAZFilesAndAZEngine(t *testing.T) {
	testbed.RequireAZ(t)
	emu := testbed.Emulator(t, entraemu.Config{StrictRefresh: true})
	tenant := emu.Tenants()[0]
	sub := tenant.Subscriptions[1]
	ctx := context.Background()

	// Login in a private dir; keep what the vault would keep.
	login := testbed.NewConfigDir(t)
	testbed.LoginDeviceCode(t, emu, login, tenant.ID)
	lc, err := azconfig.LoadTokenCache(login)
	if err != nil {
		t.Fatal(err)
	}
	var acct *azconfig.Account
	for _, a := range lc.Accounts.All() {
		acct = a
	}
	rt, ok := lc.RefreshToken(acct.HomeAccountID, acct.Environment, azure.AzureCLIClientID)
	if !ok {
		t.Fatal("no refresh token after login")
	}
	lp, err := azconfig.LoadProfile(login)
	if err != nil {
		t.Fatal(err)
	}
	s, ok := lp.Find(sub.ID)
	if !ok {
		t.Fatal("subscription not in the login profile")
	}

	target := testbed.NewConfigDir(t)
	eng := engine.NewAZ(azcli.New(azcli.Options{Env: testbed.AZEnv(emu, "")}))
	for round := 1; round <= 3; round++ {
		// Step 2: the profile with this subscription alone, as default.
		if err := azconfig.WriteSingleSubscription(ctx, target, *s); err != nil {
			t.Fatal(err)
		}
		if err := azconfig.SetCloudSubscription(target, azconfig.DefaultCloud, s.ID); err != nil {
			t.Fatal(err)
		}
		// Step 3 (and rotation): account and refresh token in, old access tokens out.
		if err := azconfig.UpdateTokenCache(ctx, target, func(c *azconfig.TokenCache) error {
			c.RemoveAccessTokens(acct.HomeAccountID)
			c.PutAccount(acct)
			c.PutRefreshToken(rt)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		// Steps 4–6.
		if _, err := eng.Redeem(ctx, engine.Request{ConfigDir: target, TenantID: tenant.ID, SubscriptionID: s.ID, HomeAccountID: acct.HomeAccountID}); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		// Steps 7–8: take the (rotated) refresh token out of the cache.
		if err := azconfig.UpdateTokenCache(ctx, target, func(c *azconfig.TokenCache) error {
			cur, ok := c.RefreshToken(acct.HomeAccountID, "", azure.AzureCLIClientID)
			if !ok {
				t.Fatal("no refresh token after redeem")
			}
			if cur.Secret == rt.Secret {
				t.Errorf("round %d: the refresh token did not rotate", round)
			}
			rt = cur
			c.RemoveRefreshTokens(acct.HomeAccountID)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		for _, f := range testbed.ScanSecrets(target) {
			if f.Kind == testbed.KindRefreshToken {
				t.Errorf("round %d: refresh token on disk: %v", round, f)
			}
		}
		emu.ResetRequests()
		r := testbed.MustAZ(t, emu, target, "account", "get-access-token", "--output", "json")
		if n := len(emu.TokenRequests("")); n != 0 {
			t.Errorf("round %d: %d token requests for a cached token", round, n)
		}
		if got := testbed.ParseAccessToken(t, r); got.Subscription != s.ID {
			t.Errorf("round %d: subscription %q", round, got.Subscription)
		}
	}
}
