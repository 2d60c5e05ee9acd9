package native_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/azkeep/azkeep/internal/azconfig"
	"github.com/azkeep/azkeep/internal/entraemu"
	"github.com/azkeep/azkeep/internal/lifecycle"
	"github.com/azkeep/azkeep/internal/native"
	"github.com/azkeep/azkeep/internal/testbed"
	"github.com/azkeep/azkeep/internal/vault"
	"github.com/azkeep/azkeep/internal/workspace"
)

// flakyVault refuses every Set while refuse is set.
type flakyVault struct {
	*vault.Memory
	refuse atomic.Bool
}

func (v *flakyVault) Set(ctx context.Context, key string, data []byte) error {
	if v.refuse.Load() {
		return errors.New("the collection is locked")
	}
	return v.Memory.Set(ctx, key, data)
}

// directRig is the lifecycle on the native engine against the emulator, logged in to its first tenant.
func directRig(t *testing.T, cfg entraemu.Config) (*lifecycle.Manager, *entraemu.Emulator, *flakyVault, string) {
	t.Helper()
	emu := testbed.Emulator(t, cfg)
	ws, err := workspace.Open(filepath.Join(t.TempDir(), "home"))
	if err != nil {
		t.Fatal(err)
	}
	target := testbed.NewConfigDir(t)
	v := &flakyVault{Memory: vault.NewMemory()}
	m := &lifecycle.Manager{
		WS: ws, Vault: v, Files: lifecycle.AZFiles{}, Engine: &native.Engine{Client: emu.Client()},
		AZ:        lifecycle.NativeLogin{Client: emu.Client()},
		TargetDir: target,
	}
	ctx := context.Background()
	if _, err := m.CreateIntegration(ctx, lifecycle.IntegrationSpec{Alias: "contoso", Tenant: emu.Tenants()[0].ID}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Login(ctx, "contoso", lifecycle.LoginOptions{DeviceCode: true}); err != nil {
		t.Fatal(err)
	}
	return m, emu, v, target
}

// watchRefreshTokens scans dir until stop is closed and returns every
// refresh token it saw there, and how many scans it made.
func watchRefreshTokens(dir string, stop <-chan struct{}) func() ([]testbed.Finding, int) {
	var mu sync.Mutex
	var seen []testbed.Finding
	scans := 0
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			for _, f := range testbed.ScanSecrets(dir) {
				if f.Kind == testbed.KindRefreshToken {
					mu.Lock()
					seen = append(seen, f)
					mu.Unlock()
				}
			}
			scans++
			select {
			case <-stop:
				return
			default:
			}
		}
	}()
	return func() ([]testbed.Finding, int) {
		<-done
		return seen, scans
	}
}

// TestDirectStartAndRotateNeverWriteRefreshToken: with the native engine
// the refresh token goes from the vault to the token endpoint and back to
// the vault without resting in the target dir, not even while the request
// is in flight (the emulator answers after 150 ms; the dir is scanned
// without pause meanwhile). Refresh tokens are single-use, so each step
// also proves the rotated one reached the vault.
func TestDirectStartAndRotateNeverWriteRefreshToken(t *testing.T) {
	m, emu, _, target := directRig(t, entraemu.Config{SubscriptionsPerTenant: 2, StrictRefresh: true})
	emu.SetLatency(150 * time.Millisecond)
	ctx := context.Background()
	subs := emu.Tenants()[0].Subscriptions
	stop := make(chan struct{})
	result := watchRefreshTokens(target, stop)
	steps := []func() error{
		func() error { _, err := m.Start(ctx, subs[0].ID); return err },
		func() error { _, err := m.Rotate(ctx, "", true); return err },
		func() error { _, err := m.Start(ctx, subs[1].ID); return err },
		func() error { _, err := m.Rotate(ctx, "", true); return err },
	}
	for i, step := range steps {
		if err := step(); err != nil {
			close(stop)
			t.Fatalf("step %d: %v", i, err)
		}
	}
	close(stop)
	seen, scans := result()
	if len(seen) > 0 {
		t.Fatalf("a refresh token rested in the target dir: %v", seen)
	}
	if scans < 10 {
		t.Fatalf("only %d scans during four 150 ms requests", scans)
	}
	t.Logf("%d scans of %s, no refresh token", scans, target)
	c, err := azconfig.LoadTokenCache(target)
	if err != nil {
		t.Fatal(err)
	}
	if c.AccessTokens.Len() == 0 || c.Accounts.Len() != 1 || c.RefreshTokens.Len() != 0 {
		t.Errorf("cache: %d access tokens, %d accounts, %d refresh tokens", c.AccessTokens.Len(), c.Accounts.Len(), c.RefreshTokens.Len())
	}
}

// TestDirectVaultRefusalKeepsTokenAndRecovers: when the vault refuses the
// rotated (single-use) refresh token, the start fails saying where the
// token is, the token waits in azkeep's journal (not in the target dir,
// where only a start or rotation took it back), and the next start moves
// it into the vault (the vault's copy is spent).
func TestDirectVaultRefusalKeepsTokenAndRecovers(t *testing.T) {
	m, emu, v, target := directRig(t, entraemu.Config{SubscriptionsPerTenant: 1, StrictRefresh: true})
	ctx := context.Background()
	sub := emu.Tenants()[0].Subscriptions[0].ID
	v.refuse.Store(true)
	_, err := m.Start(ctx, sub)
	if err == nil || !strings.Contains(err.Error(), "vault") || !strings.Contains(err.Error(), "locked") || !strings.Contains(err.Error(), "journal") {
		t.Fatalf("start with a refusing vault: %v", err)
	}
	if rts := testbed.RefreshTokens(testbed.ScanSecrets(target)); len(rts) != 0 {
		t.Fatalf("refresh tokens in the target dir after the refusal: %v", rts)
	}
	if rts := testbed.RefreshTokens(testbed.ScanSecrets(filepath.Join(m.WS.Dir(), "journal"))); len(rts) != 1 {
		t.Fatalf("%d refresh tokens in the journal after the refusal, want the rotated one", len(rts))
	}
	v.refuse.Store(false)
	if _, err := m.Start(ctx, sub); err != nil {
		t.Fatalf("start after the vault recovered: %v", err)
	}
	for _, f := range testbed.ScanSecrets(target) {
		if f.Kind == testbed.KindRefreshToken {
			t.Fatalf("refresh token left on disk: %v", f)
		}
	}
	if _, err := m.Rotate(ctx, "", true); err != nil {
		t.Fatalf("rotate with the vault's token: %v", err)
	}
}
