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
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/azkeep/azkeep/internal/hint"
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
	IO IO
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

// Main runs azkeep with args and returns the process exit code.
func Main(args []string, streams IO) int {
	g := &Globals{IO: streams}
	root := NewRootCmd(g)
	root.SetArgs(args)
	root.SetIn(streams.In)
	root.SetOut(streams.Out)
	root.SetErr(streams.Err)
	err := root.Execute()
	return report(streams.Err, err)
}

// report is the one funnel from an error to stderr and an exit code.
func report(w io.Writer, err error) int {
	if err == nil {
		return ExitOK
	}
	var exit *hint.ExitError
	if errors.As(err, &exit) {
		return exit.Code
	}
	var usage *usageError
	code := ExitError
	if errors.As(err, &usage) {
		code = ExitUsage
	}
	fmt.Fprintf(w, "azkeep: error: %s\n", firstLower(err.Error()))
	if h := hint.Of(err); h != "" {
		fmt.Fprintf(w, "azkeep: hint: %s\n", h)
	}
	return code
}

type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func firstLower(s string) string {
	s = strings.TrimSuffix(s, ".")
	if s == "" {
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}

// NewRootCmd builds the azkeep command tree bound to g.
func NewRootCmd(g *Globals) *cobra.Command {
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
	pf.StringVar(&g.ConfigDir, "config-dir", "", "Azure CLI config dir to manage (default $AZURE_CONFIG_DIR, else ~/.azure)")
	pf.StringVar(&g.Home, "home", "", "azkeep state dir (default $AZKEEP_HOME, else the user config dir)")
	pf.StringVar(&g.Vault, "vault", "", "vault backend: secret-service, keychain, wincred, pass, file (default $AZKEEP_VAULT, else the backend of the last vault migrate, else the OS vault)")
	pf.StringVar(&g.Engine, "engine", "", "token engine: az or native (default $AZKEEP_ENGINE, else az)")
	pf.BoolVar(&g.Debug, "debug", false, "log what azkeep does to stderr (secrets redacted)")

	root.AddCommand(
		newIntegrationCmd(g),
		newSessionCmd(g),
		newDemoCmd(g),
		newEmulatorCmd(g),
		newVaultCmd(g),
		newAgentCmd(g),
		newExecCmd(g),
		newEnvCmd(g),
		newVersionCmd(g),
	)
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
		dir, err := os.UserConfigDir()
		if err != nil {
			return hint.New(fmt.Errorf("cannot find a config dir for azkeep: %w", err), "set AZKEEP_HOME")
		}
		g.Home = filepath.Join(dir, "azkeep")
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
