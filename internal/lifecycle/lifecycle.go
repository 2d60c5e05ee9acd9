// Package lifecycle is the seed's procedures, step by step: login an
// integration (and sync its subscriptions into sessions), start a session,
// rotate it, stop it, log the integration out, delete it.
//
// Each procedure is a method of Manager and each step a commented block
// numbered as docs/procedures.md (and the seed, Leapp's "Azure credentials
// generation") numbers it, so a reader can hold the code next to that file. Everything the procedures touch comes
// in through Manager's fields: the workspace (state file), the vault, the az
// runner (interactive login), the token engine, the Azure CLI's files, a
// clock and IO streams; unit tests pass vault.NewMemory and fakes.
//
// Failure rule: a procedure that fails leaves the state file, the vault and
// the config dir's files as they were. Vault and state writes happen only
// once the step that could fail has succeeded, and a start or rotation
// snapshots the config dir's files and puts them back on failure. Two
// exceptions are deliberate: a refresh token the endpoint rejects marks its
// integration "needs-login", so `azkeep integration list` shows what to fix;
// and a rotated refresh token the vault refuses stays in the config dir
// (not put back over), since it may be the only valid one.
package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/azkeep/azkeep/internal/engine"
	"github.com/azkeep/azkeep/internal/fileutil"
	"github.com/azkeep/azkeep/internal/hint"
	"github.com/azkeep/azkeep/internal/vault"
	"github.com/azkeep/azkeep/internal/workspace"
)

// DefaultWindow is the seed's rotation window: rotate when the access
// token expires within 20 minutes.
const DefaultWindow = 20 * time.Minute

// MinWindow is the Azure CLI's own refresh margin: az treats an access
// token with less than 5 minutes left as expired and, with the refresh
// token stripped, fails. A window must be longer than this.
const MinWindow = 5 * time.Minute

// WindowEnv names the environment variable that overrides the window.
const WindowEnv = "AZKEEP_ROTATE_WINDOW"

// ParseWindow parses a rotation window such as "30m" ("" is the default)
// and refuses one az cannot live with.
func ParseWindow(s string) (time.Duration, error) {
	if strings.TrimSpace(s) == "" {
		return DefaultWindow, nil
	}
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return 0, hint.New(fmt.Errorf("%s=%q is not a duration: %w", WindowEnv, s, err), "use a Go duration such as 20m or 30m")
	}
	if d <= MinWindow {
		return 0, hint.New(fmt.Errorf("rotation window %s is too short: az treats an access token with less than 5 minutes left as expired and, with no refresh token on disk, fails until the next rotation", d),
			"use a window longer than 5m, e.g. "+WindowEnv+"=20m (the default)")
	}
	return d, nil
}

// Runner runs the Azure CLI's interactive login.
type Runner interface {
	// Login runs `az login --tenant TENANT [--use-device-code]` with
	// AZURE_CONFIG_DIR=dir, its prompts on the given streams, with no
	// timeout (ctx cancels it).
	Login(ctx context.Context, req LoginRequest) error
}

// Refresher re-reads an account's subscriptions without user interaction.
type Refresher interface {
	// RefreshSubscriptions runs `az account list --refresh` in dir, where
	// the account, its refresh token and one of its subscriptions are:
	// az redeems the refresh token, asks ARM for the tenants and
	// subscriptions and rewrites azureProfile.json and the token cache.
	// warning is what az warned about on success, one line, secrets
	// redacted ("" for none): az 2.45 exits 0 when its refresh fails, and
	// says why only there.
	RefreshSubscriptions(ctx context.Context, dir string) (warning string, err error)
}

// LoginRequest is one interactive login.
type LoginRequest struct {
	ConfigDir  string
	Tenant     string
	DeviceCode bool
	In         io.Reader
	Out, Err   io.Writer
}

// IO are the streams a procedure may talk on (az login's prompts,
// progress notes).
type IO struct {
	In       io.Reader
	Out, Err io.Writer
}

// Manager runs the procedures.
type Manager struct {
	WS    *workspace.Workspace
	Vault vault.Store
	AZ    Runner
	// Refresher serves Sync; nil makes Sync an error pointing at Login.
	Refresher Refresher
	Engine    engine.Engine
	Files     Files
	// TargetDir is the Azure CLI config dir the default active session
	// lives in ($AZURE_CONFIG_DIR or ~/.azure).
	TargetDir string
	// InFlightDirs are config dirs where a redemption keeps a refresh
	// token while it runs (the az engine's staging dir): a killed run may
	// leave it there, for Recover to move into the vault.
	InFlightDirs []string
	// ScratchBases hold per-session dirs (internal/sessiondir) where a
	// redemption runs aside (MaterializeInto's scratch base): one whose
	// owner was killed may hold a refresh token for Recover.
	ScratchBases []string
	// OnDemandDefaults leaves DefaultResources out of every start and
	// rotation: their tokens are fetched when a client asks (azkeep token,
	// the az shim). The az engine sets it: it runs one az process per
	// resource, each as slow as the ARM redemption itself, and fetching
	// them another way would no longer be az redeeming the refresh token.
	OnDemandDefaults bool
	// Window is the rotation window (DefaultWindow when zero).
	Window time.Duration
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	IO  IO

	// parkedRead holds the parked-tokens items this manager read (by
	// vault key), so that parking after a start does not read one again.
	parkedRead map[string][]byte
}

func (m *Manager) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return time.Now()
}

func (m *Manager) window() time.Duration {
	if m.Window > 0 {
		return m.Window
	}
	return DefaultWindow
}

func (m *Manager) target() string { return workspace.CleanDir(m.TargetDir) }

func (m *Manager) errOut() io.Writer {
	if m.IO.Err != nil {
		return m.IO.Err
	}
	return io.Discard
}

// lockOps serialises the procedures that redeem a refresh token. Refresh
// tokens are single-use where the tenant rotates them: two processes
// (CLI and agent, two shells) redeeming the same one would lose the
// integration. The state file's own lock is held only for its short
// read-modify-writes.
func (m *Manager) lockOps(ctx context.Context) (context.Context, func() error, error) {
	// The returned context carries the lock (fileutil.WithHeld) for the az
	// children that redeem under it: the wait bound is the caller's.
	wctx := ctx
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		wctx, cancel = context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
	}
	path := filepath.Join(m.WS.Dir(), "lifecycle.lock")
	if h, ok := fileutil.TryLockHeld(path); ok {
		return fileutil.WithHeld(ctx, h), h.Unlock, nil
	}
	// A waiter says what it waits for: the wait may be long (an endpoint
	// slow to answer another process's redemption).
	fmt.Fprintf(m.errOut(), "azkeep: waiting for %s: another azkeep (or an az it started) is redeeming a refresh token\n", path)
	h, err := fileutil.LockHeld(wctx, path)
	if err != nil {
		return nil, nil, hint.New(fmt.Errorf("another azkeep is starting or rotating a session: %w", err), "retry in a moment")
	}
	return fileutil.WithHeld(ctx, h), h.Unlock, nil
}

// lockState takes the procedures' lock (see lockOps), recovers the
// refresh tokens a killed or refused run left outside the vault (a
// procedure would otherwise redeem the vault's older, maybe spent, one)
// and reads the state under it: the opening of every procedure that
// redeems or drops a session's credentials. The caller defers the
// returned unlock.
func (m *Manager) lockState(ctx context.Context) (context.Context, *workspace.State, func() error, error) {
	ctx, unlock, err := m.lockOps(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	if err := m.recoverInFlight(ctx); err != nil {
		_ = unlock()
		return nil, nil, nil, err
	}
	st, err := m.WS.Load()
	if err != nil {
		_ = unlock()
		return nil, nil, nil, err
	}
	return ctx, st, unlock, nil
}

// needsLogin marks the integration as needing a new login and returns the
// error the user sees.
func (m *Manager) needsLogin(ctx context.Context, in *workspace.Integration, cause error) error {
	_ = m.WS.Update(ctx, func(st *workspace.State) error {
		if x := st.IntegrationByID(in.ID); x != nil {
			x.Status = workspace.NeedsLogin
		}
		return nil
	})
	return hint.New(fmt.Errorf("integration %q needs a new login: %w", in.Alias, cause), "run azkeep integration login "+in.Alias)
}

// vaultGet reads one item of an integration, saying which and how to fix
// a missing one.
func (m *Manager) vaultGet(ctx context.Context, in *workspace.Integration, item string) ([]byte, error) {
	data, err := m.Vault.Get(ctx, VaultKey(in.ID, item))
	if errors.Is(err, vault.ErrNotFound) {
		return nil, hint.New(fmt.Errorf("the vault (%s) holds no %s for integration %q", m.Vault.Name(), item, in.Alias), "run azkeep integration login "+in.Alias)
	}
	if err != nil {
		return nil, fmt.Errorf("read %s of integration %q from the vault (%s): %w", item, in.Alias, m.Vault.Name(), err)
	}
	return data, nil
}

// vaultItems reads the integration's three vault items (refresh token,
// account, profile), which start and sync both write into a config dir.
func (m *Manager) vaultItems(ctx context.Context, in *workspace.Integration) (rt, account, prof []byte, err error) {
	if rt, err = m.vaultGet(ctx, in, itemRefreshToken); err != nil {
		return nil, nil, nil, err
	}
	if account, err = m.vaultGet(ctx, in, itemAccount); err != nil {
		return nil, nil, nil, err
	}
	if prof, err = m.vaultGet(ctx, in, itemProfile); err != nil {
		return nil, nil, nil, err
	}
	return rt, account, prof, nil
}

func dirExists(dir string) bool {
	fi, err := os.Stat(dir)
	return err == nil && fi.IsDir()
}
