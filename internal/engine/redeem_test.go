package engine_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/azkeep/azkeep/internal/azcli"
	"github.com/azkeep/azkeep/internal/azconfig"
	"github.com/azkeep/azkeep/internal/azconfig/azconfigtest"
	"github.com/azkeep/azkeep/internal/azure"
	"github.com/azkeep/azkeep/internal/engine"
	"github.com/azkeep/azkeep/internal/entraemu"
	"github.com/azkeep/azkeep/internal/testbed"
)

// vaultItems splits a logged-in dir into what the vault keeps: the account
// and refresh-token fragments and the subscription entry; the dir is then
// logged out (what the target dir holds after a login).
func vaultItems(t *testing.T, dir, subID string) (home string, account, rt, sub []byte) {
	t.Helper()
	home, account, rt = azconfigtest.VaultItems(t, dir)
	p, err := azconfig.LoadProfile(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range p.Subscriptions {
		if s.ID == subID {
			sub, _ = s.MarshalJSON()
		}
	}
	if err := engine.LogoutFiles(context.Background(), dir); err != nil {
		t.Fatal(err)
	}
	return home, account, rt, sub
}

// The az engine against the real az: one refresh grant per resource, the
// refresh token never enters the target dir, az then serves ARM and the
// prefetched resource from the target's cache without a request, the
// expiry is the cached ARM token's, the rotated refresh token reaches
// keep, the staging dir keeps no token, and a revoked refresh token is a
// needs-login error naming AADSTS that leaves no token in either dir.
func TestAZWithRealAZ(t *testing.T) {
	testbed.RequireAZ(t)
	emu := testbed.Emulator(t, entraemu.Config{TokenLifetime: 30 * time.Minute, StrictRefresh: true})
	tenant := emu.Tenants()[0]
	sub := tenant.Subscriptions[0]
	target := testbed.NewConfigDir(t)
	testbed.LoginDeviceCode(t, emu, target, tenant.ID)
	home, account, rt, subJSON := vaultItems(t, target, sub.ID)
	if subJSON == nil {
		t.Fatal("subscription not in the profile")
	}
	// The lifecycle writes the target's profile (step 2).
	var s azconfig.Subscription
	json.Unmarshal(subJSON, &s)
	if err := azconfig.WriteSingleSubscription(context.Background(), target, s); err != nil {
		t.Fatal(err)
	}
	staging := filepath.Join(t.TempDir(), "az")
	eng := engine.NewAZ(azcli.New(azcli.Options{Env: testbed.AZEnv(emu, "")}), staging)
	req := engine.Request{ConfigDir: target, Cloud: azure.AzureCloud, TenantID: tenant.ID, SubscriptionID: sub.ID,
		HomeAccountID: home, Resources: []string{"https://vault.azure.net"}, Subscription: subJSON, Account: account}

	var kept []byte
	emu.ResetRequests()
	req.RefreshToken = rt
	req.Keep = func(b []byte) error {
		kept = b
		for _, f := range testbed.ScanSecrets(target) {
			if f.Kind == testbed.KindRefreshToken {
				t.Errorf("refresh token in the target dir while redeeming: %v", f)
			}
		}
		return nil
	}
	res, err := eng.Redeem(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(emu.TokenRequests("refresh_token")); n != 2 {
		t.Errorf("%d refresh grants, want 2 (ARM, vault)", n)
	}
	c, err := azconfig.LoadTokenCache(target)
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
	if d := time.Until(res.ExpiresOn); d < 29*time.Minute || d > 31*time.Minute {
		t.Errorf("expires in %v", d)
	}
	if string(kept) == string(rt) || len(kept) == 0 {
		t.Error("keep did not get the rotated refresh token")
	}
	for _, dir := range []string{target, staging} {
		for _, f := range testbed.ScanSecrets(dir) {
			if f.Kind == testbed.KindRefreshToken {
				t.Errorf("refresh token left in %s: %v", dir, f)
			}
		}
	}
	if _, err := os.Stat(filepath.Join(staging, azconfig.TokenCacheJSON)); err == nil {
		t.Error("the staging dir kept a token cache")
	}
	emu.ResetRequests()
	for _, args := range [][]string{{"account", "get-access-token"}, {"account", "get-access-token", "--resource", "https://vault.azure.net"}, {"account", "show"}} {
		if r := testbed.AZ(context.Background(), emu, target, args...); !r.OK() {
			t.Fatalf("az %v in the target: %s", args, r)
		}
	}
	if n := len(emu.TokenRequests("")); n != 0 {
		t.Errorf("az made %d token requests; the cache should have served it", n)
	}

	// The next redemption with the rotated token, then a revoked one.
	req.RefreshToken, req.Keep = kept, func(b []byte) error { kept = b; return nil }
	if _, err := eng.Redeem(context.Background(), req); err != nil {
		t.Fatalf("second redemption: %v", err)
	}
	if err := emu.RevokeUser(tenant.Users[0].Username); err != nil {
		t.Fatal(err)
	}
	req.RefreshToken, req.Keep = kept, func([]byte) error { t.Error("keep after a rejection"); return nil }
	_, err = eng.Redeem(context.Background(), req)
	var nl *azure.NeedsLoginError
	if !errorsAs(err, &nl) {
		t.Fatalf("revoked: %v", err)
	}
	if nl.Code != "invalid_grant" || nl.Description == "" {
		t.Errorf("needs login %+v", nl)
	}
	for _, dir := range []string{target, staging} {
		for _, f := range testbed.ScanSecrets(dir) {
			if f.Kind == testbed.KindRefreshToken {
				t.Errorf("refresh token left in %s after a rejection: %v", dir, f)
			}
		}
	}
}
