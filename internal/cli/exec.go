package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/azkeep/azkeep/internal/childproc"
	"github.com/azkeep/azkeep/internal/hint"
	"github.com/azkeep/azkeep/internal/lifecycle"
	"github.com/azkeep/azkeep/internal/miserver"
	"github.com/azkeep/azkeep/internal/sessiondir"
	"github.com/azkeep/azkeep/internal/vault"
)

// SessionEnv names the variable exec and env set to the session id; its
// presence means "inside azkeep exec/env" (nesting check).
const SessionEnv = "AZKEEP_SESSION"

// conflictingEnv are the variables that would make az, Terraform or an SDK
// use other credentials than the session's: removed from the child's
// environment (and unset by `azkeep env`).
var conflictingEnv = []string{
	"AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PATH",
	"AZURE_CLIENT_CERTIFICATE_PASSWORD", "AZURE_CLIENT_SEND_CERTIFICATE_CHAIN",
	"AZURE_USERNAME", "AZURE_PASSWORD", "AZURE_FEDERATED_TOKEN_FILE",
	"ARM_CLIENT_ID", "ARM_CLIENT_SECRET", "ARM_CLIENT_CERTIFICATE_PATH",
	"ARM_CLIENT_CERTIFICATE_PASSWORD", "ARM_CLIENT_CERTIFICATE",
	"ARM_USE_MSI", "ARM_MSI_ENDPOINT", "ARM_USE_OIDC", "ARM_OIDC_TOKEN",
	"ARM_OIDC_TOKEN_FILE_PATH", "ARM_OIDC_REQUEST_TOKEN", "ARM_OIDC_REQUEST_URL",
	"ARM_USE_AKS_WORKLOAD_IDENTITY",
	"IDENTITY_ENDPOINT", "IDENTITY_HEADER", "IDENTITY_SERVER_THUMBPRINT",
	"MSI_ENDPOINT", "MSI_SECRET", "IMDS_ENDPOINT", "DEFAULT_IDENTITY_CLIENT_ID",
}

// vaultKeyEnv are the variables that open the vault: never handed to a
// child, which could read every integration's refresh token with them. A
// nested azkeep in the child still finds its home (AZKEEP_HOME,
// AZKEEP_VAULT stay) and asks for the passphrase itself.
var vaultKeyEnv = []string{vault.PassphraseEnv}

// sessionEnv are the variables exec and env set (besides AZURE_CONFIG_DIR).
func sessionVars(m *lifecycle.Materialized, dir string) [][2]string {
	tenant := m.Session.TenantID
	if tenant == "" {
		tenant = m.Integration.TenantID
	}
	return [][2]string{
		{"AZURE_CONFIG_DIR", dir},
		{"AZURE_SUBSCRIPTION_ID", m.Session.SubscriptionID},
		{"AZURE_TENANT_ID", tenant},
		{"ARM_SUBSCRIPTION_ID", m.Session.SubscriptionID},
		{"ARM_TENANT_ID", tenant},
		{SessionEnv, m.Session.ID},
	}
}

// ExecOptions are the inputs of `exec`.
type ExecOptions struct {
	// Env is what the run needs from the outside (tests pass fakes).
	Env      func(context.Context) (*execEnv, error)
	Session  string
	Server   bool
	Nested   bool
	NoAZShim bool
	Command  []string
}

// NewCmdExec builds `exec`.
func NewCmdExec(f *Factory, runF func(context.Context, *ExecOptions) error) *cobra.Command {
	opts := &ExecOptions{Env: f.execEnv}
	cmd := &cobra.Command{
		Use:   "exec SESSION [--server] [--nested] [--] [COMMAND [ARGS...]]",
		Short: "Run a command (default $SHELL) with its own Azure session",
		Long: `Run COMMAND (default: your $SHELL) with a private AZURE_CONFIG_DIR holding
SESSION alone: its subscription's profile, the account and access tokens, no
refresh token. az, Terraform and every SDK's AzureCLICredential use it; the
default session in the target dir is untouched, so several execs on
different tenants run side by side.

Set in the child: AZURE_CONFIG_DIR, AZURE_SUBSCRIPTION_ID, AZURE_TENANT_ID,
ARM_SUBSCRIPTION_ID, ARM_TENANT_ID, AZKEEP_SESSION. Removed: variables naming
other credentials (AZURE_CLIENT_SECRET, ARM_CLIENT_ID, MSI_ENDPOINT, ...) and
the vault's key, AZKEEP_VAULT_PASSPHRASE.

azkeep renews the access tokens while the child runs, relays SIGINT, SIGTERM,
SIGHUP, SIGQUIT and SIGWINCH to it, exits with its exit status and removes the
dir when it ends (a dir left by a killed azkeep is removed by the next exec).

--server also serves the App Service managed-identity protocol on 127.0.0.1
and sets IDENTITY_ENDPOINT and IDENTITY_HEADER in the child only: SDK code
using ManagedIdentityCredential or DefaultAzureCredential gets tokens for
any resource the session can reach.

The child's PATH starts with azkeep's az shim: "az account get-access-token"
(what every SDK's AzureCliCredential runs) is answered by azkeep for any
resource, from the session's cache while valid, without starting the Azure
CLI; every other az command runs the real az (AZKEEP_AZ, set in the child)
unchanged. --no-az-shim leaves PATH alone.

Inside an exec another exec is refused unless --nested (a shell set up by
azkeep env is not an exec).`,
		Example: `  azkeep exec prod -- az account show
  azkeep exec --server prod -- go run ./cmd/tool
  azkeep exec test-sub            # a shell on the test subscription`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 && !f.Interactive() {
				return &usageError{hint.New(errors.New("exec needs a session"), "run azkeep exec SESSION -- COMMAND (azkeep session list shows them)")}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			session, err := f.sessionArg(args, "run a shell on a session")
			if err != nil {
				return err
			}
			opts.Session = session
			if len(args) > 0 {
				opts.Command = args[1:]
			}
			// Flag parsing stops at SESSION, so a "--" after it is still
			// here; it only separates azkeep's arguments from the command's.
			if len(opts.Command) > 0 && opts.Command[0] == "--" {
				opts.Command = opts.Command[1:]
			}
			if err := checkNesting(opts.Nested, os.Getenv(SessionEnv), os.Getenv("AZURE_CONFIG_DIR")); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			e, err := opts.Env(cmd.Context())
			if err != nil {
				return err
			}
			return execRun(cmd.Context(), e, *opts)
		},
	}
	fl := cmd.Flags()
	fl.SetInterspersed(false) // everything after SESSION belongs to the command
	fl.BoolVar(&opts.Server, "server", false, "also serve the managed-identity endpoint (IDENTITY_ENDPOINT, IDENTITY_HEADER) to the child")
	fl.BoolVar(&opts.Nested, "nested", false, "allow running inside another azkeep exec or env")
	fl.BoolVar(&opts.NoAZShim, "no-az-shim", false, "run the real az for az account get-access-token too")
	return cmd
}

// checkNesting refuses an exec inside another exec: AZKEEP_SESSION is set
// and AZURE_CONFIG_DIR is an exec's per-session dir (it has an owner file).
// A shell pointed at a session by azkeep env may run execs freely.
func checkNesting(nested bool, session, configDir string) error {
	if session == "" || nested || configDir == "" {
		return nil
	}
	if _, err := os.Stat(filepath.Join(configDir, sessiondir.OwnerFile)); err != nil {
		return nil
	}
	return &usageError{hint.New(
		fmt.Errorf("already inside azkeep exec for session %s", session),
		"exit that command or shell first, or pass --nested")}
}

// execEnv is what execRun needs from the outside; tests pass fakes.
type execEnv struct {
	IO      IO
	Home    string
	Environ []string
	Window  time.Duration
	Now     func() time.Time
	Debug   bool
	// Materialize writes the session into dir with fresh access tokens (for
	// ARM and the integration's resources, plus extra) and no refresh token.
	Materialize func(ctx context.Context, query, dir string, extra ...string) (*lifecycle.Materialized, error)
	// Token gets one access token of a session (lifecycle.Manager.Token).
	Token func(context.Context, lifecycle.TokenRequest) (*lifecycle.Token, error)
	// Prepare fills a new per-session dir with the target dir's settings.
	Prepare func(dir string) error
	// After is the timer (time.After).
	After func(time.Duration) <-chan time.Time
	// Self is azkeep's executable, run as the child's az shim ("" for none).
	Self string
}

// execEnv builds the run's environment on the lifecycle manager (after
// lazy rotation).
func (f *Factory) execEnv(ctx context.Context) (*execEnv, error) {
	m, err := f.rotatedManager(ctx)
	if err != nil {
		return nil, err
	}
	return newExecEnv(f, m), nil
}

func newExecEnv(f *Factory, m *lifecycle.Manager) *execEnv {
	g := f.Globals
	self, _ := os.Executable()
	window := m.Window
	if window <= 0 {
		window = lifecycle.DefaultWindow
	}
	return &execEnv{
		IO:      f.IO,
		Home:    g.Home,
		Environ: f.Environ(),
		Window:  window,
		Now:     time.Now,
		Debug:   g.Debug,
		Materialize: func(ctx context.Context, query, dir string, extra ...string) (*lifecycle.Materialized, error) {
			return m.MaterializeInto(ctx, query, dir, execBase(g.Home), extra...)
		},
		Token:   m.Token,
		Prepare: func(dir string) error { return prepareSessionDir(m, dir) },
		After:   time.After,
		Self:    self,
	}
}

// prepareSessionDir copies the target dir's settings into a new per-session
// dir as a private login dir gets them: config and clouds.config (so az uses
// the same cloud, telemetry and defaults) and versionCheck.json (so az does
// not look for a newer version from every fresh dir).
func prepareSessionDir(m *lifecycle.Manager, dir string) error {
	return m.Files.LoginDirConfig(dir, m.TargetDir)
}

// execBase is where exec's per-session dirs live.
func execBase(home string) string { return filepath.Join(home, "exec") }

// execRun is `azkeep exec`.
func execRun(ctx context.Context, e *execEnv, opts ExecOptions) (err error) {
	base := execBase(e.Home)
	// A dir left by an azkeep killed with SIGKILL goes now.
	if removed, err := sessiondir.Sweep(base); err != nil {
		fmt.Fprintf(e.IO.Err, "azkeep: warning: removing stale per-session dirs: %v\n", err)
	} else if e.Debug && len(removed) > 0 {
		fmt.Fprintf(e.IO.Err, "azkeep: debug: removed %d stale per-session dir(s)\n", len(removed))
	}
	d, err := sessiondir.New(base, "s")
	if err != nil {
		return err
	}
	defer func() {
		if rerr := d.Remove(); rerr != nil {
			err = errors.Join(err, fmt.Errorf("remove per-session dir %s: %w", d.Path, rerr))
		}
	}()
	if err := e.Prepare(d.Path); err != nil {
		return fmt.Errorf("prepare per-session dir: %w", err)
	}
	// Until the child runs, Ctrl-C or SIGTERM cancel the set-up (ctx; the
	// dir is then removed).
	mat, err := e.Materialize(ctx, opts.Session, d.Path)
	if err != nil {
		return err
	}
	// Once it runs, they are the child's (childproc relays them): the
	// renewals and the endpoint go on until the child ends.
	ctx = context.WithoutCancel(ctx)

	// From here on the session is named by its id: a subscription renamed
	// while the child runs must not break renewals.
	id := mat.Session.ID
	env := childEnv(e.Environ, sessionVars(mat, d.Path))
	if !opts.NoAZShim && e.Self != "" {
		if env, err = withAZShim(env, d.Path, e.Self, e.Home); err != nil {
			return err
		}
	}
	if opts.Server {
		srv, err := miserver.Start(miTokenSource(e, id, d.Path), miserver.Options{Logf: debugf(e), MinValidity: lifecycle.TokenMinValidity})
		if err != nil {
			return err
		}
		defer srv.Close()
		env = append(noProxyLoopback(env), srv.Env()...)
	}

	// The renewal goroutine is stopped and waited for before the server
	// closes and the dir goes (defers run in reverse): a renewal still
	// writing would recreate the dir after its removal.
	fresh, stop := context.WithCancel(ctx)
	freshDone := make(chan struct{})
	go func() {
		defer close(freshDone)
		keepFresh(fresh, e, mat.ExpiresAt, func(ctx context.Context) (time.Time, error) {
			m, err := e.Materialize(ctx, id, d.Path)
			if err != nil {
				return time.Time{}, err
			}
			return m.ExpiresAt, nil
		})
	}()
	defer func() {
		stop()
		<-freshDone
	}()

	cmd, err := childCommand(opts.Command, env)
	if err != nil {
		return err
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = e.IO.In, e.IO.Out, e.IO.Err
	return childproc.Run(cmd, d.SetChild, e.IO.Err)
}

func debugf(e *execEnv) func(string, ...any) {
	if !e.Debug {
		return nil
	}
	return func(f string, a ...any) { fmt.Fprintf(e.IO.Err, "azkeep: debug: "+f+"\n", a...) }
}

// childEnv is environ without the conflicting, vault-key and session
// variables, then the session's.
func childEnv(environ []string, set [][2]string) []string {
	drop := map[string]bool{}
	for _, n := range slices.Concat(conflictingEnv, vaultKeyEnv) {
		drop[envKey(n)] = true
	}
	for _, kv := range set {
		drop[envKey(kv[0])] = true
	}
	var out []string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if !drop[envKey(name)] {
			out = append(out, kv)
		}
	}
	for _, kv := range set {
		out = append(out, kv[0]+"="+kv[1])
	}
	return out
}

// noProxyLoopback adds 127.0.0.1 and localhost to NO_PROXY and no_proxy
// in env: the SDKs send the managed-identity request through HTTPS_PROXY
// unless NO_PROXY names its exact host (Node's proxy policy does not match
// 127.0.0.1 with localhost, Python's requests reads the lower-case one).
func noProxyLoopback(env []string) []string {
	for _, name := range []string{"NO_PROXY", "no_proxy"} {
		cur, at := "", -1
		for i, kv := range env {
			if k, v, _ := strings.Cut(kv, "="); k == name {
				cur, at = v, i
			}
		}
		list := cur
		for _, h := range []string{"127.0.0.1", "localhost"} {
			if !slices.Contains(strings.Split(strings.ReplaceAll(list, " ", ""), ","), h) {
				list = strings.TrimPrefix(list+","+h, ",")
			}
		}
		if at >= 0 {
			env[at] = name + "=" + list
		} else {
			env = append(env, name+"="+list)
		}
	}
	return env
}

// envKey folds case on Windows, where variable names are case-insensitive.
func envKey(name string) string {
	if runtime.GOOS == "windows" {
		return strings.ToUpper(name)
	}
	return name
}

// childCommand builds the child: argv, or the user's shell.
func childCommand(argv []string, env []string) (*exec.Cmd, error) {
	if len(argv) == 0 {
		sh := os.Getenv("SHELL")
		if runtime.GOOS == "windows" {
			if sh = os.Getenv("COMSPEC"); sh == "" {
				sh = "cmd.exe"
			}
		}
		if sh == "" {
			sh = "/bin/sh"
		}
		argv = []string{sh}
	}
	path, err := exec.LookPath(argv[0])
	if err != nil {
		return nil, hint.New(fmt.Errorf("cannot run %s: %w", argv[0], err), "check the command name and PATH")
	}
	cmd := exec.Command(path, argv[1:]...)
	cmd.Args[0] = argv[0]
	cmd.Env = env
	return cmd, nil
}

// keepFresh renews the per-session dir at expiry − window while the child
// runs (the seed's rotation, for this dir), retrying a failure with back-off
// from 15 s to 5 min. It stops when ctx ends.
func keepFresh(ctx context.Context, e *execEnv, expires time.Time, refresh func(context.Context) (time.Time, error)) {
	for {
		wait := renewIn(expires, e.Window, e.Now())
		select {
		case <-ctx.Done():
			return
		case <-e.After(wait):
		}
		backoff := 15 * time.Second
		for {
			exp, err := refresh(ctx)
			if ctx.Err() != nil {
				return
			}
			if err == nil {
				expires = exp
				if e.Debug {
					fmt.Fprintf(e.IO.Err, "azkeep: debug: renewed the per-session dir, token expires %s\n", exp.UTC().Format(time.RFC3339))
				}
				break
			}
			warn(e.IO.Err, fmt.Sprintf("renewing the session's access token failed (retry in %s)", backoff), err)
			select {
			case <-ctx.Done():
				return
			case <-e.After(backoff):
			}
			backoff = min(2*backoff, 5*time.Minute)
		}
	}
}

// renewIn is how long to wait before renewing a token that expires at exp:
// until exp − window; for a token that lives shorter than the window (test
// emulators, odd tenants) half of what is left, and never less than a
// second, so a short lifetime cannot turn the loop into a busy one.
func renewIn(exp time.Time, window time.Duration, now time.Time) time.Duration {
	wait := exp.Add(-window).Sub(now)
	if wait <= 0 {
		wait = exp.Sub(now) / 2
	}
	return max(wait, time.Second)
}

// miTokenSource serves the managed-identity endpoint from the session: a
// token the exec dir holds (ARM and the default and integration's
// resources, fetched at start and at each renewal) as it is, any other
// through lifecycle.Manager.Token into the exec's own dir.
func miTokenSource(e *execEnv, id, dir string) miserver.TokenSource {
	return func(ctx context.Context, resource string) (string, time.Time, error) {
		tok, err := e.Token(ctx, lifecycle.TokenRequest{Session: id, Scope: resource + "/.default", Dir: dir, ScratchBase: execBase(e.Home)})
		if err != nil {
			return "", time.Time{}, err
		}
		return tok.AccessToken, tok.ExpiresOn, nil
	}
}
