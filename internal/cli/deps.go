package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/azkeep/azkeep/internal/azcli"
	"github.com/azkeep/azkeep/internal/engine"
	"github.com/azkeep/azkeep/internal/hint"
	"github.com/azkeep/azkeep/internal/lifecycle"
	"github.com/azkeep/azkeep/internal/native"
	"github.com/azkeep/azkeep/internal/vault"
	"github.com/azkeep/azkeep/internal/workspace"
)

// deps are the lifecycle's dependencies, built from the globals. The vault,
// the az runner and the engine are opened on first use: lazy rotation runs
// before every command and must cost one state-file read when nothing is
// due (no keyring unlock, no passphrase prompt, no `az` lookup).
type deps struct {
	g     *Globals
	ws    *workspace.Workspace
	vault *lazyVault
	az    *lazyRunner
	eng   *lazyEngine

	runnerOnce sync.Once
	runner     *azcli.Runner

	// state is the state lazy rotation loaded, when nothing was due: the
	// command reuses it instead of reading the file a second time (with
	// thousands of sessions the decode is most of a command's time).
	state *workspace.State
}

// newDeps opens the workspace and prepares the rest lazily.
func newDeps(g *Globals) (*deps, error) {
	ws, err := workspace.Open(g.Home)
	if err != nil {
		return nil, err
	}
	d := &deps{g: g, ws: ws}
	d.vault = &lazyVault{lazy: lazy[vault.Store]{open: func() (vault.Store, error) {
		// vaultOptions (vault.go): passphrase from AZKEEP_VAULT_PASSPHRASE
		// or a prompt, call bound from AZKEEP_VAULT_TIMEOUT.
		opts, err := vaultOptions(g)
		if err != nil {
			return nil, err
		}
		return vault.Open(g.Vault, opts)
	}}, name: vault.Resolve(g.Vault, g.Home)}
	d.az = &lazyRunner{lazy[lifecycle.Runner]{open: func() (lifecycle.Runner, error) { return azLogin{d.azRunner()}, nil }}}
	d.eng = &lazyEngine{name: g.Engine, lazy: lazy[engine.Engine]{open: func() (engine.Engine, error) {
		return newEngine(g.Engine, d.azRunner(), filepath.Join(ws.Dir(), "az"))
	}}}
	return d, nil
}

// azRunner is the one az runner of this command: az from AZKEEP_AZ or
// PATH, the process environment, a passed version check remembered in
// azkeep's home, and with --debug one line per az call (no secrets).
func (d *deps) azRunner() *azcli.Runner {
	d.runnerOnce.Do(func() {
		opts := azcli.Options{StateDir: d.g.Home}
		if d.g.Debug {
			opts.Log = func(line string) { fmt.Fprintf(d.g.IO.Err, "azkeep: debug: %s\n", line) }
		}
		d.runner = azcli.New(opts)
	})
	return d.runner
}

// azLogin is the lifecycle's Runner on azcli: an interactive `az login` in
// the private login dir, which azkeep removes afterwards.
type azLogin struct{ r *azcli.Runner }

func (a azLogin) Login(ctx context.Context, req lifecycle.LoginRequest) error {
	return a.r.Login(ctx, azcli.LoginOptions{
		ConfigDir: req.ConfigDir, Tenant: req.Tenant, DeviceCode: req.DeviceCode, Throwaway: true,
		In: req.In, Out: req.Out, Err: req.Err,
	})
}

// RefreshSubscriptions implements lifecycle.Refresher: `az account list
// --refresh` in a private dir azkeep removes afterwards.
func (a azLogin) RefreshSubscriptions(ctx context.Context, dir string) error {
	_, err := a.r.Run(ctx, azcli.Call{
		Args: []string{"account", "list", "--refresh", "--output", "none"}, ConfigDir: dir, Token: true, Throwaway: true,
	})
	return err
}

// lazyRefresher finds az only when a sync runs.
type lazyRefresher struct{ d *deps }

func (l lazyRefresher) RefreshSubscriptions(ctx context.Context, dir string) error {
	return azLogin{l.d.azRunner()}.RefreshSubscriptions(ctx, dir)
}

// newFiles is the Azure CLI's files as the lifecycle sees them.
func newFiles() lifecycle.Files { return lifecycle.AZFiles{} }

// newEngine picks the token engine by name. "az" is the seed's way (`az
// account get-access-token`, engine.AZ); "native" (the same refresh grant
// made by azkeep itself, internal/native).
func newEngine(name string, runner *azcli.Runner, stagingDir string) (engine.Engine, error) {
	switch name {
	case "", "az":
		// az redeems in azkeep's own config dir (engine.StagedAZ): the
		// refresh token never enters the target dir.
		return engine.NewAZStaged(runner, stagingDir), nil
	case "native":
		// Prefetch failures are warnings on stderr; ARM still works.
		return &native.Engine{Warn: os.Stderr}, nil
	}
	return nil, hint.New(fmt.Errorf("unknown engine %q", name), "use --engine az or --engine native")
}

// manager builds the lifecycle manager and runs lazy rotation first, as
// every azkeep command does (seed: rotation must not depend on the agent).
func (d *deps) manager(ctx context.Context) (*lifecycle.Manager, error) {
	m, err := d.bare()
	if err != nil {
		return nil, err
	}
	d.lazyRotate(ctx, m)
	return m, nil
}

// bare builds the manager without the lazy rotation: for `session rotate`,
// which rotates itself (rotating twice would spend a refresh grant).
func (d *deps) bare() (*lifecycle.Manager, error) {
	window, err := lifecycle.ParseWindow(os.Getenv(lifecycle.WindowEnv))
	if err != nil {
		return nil, err
	}
	m := &lifecycle.Manager{
		WS:        d.ws,
		Vault:     d.vault,
		AZ:        d.az,
		Refresher: lazyRefresher{d},
		Engine:    d.eng,
		Files:     newFiles(),
		TargetDir: d.g.ConfigDir,
		Window:    window,
		IO:        lifecycle.IO{In: d.g.IO.In, Out: d.g.IO.Out, Err: d.g.IO.Err},
	}
	return m, nil
}

// lazyRotate rotates every active session inside the window and reports
// failures as warnings.
func (d *deps) lazyRotate(ctx context.Context, m *lifecycle.Manager) {
	// One read when nothing is due: no active session inside the window
	// means LazyRotate would do nothing, so its own load is skipped and
	// this one kept for the command. Otherwise (or when the file does
	// not read, which LazyRotate reports as a warning) it runs as before
	// and re-checks everything itself.
	if st, err := d.ws.Load(); err == nil && !anyDue(m, st) {
		d.state = st
		return
	}
	rotated, err := m.LazyRotate(ctx)
	for _, r := range rotated {
		if d.g.Debug {
			fmt.Fprintf(d.g.IO.Err, "azkeep: debug: rotated session %s (%s), expires %s\n", r.Session.ID, r.Session.SubscriptionName, r.Session.ExpiresAt.Format(time.RFC3339))
		}
	}
	if err != nil {
		// A failed lazy rotation must not block the command (the user may
		// be running the very login that fixes it).
		fmt.Fprintf(d.g.IO.Err, "azkeep: warning: rotating the active session failed: %s\n", firstLower(err.Error()))
		if h := hint.Of(err); h != "" {
			fmt.Fprintf(d.g.IO.Err, "azkeep: hint: %s\n", h)
		}
	}
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

// loaded is the state for a read-only command: the one lazy rotation
// loaded when it rotated nothing, else a fresh read. It hands it out once.
func (d *deps) loaded() (*workspace.State, error) {
	if st := d.state; st != nil {
		d.state = nil
		return st, nil
	}
	return d.ws.Load()
}

// openManager builds the command's dependencies and its lifecycle manager
// (which runs lazy rotation first): the prologue of every lifecycle command.
func openManager(ctx context.Context, g *Globals) (*deps, *lifecycle.Manager, error) {
	d, err := newDeps(g)
	if err != nil {
		return nil, nil, err
	}
	m, err := d.manager(ctx)
	if err != nil {
		return nil, nil, err
	}
	return d, m, nil
}

// withState is withManager for a read-only command that needs the state:
// it gets the one lazy rotation already read when nothing was due.
func withState(g *Globals, fn func(ctx context.Context, m *lifecycle.Manager, st *workspace.State) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, _ []string) error {
		ctx, stop := commandContext(cmd)
		defer stop()
		d, m, err := openManager(ctx, g)
		if err != nil {
			return err
		}
		st, err := d.loaded()
		if err != nil {
			return err
		}
		return fn(ctx, m, st)
	}
}

// withManager is the RunE shape of every lifecycle command.
func withManager(g *Globals, fn func(ctx context.Context, m *lifecycle.Manager) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, _ []string) error {
		ctx, stop := commandContext(cmd)
		defer stop()
		_, m, err := openManager(ctx, g)
		if err != nil {
			return err
		}
		return fn(ctx, m)
	}
}

// commandContext is the command's context, cancelled by Ctrl-C or SIGTERM:
// an interrupted login still removes its private dir (it holds a refresh
// token), and an interrupted start or rotation puts the config dir back.
func commandContext(cmd *cobra.Command) (context.Context, context.CancelFunc) {
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	return signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
}

// lazy opens a T on first use and keeps it, or the error, for every later
// use: the vault, az and the engine are opened only by the commands that
// need them, and once.
type lazy[T any] struct {
	open func() (T, error)
	once sync.Once
	v    T
	err  error
}

func (l *lazy[T]) get() (T, error) {
	l.once.Do(func() { l.v, l.err = l.open() })
	return l.v, l.err
}

// lazyVault opens the vault backend on first use and reuses it (each
// reopen can cost a keychain prompt).
type lazyVault struct {
	name string
	lazy[vault.Store]
}

func (v *lazyVault) Name() string {
	if v.v != nil {
		return v.v.Name()
	}
	if v.name == "" {
		return "default"
	}
	return v.name
}

func (v *lazyVault) Get(ctx context.Context, key string) ([]byte, error) {
	s, err := v.get()
	if err != nil {
		return nil, err
	}
	return s.Get(ctx, key)
}

func (v *lazyVault) Set(ctx context.Context, key string, data []byte) error {
	s, err := v.get()
	if err != nil {
		return err
	}
	return s.Set(ctx, key, data)
}

func (v *lazyVault) Delete(ctx context.Context, key string) error {
	s, err := v.get()
	if err != nil {
		return err
	}
	return s.Delete(ctx, key)
}

func (v *lazyVault) List(ctx context.Context) ([]vault.Item, error) {
	s, err := v.get()
	if err != nil {
		return nil, err
	}
	return s.List(ctx)
}

// lazyRunner finds az on first use.
type lazyRunner struct {
	lazy[lifecycle.Runner]
}

func (l *lazyRunner) Login(ctx context.Context, req lifecycle.LoginRequest) error {
	r, err := l.get()
	if err != nil {
		return err
	}
	return r.Login(ctx, req)
}

// lazyEngine builds the engine on first use.
type lazyEngine struct {
	name string
	lazy[engine.Engine]
}

func (l *lazyEngine) Name() string {
	if l.name == "" {
		return "az"
	}
	return l.name
}

func (l *lazyEngine) Redeem(ctx context.Context, req engine.Request) (engine.Result, error) {
	e, err := l.get()
	if err != nil {
		return engine.Result{}, err
	}
	return e.Redeem(ctx, req)
}

// Unwrap implements engine.Unwrapper: the lifecycle asks the engine
// itself whether it redeems directly.
func (l *lazyEngine) Unwrap() (engine.Engine, error) { return l.get() }

func (l *lazyEngine) Logout(ctx context.Context, dir string) error {
	e, err := l.get()
	if err != nil {
		return err
	}
	return e.Logout(ctx, dir)
}

// --- output ---------------------------------------------------------------

// outputFlag adds --output table|json to cmd.
func outputFlag(cmd *cobra.Command, p *string) {
	cmd.Flags().StringVarP(p, "output", "o", "table", "output format: table or json (stable fields, see --help)")
}

func checkOutput(o string) error {
	if o != "table" && o != "json" {
		return &usageError{hint.New(fmt.Errorf("unknown output format %q", o), "use --output table or --output json")}
	}
	return nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func newTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
}

func rfc3339(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// IntegrationView is the stable JSON shape of an integration
// (`azkeep integration list --output json`).
type IntegrationView struct {
	ID       string `json:"id"`
	Alias    string `json:"alias"`
	Tenant   string `json:"tenant"`
	TenantID string `json:"tenant_id,omitempty"`
	Location string `json:"location,omitempty"`
	Cloud    string `json:"cloud"`
	// Status is online, offline or needs-login.
	Status   string `json:"status"`
	Username string `json:"username,omitempty"`
	Sessions int    `json:"sessions"`
}

func integrationView(st *workspace.State, in *workspace.Integration) IntegrationView {
	return IntegrationView{
		ID: in.ID, Alias: in.Alias, Tenant: in.Tenant, TenantID: in.TenantID, Location: in.Location,
		Cloud: in.Cloud.Name, Status: string(in.Status), Username: in.Username, Sessions: len(st.SessionsOf(in.ID)),
	}
}
