package engine_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/azkeep/azkeep/internal/azcli"
	"github.com/azkeep/azkeep/internal/azconfig"
	"github.com/azkeep/azkeep/internal/engine"
	"github.com/azkeep/azkeep/internal/entraemu"
	"github.com/azkeep/azkeep/internal/testbed"
)

// The seed's start, steps 2–8, three times in a row into a fresh target
// dir with single-use refresh tokens: each round rotates the refresh token,
// az then serves the access token from the target's cache with no request,
// for the right subscription, and no refresh token rests on disk.
func TestSeedStartWithAZEngine(t *testing.T) {
	testbed.RequireAZ(t)
	emu := testbed.Emulator(t, entraemu.Config{StrictRefresh: true})
	tenant := emu.Tenants()[0]
	sub := tenant.Subscriptions[1]
	ctx := context.Background()

	// Login in a private dir; keep what the vault would keep.
	login := testbed.NewConfigDir(t)
	testbed.LoginDeviceCode(t, emu, login, tenant.ID)
	home, account, rt, subJSON := vaultItems(t, login, sub.ID)
	if subJSON == nil {
		t.Fatal("subscription not in the login profile")
	}

	target := testbed.NewConfigDir(t)
	eng := engine.NewAZ(azcli.New(azcli.Options{Env: testbed.AZEnv(emu, "")}), filepath.Join(t.TempDir(), "az"))
	for round := 1; round <= 3; round++ {
		// Step 2 is the lifecycle's: the profile with this subscription alone.
		var s azconfig.Subscription
		json.Unmarshal(subJSON, &s)
		if err := azconfig.WriteSingleSubscription(ctx, target, s); err != nil {
			t.Fatal(err)
		}
		var kept []byte
		req := engine.Request{ConfigDir: target, TenantID: tenant.ID, SubscriptionID: sub.ID, HomeAccountID: home,
			Subscription: subJSON, Account: account, RefreshToken: rt, Keep: func(b []byte) error { kept = b; return nil }}
		if _, err := eng.Redeem(ctx, req); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if secretOf(t, kept) == secretOf(t, rt) {
			t.Errorf("round %d: the refresh token did not rotate", round)
		}
		rt = kept
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
		if got := testbed.ParseAccessToken(t, r); got.Subscription != sub.ID {
			t.Errorf("round %d: subscription %q", round, got.Subscription)
		}
	}
}

// secretOf is the refresh token's secret in a vault fragment.
func secretOf(t *testing.T, fragment []byte) string {
	t.Helper()
	c, err := azconfig.ParseTokenCache(fragment)
	if err != nil {
		t.Fatal(err)
	}
	for _, rt := range c.RefreshTokens.All() {
		return rt.Secret
	}
	t.Fatal("no refresh token in the fragment")
	return ""
}
