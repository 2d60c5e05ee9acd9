package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/azkeep/azkeep/internal/engine"
	"github.com/azkeep/azkeep/internal/hint"
	"github.com/azkeep/azkeep/internal/lifecycle"
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
}

// newDeps opens the workspace and prepares the rest lazily.
func newDeps(g *Globals) (*deps, error) {
	ws, err := workspace.Open(g.Home)
	if err != nil {
		return nil, err
	}
	d := &deps{g: g, ws: ws}
	d.vault = &lazyVault{open: func() (vault.Store, error) {
		// vaultOptions (vault.go): passphrase from AZKEEP_VAULT_PASSPHRASE
		// or a prompt, call bound from AZKEEP_VAULT_TIMEOUT.
		opts, err := vaultOptions(g)
		if err != nil {
			return nil, err
		}
		return vault.Open(g.Vault, opts)
	}, name: vault.Resolve(g.Vault, g.Home)}
	d.az = &lazyRunner{open: func() (lifecycle.Runner, error) { return newRunner(g) }}
	d.eng = &lazyEngine{name: g.Engine, open: func() (engine.Engine, error) { return newEngine(g) }}
	return d, nil
}

// newEngine picks the token engine by name. "az" is the seed's way (`az
// account get-access-token`); "native" (the same refresh grant made by
// azkeep itself) plugs in here when internal/native lands.
func newEngine(g *Globals) (engine.Engine, error) {
	switch g.Engine {
	case "", "az":
		return newAZEngine(g)
	case "native":
		return nil, hint.New(errors.New("the native engine is not available in this build"), "use --engine az (the default)")
	}
	return nil, hint.New(fmt.Errorf("unknown engine %q", g.Engine), "use --engine az or --engine native")
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

// withManager is the RunE shape of every lifecycle command.
func withManager(g *Globals, fn func(ctx context.Context, m *lifecycle.Manager) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, _ []string) error {
		ctx, stop := commandContext(cmd)
		defer stop()
		d, err := newDeps(g)
		if err != nil {
			return err
		}
		m, err := d.manager(ctx)
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

// lazyVault opens the vault backend on first use and reuses it (each
// reopen can cost a keychain prompt).
type lazyVault struct {
	name string
	open func() (vault.Store, error)
	once sync.Once
	s    vault.Store
	err  error
}

func (v *lazyVault) get() (vault.Store, error) {
	v.once.Do(func() { v.s, v.err = v.open() })
	return v.s, v.err
}

func (v *lazyVault) Name() string {
	if v.s != nil {
		return v.s.Name()
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
	open func() (lifecycle.Runner, error)
	once sync.Once
	r    lifecycle.Runner
	err  error
}

func (l *lazyRunner) Login(ctx context.Context, req lifecycle.LoginRequest) error {
	l.once.Do(func() { l.r, l.err = l.open() })
	if l.err != nil {
		return l.err
	}
	return l.r.Login(ctx, req)
}

// lazyEngine builds the engine on first use.
type lazyEngine struct {
	name string
	open func() (engine.Engine, error)
	once sync.Once
	e    engine.Engine
	err  error
}

func (l *lazyEngine) get() (engine.Engine, error) {
	l.once.Do(func() { l.e, l.err = l.open() })
	return l.e, l.err
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

// SessionView is the stable JSON shape of a session
// (`azkeep session list|current --output json`).
type SessionView struct {
	ID               string `json:"id"`
	SubscriptionID   string `json:"subscription_id"`
	SubscriptionName string `json:"subscription_name"`
	TenantID         string `json:"tenant_id"`
	IntegrationID    string `json:"integration_id"`
	Integration      string `json:"integration"`
	// Status is inactive, pending or active.
	Status    string `json:"status"`
	ConfigDir string `json:"config_dir,omitempty"`
	// StartedAt and ExpiresAt are RFC 3339 in UTC, omitted when unset.
	StartedAt string `json:"started_at,omitempty"`
	ExpiresAt string `json:"expires_at,omitempty"`
}

func integrationView(st *workspace.State, in *workspace.Integration) IntegrationView {
	return IntegrationView{
		ID: in.ID, Alias: in.Alias, Tenant: in.Tenant, TenantID: in.TenantID, Location: in.Location,
		Cloud: in.Cloud.Name, Status: string(in.Status), Username: in.Username, Sessions: len(st.SessionsOf(in.ID)),
	}
}

func sessionView(st *workspace.State, s *workspace.Session) SessionView {
	alias := ""
	if in := st.IntegrationByID(s.IntegrationID); in != nil {
		alias = in.Alias
	}
	return SessionView{
		ID: s.ID, SubscriptionID: s.SubscriptionID, SubscriptionName: s.SubscriptionName, TenantID: s.TenantID,
		IntegrationID: s.IntegrationID, Integration: alias, Status: string(s.Status), ConfigDir: s.ConfigDir,
		StartedAt: rfc3339(s.StartedAt), ExpiresAt: rfc3339(s.ExpiresAt),
	}
}

func printSessions(w io.Writer, output string, views []SessionView) error {
	if output == "json" {
		if views == nil {
			views = []SessionView{}
		}
		return writeJSON(w, views)
	}
	tw := newTable(w)
	fmt.Fprintln(tw, "SESSION\tSUBSCRIPTION\tSUBSCRIPTION ID\tINTEGRATION\tSTATUS\tEXPIRES")
	for _, v := range views {
		exp := v.ExpiresAt
		if exp == "" {
			exp = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", v.ID, v.SubscriptionName, v.SubscriptionID, v.Integration, v.Status, exp)
	}
	return tw.Flush()
}

// newFiles is the Azure CLI's files as the lifecycle sees them.
func newFiles() lifecycle.Files { return lifecycle.AZFiles{} }

// newRunner finds az for interactive logins.
func newRunner(g *Globals) (lifecycle.Runner, error) { return newRunnerEnv(os.Environ()) }

// newAZEngine is the seed's engine: az account get-access-token.
func newAZEngine(g *Globals) (engine.Engine, error) { return newAZEngineEnv(os.Environ()) }

// newRunnerEnv and newAZEngineEnv run az with env (the demo passes the
// emulator's proxy and CA).
//
// TEMPORARY: a minimal stand-in (azexec.go) until internal/azcli and the
// az engine (internal/engine/az.go) land; then these two lines change.
func newRunnerEnv(env []string) (lifecycle.Runner, error) { return findAZExec(env) }

func newAZEngineEnv(env []string) (engine.Engine, error) { return findAZExec(env) }

// demoAZ returns how the demo runs az, and az's path; az missing is an
// error that says how to install it.
func demoAZ() (azRunFunc, string, error) {
	x, err := findAZExec(nil)
	if err != nil {
		return nil, "", err
	}
	return func(ctx context.Context, env []string, dir string, args ...string) (string, string, error) {
		y := *x
		y.env = env
		return y.run(ctx, dir, nil, args...)
	}, x.path, nil
}

// --- azExec: TEMPORARY minimal az runner and engine -------------------------
//
// Until internal/azcli (lookup, version check, typed errors) and the az
// engine land, this runs az directly. Replace newRunnerEnv/newAZEngineEnv
// and demoAZ with them and delete this section.

type azExec struct {
	path string
	env  []string // nil: the process environment
}

func findAZExec(env []string) (*azExec, error) {
	p := os.Getenv("AZKEEP_AZ")
	if p != "" {
		if _, err := os.Stat(p); err != nil {
			return nil, hint.New(fmt.Errorf("the az named by AZKEEP_AZ cannot be used: %w", err), "point AZKEEP_AZ at the az executable, or unset it to use az from PATH")
		}
	} else {
		var err error
		if p, err = exec.LookPath("az"); err != nil {
			return nil, hint.New(errors.New("the Azure CLI (az) is not installed or not on PATH"),
				"install it (https://learn.microsoft.com/cli/azure/install-azure-cli; Debian/Ubuntu: sudo apt-get install azure-cli), or set AZKEEP_AZ to its path")
		}
	}
	return &azExec{path: p, env: env}, nil
}

func (x *azExec) envFor(dir string) []string {
	base := x.env
	if base == nil {
		base = os.Environ()
	}
	out := make([]string, 0, len(base)+2)
	for _, kv := range base {
		k, _, _ := strings.Cut(kv, "=")
		if k == "AZURE_CONFIG_DIR" || k == "AZURE_CORE_USE_MSAL_HTTP_CACHE" {
			continue
		}
		out = append(out, kv)
	}
	// DESIGN: MSAL replays a cached invalid_grant for 60 s; never let it.
	return append(out, "AZURE_CONFIG_DIR="+dir, "AZURE_CORE_USE_MSAL_HTTP_CACHE=false")
}

func (x *azExec) run(ctx context.Context, dir string, stdin io.Reader, args ...string) (string, string, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
	}
	cmd := exec.CommandContext(ctx, x.path, args...)
	cmd.Env = x.envFor(dir)
	cmd.Stdin = stdin
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("az %s: %w", args[0], ctx.Err())
		} else {
			err = fmt.Errorf("az %s failed (%v): %s", strings.Join(args[:min(2, len(args))], " "), err, firstLine(errb.String()))
		}
	}
	return out.String(), errb.String(), err
}

// Login implements lifecycle.Runner: interactive, no timeout.
func (x *azExec) Login(ctx context.Context, req lifecycle.LoginRequest) error {
	args := []string{"login", "--tenant", req.Tenant, "--output", "none"}
	if req.DeviceCode {
		args = append(args, "--use-device-code")
	}
	cmd := exec.CommandContext(ctx, x.path, args...)
	cmd.Env = x.envFor(req.ConfigDir)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = req.In, req.Out, req.Err
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("az login: %w", err)
	}
	return nil
}

func (x *azExec) Name() string { return "az" }

// Redeem implements engine.Engine with az account get-access-token.
func (x *azExec) Redeem(ctx context.Context, req engine.Request) (engine.Result, error) {
	stdout, stderr, err := x.run(ctx, req.ConfigDir, nil, "account", "get-access-token", "--subscription", req.SubscriptionID, "--output", "json")
	if err != nil {
		for _, code := range []string{"invalid_grant", "interaction_required", "AADSTS"} {
			if strings.Contains(stderr, code) {
				return engine.Result{}, &engine.NeedsLoginError{Code: "invalid_grant", Description: firstLine(stderr)}
			}
		}
		return engine.Result{}, err
	}
	var tok struct {
		ExpiresOn  string `json:"expiresOn"`
		ExpiresOnN int64  `json:"expires_on"`
	}
	if err := json.Unmarshal([]byte(stdout), &tok); err != nil {
		return engine.Result{}, fmt.Errorf("az account get-access-token printed no JSON: %w", err)
	}
	var exp time.Time
	if tok.ExpiresOnN > 0 {
		exp = time.Unix(tok.ExpiresOnN, 0)
	} else if exp, err = time.ParseInLocation("2006-01-02 15:04:05.000000", tok.ExpiresOn, time.Local); err != nil {
		return engine.Result{}, fmt.Errorf("az account get-access-token: expiry %q: %w", tok.ExpiresOn, err)
	}
	for _, r := range req.Resources {
		if _, _, err := x.run(ctx, req.ConfigDir, nil, "account", "get-access-token", "--resource", r, "--output", "none"); err != nil {
			return engine.Result{}, err
		}
	}
	return engine.Result{ExpiresOn: exp}, nil
}

// Logout implements engine.Engine with az logout.
func (x *azExec) Logout(ctx context.Context, dir string) error {
	_, stderr, err := x.run(ctx, dir, nil, "logout")
	if err != nil && strings.Contains(strings.ToLower(stderr), "no active account") {
		return nil
	}
	return err
}
