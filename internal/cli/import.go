package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/azkeep/azkeep/internal/hint"
	"github.com/azkeep/azkeep/internal/leapp"
	"github.com/azkeep/azkeep/internal/vault"
	"github.com/azkeep/azkeep/internal/workspace"
)

func newCmdImport(f *Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "import",
		Short: "Import integrations from another tool",
		Long: `Import integrations, and where possible their logins, from another tool.
To share integration definitions within a team, see "azkeep integration export".`,
	}
	cmd.AddCommand(NewCmdImportLeapp(f, nil))
	return cmd
}

// ImportLeappOptions are the inputs of `import leapp`.
type ImportLeappOptions struct {
	IO IO
	// State reads azkeep's state to plan against.
	State func(context.Context) (*workspace.State, error)
	// Manager carries the plan out.
	Manager managerFunc
	// Keychain reads Leapp's keytar items (the OS vault, service "Leapp").
	Keychain func() leapp.Keychain
	// MachineID is the raw machine id Leapp's workspace is encrypted with.
	MachineID func() (string, error)
	Dir       string
	DryRun    bool
	Output    string
}

// NewCmdImportLeapp builds `import leapp`.
func NewCmdImportLeapp(f *Factory, runF func(context.Context, *ImportLeappOptions) error) *cobra.Command {
	opts := &ImportLeappOptions{
		IO:        f.IO,
		State:     f.RotatedState,
		Manager:   f.rotatedManager,
		Keychain:  func() leapp.Keychain { return vault.Keytar{Service: leapp.Service} },
		MachineID: leapp.MachineID,
	}
	cmd := &cobra.Command{
		Use:   "leapp [--dir DIR] [--dry-run]",
		Short: "Import Leapp's Azure integrations, logged in where Leapp was",
		Long: `Import the Azure integrations of a Leapp workspace (Leapp 0.1.x,
~/.Leapp/Leapp-lock.json, decrypted with this machine's id as Leapp does).

Each Azure integration becomes an azkeep integration with the same tenant
and location (its alias with characters other than letters, digits, '.', '_'
and '-' turned into '-'). Where Leapp's credentials are in the OS vault
(Leapp's items under the service "Leapp"), its refresh token, account and
profile move into azkeep's vault and its sessions are made, one per
subscription of Leapp's sessions: you are logged in without a new login.
Otherwise the integration is created offline; log in with
"azkeep integration login NAME".

Integrations azkeep has already are left as they are, so a second run
changes nothing. AWS and other providers' sessions are listed as skipped.
Nothing of Leapp's (its files, its vault items) is changed.

--output json prints {"dir", "workspace_version", "changed",
"integrations": [{"action", "alias", "leapp_alias", "leapp_id", "tenant",
"location", "sessions", "username", "note"}], "skipped": [{"name", "type",
"reason"}]}; action is create, create-offline, login, unchanged or skip.

` + leapp.MachineIDEnv + ` replaces this machine's id (support only: to read a
workspace copied from another machine).`,
		Example: `  azkeep import leapp --dry-run
  azkeep import leapp
  azkeep import leapp --dir /mnt/old-laptop/home/ada/.Leapp`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return importLeappRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Dir, "dir", "", "Leapp's dir (default ~/.Leapp)")
	cmd.Flags().BoolVar(&opts.DryRun, "dry-run", false, "print what would be imported; change nothing")
	outputFlag(cmd, &opts.Output)
	return cmd
}

func importLeappRun(ctx context.Context, opts *ImportLeappOptions) error {
	dir := opts.Dir
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return hint.New(fmt.Errorf("cannot find your home dir: %w", err), "pass Leapp's dir with --dir")
		}
		dir = filepath.Join(home, ".Leapp")
	}
	id, err := opts.MachineID()
	if err != nil {
		return err
	}
	lws, err := leapp.Read(dir, id)
	if err != nil {
		return err
	}
	st, err := opts.State(ctx)
	if err != nil {
		return err
	}
	plan := leapp.NewPlan(ctx, dir, lws, st, opts.Keychain())
	if !opts.DryRun && plan.Changed {
		m, err := opts.Manager(ctx)
		if err != nil {
			return err
		}
		if err := plan.Apply(ctx, m); err != nil {
			return err
		}
	}
	if opts.Output == "json" {
		return writeJSON(opts.IO.Out, plan)
	}
	tw := newTable(opts.IO.Out)
	fmt.Fprintln(tw, "ACTION\tALIAS\tLEAPP NAME\tTENANT\tLOCATION\tSESSIONS\tNOTE")
	counts := map[leapp.Action]int{}
	for _, s := range plan.Integrations {
		counts[s.Action]++
		note := s.Note
		if s.Username != "" {
			note = joinNote("logged in as "+s.Username, note)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\n", s.Action, s.Alias, s.LeappAlias, s.Tenant, dash(s.Location), s.Sessions, note)
	}
	for _, s := range plan.Skipped {
		fmt.Fprintf(tw, "skip\t-\t%s\t-\t-\t-\t%s session: %s\n", s.Name, s.Type, s.Reason)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	summary := fmt.Sprintf("%d created (%d logged in), %d logged in, %d unchanged, %d skipped",
		counts[leapp.Create]+counts[leapp.CreateOffline], counts[leapp.Create], counts[leapp.Login], counts[leapp.Unchanged], counts[leapp.Skip]+len(plan.Skipped))
	switch {
	case opts.DryRun:
		fmt.Fprintf(opts.IO.Err, "azkeep: dry run, nothing changed: an import of %s would do: %s\n", dir, summary)
	case !plan.Changed:
		fmt.Fprintf(opts.IO.Err, "azkeep: no change: %s\n", summary)
	default:
		fmt.Fprintf(opts.IO.Err, "azkeep: imported %s: %s\n", dir, summary)
	}
	return nil
}

func joinNote(a, b string) string {
	if b == "" {
		return a
	}
	return a + "; " + b
}
