package lifecycle

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/azkeep/azkeep/internal/azcli"
	"github.com/azkeep/azkeep/internal/azconfig"
	"github.com/azkeep/azkeep/internal/azure"
	"github.com/azkeep/azkeep/internal/engine"
	"github.com/azkeep/azkeep/internal/entraemu"
	"github.com/azkeep/azkeep/internal/testbed"
	"github.com/azkeep/azkeep/internal/vault"
	"github.com/azkeep/azkeep/internal/workspace"
)

// The procedures against the real az (through internal/azcli and the az
// engine) and the emulator.

type e2e struct {
	emu    *entraemu.Emulator
	m      *Manager
	vault  *vault.Memory
	target string
	tenant entraemu.Tenant
}

func newE2E(t *testing.T, cfg entraemu.Config) *e2e {
	t.Helper()
	testbed.RequireAZ(t)
	emu := testbed.Emulator(t, cfg)
	ws, err := workspace.Open(filepath.Join(t.TempDir(), "home"))
	if err != nil {
		t.Fatal(err)
	}
	x := &e2e{emu: emu, vault: vault.NewMemory(), target: testbed.NewConfigDir(t), tenant: emu.Tenants()[0]}
	runner := azcli.New(azcli.Options{Env: testbed.AZEnv(emu, x.target), StateDir: ws.Dir(), Stdout: io.Discard, Stderr: io.Discard})
	x.m = &Manager{WS: ws, Vault: x.vault, AZ: AZLogin{AZ: runner}, Engine: engine.NewAZ(runner, filepath.Join(ws.Dir(), "az")), Files: AZFiles{}, TargetDir: x.target}
	return x
}

func (x *e2e) az(t *testing.T, args ...string) testbed.Result {
	t.Helper()
	return testbed.AZ(context.Background(), x.emu, x.target, args...)
}

func TestE2ELoginStartRotateStop(t *testing.T) {
	x := newE2E(t, entraemu.Config{SubscriptionsPerTenant: 2, TokenLifetime: 10 * time.Minute, StrictRefresh: true})
	ctx := context.Background()
	if _, err := x.m.CreateIntegration(ctx, IntegrationSpec{Alias: "emu", Tenant: x.tenant.Domain, Location: "westeurope"}); err != nil {
		t.Fatal(err)
	}
	before := dirFiles(t, x.target)
	rep, err := x.m.Login(ctx, "emu", LoginOptions{DeviceCode: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Sessions) != len(x.tenant.Subscriptions) {
		t.Fatalf("%d sessions for %d subscriptions", len(rep.Sessions), len(x.tenant.Subscriptions))
	}
	if rep.Integration.TenantID != x.tenant.ID {
		t.Fatalf("tenant id %q, want %q", rep.Integration.TenantID, x.tenant.ID)
	}
	if after := dirFiles(t, x.target); !equalMaps(before, after) {
		t.Fatal("login touched the target dir")
	}
	if items, _ := x.vault.List(ctx); len(items) != 3 {
		t.Fatalf("vault: %+v", items)
	}

	sub := x.tenant.Subscriptions[0]
	s, err := x.m.Start(ctx, sub.Name)
	if err != nil {
		t.Fatal(err)
	}
	if rts := testbed.RefreshTokens(testbed.ScanSecrets(x.target)); len(rts) != 0 {
		t.Fatalf("refresh tokens on disk after start: %v", rts)
	}
	show := x.az(t, "account", "show", "--output", "json")
	var acct struct{ ID, Name string }
	if err := json.Unmarshal([]byte(show.Stdout), &acct); err != nil || acct.ID != sub.ID {
		t.Fatalf("az account show: %v %s", err, show)
	}
	x.emu.ResetRequests()
	if r := x.az(t, "account", "get-access-token", "--output", "json"); !r.OK() {
		t.Fatalf("get-access-token: %s", r)
	}
	if n := x.emu.CountGrants(""); n != 0 {
		t.Fatalf("%d token requests for a cached token", n)
	}
	if loc, _ := azconfig.DefaultLocation(x.target); loc != "westeurope" {
		t.Fatalf("location %q", loc)
	}
	if s.ExpiresAt.Before(time.Now().Add(9 * time.Minute)) {
		t.Fatalf("expiry %v", s.ExpiresAt)
	}

	// Strict single-use refresh tokens: three rotations in a row, az
	// answering after each.
	for i := range 3 {
		res, err := x.m.Rotate(ctx, "", false) // 10-minute tokens are inside the 20-minute window
		if err != nil || !res.Rotated {
			t.Fatalf("rotation %d: %+v %v", i, res, err)
		}
		if r := x.az(t, "account", "get-access-token", "--output", "json"); !r.OK() {
			t.Fatalf("get-access-token after rotation %d: %s", i, r)
		}
		if rts := testbed.RefreshTokens(testbed.ScanSecrets(x.target)); len(rts) != 0 {
			t.Fatalf("refresh tokens on disk after rotation %d: %v", i, rts)
		}
	}

	// A second session replaces the first in the target dir.
	if _, err := x.m.Start(ctx, x.tenant.Subscriptions[1].ID); err != nil {
		t.Fatal(err)
	}
	st, _ := x.m.WS.Load()
	if a := st.ActiveIn(x.target); a == nil || a.SubscriptionID != x.tenant.Subscriptions[1].ID {
		t.Fatalf("active: %+v", a)
	}
	if st.SessionByID(s.ID).Status != workspace.Inactive {
		t.Fatal("first session still active")
	}

	if _, err := x.m.Stop(ctx, ""); err != nil {
		t.Fatal(err)
	}
	if r := x.az(t, "account", "show"); r.OK() {
		t.Fatalf("az account show after stop: %s", r)
	}
}

func TestE2EReloginRevokeLogout(t *testing.T) {
	x := newE2E(t, entraemu.Config{SubscriptionsPerTenant: 3})
	ctx := context.Background()
	if _, err := x.m.CreateIntegration(ctx, IntegrationSpec{Alias: "emu", Tenant: x.tenant.ID}); err != nil {
		t.Fatal(err)
	}
	if _, err := x.m.Login(ctx, "emu", LoginOptions{DeviceCode: true}); err != nil {
		t.Fatal(err)
	}
	subs := x.tenant.Subscriptions
	if _, err := x.m.Start(ctx, subs[0].ID); err != nil {
		t.Fatal(err)
	}
	st, _ := x.m.WS.Load()
	renamed, _ := st.Session(subs[1].ID)
	renamedID := renamed.ID

	// Re-login after the tenant renamed one subscription, removed the
	// active one and added one.
	if err := x.emu.RenameSubscription(subs[1].ID, "Renamed"); err != nil {
		t.Fatal(err)
	}
	if err := x.emu.RemoveSubscription(subs[0].ID); err != nil {
		t.Fatal(err)
	}
	added, err := x.emu.AddSubscription(x.tenant.ID, "Added")
	if err != nil {
		t.Fatal(err)
	}
	rep, err := x.m.Login(ctx, "emu", LoginOptions{DeviceCode: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Sync.Removed) != 1 || len(rep.Sync.Renamed) != 1 || len(rep.Sync.Added) != 1 {
		t.Fatalf("sync: %+v", rep.Sync)
	}
	st, _ = x.m.WS.Load()
	if s, err := st.Session("Renamed"); err != nil || s.ID != renamedID {
		t.Fatalf("renamed: %+v %v", s, err)
	}
	if _, err := st.Session(added.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Session(subs[0].ID); !errors.Is(err, workspace.ErrNotFound) {
		t.Fatalf("removed subscription still has a session: %v", err)
	}
	if st.ActiveIn(x.target) != nil {
		t.Fatal("removed session still active")
	}
	if r := x.az(t, "account", "show"); r.OK() {
		t.Fatalf("the removed active session was not stopped: %s", r)
	}

	// A revoked refresh token: start fails naming the integration and the
	// fix, and leaves files, vault and sessions as they were.
	if _, err := x.m.Start(ctx, "Renamed"); err != nil {
		t.Fatal(err)
	}
	if err := x.emu.RevokeUser(x.tenant.Users[0].Username); err != nil {
		t.Fatal(err)
	}
	files := dirFiles(t, x.target)
	items := map[string]string{}
	for _, k := range VaultKeys(rep.Integration.ID) {
		v, _ := x.vault.Get(ctx, k)
		items[k] = string(v)
	}
	stBefore, _ := x.m.WS.Load()
	_, err = x.m.Start(ctx, added.ID)
	if !azure.IsNeedsLogin(err) || !strings.Contains(err.Error(), `"emu"`) {
		t.Fatalf("want needs-login naming the integration, got %v", err)
	}
	if after := dirFiles(t, x.target); !equalMaps(files, after) {
		for k := range after {
			if files[k] != after[k] {
				t.Errorf("target file %s changed", k)
			}
		}
		t.Fatal("target files changed")
	}
	for k, v := range items {
		if got, _ := x.vault.Get(ctx, k); string(got) != v {
			t.Fatalf("vault item %s changed", k)
		}
	}
	stAfter, _ := x.m.WS.Load()
	for i := range stBefore.Sessions {
		if stBefore.Sessions[i] != stAfter.Sessions[i] {
			t.Fatalf("session changed: %+v -> %+v", stBefore.Sessions[i], stAfter.Sessions[i])
		}
	}
	if r := x.az(t, "account", "show", "--output", "json"); !r.OK() || !strings.Contains(r.Stdout, "Renamed") {
		t.Fatalf("the running session was disturbed: %s", r)
	}

	// Logout: nothing left in the vault, no sessions.
	if _, err := x.m.Logout(ctx, "emu"); err != nil {
		t.Fatal(err)
	}
	if items, _ := x.vault.List(ctx); len(items) != 0 {
		t.Fatalf("vault after logout: %+v", items)
	}
	st, _ = x.m.WS.Load()
	if len(st.Sessions) != 0 {
		t.Fatalf("sessions after logout: %+v", st.Sessions)
	}
}
