package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/azkeep/azkeep/internal/lifecycle"
	"github.com/azkeep/azkeep/internal/workspace"
)

// definitionsHelp documents the definitions file for export and import.
const definitionsHelp = `The file is JSON, version 1, with no secret, username or session in it:

  {
    "azkeep_integrations": 1,
    "integrations": [
      {
        "alias": "contoso",
        "tenant": "contoso.onmicrosoft.com",
        "location": "westeurope",
        "resources": ["https://vault.azure.net"],
        "cloud": {"name": "AzureCloud", "authority_host": "https://login.microsoftonline.com",
                  "arm_endpoint": "https://management.azure.com/",
                  "arm_resource": "https://management.core.windows.net/"}
      }
    ]
  }

location may be omitted (an import then leaves each member's own); cloud may
be omitted (AzureCloud). Integrations are matched by alias, in any case.`

// IntegrationExportOptions are the inputs of `integration export`.
type IntegrationExportOptions struct {
	IO    IO
	State func(context.Context) (*workspace.State, error)
	Names []string
}

// NewCmdIntegrationExport builds `integration export`.
func NewCmdIntegrationExport(f *Factory, runF func(context.Context, *IntegrationExportOptions) error) *cobra.Command {
	opts := &IntegrationExportOptions{IO: f.IO, State: f.RotatedState}
	cmd := &cobra.Command{
		Use:   "export [NAME...]",
		Short: "Print integration definitions (no secrets) for a team to share",
		Long: `Print the definitions of the named integrations (all without NAME) as a
JSON file a team can keep in a git repository; each member brings it in
with "azkeep integration import FILE" and logs in as themselves.

` + definitionsHelp,
		Example: `  azkeep integration export > team/integrations.json
  azkeep integration export contoso fabrikam > team/integrations.json`,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Names = args
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return integrationExportRun(cmd.Context(), opts)
		},
	}
	return cmd
}

func integrationExportRun(ctx context.Context, opts *IntegrationExportOptions) error {
	st, err := opts.State(ctx)
	if err != nil {
		return err
	}
	d, err := lifecycle.ExportDefinitions(st, opts.Names)
	if err != nil {
		return err
	}
	return writeJSON(opts.IO.Out, d)
}

// IntegrationImportOptions are the inputs of `integration import`.
type IntegrationImportOptions struct {
	IO      IO
	State   func(context.Context) (*workspace.State, error)
	Manager managerFunc
	File    string
	DryRun  bool
	Prune   bool
	Output  string
}

// NewCmdIntegrationImport builds `integration import`.
func NewCmdIntegrationImport(f *Factory, runF func(context.Context, *IntegrationImportOptions) error) *cobra.Command {
	opts := &IntegrationImportOptions{IO: f.IO, State: f.RotatedState, Manager: f.rotatedManager}
	cmd := &cobra.Command{
		Use:   "import FILE [--dry-run] [--prune]",
		Short: "Add and update integrations from a definitions file",
		Long: `Add the integrations of a definitions file ("azkeep integration export")
that you do not have, offline, and update the location and resources of
those you have. Nothing is deleted unless --prune is given: then the
integrations the file does not name are logged out (their sessions stopped,
their secrets deleted from the vault) and removed. The tenant of a
logged-in integration is never changed. FILE "-" reads standard input.

--output json prints {"changed", "integrations": [{"action", "alias",
"tenant", "changes", "note"}]}; action is create, update, unchanged, delete
or skip.

` + definitionsHelp,
		Example: `  git -C ~/src/team-azure pull && azkeep integration import ~/src/team-azure/integrations.json
  azkeep integration import integrations.json --dry-run --prune`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.File = args[0]
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return integrationImportRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.DryRun, "dry-run", false, "print what would change; change nothing")
	cmd.Flags().BoolVar(&opts.Prune, "prune", false, "delete the integrations the file does not name (after logging them out)")
	outputFlag(cmd, &opts.Output)
	return cmd
}

func integrationImportRun(ctx context.Context, opts *IntegrationImportOptions) error {
	var data []byte
	var err error
	if opts.File == "-" {
		data, err = io.ReadAll(opts.IO.In)
	} else {
		data, err = os.ReadFile(opts.File)
	}
	if err != nil {
		return fmt.Errorf("read the integrations file: %w", err)
	}
	d, err := lifecycle.ParseDefinitions(data)
	if err != nil {
		return fmt.Errorf("%s: %w", opts.File, err)
	}
	st, err := opts.State(ctx)
	if err != nil {
		return err
	}
	plan := lifecycle.PlanDefinitions(st, d, opts.Prune)
	changed := lifecycle.Changed(plan)
	if changed && !opts.DryRun {
		m, err := opts.Manager(ctx)
		if err != nil {
			return err
		}
		if err := m.ApplyDefinitions(ctx, plan); err != nil {
			return err
		}
	}
	if opts.Output == "json" {
		return writeJSON(opts.IO.Out, struct {
			Changed      bool                         `json:"changed"`
			Integrations []lifecycle.DefinitionChange `json:"integrations"`
		}{changed, plan})
	}
	tw := newTable(opts.IO.Out)
	fmt.Fprintln(tw, "ACTION\tALIAS\tTENANT\tCHANGES\tNOTE")
	counts := map[lifecycle.DefinitionAction]int{}
	for _, c := range plan {
		counts[c.Action]++
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", c.Action, c.Alias, c.Tenant, dash(strings.Join(c.Changes, ",")), c.Note)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	summary := fmt.Sprintf("%d created, %d updated, %d deleted, %d unchanged, %d skipped",
		counts[lifecycle.DefCreate], counts[lifecycle.DefUpdate], counts[lifecycle.DefDelete], counts[lifecycle.DefUnchanged], counts[lifecycle.DefSkip])
	switch {
	case opts.DryRun:
		fmt.Fprintf(opts.IO.Err, "azkeep: dry run, nothing changed: the import would do: %s\n", summary)
	case !changed:
		fmt.Fprintf(opts.IO.Err, "azkeep: no change: %s\n", summary)
	default:
		fmt.Fprintf(opts.IO.Err, "azkeep: imported %s: %s", opts.File, summary)
		if counts[lifecycle.DefCreate] > 0 {
			fmt.Fprint(opts.IO.Err, "; log in to the new ones with: azkeep integration login NAME")
		}
		fmt.Fprintln(opts.IO.Err)
	}
	return nil
}
