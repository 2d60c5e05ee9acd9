package azcli

import (
	"context"
	"strings"
	"testing"

	"github.com/azkeep/azkeep/internal/azconfig"
	"github.com/azkeep/azkeep/internal/entraemu"
	"github.com/azkeep/azkeep/internal/testbed"
)

// An interactive device-code login with the real az against the emulator:
// the prompt reaches the given terminal and the cache holds the account.
func TestRealLoginDeviceCode(t *testing.T) {
	testbed.RequireAZ(t)
	emu := testbed.Emulator(t, entraemu.Config{})
	tenant := emu.Tenants()[0]
	dir := testbed.NewConfigDir(t)
	r := New(Options{Env: testbed.AZEnv(emu, "")})
	var out, errb strings.Builder
	err := r.Login(context.Background(), LoginOptions{ConfigDir: dir, Tenant: tenant.ID, DeviceCode: true, Throwaway: true,
		In: strings.NewReader(""), Out: &out, Err: &errb})
	if err != nil {
		t.Fatalf("login: %v\nstderr: %s", err, errb.String())
	}
	if !strings.Contains(errb.String(), "devicelogin") && !strings.Contains(errb.String(), "code") {
		t.Errorf("device code prompt not shown: %q", errb.String())
	}
	c, err := azconfig.LoadTokenCache(dir)
	if err != nil {
		t.Fatal(err)
	}
	if c.Accounts.Len() != 1 || c.RefreshTokens.Len() != 1 {
		t.Errorf("accounts %d, refresh tokens %d", c.Accounts.Len(), c.RefreshTokens.Len())
	}
	p, err := azconfig.LoadProfile(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Subscriptions) != len(tenant.Subscriptions) {
		t.Errorf("%d subscriptions", len(p.Subscriptions))
	}
}
