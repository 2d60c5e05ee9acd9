package cli

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/azkeep/azkeep/internal/azcli"
	"github.com/azkeep/azkeep/internal/engine"
	"github.com/azkeep/azkeep/internal/hint"
	"github.com/azkeep/azkeep/internal/lifecycle"
	"github.com/azkeep/azkeep/internal/native"
	"github.com/azkeep/azkeep/internal/tui"
	"github.com/azkeep/azkeep/internal/vault"
	"github.com/azkeep/azkeep/internal/workspace"
)

// Factory builds what commands share, each on first use and once (gh's
// cmdutil.Factory): a command that only reads the state never opens the
// vault or looks for az, and the vault is opened once per process (each
// reopen can cost the user a keychain prompt). The root command resolves
// Globals from flags and environment before any command runs; tests and the
// demo replace the fields they need.
type Factory struct {
	IO IO
	// Globals are the global flags, resolved before a command runs.
	Globals *Globals
	// Environ is the process environment (children inherit it).
	Environ func() []string
	// Interactive reports whether a user is at a terminal (stdin and
	// stderr): only then does a command open a picker or ask a question.
	Interactive func() bool
	// Pick asks the user to pick one of items on the terminal and returns
	// its value (tui.ErrCancelled on Esc).
	Pick func(title string, items []tui.Item) (string, error)

	// Workspace is azkeep's home: the state file and its lock.
	Workspace func() (*workspace.Workspace, error)
	// Vault is the vault backend of --vault, opened on its first use.
	Vault func() (vault.Store, error)
	// AZ runs the Azure CLI (found on first use).
	AZ func() *azcli.Runner
	// HTTPClient sends the native engine's requests.
	HTTPClient func() *http.Client
	// Engine is the token engine of --engine.
	Engine func() (engine.Engine, error)
	// Login signs an integration in: az login in a private dir, or
	// azkeep's own device-code flow with --engine native.
	Login func() lifecycle.Runner
	// Manager is the lifecycle manager on the dependencies above. It has
	// not rotated anything: see Rotated.
	Manager func() (*lifecycle.Manager, error)
}

// NewFactory returns the factory of the azkeep command, on the process's
// environment and streams.
func NewFactory(streams IO) *Factory {
	f := &Factory{IO: streams, Globals: &Globals{}, Environ: os.Environ}
	f.Interactive = func() bool { return isTerminal(f.IO.In) && isTerminal(f.IO.Err) }
	f.Pick = func(title string, items []tui.Item) (string, error) { return tui.Pick(f.IO.In, f.IO.Err, title, items) }
	f.Workspace = sync.OnceValues(func() (*workspace.Workspace, error) {
		return workspace.Open(f.Globals.Home)
	})
	f.Vault = sync.OnceValues(func() (vault.Store, error) {
		opts, err := vaultOptions(f.Globals, f.IO)
		if err != nil {
			return nil, err
		}
		if f.Interactive() {
			opts.OfferFile = offerFileVault(f.IO, f.Globals.Home)
		}
		return vault.OpenLazily(f.Globals.Vault, opts), nil
	})
	f.AZ = sync.OnceValue(func() *azcli.Runner {
		opts := azcli.Options{StateDir: f.Globals.Home}
		if f.Globals.Debug {
			opts.Log = func(line string) { fmt.Fprintf(f.IO.Err, "azkeep: debug: %s\n", line) }
		}
		return azcli.New(opts)
	})
	f.HTTPClient = func() *http.Client { return http.DefaultClient }
	f.Engine = sync.OnceValues(func() (engine.Engine, error) {
		ws, err := f.Workspace()
		if err != nil {
			return nil, err
		}
		return newEngine(f.Globals.Engine, f.AZ(), stagingDir(ws), f.HTTPClient(), f.IO)
	})
	f.Login = func() lifecycle.Runner {
		if f.Globals.Engine == "native" {
			return nativeLogin{
				NativeLogin: lifecycle.NativeLogin{Client: f.HTTPClient()},
				refresh:     lifecycle.AZLogin{AZ: f.AZ()},
			}
		}
		return lifecycle.AZLogin{AZ: f.AZ()}
	}
	f.Manager = sync.OnceValues(func() (*lifecycle.Manager, error) { return newManager(f) })
	return f
}

// nativeLogin signs in by azkeep's own device-code flow, so the native
// engine needs no az to log in; sync still has az re-read the
// subscriptions (az not found is then its error, with the hint to install
// it).
type nativeLogin struct {
	lifecycle.NativeLogin
	refresh lifecycle.AZLogin
}

// RefreshSubscriptions implements lifecycle.Refresher.
func (n nativeLogin) RefreshSubscriptions(ctx context.Context, dir string) (string, error) {
	return n.refresh.RefreshSubscriptions(ctx, dir)
}

// newManager builds the lifecycle manager from f's dependencies.
func newManager(f *Factory) (*lifecycle.Manager, error) {
	window, err := lifecycle.ParseWindow(os.Getenv(lifecycle.WindowEnv))
	if err != nil {
		return nil, &usageError{err}
	}
	ws, err := f.Workspace()
	if err != nil {
		return nil, err
	}
	v, err := f.Vault()
	if err != nil {
		return nil, err
	}
	eng, err := f.Engine()
	if err != nil {
		return nil, err
	}
	login := f.Login()
	refresher, _ := login.(lifecycle.Refresher)
	return &lifecycle.Manager{
		WS:        ws,
		Vault:     v,
		AZ:        login,
		Refresher: refresher,
		Engine:    eng,
		Files:     lifecycle.AZFiles{},
		TargetDir: f.Globals.ConfigDir,
		// The az engine's staging dir, whichever engine runs now: a
		// killed run of either may have left a token there.
		InFlightDirs: []string{stagingDir(ws)},
		ScratchBases: []string{execBase(ws.Dir())},
		Window:       window,
		// The az engine's start is one az process: the default
		// resources' tokens come on demand (lifecycle.Manager.Token).
		OnDemandDefaults: eng.Name() == "az",
		IO:               lifecycle.IO{In: f.IO.In, Out: f.IO.Out, Err: f.IO.Err},
	}, nil
}

// newEngine picks the token engine by name: "az" (the seed's way: az
// redeems in azkeep's staging dir, so the refresh token never enters the
// target dir) or "native" (the same refresh grant made by azkeep itself).
func newEngine(name string, runner *azcli.Runner, stagingDir string, client *http.Client, streams IO) (engine.Engine, error) {
	switch name {
	case "", "az":
		a := engine.NewAZ(runner, stagingDir)
		a.Warn = streams.Err // prefetch failures are warnings too
		return a, nil
	case "native":
		// Prefetch failures are warnings; ARM still works.
		return &native.Engine{Client: client, Warn: streams.Err}, nil
	}
	return nil, &usageError{hint.New(fmt.Errorf("unknown engine %q", name), "use --engine az or --engine native")}
}

// Rotated is the manager after the lazy rotation every command but
// `session rotate` and the agent runs first (seed: rotation must not depend
// on the agent), and the state file it read when nothing was due (nil
// otherwise), which a read-only command may use instead of reading it
// again. A failed rotation is a warning: the command must still run (it may
// be the very login that fixes it).
func (f *Factory) Rotated(ctx context.Context) (*lifecycle.Manager, *workspace.State, error) {
	m, err := f.Manager()
	if err != nil {
		return nil, nil, err
	}
	// First, a refresh token a killed run left outside the vault goes in.
	// A state file that cannot be read stops both steps; it is the
	// command's error, reported once (no warning repeats it).
	if err := m.Recover(ctx); err != nil {
		if _, lerr := m.WS.Load(); lerr != nil {
			return m, nil, nil
		}
		warn(f.IO.Err, "moving a refresh token left on disk into the vault failed", err)
	}
	st, err := m.WS.Load()
	if err != nil {
		return m, nil, nil
	}
	if !anyDue(m, st) {
		return m, st, nil
	}
	rotated, err := m.LazyRotate(ctx)
	for _, r := range rotated {
		if f.Globals.Debug {
			fmt.Fprintf(f.IO.Err, "azkeep: debug: rotated session %s (%s), expires %s\n", r.Session.ID, r.Session.SubscriptionName, r.Session.ExpiresAt.Format(time.RFC3339))
		}
	}
	if err != nil {
		warn(f.IO.Err, "rotating the active session failed", err)
	}
	return m, nil, nil
}

// RotatedState is Rotated for a command that only reads the state.
func (f *Factory) RotatedState(ctx context.Context) (*workspace.State, error) {
	m, st, err := f.Rotated(ctx)
	if err != nil || st != nil {
		return st, err
	}
	return m.WS.Load()
}

// anyDue reports whether some active session of st is inside the rotation
// window: a superset of what LazyRotate rotates (it also wants the config
// dir to exist and the integration online).
func anyDue(m *lifecycle.Manager, st *workspace.State) bool {
	now := time.Now()
	if m.Now != nil {
		now = m.Now()
	}
	for i := range st.Sessions {
		if s := &st.Sessions[i]; s.ConfigDir != "" && m.Due(s, now) {
			return true
		}
	}
	return false
}

// stagingDir is the az engine's staging dir in azkeep's home.
func stagingDir(ws *workspace.Workspace) string { return filepath.Join(ws.Dir(), "az") }
