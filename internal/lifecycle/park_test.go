package lifecycle

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/azkeep/azkeep/internal/azconfig"
	"github.com/azkeep/azkeep/internal/entraemu"
	"github.com/azkeep/azkeep/internal/native"
	"github.com/azkeep/azkeep/internal/testbed"
	"github.com/azkeep/azkeep/internal/vault"
	"github.com/azkeep/azkeep/internal/workspace"
)

// countingVault counts the calls a procedure makes: each is a round trip
// to the Secret Service, a gpg run for pass, a decryption for the file
// vault.
type countingVault struct {
	vault.Store
	mu         sync.Mutex
	gets, sets []string
}

func (c *countingVault) Get(ctx context.Context, key string) ([]byte, error) {
	c.mu.Lock()
	c.gets = append(c.gets, key)
	c.mu.Unlock()
	return c.Store.Get(ctx, key)
}

func (c *countingVault) Set(ctx context.Context, key string, data []byte) error {
	c.mu.Lock()
	c.sets = append(c.sets, key)
	c.mu.Unlock()
	return c.Store.Set(ctx, key, data)
}

func (c *countingVault) reset() (gets, sets []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	gets, sets, c.gets, c.sets = c.gets, c.sets, nil, nil
	return gets, sets
}

// nativeRig is a manager with the native engine, the emulator and a
// counting memory vault, one integration logged in.
func nativeRig(t *testing.T, subs int) (*Manager, *countingVault, *entraemu.Emulator) {
	t.Helper()
	emu := testbed.Emulator(t, entraemu.Config{SubscriptionsPerTenant: subs})
	ws, err := workspace.Open(filepath.Join(t.TempDir(), "home"))
	if err != nil {
		t.Fatal(err)
	}
	v := &countingVault{Store: vault.NewMemory()}
	m := &Manager{WS: ws, Vault: v, Files: AZFiles{}, Engine: &native.Engine{Client: emu.Client()},
		AZ: NativeLogin{Client: emu.Client()}, TargetDir: testbed.NewConfigDir(t)}
	ctx := context.Background()
	if _, err := m.CreateIntegration(ctx, IntegrationSpec{Alias: "emu", Tenant: emu.Tenants()[0].ID}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Login(ctx, "emu", LoginOptions{DeviceCode: true}); err != nil {
		t.Fatal(err)
	}
	v.reset()
	return m, v, emu
}

func grantCount(emu *entraemu.Emulator) int {
	n := 0
	for _, r := range emu.Requests() {
		if r.GrantType != "" {
			n++
		}
	}
	return n
}

// A cold start reads the vault's three items once each and writes the
// rotated refresh token once; nothing else goes to the vault.
func TestStartVaultCalls(t *testing.T) {
	m, v, emu := nativeRig(t, 2)
	sub := emu.Tenants()[0].Subscriptions[0]
	if _, err := m.Start(context.Background(), sub.ID); err != nil {
		t.Fatal(err)
	}
	gets, sets := v.reset()
	// The refresh token, account and profile (the index says no tokens
	// are parked).
	if len(gets) != 3 {
		t.Errorf("start read the vault %d times: %v", len(gets), gets)
	}
	if len(sets) > 1 {
		t.Errorf("start wrote the vault %d times: %v", len(sets), sets)
	}
}

// Switching back to a session stopped with good tokens asks Entra for
// nothing: its tokens come back from the vault.
func TestSwitchBackNeedsNoTokenRequest(t *testing.T) {
	m, v, emu := nativeRig(t, 2)
	ctx := context.Background()
	subs := emu.Tenants()[0].Subscriptions
	a, err := m.Start(ctx, subs[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Start(ctx, subs[1].ID); err != nil {
		t.Fatal(err)
	}
	v.reset()
	before := grantCount(emu)
	back, err := m.Start(ctx, subs[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if n := grantCount(emu) - before; n != 0 {
		t.Fatalf("switching back made %d token requests, want 0", n)
	}
	// The parked item, account and profile; the session switched away
	// from is parked (one write).
	if gets, sets := v.reset(); len(gets) != 3 || len(sets) != 1 {
		t.Errorf("switching back read %v and wrote %v; want 3 reads, 1 write", gets, sets)
	}
	// Switching again among the two: both are parked already, so nothing
	// is written.
	if _, err := m.Start(ctx, subs[1].ID); err != nil {
		t.Fatal(err)
	}
	if gets, sets := v.reset(); len(gets) != 3 || len(sets) != 0 {
		t.Errorf("switching among parked sessions read %v and wrote %v; want 3 reads, no write", gets, sets)
	}
	if _, err := m.Start(ctx, subs[0].ID); err != nil {
		t.Fatal(err)
	}
	if !back.ExpiresAt.Equal(a.ExpiresAt) {
		t.Errorf("expiry %s, want the parked token's %s", back.ExpiresAt, a.ExpiresAt)
	}
	// az finds the session's ARM token, and no refresh token, in the dir.
	c, err := azconfig.LoadTokenCache(m.TargetDir)
	if err != nil {
		t.Fatal(err)
	}
	if c.RefreshTokens.Len() != 0 {
		t.Fatal("a refresh token rests in the target dir")
	}
	st, _ := m.WS.Load()
	in := st.IntegrationByID(back.IntegrationID)
	if _, ok := c.AccessTokenFor(in.HomeAccountID, in.TenantID, "https://management.core.windows.net//.default"); !ok {
		t.Fatal("no ARM access token in the target dir after switching back")
	}
	if _, ok := c.FindAccount(in.HomeAccountID, in.TenantID); !ok {
		t.Fatal("no account in the target dir after switching back")
	}
	// The same after a stop.
	if _, err := m.Stop(ctx, ""); err != nil {
		t.Fatal(err)
	}
	before = grantCount(emu)
	if _, err := m.Start(ctx, subs[0].ID); err != nil {
		t.Fatal(err)
	}
	if n := grantCount(emu) - before; n != 0 {
		t.Fatalf("starting a stopped session again made %d token requests, want 0", n)
	}
}

// Tokens inside the rotation window are not parked: the next start
// redeems the refresh token.
func TestNoParkingInsideTheWindow(t *testing.T) {
	m, _, emu := nativeRig(t, 2)
	m.Window = 2 * time.Hour // longer than the emulator's token lifetime
	ctx := context.Background()
	subs := emu.Tenants()[0].Subscriptions
	if _, err := m.Start(ctx, subs[0].ID); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Stop(ctx, ""); err != nil {
		t.Fatal(err)
	}
	before := grantCount(emu)
	if _, err := m.Start(ctx, subs[0].ID); err != nil {
		t.Fatal(err)
	}
	if grantCount(emu) == before {
		t.Fatal("a start served tokens inside the rotation window from the vault")
	}
}

// Logging an integration out removes its parked tokens with its other
// items.
func TestLogoutRemovesParkedTokens(t *testing.T) {
	m, _, emu := nativeRig(t, 2)
	ctx := context.Background()
	subs := emu.Tenants()[0].Subscriptions
	s, err := m.Start(ctx, subs[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Start(ctx, subs[1].ID); err != nil {
		t.Fatal(err)
	}
	key := VaultKey(s.IntegrationID, itemParked)
	if _, err := m.Vault.Get(ctx, key); err != nil {
		t.Fatalf("no parked tokens after a switch: %v", err)
	}
	if _, err := m.Logout(ctx, "emu"); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Vault.Get(ctx, key); err == nil {
		t.Fatal("the parked tokens outlived the logout")
	}
}
