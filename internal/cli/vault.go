package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/azkeep/azkeep/internal/hint"
	"github.com/azkeep/azkeep/internal/vault"
)

// VaultTimeoutEnv overrides the bound on every vault call (a Go duration).
const VaultTimeoutEnv = vault.TimeoutEnv

// vaultOptions are the vault.Options every command opens its backend with:
// azkeep's home, the file backend's passphrase ($AZKEEP_VAULT_PASSPHRASE or
// a prompt on the terminal) and the call bound ($AZKEEP_VAULT_TIMEOUT).
func vaultOptions(g *Globals, streams IO) (vault.Options, error) {
	opts := vault.Options{Home: g.Home, Warn: streams.Err}
	var tty *os.File
	if f, ok := streams.In.(*os.File); ok {
		tty = f
	}
	opts.Passphrase = vault.PromptPassphrase(tty, streams.Err, "azkeep: passphrase for the file vault: ")
	d, err := vault.TimeoutFromEnv()
	if err != nil {
		return opts, &usageError{err}
	}
	opts.Timeout = d
	if opts.UnlockTTL, err = vault.UnlockTTLFromEnv(); err != nil {
		return opts, &usageError{err}
	}
	return opts, nil
}

func newCmdVault(f *Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "vault",
		Short: "Show the vault backend azkeep uses, and move secrets to another one",
		Long: `azkeep keeps each integration's refresh token, account and profile in a
vault backend: secret-service (Linux), keychain (macOS), wincred (Windows),
pass, or file (age-encrypted with a passphrase). Pick one with --vault or
AZKEEP_VAULT; without either, azkeep uses the backend the last
"azkeep vault migrate" moved to, else the OS vault.`,
	}
	cmd.AddCommand(NewCmdVaultStatus(f, nil), NewCmdVaultMigrate(f, nil), NewCmdVaultLock(f, nil))
	return cmd
}

// VaultStatus is the stable JSON shape of `azkeep vault status --output json`.
type VaultStatus struct {
	// Backend is the backend in use (after defaults).
	Backend string `json:"backend"`
	// Answers is true when the backend answered a lookup within the bound.
	Answers bool   `json:"answers"`
	Error   string `json:"error,omitempty"`
	Hint    string `json:"hint,omitempty"`
	// Timeout is the bound on each call.
	Timeout string `json:"timeout"`
	// Items names what azkeep stored there, with sizes in bytes; never values.
	Items []vault.Item `json:"items"`
	// Elsewhere counts items azkeep's index says other backends still hold
	// (an interrupted migration leaves some); omitted when none.
	Elsewhere map[string]int `json:"elsewhere,omitempty"`
	// Missing (with --verify) names listed items the backend does not hold
	// as recorded; omitted without --verify.
	Missing []string `json:"missing,omitempty"`
}

// VaultStatusOptions are the inputs of `vault status`.
type VaultStatusOptions struct {
	IO IO
	// Backend is the backend name (--vault, may be empty: the default).
	Backend string
	// VaultOptions are the options to open backends with.
	VaultOptions func() (vault.Options, error)
	Verify       bool
	Output       string
}

// NewCmdVaultStatus builds `vault status`.
func NewCmdVaultStatus(f *Factory, runF func(context.Context, *VaultStatusOptions) error) *cobra.Command {
	opts := &VaultStatusOptions{IO: f.IO, VaultOptions: func() (vault.Options, error) { return vaultOptions(f.Globals, f.IO) }}
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Say which vault backend is in use, whether it answers, and what azkeep keeps there",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.Backend = f.Globals.Vault
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return vaultStatusRun(cmd.Context(), opts)
		},
	}
	outputFlag(cmd, &opts.Output)
	cmd.Flags().BoolVar(&opts.Verify, "verify", false, "also read every item and check it is there with its recorded size (may ask to unlock the vault)")
	return cmd
}

func vaultStatusRun(ctx context.Context, opts *VaultStatusOptions) error {
	vo, err := opts.VaultOptions()
	if err != nil {
		return err
	}
	st, err := vaultStatus(ctx, opts.Backend, vo, opts.Verify)
	if perr := printVaultStatus(opts.IO.Out, opts.Output, st); perr != nil {
		return perr
	}
	return err
}

// vaultStatus opens the backend and asks it for an item that does not
// exist: "not found" within the bound means it answers. The returned error
// (with its hint) is the reason it does not.
//
// With verify, every listed item is read (values stay in memory) and
// Missing names those the backend does not hold or holds with another size
// than the index says (a crash between the index and the vault write).
func vaultStatus(ctx context.Context, name string, opts vault.Options, verify bool) (VaultStatus, error) {
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = vault.DefaultTimeout
	}
	st := VaultStatus{Backend: vault.Resolve(name, opts.Home), Timeout: timeout.String(), Items: []vault.Item{}}
	for b, n := range vault.Held(opts.Home) {
		if b != st.Backend {
			if st.Elsewhere == nil {
				st.Elsewhere = map[string]int{}
			}
			st.Elsewhere[b] = n
		}
	}
	fail := func(err error) (VaultStatus, error) {
		st.Error, st.Hint = err.Error(), hint.Of(err)
		return st, err
	}
	s, err := vault.Open(name, opts)
	if err != nil {
		return fail(err)
	}
	// The index is local: list even when the backend does not answer.
	items, lerr := s.List(ctx)
	if lerr == nil {
		st.Items = items
	}
	if _, err := s.Get(ctx, "azkeep-status/probe"); err != nil && !errors.Is(err, vault.ErrNotFound) {
		return fail(err)
	}
	if lerr != nil {
		return fail(lerr)
	}
	st.Answers = true
	if verify {
		st.Missing = []string{}
		for _, it := range st.Items {
			v, err := s.Get(ctx, it.Key)
			switch {
			case errors.Is(err, vault.ErrNotFound), err == nil && len(v) != it.Size:
				st.Missing = append(st.Missing, it.Key)
			case err != nil:
				return fail(err)
			}
			clear(v)
		}
		if len(st.Missing) > 0 {
			return fail(hint.New(fmt.Errorf("%d item(s) listed for %s are missing or differ in size: %s", len(st.Missing), st.Backend, strings.Join(st.Missing, ", ")),
				"log in to the affected integrations again (azkeep integration login ALIAS)"))
		}
	}
	return st, nil
}

func printVaultStatus(w io.Writer, output string, st VaultStatus) error {
	if output == "json" {
		return writeJSON(w, st)
	}
	answers := "yes"
	if !st.Answers {
		answers = "no"
	}
	fmt.Fprintf(w, "backend:  %s\nanswers:  %s (bound %s)\n", st.Backend, answers, st.Timeout)
	for _, b := range vault.Backends() {
		if n := st.Elsewhere[b]; n > 0 {
			fmt.Fprintf(w, "note:     %s still holds %d item(s) of azkeep (finish with azkeep --vault %s vault migrate --to %s)\n", b, n, b, st.Backend)
		}
	}
	if len(st.Items) == 0 {
		fmt.Fprintln(w, "items:    none")
		return nil
	}
	if st.Missing != nil {
		if len(st.Missing) == 0 {
			fmt.Fprintln(w, "verified: every item is there with its recorded size")
		} else {
			fmt.Fprintf(w, "verified: missing or changed: %s\n", strings.Join(st.Missing, ", "))
		}
	}
	fmt.Fprintf(w, "items:    %d\n\n", len(st.Items))
	tw := newTable(w)
	fmt.Fprintln(tw, "KEY\tSIZE")
	for _, it := range st.Items {
		fmt.Fprintf(tw, "%s\t%d\n", it.Key, it.Size)
	}
	return tw.Flush()
}

// VaultMigrateOptions are the inputs of `vault migrate`.
type VaultMigrateOptions struct {
	IO IO
	// From is the source backend (--vault, may be empty: the default).
	From         string
	VaultOptions func() (vault.Options, error)
	To           string
	Output       string
}

// NewCmdVaultMigrate builds `vault migrate`.
func NewCmdVaultMigrate(f *Factory, runF func(context.Context, *VaultMigrateOptions) error) *cobra.Command {
	opts := &VaultMigrateOptions{IO: f.IO, VaultOptions: func() (vault.Options, error) { return vaultOptions(f.Globals, f.IO) }}
	cmd := &cobra.Command{
		Use:   "migrate --to BACKEND",
		Short: "Move every secret azkeep keeps to another vault backend",
		Long: `Copies every item from the current backend (--vault, AZKEEP_VAULT, or the
default) to --to, reads each back and compares it, and only when all are
copied deletes them from the source. Interrupted, it loses nothing; run it
again to finish. Afterwards azkeep uses the new backend by default (recorded
in AZKEEP_HOME); stop "azkeep agent" first so that no rotation writes to
the old backend meanwhile.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.From = f.Globals.Vault
			if opts.To == "" {
				return &usageError{hint.New(errors.New("vault migrate needs --to"), "e.g. azkeep vault migrate --to file")}
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return vaultMigrateRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.To, "to", "", "target backend: secret-service, keychain, wincred, pass or file")
	outputFlag(cmd, &opts.Output)
	return cmd
}

func vaultMigrateRun(ctx context.Context, opts *VaultMigrateOptions) error {
	vo, err := opts.VaultOptions()
	if err != nil {
		return err
	}
	rep, err := vaultMigrate(ctx, opts.From, opts.To, vo)
	if err != nil {
		return err
	}
	if opts.Output == "json" {
		return writeJSON(opts.IO.Out, rep)
	}
	_, err = fmt.Fprintf(opts.IO.Out, "moved %d item(s) from %s to %s; azkeep now uses %s\n", rep.Copied, rep.From, rep.To, rep.To)
	return err
}

// VaultMigration is the stable JSON shape of `azkeep vault migrate --output json`.
type VaultMigration struct {
	From    string `json:"from"`
	To      string `json:"to"`
	Copied  int    `json:"copied"`
	Deleted int    `json:"deleted"`
}

// vaultMigrate moves everything from the backend named from to the one
// named to, then records to as the home's backend.
func vaultMigrate(ctx context.Context, from, to string, opts vault.Options) (VaultMigration, error) {
	rep := VaultMigration{From: vault.Resolve(from, opts.Home), To: to}
	src, err := vault.Open(from, opts)
	if err != nil {
		return rep, err
	}
	dst, err := vault.Open(to, opts)
	if err != nil {
		return rep, err
	}
	selected := false
	r, err := vault.Migrate(ctx, src, dst, vault.MigrateOptions{AfterCopy: func() error {
		// Everything is in the target: use it from now on, before the
		// source loses anything.
		if err := vault.Select(opts.Home, to); err != nil {
			return hint.New(fmt.Errorf("recording %s as azkeep's backend: %w", to, err), "check that AZKEEP_HOME is writable, then run the same command again")
		}
		selected = true
		return nil
	}})
	rep.Copied, rep.Deleted = r.Copied, r.Deleted
	if err != nil {
		fix := orHint(err, "fix the cause and run the same command again: nothing was deleted from "+rep.From+" before it was copied")
		if selected {
			fix = "azkeep now uses " + to + ", which holds everything; to remove what is left in " + rep.From + ", run: azkeep --vault " + rep.From + " vault migrate --to " + to
		}
		return rep, hint.New(fmt.Errorf("vault migrate from %s to %s stopped: %w", rep.From, to, err), fix)
	}
	return rep, nil
}

func orHint(err error, fallback string) string {
	if h := hint.Of(err); h != "" {
		return h
	}
	return fallback
}

// VaultLockOptions are the inputs of `vault lock`.
type VaultLockOptions struct {
	IO IO
	// Lock forgets the unlocked file vaults and says how many it forgot.
	Lock func() (int, error)
}

// NewCmdVaultLock builds `vault lock`.
func NewCmdVaultLock(f *Factory, runF func(context.Context, *VaultLockOptions) error) *cobra.Command {
	opts := &VaultLockOptions{IO: f.IO, Lock: vault.Lock}
	cmd := &cobra.Command{
		Use:   "lock",
		Short: "Forget the file vault's unlocked key: the next command asks for the passphrase",
		Long: `The file vault is unlocked once per login session: its key is kept in the
Linux kernel's session keyring (for ` + vault.UnlockTTLEnv + `, default 8h; 0 turns
this off), readable only by the processes of that session. lock forgets it
now, for every file vault unlocked in this session.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return vaultLockRun(cmd.Context(), opts)
		},
	}
	return cmd
}

func vaultLockRun(_ context.Context, opts *VaultLockOptions) error {
	n, err := opts.Lock()
	if err != nil {
		return fmt.Errorf("forget the file vault's key in the kernel keyring: %w", err)
	}
	if n == 0 {
		fmt.Fprintln(opts.IO.Err, "azkeep: no file vault was unlocked in this session")
		return nil
	}
	fmt.Fprintln(opts.IO.Err, "azkeep: file vault locked; the next command asks for its passphrase")
	return nil
}
