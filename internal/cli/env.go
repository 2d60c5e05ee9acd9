package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/azkeep/azkeep/internal/agent"
	"github.com/azkeep/azkeep/internal/azcli"
	"github.com/azkeep/azkeep/internal/hint"
	"github.com/azkeep/azkeep/internal/lifecycle"
	"github.com/azkeep/azkeep/internal/sessiondir"
	"github.com/azkeep/azkeep/internal/shellenv"
	"github.com/azkeep/azkeep/internal/workspace"
)

// prevConfigDirEnv keeps the shell's own AZURE_CONFIG_DIR while `azkeep env`
// points it elsewhere, so `azkeep env --unset` can put it back.
const prevConfigDirEnv = "AZKEEP_PREV_AZURE_CONFIG_DIR"

// EnvOptions are the inputs of `env`.
type EnvOptions struct {
	IO      IO
	Environ func() []string
	// Home is azkeep's home (the persistent dirs live below it).
	Home func() string
	// Env gives the run its environment and the state lazy rotation read.
	Env     func(context.Context) (*execEnv, *workspace.State, error)
	Session string
	Shell   string
	Unset   bool
	// AZShim puts the az shim first on the shell's PATH.
	AZShim bool
}

// NewCmdEnv builds `env`.
func NewCmdEnv(f *Factory, runF func(context.Context, *EnvOptions) error) *cobra.Command {
	opts := &EnvOptions{IO: f.IO, Environ: f.Environ, Home: func() string { return f.Globals.Home }, Env: f.envEnv}
	cmd := &cobra.Command{
		Use:   "env SESSION [--shell bash|zsh|fish|powershell] | env --unset",
		Short: "Print shell lines that point this shell at one session",
		Long: `Print the lines that point the current shell at SESSION: a persistent
per-session AZURE_CONFIG_DIR under azkeep's home, holding that subscription
alone with access tokens only (no refresh token), which the agent keeps
fresh. Sets AZURE_CONFIG_DIR, AZURE_SUBSCRIPTION_ID, AZURE_TENANT_ID,
ARM_SUBSCRIPTION_ID, ARM_TENANT_ID and AZKEEP_SESSION, and unsets variables
naming other credentials (AZURE_CLIENT_SECRET, ...) that the shell has.

With --az-shim, PATH starts with a dir in the session's dir where azkeep
stands in for az: "az account get-access-token" (what every SDK's
AzureCliCredential runs) is answered by azkeep, any other az command runs
the real az, as in azkeep exec. Without it, an earlier shim leaves PATH.

--unset prints the lines that undo it (a previous AZURE_CONFIG_DIR comes
back). The shell is taken from $SHELL unless --shell names it.`,
		Example: `  eval "$(azkeep env prod)"                      # bash, zsh
  eval "$(azkeep env prod --az-shim)"             # and az account get-access-token by azkeep
  azkeep env prod --shell fish | source           # fish
  azkeep env prod --shell powershell | Invoke-Expression
  eval "$(azkeep env --unset)"`,
		Args: func(cmd *cobra.Command, args []string) error {
			if opts.Unset && len(args) != 0 {
				return &usageError{hint.New(errors.New("env --unset takes no session"), "run azkeep env --unset")}
			}
			if !opts.Unset && len(args) != 1 && !(len(args) == 0 && f.Interactive()) {
				return &usageError{hint.New(errors.New("env needs one session"), "run azkeep env SESSION (azkeep session list shows them)")}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if !opts.Unset {
				var err error
				if opts.Session, err = f.sessionArg(args, "point this shell at a session"); err != nil {
					return err
				}
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return envCmdRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Shell, "shell", "", "shell dialect: bash, zsh, fish or powershell (default from $SHELL)")
	cmd.Flags().BoolVar(&opts.Unset, "unset", false, "print the lines that undo azkeep env")
	cmd.Flags().BoolVar(&opts.AZShim, "az-shim", false, "put azkeep's az shim first on PATH (answers az account get-access-token)")
	return cmd
}

// envCmdRun is `azkeep env`.
func envCmdRun(ctx context.Context, opts *EnvOptions) error {
	sh, err := pickShell(opts.Shell)
	if err != nil {
		return err
	}
	if opts.Unset {
		return envUnset(opts.IO, sh, opts.Environ())
	}
	e, st, err := opts.Env(ctx)
	if err != nil {
		return err
	}
	home := opts.Home()
	resolve := func(query string) (*workspace.Session, *workspace.Integration, error) {
		agent.PruneEnvDirs(st, home)
		s, err := st.Session(query)
		if err != nil {
			return nil, nil, err
		}
		in := st.IntegrationByID(s.IntegrationID)
		if in == nil {
			return nil, nil, fmt.Errorf("session %s belongs to no integration", s.ID)
		}
		return s, in, nil
	}
	return envRun(ctx, e, resolve, sh, opts.Session, opts.AZShim)
}

// envEnv is execEnv for azkeep env, with the state lazy rotation read (the
// command needs no second read).
func (f *Factory) envEnv(ctx context.Context) (*execEnv, *workspace.State, error) {
	m, st, err := f.Rotated(ctx)
	if err != nil {
		return nil, nil, err
	}
	if st == nil {
		if st, err = m.WS.Load(); err != nil {
			return nil, nil, err
		}
	}
	return newExecEnv(f, m), st, nil
}

func pickShell(name string) (shellenv.Shell, error) {
	if name != "" {
		sh, err := shellenv.Parse(name)
		if err != nil {
			return "", &usageError{hint.New(err, "use --shell bash, zsh, fish or powershell")}
		}
		return sh, nil
	}
	if runtime.GOOS == "windows" && os.Getenv("SHELL") == "" {
		return shellenv.PowerShell, nil
	}
	return shellenv.Detect(os.Getenv("SHELL")), nil
}

type resolveFunc func(query string) (*workspace.Session, *workspace.Integration, error)

// envRun makes sure the session's persistent dir is there and fresh, then
// prints the lines (with the az shim first on PATH when azShim).
func envRun(ctx context.Context, e *execEnv, resolve resolveFunc, sh shellenv.Shell, query string, azShim bool) error {
	s, in, err := resolve(query)
	if err != nil {
		return err
	}
	dir := sessiondir.PersistentDir(e.Home, s.ID)
	mat := &lifecycle.Materialized{Session: *s, Integration: *in, ConfigDir: dir}
	list, _ := sessiondir.ListPersistent(e.Home)
	fresh := false
	for _, p := range list {
		if p.Dir == dir && p.SessionID == s.ID && p.ExpiresAt.After(e.Now().Add(e.Window)) {
			fresh = true
		}
	}
	if !fresh {
		if _, err := os.Stat(filepath.Join(dir, "config")); err != nil {
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return err
			}
			if err := e.Prepare(dir); err != nil {
				return fmt.Errorf("prepare per-session dir: %w", err)
			}
		}
		mat, err = e.Materialize(ctx, s.ID, dir)
		if err != nil {
			return err
		}
		if err := sessiondir.WriteMarker(dir, sessiondir.Marker{SessionID: s.ID, ExpiresAt: mat.ExpiresAt}); err != nil {
			return err
		}
	}
	shim, err := shimVars(e.Environ, dir, e.Self, e.Home, azShim)
	if err != nil {
		return err
	}
	script, err := envScript(sh, e.Environ, append(sessionVars(mat, dir), shim...))
	if err != nil {
		return err
	}
	if _, err = fmt.Fprint(e.IO.Out, script); err != nil {
		return err
	}
	if isTerminal(e.IO.Out) {
		fmt.Fprintf(e.IO.Err, "azkeep: hint: printing the lines changes nothing; run: %s\n", evalHint(sh, query))
	}
	return nil
}

// shimVars are the variables that put the az shim, in dir, first on the
// shell's PATH (azShim), or take an earlier env's shim off it.
func shimVars(environ []string, dir, self, home string, azShim bool) ([][2]string, error) {
	path := envValue(environ, "PATH")
	if !azShim {
		if rest := withoutAZShim(path); rest != path {
			return [][2]string{{"PATH", rest}}, nil
		}
		return nil, nil
	}
	if self == "" {
		return nil, errors.New("azkeep cannot tell where its own executable is, which the az shim runs")
	}
	env, err := withAZShim(slices.Clone(environ), dir, self, home)
	if err != nil {
		return nil, err
	}
	set := [][2]string{{"PATH", envValue(env, "PATH")}, {"AZKEEP_HOME", home}}
	if az := envValue(env, azcli.EnvAZ); az != envValue(environ, azcli.EnvAZ) {
		set = append(set, [2]string{azcli.EnvAZ, az})
	}
	return set, nil
}

// evalHint is how sh runs the output of azkeep env.
func evalHint(sh shellenv.Shell, query string) string {
	arg := shellenv.Quote(sh, query)
	switch sh {
	case shellenv.Fish:
		return "azkeep env " + arg + " --shell fish | source"
	case shellenv.PowerShell:
		return "azkeep env " + arg + " --shell powershell | Invoke-Expression"
	}
	return `eval "$(azkeep env ` + arg + `)"`
}

// isTerminal reports whether w is a terminal (a console on Windows); a
// pipe, a file or /dev/null is not.
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// envScript unsets the conflicting variables the shell has, remembers its
// own AZURE_CONFIG_DIR, and sets the session's variables.
func envScript(sh shellenv.Shell, environ []string, set [][2]string) (string, error) {
	have := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := cutEnv(kv); ok {
			have[envKey(k)] = v
		}
	}
	var unset []string
	for _, n := range conflictingEnv {
		if _, ok := have[envKey(n)]; ok {
			unset = append(unset, n)
		}
	}
	var vars []shellenv.Var
	if cur, ok := have[envKey("AZURE_CONFIG_DIR")]; ok && have[envKey(SessionEnv)] == "" {
		vars = append(vars, shellenv.Var{Name: prevConfigDirEnv, Value: cur})
	}
	for _, kv := range set {
		vars = append(vars, shellenv.Var{Name: kv[0], Value: kv[1]})
	}
	return shellenv.Script(sh, vars, unset)
}

// envUnset prints the lines that undo azkeep env.
func envUnset(io IO, sh shellenv.Shell, environ []string) error {
	have := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := cutEnv(kv); ok {
			have[envKey(k)] = v
		}
	}
	unset := []string{"AZURE_SUBSCRIPTION_ID", "AZURE_TENANT_ID", "ARM_SUBSCRIPTION_ID", "ARM_TENANT_ID", SessionEnv}
	var set []shellenv.Var
	if path := have[envKey("PATH")]; withoutAZShim(path) != path {
		set = append(set, shellenv.Var{Name: "PATH", Value: withoutAZShim(path)})
	}
	if prev, ok := have[envKey(prevConfigDirEnv)]; ok {
		set = append(set, shellenv.Var{Name: "AZURE_CONFIG_DIR", Value: prev})
		unset = append(unset, prevConfigDirEnv)
	} else {
		unset = append(unset, "AZURE_CONFIG_DIR")
	}
	script, err := shellenv.Script(sh, set, unset)
	if err != nil {
		return err
	}
	_, err = fmt.Fprint(io.Out, script)
	return err
}

func cutEnv(kv string) (string, string, bool) {
	// Windows keeps per-drive variables named "=C:": skip them.
	for i := 1; i < len(kv); i++ {
		if kv[i] == '=' {
			return kv[:i], kv[i+1:], true
		}
	}
	return "", "", false
}

// withEnvDirs adds the persistent dirs of azkeep env to the agent's source,
// renewed as exec renews its dirs: redeemed aside, so that no refresh token
// touches the persistent dir.
func withEnvDirs(target agent.Source, m *lifecycle.Manager, home string) agent.Source {
	return agent.WithEnvDirs(target, agent.EnvDirSource{M: m, Home: home, Materialize: func(ctx context.Context, q, dir string) (time.Time, error) {
		mat, err := m.MaterializeInto(ctx, q, dir, execBase(home))
		if err != nil {
			return time.Time{}, err
		}
		return mat.ExpiresAt, nil
	}})
}
