package lifecycle

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/azkeep/azkeep/internal/azure"
	"github.com/azkeep/azkeep/internal/engine"
	"github.com/azkeep/azkeep/internal/fileutil"
	"github.com/azkeep/azkeep/internal/hint"
	"github.com/azkeep/azkeep/internal/sessiondir"
	"github.com/azkeep/azkeep/internal/testbed"
	"github.com/azkeep/azkeep/internal/vault"
	"github.com/azkeep/azkeep/internal/workspace"
)

type rig struct {
	m      *Manager
	srv    *fakeServer
	vault  *vault.Memory
	clock  time.Time
	target string
}

func newRig(t *testing.T) *rig {
	t.Helper()
	r := &rig{clock: time.Date(2026, 11, 29, 6, 0, 0, 0, time.UTC)}
	r.srv = newFakeServer(func() time.Time { return r.clock })
	ws, err := workspace.Open(filepath.Join(t.TempDir(), "home"))
	if err != nil {
		t.Fatal(err)
	}
	r.target = filepath.Join(t.TempDir(), ".azure")
	if err := os.MkdirAll(r.target, 0o700); err != nil {
		t.Fatal(err)
	}
	r.vault = vault.NewMemory()
	var errb bytes.Buffer
	r.m = &Manager{
		WS: ws, Vault: r.vault, AZ: fakeRunner{r.srv}, Engine: fakeEngine{r.srv}, Files: fakeFiles{},
		TargetDir: r.target, Now: func() time.Time { return r.clock }, IO: IO{Err: &errb},
	}
	return r
}

func (r *rig) loggedIn(t *testing.T) *LoginReport {
	t.Helper()
	ctx := context.Background()
	if _, err := r.m.CreateIntegration(ctx, IntegrationSpec{Alias: "contoso", Tenant: "contoso.onmicrosoft.com", Location: "westeurope"}); err != nil {
		t.Fatal(err)
	}
	rep, err := r.m.Login(ctx, "contoso", LoginOptions{DeviceCode: true})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func dirFiles(t *testing.T, dir string) map[string]string {
	t.Helper()
	out, err := testbed.DirSnapshot(dir, false)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return out
}

func TestLoginSyncsSessionsAndFillsVault(t *testing.T) {
	r := newRig(t)
	os.WriteFile(filepath.Join(r.target, "config"), []byte("[core]\nx = 1\n"), 0o600)
	before := dirFiles(t, r.target)
	rep := r.loggedIn(t)
	if len(rep.Sessions) != 2 {
		t.Fatalf("want 2 sessions (the guest tenant's subscription is not this integration's), got %+v", rep.Sessions)
	}
	if rep.Integration.TenantID != r.srv.tenantID || rep.Integration.Status != workspace.Online || rep.Integration.HomeAccountID != "uid.utid" {
		t.Fatalf("integration after login: %+v", rep.Integration)
	}
	items, _ := r.vault.List(context.Background())
	if len(items) != 3 {
		t.Fatalf("vault items: %+v", items)
	}
	for _, dir := range r.srv.logins {
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Fatalf("private login dir %s still exists", dir)
		}
	}
	if after := dirFiles(t, r.target); !equalMaps(before, after) {
		t.Fatalf("login touched the target dir: %v -> %v", before, after)
	}
	// The profile item keeps unknown fields.
	prof, _ := r.vault.Get(context.Background(), VaultKey(rep.Integration.ID, "profile"))
	if !strings.Contains(string(prof), `"extra":"kept"`) {
		t.Fatalf("profile item lost a field: %s", prof)
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestStartLeavesNoRefreshTokenAndStoresTheRotatedOne(t *testing.T) {
	r := newRig(t)
	r.srv.strict = true
	rep := r.loggedIn(t)
	ctx := context.Background()
	s, err := r.m.Start(ctx, "Dev")
	if err != nil {
		t.Fatal(err)
	}
	if s.Status != workspace.Active || !s.ExpiresAt.Equal(r.clock.Add(time.Hour)) || s.ConfigDir != r.target {
		t.Fatalf("session after start: %+v", s)
	}
	c := readFakeCache(r.target)
	if c.RT != nil || c.AT == "" || c.Account == nil {
		t.Fatalf("target cache after start: %+v", c)
	}
	rt, _ := r.vault.Get(ctx, VaultKey(rep.Integration.ID, "refresh-token"))
	if secretOf(rt) != "rt-2" {
		t.Fatalf("vault holds %s, want the rotated rt-2", secretOf(rt))
	}
	cfg, _ := os.ReadFile(filepath.Join(r.target, "config"))
	if !strings.Contains(string(cfg), "location = westeurope") {
		t.Fatalf("config: %q", cfg)
	}

	// A second start makes the first inactive: one active per dir.
	if _, err := r.m.Start(ctx, "prod"); err != nil {
		t.Fatal(err)
	}
	st, _ := r.m.WS.Load()
	active := 0
	for _, s := range st.Sessions {
		if s.Status == workspace.Active {
			active++
			if s.SubscriptionName != "Prod" {
				t.Fatalf("wrong active session %+v", s)
			}
		}
	}
	if active != 1 {
		t.Fatalf("%d active sessions", active)
	}
	cur, _ := r.m.Current()
	if cur == nil || cur.SubscriptionName != "Prod" {
		t.Fatalf("current: %+v", cur)
	}
}

func TestRotateWindowAndStrictRotations(t *testing.T) {
	r := newRig(t)
	r.srv.strict = true
	r.srv.lifetime = 10 * time.Minute
	r.loggedIn(t)
	ctx := context.Background()
	if _, err := r.m.Start(ctx, "Dev"); err != nil {
		t.Fatal(err)
	}
	// 10-minute tokens are always inside the 20-minute window.
	for i := range 3 {
		r.clock = r.clock.Add(time.Minute)
		res, err := r.m.Rotate(ctx, "", false)
		if err != nil {
			t.Fatalf("rotation %d: %v", i, err)
		}
		if !res.Rotated || !res.RefreshTokenRotated || !res.Session.ExpiresAt.Equal(r.clock.Add(10*time.Minute)) {
			t.Fatalf("rotation %d: %+v", i, res)
		}
		if c := readFakeCache(r.target); c.RT != nil || c.AT == "" {
			t.Fatalf("rotation %d left %+v", i, c)
		}
	}
	// An hour-long token is outside the window: no rotation, unless forced.
	r.srv.lifetime = time.Hour
	if _, err := r.m.Rotate(ctx, "", true); err != nil {
		t.Fatal(err)
	}
	redeems := r.srv.redeems
	res, err := r.m.Rotate(ctx, "", false)
	if err != nil || res.Rotated || r.srv.redeems != redeems {
		t.Fatalf("rotated outside the window: %+v %v", res, err)
	}
	if want := r.clock.Add(40 * time.Minute); !res.NextRotation.Equal(want) {
		t.Fatalf("next rotation %v, want %v", res.NextRotation, want)
	}
	// Lazy rotation fires once the clock enters the window.
	r.clock = r.clock.Add(41 * time.Minute)
	done, err := r.m.LazyRotate(ctx)
	if err != nil || len(done) != 1 {
		t.Fatalf("lazy rotation: %+v %v", done, err)
	}
	done, err = r.m.LazyRotate(ctx)
	if err != nil || len(done) != 0 {
		t.Fatalf("lazy rotation twice: %+v %v", done, err)
	}
}

func TestRejectedRefreshTokenLeavesEverythingAsItWas(t *testing.T) {
	r := newRig(t)
	rep := r.loggedIn(t)
	ctx := context.Background()
	if _, err := r.m.Start(ctx, "Dev"); err != nil {
		t.Fatal(err)
	}
	r.srv.revoked = true
	files := dirFiles(t, r.target)
	items := map[string]string{}
	for _, k := range VaultKeys(rep.Integration.ID) {
		v, _ := r.vault.Get(ctx, k)
		items[k] = string(v)
	}
	stBefore, _ := r.m.WS.Load()

	_, err := r.m.Start(ctx, "Prod")
	if !azure.IsNeedsLogin(err) || !strings.Contains(err.Error(), `"contoso"`) || hint.Of(err) != "run azkeep integration login contoso" {
		t.Fatalf("want a needs-login error naming the integration and the fix, got %v (hint %q)", err, hint.Of(err))
	}
	if after := dirFiles(t, r.target); !equalMaps(files, after) {
		t.Fatalf("target files changed:\n%v\n%v", files, after)
	}
	for k, v := range items {
		if got, _ := r.vault.Get(ctx, k); string(got) != v {
			t.Fatalf("vault item %s changed", k)
		}
	}
	stAfter, _ := r.m.WS.Load()
	for i := range stBefore.Sessions {
		if stBefore.Sessions[i] != stAfter.Sessions[i] {
			t.Fatalf("session changed: %+v -> %+v", stBefore.Sessions[i], stAfter.Sessions[i])
		}
	}
	if in, _ := stAfter.Integration("contoso"); in.Status != workspace.NeedsLogin {
		t.Fatalf("integration status %q", in.Status)
	}
	// Rotation and lazy rotation say the same; a login fixes it.
	if _, err := r.m.Rotate(ctx, "", true); hint.Of(err) != "run azkeep integration login contoso" {
		t.Fatalf("rotate: %v", err)
	}
	if _, err := r.m.Login(ctx, "contoso", LoginOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.m.Start(ctx, "Prod"); err != nil {
		t.Fatal(err)
	}
}

func TestStop(t *testing.T) {
	r := newRig(t)
	r.loggedIn(t)
	ctx := context.Background()
	if _, err := r.m.Stop(ctx, ""); err == nil || hint.Of(err) == "" {
		t.Fatalf("stop with nothing active: %v", err)
	}
	if _, err := r.m.Start(ctx, "Dev"); err != nil {
		t.Fatal(err)
	}
	s, err := r.m.Stop(ctx, "")
	if err != nil || s.Status != workspace.Inactive || s.ConfigDir != "" || !s.ExpiresAt.IsZero() {
		t.Fatalf("%+v %v", s, err)
	}
	if c := readFakeCache(r.target); c.Account != nil || c.AT != "" {
		t.Fatalf("cache after stop: %+v", c)
	}
	if cur, _ := r.m.Current(); cur != nil {
		t.Fatalf("current after stop: %+v", cur)
	}
}

func TestReloginRenamedRemovedAdded(t *testing.T) {
	r := newRig(t)
	r.loggedIn(t)
	ctx := context.Background()
	if _, err := r.m.Start(ctx, "Prod"); err != nil {
		t.Fatal(err)
	}
	st, _ := r.m.WS.Load()
	dev, _ := st.Session("Dev")
	devID := dev.ID
	r.srv.subs[0]["name"] = "Dev renamed"
	r.srv.subs = append(r.srv.subs[:1], r.srv.subs[2:]...) // Prod removed
	r.srv.subs = append(r.srv.subs, map[string]any{"id": "aaaaaaaa-0000-0000-0000-000000000003", "name": "New", "tenantId": r.srv.tenantID})
	rep, err := r.m.Login(ctx, "contoso", LoginOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Sync.Renamed) != 1 || rep.Sync.Renamed[0] != devID || len(rep.Sync.Removed) != 1 || len(rep.Sync.Added) != 1 {
		t.Fatalf("sync: %+v", rep.Sync)
	}
	if c := readFakeCache(r.target); c.Account != nil {
		t.Fatal("the removed active session was not stopped")
	}
	st, _ = r.m.WS.Load()
	if s, err := st.Session("Dev renamed"); err != nil || s.ID != devID {
		t.Fatalf("renamed: %+v %v", s, err)
	}
	if _, err := st.Session("Prod"); !errors.Is(err, workspace.ErrNotFound) {
		t.Fatalf("removed: %v", err)
	}
}

func TestLogoutAndDelete(t *testing.T) {
	r := newRig(t)
	rep := r.loggedIn(t)
	ctx := context.Background()
	if _, err := r.m.Start(ctx, "Dev"); err != nil {
		t.Fatal(err)
	}
	in, err := r.m.Logout(ctx, "contoso")
	if err != nil || in.Status != workspace.Offline {
		t.Fatalf("%+v %v", in, err)
	}
	if items, _ := r.vault.List(ctx); len(items) != 0 {
		t.Fatalf("vault after logout: %+v", items)
	}
	st, _ := r.m.WS.Load()
	if len(st.Sessions) != 0 || len(st.Integrations) != 1 {
		t.Fatalf("state after logout: %+v", st)
	}
	if c := readFakeCache(r.target); c.Account != nil {
		t.Fatal("active session not stopped by logout")
	}
	if _, err := r.m.Start(ctx, rep.Sessions[0].ID); !errors.Is(err, workspace.ErrNotFound) {
		t.Fatalf("start after logout: %v", err)
	}
	if err := r.m.Delete(ctx, "contoso"); err != nil {
		t.Fatal(err)
	}
	st, _ = r.m.WS.Load()
	if len(st.Integrations) != 0 {
		t.Fatal("delete left the integration")
	}
}

func TestMaterializeIntoAnyDir(t *testing.T) {
	r := newRig(t)
	r.loggedIn(t)
	dir := filepath.Join(t.TempDir(), "exec-dir")
	mat, err := r.m.Materialize(context.Background(), "Dev", dir)
	if err != nil {
		t.Fatal(err)
	}
	if c := readFakeCache(dir); c.RT != nil || c.AT == "" || mat.ExpiresAt.IsZero() {
		t.Fatalf("%+v %+v", c, mat)
	}
	if fi, _ := os.Stat(dir); fi.Mode().Perm() != 0o700 {
		t.Fatalf("dir mode %v", fi.Mode().Perm())
	}
	if cur, _ := r.m.Current(); cur != nil {
		t.Fatal("materialize changed the target's bookkeeping")
	}
}

func TestVaultFailureOnRotationKeepsTheNewToken(t *testing.T) {
	r := newRig(t)
	r.srv.strict = true
	r.loggedIn(t)
	ctx := context.Background()
	if _, err := r.m.Start(ctx, "Dev"); err != nil {
		t.Fatal(err)
	}
	r.vault.Fail = nil
	m := *r.m
	m.Vault = &failSet{Memory: r.vault}
	if _, err := m.Rotate(ctx, "", true); err == nil {
		t.Fatal("want an error")
	}
	// The token goes to the journal, not the target dir.
	if c := readFakeCache(r.target); c.RT != nil {
		t.Fatal("the rotated refresh token rests in the target dir")
	}
	files, _ := filepath.Glob(filepath.Join(r.m.WS.Dir(), "journal", "*"))
	if len(files) != 1 {
		t.Fatalf("journal holds %v, want the token", files)
	}
	if data, _ := os.ReadFile(files[0]); !r.srv.valid[secretOf(data)] {
		t.Fatal("the journal holds a spent refresh token")
	}
	// With the vault back, the next procedure moves it into the vault
	// (the vault's is spent).
	if _, err := r.m.Rotate(ctx, "", true); err != nil {
		t.Fatalf("rotation after the vault came back: %v", err)
	}
	c := readFakeCache(r.target)
	if c.RT != nil {
		t.Fatal("refresh token left on disk")
	}
	rt, _ := r.vault.Get(ctx, VaultKey(r.m.mustIntegrationID(t), "refresh-token"))
	if !r.srv.valid[secretOf(rt)] {
		t.Fatal("the vault holds a spent refresh token")
	}
}

func (m *Manager) mustIntegrationID(t *testing.T) string {
	st, err := m.WS.Load()
	if err != nil || len(st.Integrations) == 0 {
		t.Fatal("no integration", err)
	}
	return st.Integrations[0].ID
}

type failSet struct{ *vault.Memory }

func (f *failSet) Set(context.Context, string, []byte) error { return errors.New("vault locked") }

func TestValidation(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	for _, spec := range []IntegrationSpec{
		{Alias: "", Tenant: "contoso.com"},
		{Alias: "a b", Tenant: "contoso.com"},
		{Alias: "ok", Tenant: "not a tenant"},
		{Alias: "ok", Tenant: "contoso.com", Location: "West Europe"},
	} {
		if _, err := r.m.CreateIntegration(ctx, spec); err == nil || hint.Of(err) == "" {
			t.Errorf("%+v: want an error with a hint, got %v", spec, err)
		}
	}
	if _, err := r.m.CreateIntegration(ctx, IntegrationSpec{Alias: "c", Tenant: "11111111-1111-1111-1111-111111111111"}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.m.CreateIntegration(ctx, IntegrationSpec{Alias: "C", Tenant: "x.com"}); err == nil {
		t.Fatal("duplicate alias accepted")
	}
	in, err := r.m.EditIntegration(ctx, "c", IntegrationSpec{Alias: "d", Location: "eastus"})
	if err != nil || in.Alias != "d" || in.Location != "eastus" || in.TenantID != "11111111-1111-1111-1111-111111111111" {
		t.Fatalf("%+v %v", in, err)
	}
}

func TestParseWindow(t *testing.T) {
	if d, err := ParseWindow(""); err != nil || d != 20*time.Minute {
		t.Fatal(d, err)
	}
	if d, err := ParseWindow("30m"); err != nil || d != 30*time.Minute {
		t.Fatal(d, err)
	}
	for _, s := range []string{"5m", "1m", "soon"} {
		if _, err := ParseWindow(s); err == nil || hint.Of(err) == "" {
			t.Errorf("%s: want an error with a hint", s)
		}
	}
}

// seeEngine records the session's status while the engine redeems.
type seeEngine struct {
	fakeEngine
	ws   *workspace.Workspace
	seen *[]workspace.SessionStatus
}

func (e seeEngine) Redeem(ctx context.Context, req engine.Request) (engine.Result, error) {
	st, _ := e.ws.Load()
	for _, s := range st.Sessions {
		if s.SubscriptionID == req.SubscriptionID {
			*e.seen = append(*e.seen, s.Status)
		}
	}
	return e.fakeEngine.Redeem(ctx, req)
}

func TestStartIsPendingWhileInFlight(t *testing.T) {
	r := newRig(t)
	r.loggedIn(t)
	var seen []workspace.SessionStatus
	r.m.Engine = seeEngine{fakeEngine{r.srv}, r.m.WS, &seen}
	ctx := context.Background()
	if _, err := r.m.Start(ctx, "Dev"); err != nil {
		t.Fatal(err)
	}
	r.srv.revoked = true
	if _, err := r.m.Start(ctx, "Prod"); err == nil {
		t.Fatal("want an error")
	}
	if len(seen) != 2 || seen[0] != workspace.Pending || seen[1] != workspace.Pending {
		t.Fatalf("statuses seen during redeem: %v", seen)
	}
	st, _ := r.m.WS.Load()
	if s, _ := st.Session("Prod"); s.Status != workspace.Inactive {
		t.Fatalf("failed start left %q", s.Status)
	}
}

func TestLoginSweepsStaleLoginDirs(t *testing.T) {
	r := newRig(t)
	home := r.m.WS.Dir()
	stale, fresh := filepath.Join(home, "login-stale"), filepath.Join(home, "login-fresh")
	for _, d := range []string{stale, fresh} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	old := r.clock.Add(-2 * time.Hour)
	os.Chtimes(stale, old, old)
	os.Chtimes(fresh, r.clock, r.clock)
	r.loggedIn(t)
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Fatal("stale login dir kept")
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Fatal("a login dir of a login in progress was removed")
	}
}

func TestSyncWithoutLogin(t *testing.T) {
	r := newRig(t)
	r.srv.strict = true
	rep := r.loggedIn(t)
	r.m.Refresher = fakeRunner{r.srv}
	ctx := context.Background()
	devID := rep.Sessions[0].ID
	r.srv.subs[0]["name"] = "Dev renamed"
	r.srv.subs = append(r.srv.subs, map[string]any{"id": "aaaaaaaa-0000-0000-0000-000000000009", "name": "Nine", "tenantId": r.srv.tenantID})
	logins := len(r.srv.logins)
	got, err := r.m.Sync(ctx, "contoso")
	if err != nil {
		t.Fatal(err)
	}
	if len(r.srv.logins) != logins {
		t.Fatal("sync ran an interactive login")
	}
	if len(got.Sync.Renamed) != 1 || got.Sync.Renamed[0] != devID || len(got.Sync.Added) != 1 || len(got.Sessions) != 3 {
		t.Fatalf("sync: %+v", got.Sync)
	}
	// The refresh token the refresh rotated is the one in the vault.
	rt, _ := r.vault.Get(ctx, VaultKey(rep.Integration.ID, "refresh-token"))
	if !r.srv.valid[secretOf(rt)] {
		t.Fatal("the vault holds a spent refresh token")
	}
	if left, _ := filepath.Glob(filepath.Join(r.m.WS.Dir(), "login-*")); len(left) != 0 {
		t.Fatalf("private dirs left: %v", left)
	}
	if _, err := r.m.Start(ctx, "Nine"); err != nil {
		t.Fatal(err)
	}

	// A rejected refresh token: needs-login, the fix named, vault as it was.
	r.srv.revoked = true
	before, _ := r.vault.Get(ctx, VaultKey(rep.Integration.ID, "refresh-token"))
	if _, err := r.m.Sync(ctx, "contoso"); !azure.IsNeedsLogin(err) || hint.Of(err) != "run azkeep integration login contoso" {
		t.Fatalf("sync with a revoked token: %v", err)
	}
	if after, _ := r.vault.Get(ctx, VaultKey(rep.Integration.ID, "refresh-token")); !bytes.Equal(before, after) {
		t.Fatal("vault changed")
	}
	if _, err := r.m.Sync(ctx, "contoso"); err == nil || hint.Of(err) != "run azkeep integration login contoso" {
		t.Fatalf("sync of a needs-login integration: %v", err)
	}
}

func TestStartRescuesARefreshTokenLeftOnDisk(t *testing.T) {
	r := newRig(t)
	r.srv.strict = true
	r.loggedIn(t)
	ctx := context.Background()
	if _, err := r.m.Start(ctx, "Dev"); err != nil {
		t.Fatal(err)
	}
	m := *r.m
	m.Vault = &failSet{Memory: r.vault}
	if _, err := m.Rotate(ctx, "", true); err == nil {
		t.Fatal("want an error")
	}
	// Starting another session of the same integration must not let az
	// logout erase the only valid refresh token.
	if _, err := r.m.Start(ctx, "Prod"); err != nil {
		t.Fatalf("start after a refused vault write: %v", err)
	}
	if c := readFakeCache(r.target); c.RT != nil {
		t.Fatal("refresh token left on disk")
	}
}

// TestVaultFailureOnStartKeepsTheNewToken: a start whose rotated refresh
// token the vault refuses must not put the dir back over that token (it
// may be the only valid one); the next start redeems it.
func TestVaultFailureOnStartKeepsTheNewToken(t *testing.T) {
	r := newRig(t)
	r.srv.strict = true
	r.loggedIn(t)
	ctx := context.Background()
	m := *r.m
	m.Vault = &failSet{Memory: r.vault}
	_, err := m.Start(ctx, "Dev")
	journal := filepath.Join(r.m.WS.Dir(), "journal")
	if err == nil || !strings.Contains(err.Error(), "saved in "+journal) {
		t.Fatalf("start with a refusing vault: %v (hint %q)", err, hint.Of(err))
	}
	// Regression: the token stayed in the target dir, where only the next
	// start or rotation (not any command) took it back.
	if c := readFakeCache(r.target); c.RT != nil {
		t.Fatal("the rotated refresh token rests in the target dir")
	}
	files, _ := filepath.Glob(filepath.Join(journal, "*"))
	if len(files) != 1 {
		t.Fatalf("journal holds %v, want the token", files)
	}
	if err := r.m.Recover(ctx); err != nil {
		t.Fatalf("recover once the vault came back: %v", err)
	}
	if files, _ := filepath.Glob(filepath.Join(journal, "*")); len(files) != 0 {
		t.Fatalf("journal still holds %v", files)
	}
	if _, err := r.m.Start(ctx, "Dev"); err != nil {
		t.Fatalf("start after the vault came back: %v", err)
	}
	if c := readFakeCache(r.target); c.RT != nil {
		t.Fatal("refresh token left on disk")
	}
}

// spyEngine shows each request to see before the fake engine redeems it.
type spyEngine struct {
	fakeEngine
	see func(engine.Request)
}

func (e spyEngine) Redeem(ctx context.Context, req engine.Request) (engine.Result, error) {
	e.see(req)
	return e.fakeEngine.Redeem(ctx, req)
}

// The refresh token never touches the per-session dir: the procedure runs
// in a scratch dir holding the dir's settings, with the extra resources,
// and only its result is copied over; a failure leaves the dir as it was,
// and no scratch dir stays.
func TestMaterializeIntoAPerSessionDir(t *testing.T) {
	r := newRig(t)
	r.srv.strict = true
	r.loggedIn(t)
	base := filepath.Join(t.TempDir(), "exec")
	d, err := sessiondir.New(base, "s")
	if err != nil {
		t.Fatal(err)
	}
	dest := d.Path
	os.WriteFile(filepath.Join(dest, "config"), []byte("[core]\ncollect_telemetry = no\n"), 0o600)
	ownerBefore, _ := os.ReadFile(filepath.Join(dest, sessiondir.OwnerFile))

	var scratchSeen string
	r.m.Engine = spyEngine{fakeEngine{r.srv}, func(req engine.Request) {
		scratchSeen = req.ConfigDir
		if req.ConfigDir == dest {
			t.Error("materialised straight into the per-session dir")
		}
		if data, _ := os.ReadFile(filepath.Join(req.ConfigDir, "config")); !strings.Contains(string(data), "collect_telemetry") {
			t.Error("the scratch dir lacks the dir's settings")
		}
		if !slices.Contains(req.Resources, "https://vault.azure.net") {
			t.Errorf("resources %v lack the extra one", req.Resources)
		}
	}}
	mat, err := r.m.MaterializeInto(context.Background(), "Dev", dest, base, "https://vault.azure.net")
	if err != nil {
		t.Fatal(err)
	}
	if mat.ConfigDir != dest {
		t.Errorf("ConfigDir %s, want %s", mat.ConfigDir, dest)
	}
	if _, err := os.Stat(scratchSeen); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("scratch dir left: %v", err)
	}
	if c := readFakeCache(dest); c.AT == "" || c.RT != nil {
		t.Errorf("dest cache: %+v", c)
	}
	if _, err := os.Stat(filepath.Join(dest, "azureProfile.json")); err != nil {
		t.Error("profile not copied")
	}
	if owner, _ := os.ReadFile(filepath.Join(dest, sessiondir.OwnerFile)); string(owner) != string(ownerBefore) {
		t.Error("the dir's owner file was overwritten")
	}
	for _, name := range []string{"msal_token_cache.json", "azureProfile.json"} {
		if fi, _ := os.Stat(filepath.Join(dest, name)); fi == nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s not 0600", name)
		}
	}

	// A failure leaves dest as it was and no scratch dir.
	r.m.Engine = fakeEngine{r.srv}
	before := dirFiles(t, dest)
	r.srv.revoked = true
	if _, err := r.m.MaterializeInto(context.Background(), "Dev", dest, base); err == nil {
		t.Fatal("error lost")
	}
	if after := dirFiles(t, dest); !equalMaps(before, after) {
		t.Error("a failed redemption changed the per-session dir")
	}
	entries, _ := os.ReadDir(base)
	if len(entries) != 1 {
		t.Errorf("dirs under %s: %v (want the exec dir only)", base, entries)
	}
}

// Regression: with ARM (or the network) down, az account list --refresh
// exits 0 and keeps its cached profile, which a sync took as the truth:
// it removed every session but one. Now the sync fails, names the cause,
// changes no session, and the refresh token az rotated is in the vault.
func TestSyncFromACachedListChangesNothing(t *testing.T) {
	r := newRig(t)
	r.srv.strict = true
	rep := r.loggedIn(t)
	r.m.Refresher = fakeRunner{r.srv}
	ctx := context.Background()
	if _, err := r.m.Start(ctx, "Dev"); err != nil {
		t.Fatal(err)
	}
	before, _ := r.m.WS.Load()
	r.srv.armDown = true
	_, err := r.m.Sync(ctx, "contoso")
	if err == nil || !strings.Contains(err.Error(), "500 Server Error") || !strings.Contains(err.Error(), "nothing changed") || hint.Of(err) == "" {
		t.Fatalf("sync with ARM down: %v (hint %q)", err, hint.Of(err))
	}
	after, _ := r.m.WS.Load()
	if len(after.Sessions) != len(before.Sessions) || len(after.Sessions) != len(rep.Sessions) {
		t.Fatalf("sessions changed: %d before, %d after", len(before.Sessions), len(after.Sessions))
	}
	for i := range after.Sessions {
		if after.Sessions[i].ID != before.Sessions[i].ID || after.Sessions[i].Status != before.Sessions[i].Status {
			t.Fatalf("session %d changed: %+v", i, after.Sessions[i])
		}
	}
	rt, _ := r.vault.Get(ctx, VaultKey(rep.Integration.ID, "refresh-token"))
	if !r.srv.valid[secretOf(rt)] {
		t.Fatal("the refresh token az rotated was lost")
	}
	if left, _ := filepath.Glob(filepath.Join(r.m.WS.Dir(), "login-*")); len(left) != 0 {
		t.Fatalf("private dirs left: %v", left)
	}
	// The network back: the same ids.
	r.srv.armDown = false
	got, err := r.m.Sync(ctx, "contoso")
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Sync.Removed) != 0 || len(got.Sync.Added) != 0 {
		t.Fatalf("sync after the network came back: %+v", got.Sync)
	}
}

// Regression: a refresh token az rotated in a login dir or in the az
// engine's staging dir, when azkeep was killed before storing it, was
// deleted by the next run (the sweep, the next redemption's preparation)
// and the login was lost. The next procedure moves it into the vault
// first, and no refresh token stays on disk.
func TestRecoverTokensLeftByAKilledRun(t *testing.T) {
	for _, where := range []string{"login", "staging", "exec"} {
		t.Run(where, func(t *testing.T) {
			r := newRig(t)
			r.srv.strict = true
			rep := r.loggedIn(t)
			ctx := context.Background()
			// The killed run: az redeemed the vault's token (now spent)
			// and left the rotated one in its dir.
			old, _ := r.vault.Get(ctx, VaultKey(rep.Integration.ID, "refresh-token"))
			delete(r.srv.valid, secretOf(old))
			dir := filepath.Join(r.m.WS.Dir(), "login-killed")
			if where == "staging" {
				dir = filepath.Join(r.m.WS.Dir(), "az")
				r.m.InFlightDirs = []string{dir}
			}
			if where == "exec" { // an exec's scratch dir (MaterializeInto)
				base := filepath.Join(r.m.WS.Dir(), "exec")
				dir = filepath.Join(base, "redeem-killed")
				r.m.ScratchBases = []string{base}
			}
			os.MkdirAll(dir, 0o700)
			os.WriteFile(filepath.Join(dir, ownerLock), nil, 0o600) // its owner is gone
			os.WriteFile(filepath.Join(dir, sessiondir.OwnerFile), []byte(fmt.Sprintf("%d\n", deadPID(t))), 0o600)
			if err := writeFakeCache(dir, fakeCache{Account: json.RawMessage(`{"home_account_id":"uid.utid"}`), RT: r.srv.issue()}); err != nil {
				t.Fatal(err)
			}
			// Any command recovers it (cli.Factory.Rotated), not only a
			// procedure that redeems.
			if err := r.m.Recover(ctx); err != nil {
				t.Fatalf("recover after a killed run: %v", err)
			}
			if c := readFakeCache(dir); c.RT != nil {
				t.Fatal("refresh token left in " + dir)
			}
			if where != "staging" && dirExists(dir) {
				t.Fatal("dir of a dead owner kept")
			}
			if _, err := r.m.Start(ctx, "Dev"); err != nil {
				t.Fatalf("start after a killed run: %v", err)
			}
		})
	}
}

// Regression: a refresh token the vault refused while a sync (or an exec's
// scratch dir) held it was deleted with the dir. It goes to the journal,
// the error names the file, and the next command moves it into the vault.
func TestJournalKeepsATokenTheVaultRefused(t *testing.T) {
	r := newRig(t)
	r.srv.strict = true
	rep := r.loggedIn(t)
	r.m.Refresher = fakeRunner{r.srv}
	ctx := context.Background()
	m := *r.m
	m.Vault = &failSet{Memory: r.vault}
	_, err := m.Sync(ctx, "contoso")
	if err == nil || !strings.Contains(err.Error(), "saved in "+filepath.Join(r.m.WS.Dir(), "journal")) {
		t.Fatalf("sync with a refusing vault: %v", err)
	}
	if err := r.m.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	rt, _ := r.vault.Get(ctx, VaultKey(rep.Integration.ID, "refresh-token"))
	if !r.srv.valid[secretOf(rt)] {
		t.Fatal("the rotated refresh token was lost")
	}
	if left, _ := filepath.Glob(filepath.Join(r.m.WS.Dir(), "journal", "*")); len(left) != 0 {
		t.Fatalf("journal not emptied: %v", left)
	}
	if _, err := r.m.Start(ctx, "Dev"); err != nil {
		t.Fatal(err)
	}
}

// Regression: with the vault and the config dir on one full disk, a
// rotation said the new refresh token "was left in" the dir, where it was
// not. It goes to the journal when that can be written; when not either,
// the error says the token is lost.
func TestRotateOnAFullDiskSaysWhereTheTokenIs(t *testing.T) {
	r := newRig(t)
	r.srv.strict = true
	rep := r.loggedIn(t)
	ctx := context.Background()
	if _, err := r.m.Start(ctx, "Dev"); err != nil {
		t.Fatal(err)
	}
	m := *r.m
	m.Vault = &failSet{Memory: r.vault}
	r.srv.diskFull = true
	_, err := m.Rotate(ctx, "", true)
	if err == nil || strings.Contains(hint.Of(err), "left in") || !strings.Contains(err.Error(), "saved in "+filepath.Join(r.m.WS.Dir(), "journal")) {
		t.Fatalf("rotate on a full disk: %v (hint %q)", err, hint.Of(err))
	}
	r.srv.diskFull = false
	if _, err := r.m.Rotate(ctx, "", true); err != nil {
		t.Fatalf("rotate once the disk has room: %v", err)
	}
	rt, _ := r.vault.Get(ctx, VaultKey(rep.Integration.ID, "refresh-token"))
	if !r.srv.valid[secretOf(rt)] {
		t.Fatal("the vault holds a spent refresh token")
	}

	// Nowhere to write: the error says so.
	os.RemoveAll(filepath.Join(r.m.WS.Dir(), "journal"))
	os.WriteFile(filepath.Join(r.m.WS.Dir(), "journal"), nil, 0o600)
	r.srv.diskFull = true
	_, err = m.Rotate(ctx, "", true)
	if err == nil || !strings.Contains(err.Error(), "the token is lost") || !strings.Contains(hint.Of(err), "integration login") {
		t.Fatalf("rotate with nowhere to write: %v (hint %q)", err, hint.Of(err))
	}
}

// Regression (exec, env): a rotated refresh token the vault refused was
// written into the scratch dir MaterializeInto redeems in, then deleted
// with it. It goes to the journal, and the next command moves it into the
// vault.
func TestMaterializeIntoKeepsATokenTheVaultRefused(t *testing.T) {
	r := newRig(t)
	r.srv.strict = true
	rep := r.loggedIn(t)
	ctx := context.Background()
	base := filepath.Join(t.TempDir(), "exec")
	d, err := sessiondir.New(base, "s")
	if err != nil {
		t.Fatal(err)
	}
	m := *r.m
	m.Vault = &failSet{Memory: r.vault}
	_, err = m.MaterializeInto(ctx, "Dev", d.Path, base)
	if err == nil || !strings.Contains(err.Error(), "saved in "+filepath.Join(r.m.WS.Dir(), "journal")) {
		t.Fatalf("materialize with a refusing vault: %v", err)
	}
	if _, err := r.m.MaterializeInto(ctx, "Dev", d.Path, base); err != nil {
		t.Fatalf("materialize once the vault is back: %v", err)
	}
	rt, _ := r.vault.Get(ctx, VaultKey(rep.Integration.ID, "refresh-token"))
	if !r.srv.valid[secretOf(rt)] {
		t.Fatal("the vault holds a spent refresh token")
	}
}

// Regression: a procedure waiting on another's lock waited silently (for
// good, behind an endpoint that never answered). It says what it waits
// for.
func TestLockWaiterSaysWhatItWaitsFor(t *testing.T) {
	r := newRig(t)
	var errb bytes.Buffer
	r.m.IO.Err = &errb
	unlock, err := fileutil.Lock(context.Background(), filepath.Join(r.m.WS.Dir(), "lifecycle.lock"))
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := r.m.Stop(ctx, ""); err == nil {
		t.Fatal("want a timeout")
	}
	if !strings.Contains(errb.String(), "waiting for "+filepath.Join(r.m.WS.Dir(), "lifecycle.lock")) {
		t.Fatalf("stderr: %q", errb.String())
	}
}

// Regression: on a machine without a Secret Service the first login let
// the user finish the whole sign-in and only then failed to store the
// refresh token. The vault is checked before az login runs.
func TestLoginChecksTheVaultBeforeSigningIn(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	if _, err := r.m.CreateIntegration(ctx, IntegrationSpec{Alias: "contoso", Tenant: "contoso.onmicrosoft.com"}); err != nil {
		t.Fatal(err)
	}
	r.vault.Fail = hint.New(fmt.Errorf("secret-service vault: %w", vault.ErrUnavailable), "use --vault file")
	_, err := r.m.Login(ctx, "contoso", LoginOptions{DeviceCode: true})
	if !errors.Is(err, vault.ErrUnavailable) || hint.Of(err) != "use --vault file" {
		t.Fatalf("login: %v (hint %q)", err, hint.Of(err))
	}
	if len(r.srv.logins) != 0 {
		t.Fatalf("az login ran %d times with no vault to keep its refresh token", len(r.srv.logins))
	}
}

// deadPID is the pid of a process that has exited.
func deadPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skipf("no true(1) to make a dead pid: %v", err)
	}
	return cmd.Process.Pid
}

// logoutHook runs after each Logout of the engine it wraps.
type logoutHook struct {
	engine.Engine
	after func()
}

func (e logoutHook) Logout(ctx context.Context, dir string) error {
	err := e.Engine.Logout(ctx, dir)
	e.after()
	return err
}

// Regression: stop logged the target dir out, then could not record it (a
// read-only home): the dir was logged out while the state still said the
// session was active. The dir is put back when the state cannot be written.
func TestStopUndoesTheLogoutWhenTheStateCannotBeRecorded(t *testing.T) {
	r := newRig(t)
	r.loggedIn(t)
	ctx := context.Background()
	if _, err := r.m.Start(ctx, "Dev"); err != nil {
		t.Fatal(err)
	}
	before := readFakeCache(r.target)
	state := r.m.WS.Path()
	m := *r.m
	m.Engine = logoutHook{r.m.Engine, func() {
		// The state file cannot be written any more.
		os.Rename(state, state+".away")
		os.MkdirAll(filepath.Join(state, "x"), 0o700)
	}}
	_, err := m.Stop(ctx, "")
	os.RemoveAll(state)
	os.Rename(state+".away", state)
	if err == nil {
		t.Fatal("stop succeeded without recording it")
	}
	if c := readFakeCache(r.target); c.AT != before.AT || c.Account == nil {
		t.Fatalf("the dir was logged out, the state says active: %+v", c)
	}
	if cur, _ := r.m.Current(); cur == nil {
		t.Fatal("the session is no longer active")
	}
}

// aheadVault records, at each Set of a refresh token, what the journal
// holds: the token written ahead, or nothing.
type aheadVault struct {
	*vault.Memory
	journal string
	seen    []bool
}

func (v *aheadVault) Set(ctx context.Context, key string, data []byte) error {
	if strings.HasSuffix(key, "/"+itemRefreshToken) {
		found := false
		files, _ := filepath.Glob(filepath.Join(v.journal, "*.json"))
		for _, f := range files {
			if b, err := os.ReadFile(f); err == nil && bytes.Equal(b, data) {
				found = true
			}
		}
		v.seen = append(v.seen, found)
	}
	return v.Memory.Set(ctx, key, data)
}

// Regression (crash suite, "in flight"): azkeep killed after the endpoint
// rotated the refresh token and before the vault stored it lost the login.
// The rotated token is in the journal while the vault writes it, and gone
// from disk once the vault has it.
func TestRotatedTokenIsWrittenAheadOfTheVault(t *testing.T) {
	r := newRig(t)
	r.srv.strict = true
	r.loggedIn(t)
	v := &aheadVault{Memory: r.vault, journal: r.m.journalDir()}
	r.m.Vault = v
	ctx := context.Background()
	if _, err := r.m.Start(ctx, "Dev"); err != nil {
		t.Fatal(err)
	}
	if _, err := r.m.Rotate(ctx, "", true); err != nil {
		t.Fatal(err)
	}
	if len(v.seen) < 2 {
		t.Fatalf("%d refresh-token writes, want one per redemption", len(v.seen))
	}
	for i, ok := range v.seen {
		if !ok {
			t.Errorf("write %d: the journal did not hold the token while the vault stored it", i)
		}
	}
	if left, _ := filepath.Glob(filepath.Join(r.m.journalDir(), "*.json")); len(left) != 0 {
		t.Fatalf("the journal kept %v after the vault stored them", left)
	}
}

// A journal file torn by a kill while it was written ahead is discarded:
// the vault was not asked yet, and keeps its token.
func TestTornJournalFileIsDiscarded(t *testing.T) {
	r := newRig(t)
	rep := r.loggedIn(t)
	ctx := context.Background()
	before, _ := r.vault.Get(ctx, VaultKey(rep.Integration.ID, itemRefreshToken))
	os.MkdirAll(r.m.journalDir(), 0o700)
	torn := filepath.Join(r.m.journalDir(), rep.Integration.ID+".torn.json")
	if err := os.WriteFile(torn, []byte(`{"RefreshToken": {"x": {"sec`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := r.m.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(torn); !os.IsNotExist(err) {
		t.Fatalf("torn journal file kept: %v", err)
	}
	if after, _ := r.vault.Get(ctx, VaultKey(rep.Integration.ID, itemRefreshToken)); !bytes.Equal(after, before) {
		t.Fatal("a torn journal file reached the vault")
	}
}
