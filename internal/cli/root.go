// Package cli is azkeep's command layer: cobra commands that parse flags into
// an options struct and call a plain function that does the work.
//
// Output rules (one place, as age and gh keep them):
//   - results go to stdout, as a table or, with --output json, as JSON;
//   - progress, warnings and errors go to stderr, as
//     "azkeep: error: …" then "azkeep: hint: …", lower case, no final period;
//   - a child's exit status (azkeep exec) passes through unchanged.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/azkeep/azkeep/internal/childproc"
	"github.com/azkeep/azkeep/internal/hint"
	"github.com/azkeep/azkeep/internal/workspace"
)

// IO is the set of streams a command uses; tests pass buffers.
type IO struct {
	In  io.Reader
	Out io.Writer
	Err io.Writer
}

// Stdio returns the process's own streams.
func Stdio() IO { return IO{In: os.Stdin, Out: os.Stdout, Err: os.Stderr} }

// Globals are the flags and environment every command shares.
type Globals struct {
	// ConfigDir is the target Azure CLI directory (--config-dir,
	// $AZURE_CONFIG_DIR, else ~/.azure).
	ConfigDir string
	// Home is azkeep's own state directory (--home, $AZKEEP_HOME, else the
	// OS user config dir + /azkeep).
	Home string
	// Vault is the vault backend name (--vault, $AZKEEP_VAULT, else the OS default).
	Vault string
	// Engine is the token engine: "az" or "native" (--engine, $AZKEEP_ENGINE).
	Engine string
	// Debug turns on redacted debug logging to stderr.
	Debug bool
}

// Exit codes.
const (
	ExitOK    = 0
	ExitError = 1
	ExitUsage = 2
)

// Main runs azkeep with args on the process's environment and streams and
// returns the process exit code.
func Main(args []string, streams IO) int {
	return Run(NewFactory(streams), args)
}

// Run runs the command tree on f with args and returns the exit code. The
// context is cancelled by Ctrl-C, SIGTERM or SIGHUP: an interrupted login
// still removes its private dir (it holds a refresh token), and an
// interrupted start or rotation puts the config dir back. Commands that
// outlive a signal on purpose (exec's child, the agent's last rotation)
// say so.
func Run(f *Factory, args []string) int {
	ctx, stop := signalContext()
	defer stop()
	root := NewCmdRoot(f)
	root.SetArgs(args)
	root.SetIn(f.IO.In)
	root.SetOut(f.IO.Out)
	root.SetErr(f.IO.Err)
	return report(f.IO.Err, root.ExecuteContext(ctx))
}

// report is the one funnel from an error to stderr and an exit code. The
// messages are written lower case at their source; report prints them as
// they are.
func report(w io.Writer, err error) int {
	if err == nil {
		return ExitOK
	}
	var exit *childproc.ExitError
	if errors.As(err, &exit) {
		return exit.Code
	}
	var usage *usageError
	code := ExitError
	if errors.As(err, &usage) {
		code = ExitUsage
	}
	fmt.Fprintf(w, "azkeep: error: %s\n", err)
	if h := hint.Of(err); h != "" {
		fmt.Fprintf(w, "azkeep: hint: %s\n", h)
	}
	return code
}

// warn prints a failure that does not stop the command, with its hint.
func warn(w io.Writer, what string, err error) {
	fmt.Fprintf(w, "azkeep: warning: %s: %s\n", what, err)
	if h := hint.Of(err); h != "" {
		fmt.Fprintf(w, "azkeep: hint: %s\n", h)
	}
}

// usageError marks a mistake in the command line or the environment: exit 2.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// NewCmdRoot builds the azkeep command tree on f.
func NewCmdRoot(f *Factory) *cobra.Command {
	g := f.Globals
	root := &cobra.Command{
		Use:   "azkeep",
		Short: "Keep Azure refresh tokens in the OS vault, not in ~/.azure",
		Long: `azkeep logs in to Entra ID tenants ("integrations") with the Azure CLI,
moves the refresh token, account and profile into the OS vault, and starts
one subscription ("session") at a time in the Azure CLI's config dir with a
short-lived access token only. az, Terraform and the Azure SDKs keep working;
no refresh token rests on disk.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			return g.resolve()
		},
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return &usageError{hint.New(err, "see azkeep --help")}
	})
	pf := root.PersistentFlags()
	// A value already in g (a test's or the demo's factory) stays the
	// default: defining a flag sets its variable to the default.
	pf.StringVar(&g.ConfigDir, "config-dir", g.ConfigDir, "Azure CLI config dir to manage (default $AZURE_CONFIG_DIR, else ~/.azure)")
	pf.StringVar(&g.Home, "home", g.Home, "azkeep state dir (default $AZKEEP_HOME, else the user config dir)")
	pf.StringVar(&g.Vault, "vault", g.Vault, "vault backend: secret-service, keychain, wincred, pass, file (default $AZKEEP_VAULT, else the backend of the last vault migrate, else the OS vault)")
	pf.StringVar(&g.Engine, "engine", g.Engine, "token engine: az or native (default $AZKEEP_ENGINE, else az)")
	pf.BoolVar(&g.Debug, "debug", g.Debug, "log what azkeep does to stderr (secrets redacted)")

	root.AddCommand(
		newCmdIntegration(f),
		newCmdSession(f),
		NewCmdDemo(f, nil),
		NewCmdEmulator(f, nil),
		newCmdVault(f),
		newCmdImport(f),
		NewCmdAgent(f, nil),
		NewCmdExec(f, nil),
		NewCmdEnv(f, nil),
		NewCmdToken(f, nil),
		NewCmdKubectlCredential(f, nil),
		NewCmdGitCredential(f, nil),
		newCmdKubeconfig(f),
		NewCmdVersion(f, nil),
		NewCmdWhoami(f, nil),
		NewCmdPrompt(f, nil),
		NewCmdPortal(f, nil),
		NewCmdDoctor(f, nil),
		NewCmdUI(f, nil),
	)
	addCompletions(root, f)
	return root
}

// resolve fills defaults from the environment.
func (g *Globals) resolve() error {
	if g.ConfigDir == "" {
		g.ConfigDir = os.Getenv("AZURE_CONFIG_DIR")
	}
	if g.ConfigDir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return hint.New(fmt.Errorf("cannot find the Azure CLI config dir: %w", err), "set AZURE_CONFIG_DIR or pass --config-dir")
		}
		g.ConfigDir = filepath.Join(home, ".azure")
	}
	if g.Home == "" {
		g.Home = os.Getenv("AZKEEP_HOME")
	}
	if g.Home == "" {
		home, err := defaultHome(runtime.GOOS, os.UserConfigDir, os.Getenv("LocalAppData"))
		if err != nil {
			return hint.New(fmt.Errorf("cannot find a config dir for azkeep: %w", err), "set AZKEEP_HOME")
		}
		g.Home = home
	}
	if g.Vault == "" {
		g.Vault = os.Getenv("AZKEEP_VAULT")
	}
	if g.Engine == "" {
		g.Engine = os.Getenv("AZKEEP_ENGINE")
	}
	if g.Engine == "" {
		g.Engine = "az"
	}
	if g.Engine != "az" && g.Engine != "native" {
		return &usageError{hint.New(fmt.Errorf("unknown engine %q", g.Engine), "use --engine az or --engine native")}
	}
	return nil
}

// defaultHome is azkeep's home when neither --home nor AZKEEP_HOME names one:
// azkeep under the user config dir, except on Windows, where it is under
// local app data: the roaming profile (%AppData%) follows the user to other
// machines, the vault items it refers to stay on this one. A home already in
// the roaming place (its state file there, none in the local one) stays in
// use, so an upgrade does not lose the integrations.
func defaultHome(goos string, configDir func() (string, error), localAppData string) (string, error) {
	roaming, err := configDir()
	if goos != "windows" || localAppData == "" {
		if err != nil {
			return "", err
		}
		return filepath.Join(roaming, "azkeep"), nil
	}
	local := filepath.Join(localAppData, "azkeep")
	if err == nil {
		old := filepath.Join(roaming, "azkeep")
		if fileExists(filepath.Join(old, workspace.StateFile)) && !fileExists(filepath.Join(local, workspace.StateFile)) {
			return old, nil
		}
	}
	return local, nil
}

// fileExists reports whether p exists (as anything).
func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// stopSignals cancel a command. SIGHUP (the terminal closed, an ssh session
// dropped) counts as SIGTERM: left to its default it would kill azkeep
// without clean-up while an `az login` child polls on and writes a refresh
// token into a login dir nobody removes.
var stopSignals = []os.Signal{os.Interrupt, syscall.SIGTERM, syscall.SIGHUP}

// signalContext is the commands' context, cancelled by stopSignals.
func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), stopSignals...)
}
