package cli

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/azkeep/azkeep/internal/lifecycle"
	"github.com/azkeep/azkeep/internal/workspace"
)

func newIntegrationCmd(g *Globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "integration",
		Aliases: []string{"integrations", "int"},
		Short:   "Manage integrations: the Entra ID tenants you log in to",
		Long: `An integration is one Entra ID tenant you sign in to with the Azure CLI.

  azkeep integration create --alias contoso --tenant contoso.onmicrosoft.com --location westeurope
  azkeep integration login contoso            # browser; add --device-code on a headless machine
  azkeep session list                         # one session per subscription of the tenant

Login runs "az login" in a private, throwaway config dir, moves the refresh
token, the account and the profile into the vault, and makes one session per
subscription. Your Azure CLI config dir is not touched until you start a
session.`,
	}
	cmd.AddCommand(
		newIntegrationCreateCmd(g),
		newIntegrationEditCmd(g),
		newIntegrationListCmd(g),
		newIntegrationLoginCmd(g, "login"),
		newIntegrationLoginCmd(g, "sync"),
		newIntegrationLogoutCmd(g),
		newIntegrationDeleteCmd(g),
	)
	return cmd
}

// integrationCreateOptions are the flags of `integration create` and `edit`.
type integrationCreateOptions struct {
	Name      string // edit only: the integration to change
	Alias     string
	Tenant    string
	Location  string
	Resources []string
	Output    string
}

func newIntegrationCreateCmd(g *Globals) *cobra.Command {
	var o integrationCreateOptions
	cmd := &cobra.Command{
		Use:   "create --alias NAME --tenant TENANT [--location LOCATION]",
		Short: "Add an integration (no login yet)",
		Long: `Add an integration for one Entra ID tenant.

TENANT is the tenant id (a GUID) or one of its domains, e.g.
contoso.onmicrosoft.com. LOCATION, when given, becomes the Azure CLI's
default location ([defaults] location in its config) whenever a session of
this integration is started. Log in afterwards with
"azkeep integration login NAME".`,
		Example: `  azkeep integration create --alias contoso --tenant contoso.onmicrosoft.com
  azkeep integration create --alias lab --tenant 72f988bf-86f1-41af-91ab-2d7cd011db47 --location westeurope`,
		Args: cobra.NoArgs,
		RunE: withManager(g, func(ctx context.Context, m *lifecycle.Manager) error {
			return integrationCreate(ctx, m, g.IO.Out, o)
		}),
	}
	cmd.Flags().StringVar(&o.Alias, "alias", "", "name for the integration (letters, digits, . _ -)")
	cmd.Flags().StringVar(&o.Tenant, "tenant", "", "tenant id (GUID) or domain")
	cmd.Flags().StringVar(&o.Location, "location", "", "default Azure location for its sessions, e.g. westeurope")
	cmd.Flags().StringSliceVar(&o.Resources, "resource", nil, "also fetch tokens for this resource on start and rotation, e.g. https://vault.azure.net (repeatable)")
	outputFlag(cmd, &o.Output)
	_ = cmd.MarkFlagRequired("alias")
	_ = cmd.MarkFlagRequired("tenant")
	return cmd
}

func integrationCreate(ctx context.Context, m *lifecycle.Manager, out io.Writer, o integrationCreateOptions) error {
	if err := checkOutput(o.Output); err != nil {
		return err
	}
	in, err := m.CreateIntegration(ctx, lifecycle.IntegrationSpec{Alias: o.Alias, Tenant: o.Tenant, Location: o.Location, Resources: o.Resources})
	if err != nil {
		return err
	}
	return printIntegration(m, out, o.Output, in, "created integration %s (id %s); log in with: azkeep integration login %s\n")
}

func printIntegration(m *lifecycle.Manager, out io.Writer, output string, in *workspace.Integration, text string) error {
	if output == "json" {
		st, err := m.WS.Load()
		if err != nil {
			return err
		}
		return writeJSON(out, integrationView(st, in))
	}
	fmt.Fprintf(out, text, in.Alias, in.ID, in.Alias)
	return nil
}

func newIntegrationEditCmd(g *Globals) *cobra.Command {
	var o integrationCreateOptions
	cmd := &cobra.Command{
		Use:   "edit NAME [--alias A] [--tenant T] [--location L]",
		Short: "Change an integration's alias, tenant or location",
		Long: `Change an integration. The tenant of a logged-in integration cannot change:
log it out first. A new location applies from the next session start.`,
		Example: `  azkeep integration edit contoso --location northeurope`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Name = args[0]
			return withManager(g, func(ctx context.Context, m *lifecycle.Manager) error {
				return integrationEdit(ctx, m, g.IO.Out, o)
			})(cmd, args)
		},
	}
	cmd.Flags().StringVar(&o.Alias, "alias", "", "new name")
	cmd.Flags().StringVar(&o.Tenant, "tenant", "", "new tenant id or domain (logged-out integrations only)")
	cmd.Flags().StringVar(&o.Location, "location", "", "new default location")
	cmd.Flags().StringSliceVar(&o.Resources, "resource", nil, "replace the extra resources to fetch tokens for (repeatable)")
	outputFlag(cmd, &o.Output)
	return cmd
}

func integrationEdit(ctx context.Context, m *lifecycle.Manager, out io.Writer, o integrationCreateOptions) error {
	if err := checkOutput(o.Output); err != nil {
		return err
	}
	in, err := m.EditIntegration(ctx, o.Name, lifecycle.IntegrationSpec{Alias: o.Alias, Tenant: o.Tenant, Location: o.Location, Resources: o.Resources})
	if err != nil {
		return err
	}
	return printIntegration(m, out, o.Output, in, "updated integration %s (id %s)\n")
}

type integrationListOptions struct{ Output string }

func newIntegrationListCmd(g *Globals) *cobra.Command {
	var o integrationListOptions
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List integrations and their status",
		Long: `List integrations. STATUS is one of:
  online       logged in; the vault holds its refresh token, account and profile
  offline      never logged in, or logged out
  needs-login  the token endpoint rejected its refresh token (expired, revoked,
               MFA required): run azkeep integration login NAME

--output json prints an array of objects with the stable fields
id, alias, tenant, tenant_id, location, cloud, status, username, sessions.`,
		Args: cobra.NoArgs,
		RunE: withManager(g, func(ctx context.Context, m *lifecycle.Manager) error {
			return integrationList(m, g.IO.Out, o)
		}),
	}
	outputFlag(cmd, &o.Output)
	return cmd
}

func integrationList(m *lifecycle.Manager, out io.Writer, o integrationListOptions) error {
	if err := checkOutput(o.Output); err != nil {
		return err
	}
	st, err := m.WS.Load()
	if err != nil {
		return err
	}
	views := make([]IntegrationView, 0, len(st.Integrations))
	for i := range st.Integrations {
		views = append(views, integrationView(st, &st.Integrations[i]))
	}
	if o.Output == "json" {
		return writeJSON(out, views)
	}
	tw := newTable(out)
	fmt.Fprintln(tw, "ALIAS\tTENANT\tTENANT ID\tLOCATION\tSTATUS\tSESSIONS\tID")
	for _, v := range views {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\n", v.Alias, v.Tenant, dash(v.TenantID), dash(v.Location), v.Status, v.Sessions, v.ID)
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

type integrationLoginOptions struct {
	Name       string
	DeviceCode bool
	// Sync re-reads the subscriptions without an interactive login.
	Sync   bool
	Output string
}

func newIntegrationLoginCmd(g *Globals, verb string) *cobra.Command {
	var o integrationLoginOptions
	cmd := &cobra.Command{
		Use:   verb + " NAME [--device-code]",
		Short: "Log in to the integration's tenant and sync its subscriptions",
		Long: `Log in to the integration's tenant with "az login" and make one session per
subscription:

  1. a fresh private Azure CLI config dir (0700) is made, with copies of your
     config and clouds.config; your own config dir is not touched;
  2. az login --tenant TENANT runs there (a browser, or with --device-code a
     code to enter at https://microsoft.com/devicelogin);
  3. every subscription of the tenant becomes a session; on a re-login renamed
     subscriptions keep their session id, vanished ones are stopped and
     removed, new ones are added;
  4. the refresh token, the account and the profile go into the vault;
  5. the private dir is removed.

The sessions are printed as "azkeep session list" prints them (--output json:
the same stable fields).`,
		Example: `  azkeep integration ` + verb + ` contoso
  azkeep integration ` + verb + ` contoso --device-code   # on a machine without a browser`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Name = args[0]
			return withManager(g, func(ctx context.Context, m *lifecycle.Manager) error {
				return integrationLogin(ctx, m, g.IO, o)
			})(cmd, args)
		},
	}
	if verb == "sync" {
		o.Sync = true
		cmd.Use = "sync NAME"
		cmd.Short = "Re-read the integration's subscriptions, without a new login"
		cmd.Long = `Re-read the integration's subscriptions without asking you to sign in: in a
fresh private config dir (removed afterwards) azkeep writes the account and
refresh token from the vault and runs "az account list --refresh", which
asks Azure for the tenant's subscriptions again. Sessions are re-synced as
on login: renamed subscriptions keep their session id, vanished ones are
stopped and removed, new ones are added. The refresh token az rotated goes
back to the vault.

If the refresh token is rejected the integration is marked needs-login:
run "azkeep integration login NAME".`
		cmd.Example = "  azkeep integration sync contoso"
	} else {
		cmd.Flags().BoolVar(&o.DeviceCode, "device-code", false, "log in with a device code instead of a browser")
	}
	outputFlag(cmd, &o.Output)
	return cmd
}

func integrationLogin(ctx context.Context, m *lifecycle.Manager, streams IO, o integrationLoginOptions) error {
	if err := checkOutput(o.Output); err != nil {
		return err
	}
	var rep *lifecycle.LoginReport
	var err error
	if o.Sync {
		rep, err = m.Sync(ctx, o.Name)
	} else {
		rep, err = m.Login(ctx, o.Name, lifecycle.LoginOptions{DeviceCode: o.DeviceCode})
	}
	if err != nil {
		return err
	}
	st, err := m.WS.Load()
	if err != nil {
		return err
	}
	views := make([]SessionView, 0, len(rep.Sessions))
	for i := range rep.Sessions {
		views = append(views, sessionView(st, &rep.Sessions[i]))
	}
	if o.Output == "json" {
		return writeJSON(streams.Out, views)
	}
	sy := rep.Sync
	verb := "logged in to"
	if o.Sync {
		verb = "synced"
	}
	fmt.Fprintf(streams.Err, "azkeep: %s %s as %s: %d sessions (%d new, %d renamed, %d removed)\n",
		verb, rep.Integration.Alias, dash(rep.Integration.Username), len(rep.Sessions), len(sy.Added), len(sy.Renamed), len(sy.Removed))
	return printSessions(streams.Out, "table", views)
}

type integrationNameOptions struct{ Name string }

func newIntegrationLogoutCmd(g *Globals) *cobra.Command {
	var o integrationNameOptions
	return &cobra.Command{
		Use:   "logout NAME",
		Short: "Stop its sessions, delete its secrets from the vault, forget its sessions",
		Long: `Log an integration out: its active sessions are stopped (az logout in their
config dir), its refresh token, account and profile are deleted from the
vault, its sessions are removed, and it is marked offline. The integration
itself stays; "azkeep integration login NAME" brings it back.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Name = args[0]
			return withManager(g, func(ctx context.Context, m *lifecycle.Manager) error {
				in, err := m.Logout(ctx, o.Name)
				if err != nil {
					return err
				}
				fmt.Fprintf(g.IO.Err, "azkeep: logged out of %s\n", in.Alias)
				return nil
			})(cmd, args)
		},
	}
}

func newIntegrationDeleteCmd(g *Globals) *cobra.Command {
	var o integrationNameOptions
	return &cobra.Command{
		Use:     "delete NAME",
		Aliases: []string{"rm"},
		Short:   "Log the integration out and remove it",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Name = args[0]
			return withManager(g, func(ctx context.Context, m *lifecycle.Manager) error {
				if err := m.Delete(ctx, o.Name); err != nil {
					return err
				}
				fmt.Fprintf(g.IO.Err, "azkeep: deleted integration %s\n", strings.TrimSpace(o.Name))
				return nil
			})(cmd, args)
		},
	}
}
